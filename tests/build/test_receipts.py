"""Replies answer real samples and built messages in the same version, same process, parties swapped."""

from __future__ import annotations

import pytest
from lxml import etree

from gateway.xoev.build import BuildError, build_receipt
from gateway.xoev.model import Code, Kopf, Message, ObjectOutcome
from gateway.xoev.parsing.parse import parse_message
from gateway.xoev.schemas.registry import SchemaRegistry
from gateway.xoev.validation.validate import Validator
from tests.build.models import ARCHIVE, MESSAGE_UUID, message
from tests.conftest import SAMPLES

CASES = [
    ("3.0.0/9fde4e7a-b41b-11ec-9225-005056871b7c_Aussonderung.Aussonderung.0503.xml", "0507"),
    ("3.0.0/9fde4e7a-b41b-11ec-9225-005056871b7c_Aussonderung.Aussonderung.0503.xml", "0506"),
    ("4.0.0/518c7c31-d1a0-11ef-accb-005056871b7c_0503_1.xml", "0507"),
    ("4.0.0/518c7c31-d1a0-11ef-accb-005056871b7c_0503_1.xml", "0506"),
    ("3.0.0/xx_Aussonderung.Anbieteverzeichnis.0501.xml", "0504"),
    ("3.0.0/xx_Aussonderung.Anbieteverzeichnis.0501.xml", "0502"),
    ("4.0.0/xx_Aussonderung.Anbieteverzeichnis.0501.xml", "0504"),
]


def _sample(rel: str) -> Message:
    return parse_message(etree.parse(str(SAMPLES / rel)))


@pytest.mark.parametrize(("rel", "code"), CASES)
def test_reply_to_sample(rel: str, code: str, registry: SchemaRegistry, validator: Validator) -> None:
    original = _sample(rel)
    built = build_receipt(original, code, registry=registry)

    report = validator.validate_xml_bytes(built.to_bytes(), name=built.stem + ".xml").report
    assert report.valid, [f.message for f in report.errors]
    reply = parse_message(etree.fromstring(built.to_bytes()).getroottree())
    assert reply.version == original.version
    assert reply.code == code and reply.kopf.message_type.code == code
    assert reply.kopf.process_id == original.kopf.process_id
    assert reply.kopf.sender == original.kopf.recipient
    assert reply.kopf.recipient == original.kopf.sender
    if original.version == "4.0.0":
        assert reply.kopf.origin_message_uuid == original.kopf.message_uuid
        assert reply.kopf.message_uuid not in (None, original.kopf.message_uuid)
        assert built.stem == f"{original.kopf.process_id}_{code}_1"
    else:
        assert built.stem == f"{original.kopf.process_id}_{reply.element}"
    if code == "0506":
        handed = (
            "67e456ea-b420-11ec-b503-005056871b7c"
            if original.version == "3.0.0"
            else "07333b5f-d1a2-11ef-88aa-005056871b7c"
        )
        assert [(o.id, o.success) for o in reply.outcomes] == [(handed, True)]  # the Kontextobjekt is not listed


def test_import_failure_is_reported_per_object_and_overall(registry: SchemaRegistry) -> None:
    original = message("4.0.0", "0401")
    outcome = ObjectOutcome(id="548d5041-d8c8-11ef-9c4e-005056871b7c", success=False, errors=["Aktenzeichen doppelt"])
    reply = parse_message(build_receipt(original, "0402", sender=ARCHIVE, outcomes=[outcome], registry=registry).tree)
    assert reply.success is False
    assert [(o.id, o.success, o.errors) for o in reply.outcomes] == [(outcome.id, False, ["Aktenzeichen doppelt"])]


def test_appraisal_chain_0501_0502_0505(registry: SchemaRegistry, validator: Validator) -> None:
    offer = message("3.1.0", "0501", with_files=False)
    decisions = [ObjectOutcome(id="548d5041-d8c8-11ef-9c4e-005056871b7c", aussonderungsart=Code("V"))]
    appraisal = build_receipt(offer, "0502", outcomes=decisions, receipt_requested=True, registry=registry)
    parsed = parse_message(appraisal.tree)
    assert [(o.id, o.aussonderungsart.code if o.aussonderungsart else None) for o in parsed.outcomes] == [
        ("548d5041-d8c8-11ef-9c4e-005056871b7c", "V")
    ]
    assert parsed.kopf.receipt_requested is True
    confirmation = build_receipt(appraisal.message, "0505", registry=registry)
    assert validator.validate_tree(confirmation.tree).valid
    assert confirmation.message.kopf.recipient == appraisal.message.kopf.sender


def test_0502_defaults_to_the_offer_proposal_or_asks_for_decisions(registry: SchemaRegistry) -> None:
    offer = message("4.0.0", "0501", with_files=False)
    built = build_receipt(offer, "0502", registry=registry)
    assert [o.aussonderungsart.code for o in built.message.outcomes if o.aussonderungsart] == ["A"]
    offer.objects[0].bewertungsvorschlag = None
    with pytest.raises(BuildError, match="pass outcomes"):
        build_receipt(offer, "0502", registry=registry)


@pytest.mark.parametrize("version", ["3.0.0", "3.1.0", "4.0.0"])
def test_information_and_geschaeftsgang_receipts(version: str, registry: SchemaRegistry, validator: Validator) -> None:
    info = build_receipt(message(version, "0101"), "0102", registry=registry)
    assert validator.validate_tree(info.tree).valid
    circulation = Message(
        version=version,
        element="Geschaeftsgang.Geschaeftsgang.0201",
        kopf=Kopf(
            process_id="0f8fad5b-d9cb-469f-a165-70867728950e",
            message_type=Code("0201"),
            sender=ARCHIVE,
            recipient=message(version, "0101").kopf.sender,
            message_uuid=MESSAGE_UUID,
        ),
    )
    reply = build_receipt(circulation, "0202", registry=registry)
    assert validator.validate_tree(reply.tree).valid
    assert parse_message(reply.tree).kopf.process_id == "0f8fad5b-d9cb-469f-a165-70867728950e"


def test_reply_outside_the_protocol_is_refused(registry: SchemaRegistry) -> None:
    with pytest.raises(BuildError, match="0506 does not answer"):
        build_receipt(message("3.0.0", "0501", with_files=False), "0506", registry=registry)


def test_4_0_0_reply_needs_the_answered_uuid(registry: SchemaRegistry) -> None:
    original = message("4.0.0", "0503")
    original.kopf.message_uuid = None
    with pytest.raises(BuildError, match="UUIDUrsprungsnachricht"):
        build_receipt(original, "0507", registry=registry)

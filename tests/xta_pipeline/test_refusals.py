"""What sendMessage refuses, with which fault -- and that a refusal leaves nothing stored, its MessageID included."""

from __future__ import annotations

import pytest
from lxml import etree
from zeep.exceptions import Fault

from tests.pipeline.factories import directory_entry, offer
from tests.xta_pipeline.support import ALTENBURG, ARCHIVE, GOTHA, Gateway, Xta, fault_of, meta_xml


def refused(xta: Xta, message_id: str, data: bytes, name: str, sender: str = GOTHA) -> tuple[str, str, str]:
    with pytest.raises(Fault) as caught:
        xta.send(message_id, data, name, sender)
    element, code = fault_of(caught.value)
    return element, code, str(caught.value.message)


def test_refusals_map_to_faults_and_leave_no_trace(gateway: Gateway) -> None:
    xta = Xta(gateway)
    name, data = offer(seed=21)
    cases: list[tuple[bytes, str, tuple[str, str], str]] = [
        (
            data.replace(b"<xdomea:Nachrichtentyp", b"<xdomea:Unbekannt", 1).replace(
                b"</xdomea:Nachrichtentyp>", b"</xdomea:Unbekannt>", 1
            ),
            GOTHA,
            ("MessageSchemaViolationException", "9050"),
            "error(s): ",
        ),
        (b"not xml at all", GOTHA, ("MessageSchemaViolationException", "9050"), "error(s): "),
        (data, ALTENBURG, ("PermissionDeniedException", "9014"), GOTHA),  # Absender Gotha, sent by Altenburg
        (data.replace(b"16000001", b"16999999"), GOTHA, ("ParameterIsNotValidException", "9022"), "16999999"),
        (b"x" * ((1 << 20) + 1), GOTHA, ("ParameterIsNotValidException", "9023"), str(1 << 20)),
    ]
    for number, (content, sender, expected, hint) in enumerate(cases):
        before = gateway.trace()
        element, code, text = refused(xta, f"urn:test:refused:{number}", content, name, sender)
        assert (element, code) == expected, text
        assert hint in text, text
        assert gateway.trace() == before, f"case {number} left a trace"

    # a schema violation names the rule, so the author can fix the message
    _, _, text = refused(xta, "urn:test:refused:report", cases[0][0], name)
    assert "XGW-XSD-001" in text and "xdomea:Unbekannt" in text and "line 5" in text, text


def test_message_ids_are_used_once(gateway: Gateway) -> None:
    xta = Xta(gateway)
    name, data = offer(seed=22)
    xta.send("urn:test:once", data, name, GOTHA)
    other_name, other = offer(seed=23)

    before = gateway.trace()
    assert refused(xta, "urn:test:once", other, other_name)[:2] == ("ParameterIsNotValidException", "9024")
    assert gateway.trace() == before

    reserved = xta.new_id(ARCHIVE)  # handed out to another account
    before = gateway.trace()
    assert refused(xta, reserved, other, other_name)[:2] == ("ParameterIsNotValidException", "9024")
    assert gateway.trace() == before

    # the same ProzessID and Nachrichtentyp with other content is a conflict, reported as a used id
    changed = data + b"<!-- changed -->"
    before = gateway.trace()
    assert refused(xta, "urn:test:changed", changed, name)[:2] == ("ParameterIsNotValidException", "9024")
    assert gateway.trace() == before

    # a refused id is free again: a reserved one for its account, a client-chosen one for anyone
    own = xta.new_id(GOTHA)
    with pytest.raises(Fault):
        xta.send(own, b"<broken", name, GOTHA)
    xta.send(own, other, other_name, GOTHA)
    assert xta.report(GOTHA, own)["MessageStatus"]["Status"] == 0

    # the same message again under a new id is the message already stored (intake is idempotent)
    xta.send("urn:test:again", data, name, GOTHA)
    assert len(gateway.messages()) == 2
    assert xta.report(GOTHA, "urn:test:again")["MessageMetaData"]["MsgIdentification"]["MessageID"]["_value_1"] == (
        "urn:test:again"
    )


def test_attachments_and_overlong_ids_are_refused(gateway: Gateway) -> None:
    xta = Xta(gateway)
    name, data = offer(seed=24)
    before = gateway.trace()
    with pytest.raises(Fault) as caught:
        xta.send_port.sendMessage(
            ContentContainer={
                "Message": {"_value_1": data, "contentType": "application/xml", "filename": name},
                "Attachment": [{"_value_1": b"%PDF", "contentType": "application/pdf", "filename": "a.pdf"}],
            },
            _soapheaders=[etree.fromstring(meta_xml("urn:test:attached", GOTHA, ARCHIVE))],
        )
    assert fault_of(caught.value) == ("ParameterIsNotValidException", "9022")
    assert refused(xta, "urn:test:" + "x" * 300, data, name)[:2] == ("ParameterIsNotValidException", "9021")
    assert gateway.trace() == before


def test_a_version_the_reader_does_not_accept_is_a_service_not_booked(gateway: Gateway) -> None:
    """Issue 9: accepted_versions are enforced at intake; over XTA the refusal is 9013 (the service URI names the
    xdomea version, and the Reader has not booked that one)."""
    with gateway.ctx.session() as session:
        archive = directory_entry(session, ARCHIVE)
        archive.accepted_versions = ["3.0.0", "3.1.0"]
        session.add(archive)
        session.commit()
    xta = Xta(gateway)
    name, data = offer(seed=24, version="4.0.0")
    before = gateway.trace()
    element, code, text = refused(xta, "urn:test:version", data, name)
    assert (element, code) == ("PermissionDeniedException", "9013"), text
    assert "3.0.0, 3.1.0" in text and "4.0.0" in text, text
    assert gateway.trace() == before


def test_a_reader_other_than_the_empfaenger_is_refused(gateway: Gateway) -> None:
    xta = Xta(gateway)
    name, data = offer(seed=25)  # Empfaenger: the archive
    before = gateway.trace()
    with pytest.raises(Fault) as caught:
        xta.send("urn:test:reader", data, name, GOTHA, reader=ALTENBURG)
    assert fault_of(caught.value) == ("ParameterIsNotValidException", "9022")
    assert ARCHIVE in str(caught.value.message) and ALTENBURG in str(caught.value.message)
    assert gateway.trace() == before

"""Every buildable message in every version: schema- and rule-valid, and it parses back to the model."""

from __future__ import annotations

import pytest
from lxml import etree

from gateway.xoev.build import BuildError, build_message, serialize
from gateway.xoev.model import Code, ObjectKind, Primaerdokument, RecordObject
from gateway.xoev.parsing.parse import parse_message
from gateway.xoev.schemas.registry import SchemaRegistry
from gateway.xoev.validation.validate import Validator
from tests.build.models import ARCHIVE, CREATED, MESSAGE_UUID, PRIMARY_FILES, PROCESS_ID, SENDER, message

VERSIONS = ("3.0.0", "3.1.0", "4.0.0")


@pytest.mark.parametrize("code", ["0101", "0401", "0501", "0503"])
@pytest.mark.parametrize("version", VERSIONS)
def test_built_message_is_valid_and_round_trips(
    version: str, code: str, registry: SchemaRegistry, validator: Validator
) -> None:
    msg = message(version, code, with_files=code != "0501")
    tree = build_message(msg, registry=registry)

    report = validator.validate_tree(tree)
    assert report.valid, [f.message for f in report.errors]
    assert report.version == version and report.message_type == code
    data = serialize(tree)
    assert data.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    assert tree.getroot().prefix == "xdomea"
    assert "Straßenbau Gemeinde Süd".encode() in data  # UTF-8, not character references

    back = parse_message(etree.fromstring(data).getroottree())
    assert back.version == version and back.element == msg.element
    assert back.kopf.process_id == PROCESS_ID
    assert back.kopf.message_type.code == code
    assert back.kopf.message_type.name == msg.element.rsplit(".", 1)[0]
    assert back.kopf.created_at == CREATED
    assert back.kopf.receipt_requested is True
    assert back.kopf.sender is not None and back.kopf.recipient is not None
    assert back.kopf.sender.institution == SENDER.institution
    assert back.kopf.sender.xoev_identifier == "psw:16067000"
    assert back.kopf.recipient.person == ARCHIVE.person
    if version == "4.0.0":
        assert back.kopf.message_uuid == MESSAGE_UUID
    if code == "0503":
        assert back.kopf.archive_id_requested is True
    original = {o.id: o for o in msg.walk()}
    parsed = {o.id: o for o in back.walk()}
    assert parsed.keys() == original.keys()
    for oid, obj in original.items():
        got = parsed[oid]
        assert (got.kennzeichen, got.betreff) == (obj.kennzeichen, obj.betreff)
        if obj.kind is not ObjectKind.DOKUMENT:
            assert (got.laufzeit_begin, got.laufzeit_end) == (obj.laufzeit_begin, obj.laufzeit_end)
    akte = parsed["548d5041-d8c8-11ef-9c4e-005056871b7c"]
    assert akte.bewertungsvorschlag is not None and akte.bewertungsvorschlag.code == "A"
    vorgang = parsed["67e456ea-b420-11ec-b503-005056871b7c"]
    assert vorgang.aussonderungsart is not None and vorgang.aussonderungsart.code == "A"
    expected_files = [] if code == "0501" else list(PRIMARY_FILES)
    assert [p.filename for p in back.primary_documents()] == expected_files


@pytest.mark.parametrize("version", VERSIONS)
def test_code_list_attributes_are_those_the_version_fixes(version: str, registry: SchemaRegistry) -> None:
    msg = message(version, "0503")
    msg.walk()[2].versions[0].formats[0].name = Code("018", "pdf - Portable Document Format")
    tree = build_message(msg, registry=registry)
    typ = tree.getroot().find(".//{*}Nachrichtentyp") if version != "4.0.0" else tree.find(".//nachrichtentyp")
    assert typ is not None
    assert typ.get("listURI") == "urn:xoev-de:xdomea:codeliste:nachrichtentyp"
    assert typ.get("listVersionID") == {"3.0.0": "2.0", "3.1.0": "2.0", "4.0.0": "3.0"}[version]
    fmt = tree.getroot().find(".//{*}Format/{*}Name")
    assert fmt is not None and fmt.get("listVersionID")
    # 3.x forbids a name in the Dateiformat code, 4.0.0 allows it
    assert (fmt.find("name") is None) == (version != "4.0.0")


def test_context_object_is_written_for_4_0_0_aussonderung(registry: SchemaRegistry) -> None:
    msg = message("4.0.0", "0503")
    msg.objects[0].context_object = True
    back = parse_message(build_message(msg, registry=registry))
    flags = {o.id: o.context_object for o in back.walk() if o.kind is not ObjectKind.DOKUMENT}
    assert flags["548d5041-d8c8-11ef-9c4e-005056871b7c"] is True
    assert flags["67e456ea-b420-11ec-b503-005056871b7c"] is False


def test_nachrichtentyp_contradicting_the_element_is_refused(registry: SchemaRegistry) -> None:
    msg = message("3.0.0", "0503")
    msg.kopf.message_type = Code("0501")
    with pytest.raises(BuildError, match="Nachrichtentyp 0501"):
        build_message(msg, registry=registry)


def test_missing_party_is_refused(registry: SchemaRegistry) -> None:
    msg = message("4.0.0", "0401")
    msg.kopf.recipient = None
    with pytest.raises(BuildError, match="recipient"):
        build_message(msg, registry=registry)


def test_schema_violation_is_reported_with_findings(registry: SchemaRegistry) -> None:
    msg = message("3.0.0", "0503")
    doc = msg.walk()[2]
    assert doc.kind is ObjectKind.DOKUMENT
    doc.versions[0].formats[0].primary = Primaerdokument("brief.pdf")  # Dateiname must start with a UUID
    with pytest.raises(BuildError) as caught:
        build_message(msg, registry=registry)
    assert caught.value.findings and caught.value.findings[0].rule == "XGW-XSD-001"
    assert "brief.pdf" in str(caught.value)


def test_akte_inside_vorgang_is_refused(registry: SchemaRegistry) -> None:
    msg = message("3.1.0", "0401")
    vorgang = msg.objects[0].children[0]
    vorgang.children.append(RecordObject(ObjectKind.AKTE, "1d2c3b4a-0000-4000-8000-0000000000ff"))
    with pytest.raises(BuildError, match="nests Akten only in Akten"):
        build_message(msg, registry=registry)


def test_4_0_0_aussonderung_refuses_a_loose_dokument(registry: SchemaRegistry) -> None:
    msg = message("4.0.0", "0501", with_files=False)
    msg.objects = [msg.objects[0].children[0].children[0]]
    with pytest.raises(BuildError, match="Akten and Vorgänge only"):
        build_message(msg, registry=registry)


def test_unsupported_version_and_element_are_refused(registry: SchemaRegistry) -> None:
    msg = message("3.0.0", "0503")
    msg.version = "2.4.0"
    with pytest.raises(BuildError, match=r"2\.4\.0"):
        build_message(msg, registry=registry)
    msg = message("3.0.0", "0503")
    msg.element = "Aktenplan.Aktenplan.0301"
    msg.kopf.message_type = Code("0301")
    with pytest.raises(BuildError, match="not supported"):
        build_message(msg, registry=registry)


def test_naming_rule_is_checked_when_a_name_is_given(registry: SchemaRegistry) -> None:
    msg = message("4.0.0", "0503")
    build_message(msg, registry=registry, name=f"{PROCESS_ID}_0503_1.xml")
    with pytest.raises(BuildError, match="XGW-NAME"):
        build_message(msg, registry=registry, name=f"{PROCESS_ID}_Aussonderung.Aussonderung.0503.xml")

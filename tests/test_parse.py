"""The parser against every shared sample and the hand-written messages in tests/data/messages.

Expected values are written out field by field (not compared with a snapshot of the parser's own output),
so that a test fails when the parser reads a value from the wrong place.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from lxml import etree

from gateway.config import Settings
from gateway.xoev.model import Code, Message, ObjectKind, Party, RecordObject
from gateway.xoev.parsing.model_json import message_to_json
from gateway.xoev.parsing.model_text import render_message
from gateway.xoev.parsing.parse import NotXdomea, parse_message, xdomea_version
from gateway.xoev.parsing.safe_xml import parse_xml
from gateway.xoev.validation.validate import Validator

from .conftest import SAMPLES

MESSAGES = Path(__file__).parent / "data" / "messages"
SAMPLE_FILES = sorted(str(p.relative_to(SAMPLES)) for p in SAMPLES.rglob("*") if p.suffix in (".xml", ".zip"))

NACHRICHTENTYP = "urn:xoev-de:xdomea:codeliste:nachrichtentyp"
AUSSONDERUNGSART = "urn:xoev-de:xdomea:codeliste:aussonderungsart"
BEWERTUNGSVORSCHLAG = "urn:xoev-de:xdomea:codeliste:bewertungsvorschlag"
DATEIFORMAT = "urn:xoev-de:xdomea:codeliste:dateiformat"
CET = timezone(timedelta(hours=1))
CEST = timezone(timedelta(hours=2))


def load(path: Path, validator: Validator, settings: Settings) -> Message:
    """A message from disk through the real readers: the safe XML parser, or the validator for ZIP packages."""
    if path.suffix == ".zip":
        tree = validator.validate_path(path).tree
        assert tree is not None, f"{path} could not be read"
        return parse_message(tree)
    return parse_message(parse_xml(path.read_bytes(), settings.limits, source=str(path)))


def outline(objects: list[RecordObject]) -> list[tuple[int, str, str]]:
    """(depth, kind, id) of every object, depth first: the shape of the tree in one comparable value."""
    out: list[tuple[int, str, str]] = []

    def visit(obj: RecordObject, depth: int) -> None:
        out.append((depth, obj.kind.value, obj.id))
        for child in obj.children:
            visit(child, depth + 1)

    for obj in objects:
        visit(obj, 0)
    return out


def files(msg: Message) -> list[str]:
    return [primary.filename for primary in msg.primary_documents()]


# -- the shared samples ---------------------------------------------------------------------------------

TEMPLATE_SENDER = Party(
    institution="AbsXdomeaInstitutionName",
    institution_short="AbsXdomeaInstitutionKurzbezeichnung",
    organisation_unit="AbsXdomeaOrgeinheitName",
    person="AbsNameTitel AbsNameVorname AbsNameFamilienname",
    authority_prefix="AbsBehoerdenkennungPraefixCode",
    authority_id="LATh",
)
TEMPLATE_RECIPIENT = Party(
    institution="EmpXdomeaInstitutionName",
    institution_short="EmpXdomeaInstitutionKurzbezeichnung",
    organisation_unit="EmpXdomeaOrgeinheitName",
    person="EmpNameTitel EmpNameVorname EmpNameFamilienname",
    authority_prefix="EmpBehoerdenkennungPraefixCode",
    authority_id="LATh",
)
TEMPLATE_PROCESS = "242f44e8-bebf-4503-a086-db252c6a4277"
TEMPLATE_AKTE = "cbdbfccc-72e5-44b2-9e71-937e6f4f8ce9"
TEMPLATE_VORGANG = "bf675c60-12c2-4ab1-826f-dcdf306d1733"
TEMPLATE_DOKUMENT = "d9fc876a-3838-4e15-9203-15c703afe730"


def check_template_kopf(msg: Message, code: str, created: datetime) -> None:
    kopf = msg.kopf
    assert kopf.process_id == TEMPLATE_PROCESS
    assert kopf.message_type == Code(code=code)
    assert kopf.created_at == created
    assert kopf.sender == TEMPLATE_SENDER
    assert kopf.recipient == TEMPLATE_RECIPIENT
    assert kopf.sending_system is not None
    assert kopf.sending_system.product == "LAThDMeACU-Dummy"
    assert kopf.sending_system.version == "20200729"
    assert kopf.sending_system.instance_id == "184b15e3-baca-4b66-bb1b-fad9058410af"
    assert kopf.sending_system.manufacturer is None
    assert kopf.note == "xdomea Hinweis"
    assert kopf.message_uuid is None


def check_template_0501(msg: Message, *, bewertungsvorschlag: Code | None) -> None:
    assert msg.code == "0501"
    assert outline(msg.objects) == [
        (0, "Akte", TEMPLATE_AKTE),
        (1, "Vorgang", TEMPLATE_VORGANG),
        (2, "Dokument", TEMPLATE_DOKUMENT),
    ]
    akte = msg.objects[0]
    vorgang = akte.children[0]
    dokument = vorgang.children[0]
    b = Code(code="B", list_uri=AUSSONDERUNGSART, list_version="1.0")
    assert (akte.kennzeichen, akte.betreff) == ("{AP}-{Ax}", "Betreff (Testdaten)")
    assert (akte.laufzeit_begin, akte.laufzeit_end) == (date(2018, 7, 24), date(2018, 7, 24))
    assert akte.aussonderungsart == b
    assert akte.bewertungsvorschlag == bewertungsvorschlag
    assert akte.document_type == "Typ (Testdaten)"
    assert (vorgang.kennzeichen, vorgang.aussonderungsart) == ("{AP}-{Ax}.{Vx}", b)
    assert vorgang.bewertungsvorschlag == bewertungsvorschlag
    assert (vorgang.laufzeit_begin, vorgang.laufzeit_end) == (date(2018, 7, 24), date(2018, 7, 24))
    assert (dokument.kennzeichen, dokument.betreff) == ("{AP}-{Ax}.{Vx}-{Dx}", "Betreff (Testdaten)")
    assert dokument.aussonderungsart is None
    assert dokument.versions == []
    assert files(msg) == []
    assert msg.referenced_ids == []
    assert msg.kopf.receipt_requested is True
    assert msg.kopf.import_confirmation_requested is None


def sample_230_0501(msg: Message) -> None:
    assert (msg.version, msg.element) == ("2.3.0", "Aussonderung.Anbieteverzeichnis.0501")
    check_template_kopf(msg, "0501", datetime(2018, 7, 24, 17, 21, 25))
    check_template_0501(msg, bewertungsvorschlag=None)


def sample_230_0502(msg: Message) -> None:
    assert (msg.version, msg.element) == ("2.3.0", "Aussonderung.Bewertungsverzeichnis.0502")
    # The template's Kopf says 0501 although the message is a 0502 (see samples/MANIFEST.md).
    check_template_kopf(msg, "0501", datetime(2018, 7, 24, 17, 21, 25))
    assert msg.code == "0502"
    assert msg.objects == []
    assert msg.referenced_ids == [TEMPLATE_AKTE]
    [outcome] = msg.outcomes
    assert outcome.aussonderungsart == Code(code="A")
    assert (outcome.success, outcome.archive_id, outcome.errors) == (None, None, [])
    assert msg.kopf.receipt_requested is True


def sample_240_0504(msg: Message) -> None:
    assert (msg.version, msg.element) == ("2.4.0", "Aussonderung.AnbietungEmpfangBestaetigen.0504")
    check_template_kopf(msg, "0501", datetime(2018, 7, 24, 17, 21, 25))
    assert (msg.objects, msg.outcomes, msg.referenced_ids) == ([], [], [])
    assert msg.kopf.receipt_requested is False
    assert msg.kopf.import_confirmation_requested is None


def sample_240_0503(msg: Message) -> None:
    assert (msg.version, msg.element) == ("2.4.0", "Aussonderung.Aussonderung.0503")
    check_template_kopf(msg, "0503", datetime(2018, 7, 24, 17, 25, 39))
    assert msg.kopf.import_confirmation_requested is True
    assert msg.kopf.archive_id_requested is True
    assert msg.kopf.receipt_requested is False
    assert outline(msg.objects) == [(0, "Dokument", TEMPLATE_DOKUMENT)]
    dokument = msg.objects[0]
    assert (dokument.betreff, dokument.kennzeichen) == (None, None)
    [version] = dokument.versions
    assert version.number == ""  # <xdomea:Nummer/> in the template
    [fmt] = version.formats
    assert fmt.name == Code(code="044", name="pdf - Portable Document Format (Archival)")
    assert fmt.version == "1b"
    assert fmt.primary is not None
    assert fmt.primary.filename == "e8b289cb-f8dd-492a-b3cf-560674eaa92b_PDF-A1b_CMYK_20150731.pdf"
    assert (fmt.primary.created_at, fmt.primary.creator, fmt.primary.original_filename) == (None, None, None)


def sample_300_0501(msg: Message) -> None:
    assert (msg.version, msg.element) == ("3.0.0", "Aussonderung.Anbieteverzeichnis.0501")
    check_template_kopf(msg, "0501", datetime(2020, 7, 24, 17, 21, 25))
    check_template_0501(msg, bewertungsvorschlag=Code(code="A", list_uri=BEWERTUNGSVORSCHLAG, list_version="1.0"))


def sample_300_0502(msg: Message) -> None:
    assert (msg.version, msg.element) == ("3.0.0", "Aussonderung.Bewertungsverzeichnis.0502")
    check_template_kopf(msg, "0503", datetime(2018, 7, 24, 17, 21, 25))
    assert msg.objects == []
    assert msg.referenced_ids == [TEMPLATE_AKTE]
    assert msg.outcomes[0].aussonderungsart == Code(code="A")


def lavnrw_300_0503(msg: Message) -> None:
    assert (msg.version, msg.element) == ("3.0.0", "Aussonderung.Aussonderung.0503")
    kopf = msg.kopf
    assert kopf.process_id == "9fde4e7a-b41b-11ec-9225-005056871b7c"
    assert kopf.message_type == Code(
        code="0503", name="Aussonderung.Aussonderung", list_uri=NACHRICHTENTYP, list_version="2.0"
    )
    assert kopf.created_at == datetime(2022, 4, 4, 15, 34, 58, tzinfo=UTC)
    assert kopf.sender == Party(institution="[Abgebende Stelle]", organisation_unit="[Abgebende Organisationseinheit]")
    assert kopf.recipient == Party(institution="Landesarchiv NRW")
    assert kopf.sending_system is None
    assert (kopf.receipt_requested, kopf.import_confirmation_requested, kopf.archive_id_requested) == (
        False,
        True,
        False,
    )
    assert outline(msg.objects) == [
        (0, "Vorgang", "67e456ea-b420-11ec-b503-005056871b7c"),
        (1, "Dokument", "7bf9473a-b4a7-11ec-a407-005056871b7c"),
    ]
    vorgang = msg.objects[0]
    assert (vorgang.kennzeichen, vorgang.betreff) == ("[Vorgangskennzeichen]", "[Vorgangsbetreff]")
    assert (vorgang.laufzeit_begin, vorgang.laufzeit_end) == (date(2010, 4, 4), date(2012, 4, 4))
    dokument = vorgang.children[0]
    assert (dokument.kennzeichen, dokument.betreff) == ("[Dokumentkennzeichen]", "[Dokumentbetreff]")
    assert dokument.number_in_parent == "1"
    [version] = dokument.versions
    assert version.number == "1"
    [fmt] = version.formats
    assert fmt.name == Code(code="045", list_uri=DATEIFORMAT, list_version="2.0")
    assert fmt.version is None
    assert fmt.primary is not None
    assert fmt.primary.filename == "f4bcaaf7-d7cb-11ef-a278-005056871b7c.txt"
    assert fmt.primary.created_at == datetime(2011, 2, 12, 11, 22, 35, tzinfo=UTC)


def xman_300_0505(msg: Message) -> None:
    assert (msg.version, msg.element) == ("3.0.0", "Aussonderung.BewertungEmpfangBestaetigen.0505")
    kopf = msg.kopf
    assert kopf.process_id == "9a75050f-323a-4e84-94c9-a889aa2b4fe8"
    assert kopf.message_type == Code(code="0505")
    assert kopf.created_at == datetime(2018, 7, 24, 17, 21, 25)
    # The Absender's Behoerdenkennung is present but empty; the Empfaenger's uses 3.x's Behoerdenschluessel.
    assert kopf.sender is not None
    assert (kopf.sender.authority_prefix, kopf.sender.authority_id) == (None, None)
    assert kopf.sender.institution == "AbsXdomeaInstitutionName"
    assert kopf.recipient is not None
    assert kopf.recipient.xoev_identifier == "EmpBehoerdenkennungPraefixCode:LATh"
    assert kopf.recipient.person == "EmpNameTitel EmpNameVorname EmpNameFamilienname"
    assert (msg.objects, msg.referenced_ids) == ([], [])
    assert kopf.receipt_requested is False


def lavnrw_400_0503(msg: Message) -> None:
    assert (msg.version, msg.element) == ("4.0.0", "Aussonderung.Aussonderung.0503")
    kopf = msg.kopf
    assert kopf.process_id == "518c7c31-d1a0-11ef-accb-005056871b7c"
    assert kopf.message_uuid == "95b80307-d19c-11ef-a43a-005056871b7c"
    assert kopf.message_type == Code(
        code="0503", name="Aussonderung.Aussonderung", list_uri=NACHRICHTENTYP, list_version="3.0"
    )
    assert kopf.created_at == datetime(2025, 1, 15, 12, 0, tzinfo=UTC)
    assert kopf.sender == Party(institution="[Abgebende Stelle]")  # autor
    assert kopf.recipient == Party(institution="Landesarchiv NRW")  # leser
    assert kopf.sending_system is not None
    assert kopf.sending_system.product == "[Software, die diese Nachricht erstellt hat]"
    assert kopf.sending_system.manufacturer == "[Softwarehersteller]"
    assert kopf.sending_system.version is None
    assert (kopf.receipt_requested, kopf.import_confirmation_requested, kopf.archive_id_requested) == (
        False,
        True,
        False,
    )
    assert (kopf.sequence_number, kopf.sequence_total) == (1, 1)
    assert outline(msg.objects) == [
        (0, "Akte", "548d5041-d8c8-11ef-9c4e-005056871b7c"),
        (1, "Vorgang", "07333b5f-d1a2-11ef-88aa-005056871b7c"),
        (2, "Dokument", "a42460ea-d1a5-11ef-b6fa-005056871b7c"),
    ]
    akte = msg.objects[0]
    assert akte.context_object is True
    assert (akte.kennzeichen, akte.betreff) == ("[Aktenzeichen]", "[Aktenbetreff]")
    assert (akte.laufzeit_begin, akte.laufzeit_end) == (date(2020, 1, 1), None)
    vorgang = akte.children[0]
    assert vorgang.context_object is False
    assert (vorgang.kennzeichen, vorgang.betreff) == ("[Vorgangskennzeichen]", "[Vorgangsbetreff]")
    assert (vorgang.laufzeit_begin, vorgang.laufzeit_end) == (date(2024, 1, 1), date(2025, 1, 14))
    dokument = vorgang.children[0]
    assert dokument.number_in_parent == "1"
    [fmt] = dokument.versions[0].formats
    assert fmt.name == Code(code="045", name="Unicode Text File", list_uri=DATEIFORMAT, list_version="2.0")
    primary = fmt.primary
    assert primary is not None
    assert primary.filename == "8bcadd35-d27b-11ef-ab6c-005056871b7c.txt"
    assert primary.created_at == datetime(2025, 1, 14, 13, 35, 14, 124000, tzinfo=UTC)
    assert primary.modified_at == primary.created_at
    assert primary.hash_value == "ebd6798571b4476ed77408a9e7d4dde5ed0d37e3a1c93c9426e86ef40cc0d69f"
    assert primary.hash_algorithm == "SHA-256"


def sample_400_0501(msg: Message) -> None:
    assert (msg.version, msg.element) == ("4.0.0", "Aussonderung.Anbieteverzeichnis.0501")
    kopf = msg.kopf
    assert kopf.process_id == TEMPLATE_PROCESS
    assert kopf.message_uuid == TEMPLATE_PROCESS
    assert kopf.message_type == Code(code="0501")
    assert kopf.created_at == datetime(2020, 7, 24, 17, 21, 25)
    assert kopf.sender == Party(person="Dr. John Doe")  # NameAnsprechpartner: Titel, Vorname, Familienname
    # A Behoerdenkennung without "prefix:" keeps the whole (stripped) kennung as the id.
    assert kopf.recipient == Party(directory="LATh", authority_id="Landesarchiv Thüringen")
    assert kopf.sending_system is not None
    assert (kopf.sending_system.product, kopf.sending_system.manufacturer) == ("Xdomea Toolkit", "LaTh")
    assert kopf.receipt_requested is True  # written "true"
    assert (kopf.sequence_number, kopf.sequence_total) == (111, 10)
    assert outline(msg.objects) == [(0, "Akte", "11111111-bebf-4503-a086-db252c6a4277")]
    assert msg.objects[0].context_object is True


SAMPLE_EXPECTATIONS: dict[str, Callable[[Message], None]] = {
    "2.3.0/xx_Aussonderung.Anbieteverzeichnis.0501.xml": sample_230_0501,
    "2.3.0/xx_Aussonderung.Bewertungsverzeichnis.0502.xml": sample_230_0502,
    "2.4.0/xx_Aussonderung.AnbietungEmpfangBestaetigen.0504.xml": sample_240_0504,
    "2.4.0/xx_Aussonderung.Aussonderung.0503.xml": sample_240_0503,
    "3.0.0/xx_Aussonderung.Anbieteverzeichnis.0501.xml": sample_300_0501,
    "3.0.0/xx_Aussonderung.Bewertungsverzeichnis.0502.xml": sample_300_0502,
    "3.0.0/9fde4e7a-b41b-11ec-9225-005056871b7c_Aussonderung.Aussonderung.0503.xml": lavnrw_300_0503,
    "3.0.0/9fde4e7a-b41b-11ec-9225-005056871b7c_Aussonderung.Aussonderung.0503.zip": lavnrw_300_0503,
    "3.0.0/9a75050f-323a-4e84-94c9-a889aa2b4fe8_Aussonderung.BewertungEmpfangBestaetigen.0505.zip": xman_300_0505,
    "4.0.0/518c7c31-d1a0-11ef-accb-005056871b7c_0503_1.xml": lavnrw_400_0503,
    "4.0.0/518c7c31-d1a0-11ef-accb-005056871b7c_0503_1.zip": lavnrw_400_0503,
    "4.0.0/xx_Aussonderung.Anbieteverzeichnis.0501.xml": sample_400_0501,
}


def test_every_sample_has_expectations() -> None:
    assert sorted(SAMPLE_EXPECTATIONS) == SAMPLE_FILES


@pytest.mark.parametrize("rel", SAMPLE_FILES)
def test_sample(rel: str, validator: Validator, settings: Settings) -> None:
    msg = load(SAMPLES / rel, validator, settings)
    SAMPLE_EXPECTATIONS[rel](msg)
    # The JSON form is plain JSON and carries the same identity.
    data = json.loads(json.dumps(message_to_json(msg)))
    assert data["kopf"]["process_id"] == msg.kopf.process_id
    assert [obj["id"] for obj in data["objects"]] == [obj.id for obj in msg.objects]


# -- hand-written messages ------------------------------------------------------------------------------

MESSAGE_FILES = sorted(str(p.relative_to(MESSAGES)) for p in MESSAGES.rglob("*.xml"))
VALID_MESSAGE_FILES = [rel for rel in MESSAGE_FILES if not rel.startswith("tolerant/")]


def message(rel: str, validator: Validator, settings: Settings) -> Message:
    return load(MESSAGES / rel, validator, settings)


def test_every_message_fixture_is_listed_in_the_readme() -> None:
    readme = (MESSAGES / "README.md").read_text(encoding="utf-8")
    assert [rel for rel in MESSAGE_FILES if f"`{rel}`" not in readme] == []


@pytest.mark.parametrize("rel", VALID_MESSAGE_FILES)
def test_hand_written_messages_are_schema_valid(rel: str, validator: Validator) -> None:
    """The fixtures stand for real messages: the real validator finds no schema error in them."""
    report = validator.validate_path(MESSAGES / rel).report
    assert not [f for f in report.findings if f.rule.startswith(("XGW-XSD", "XGW-XML", "XGW-NS"))], report.to_text()
    assert report.version == rel.split("/")[0]


def test_310_0503(validator: Validator, settings: Settings) -> None:
    msg = message("3.1.0/3f0e8a52-6c1d-4b7e-9a21-0c5d31000503_Aussonderung.Aussonderung.0503.xml", validator, settings)
    kopf = msg.kopf
    assert (msg.version, msg.code) == ("3.1.0", "0503")
    assert kopf.process_id == "3f0e8a52-6c1d-4b7e-9a21-0c5d31000503"
    assert kopf.created_at == datetime(2024, 3, 1, 9, 30, tzinfo=CET)
    assert kopf.sender == Party(
        institution="Landratsamt Altenburger Land",
        institution_short="LRA ABG",
        organisation_unit="Hauptamt, Registratur",
        person="Dr. Erika Schulze",
        authority_prefix="psw",
        authority_id="16077000",
    )
    assert kopf.sender.xoev_identifier == "psw:16077000"
    assert kopf.recipient == Party(institution="Landesarchiv Thüringen", institution_short="LATh")
    assert kopf.sending_system is not None
    assert (kopf.sending_system.product, kopf.sending_system.version) == ("Muster-DMS", "7.2")
    assert kopf.sending_system.instance_id == "dms-abg-01"
    assert kopf.note == "Aussonderung 2024, Teil 1"
    assert (kopf.receipt_requested, kopf.import_confirmation_requested, kopf.archive_id_requested) == (
        True,
        True,
        True,
    )
    [letter] = msg.cover_letters
    assert (letter.kind, letter.id, letter.betreff) == (
        ObjectKind.DOKUMENT,
        "3f0e8a52-0000-4000-8000-00000000a001",
        "Anschreiben zur Aussonderung",
    )
    assert outline(msg.objects) == [
        (0, "Akte", "3f0e8a52-0000-4000-8000-0000000a0001"),
        (1, "Dokument", "3f0e8a52-0000-4000-8000-0000000d0001"),
        (1, "Vorgang", "3f0e8a52-0000-4000-8000-0000000b0001"),
        (2, "Teilvorgang", "3f0e8a52-0000-4000-8000-0000000c0001"),
        (3, "Dokument", "3f0e8a52-0000-4000-8000-0000000d0002"),
        (4, "Dokument", "3f0e8a52-0000-4000-8000-0000000d0003"),
        (1, "Teilakte", "3f0e8a52-0000-4000-8000-0000000e0001"),
        (0, "Vorgang", "3f0e8a52-0000-4000-8000-0000000b0002"),
    ]
    akte, vorgang2 = msg.objects
    assert akte.aussonderungsart == Code(code="A", name="Archivwürdig", list_uri=AUSSONDERUNGSART, list_version="1.0")
    assert akte.bewertungsvorschlag == Code(code="A", list_uri=BEWERTUNGSVORSCHLAG, list_version="1.0")
    assert (akte.kennzeichen, akte.document_type) == ("621.41-01/2015", "Sachakte")
    assert (akte.laufzeit_begin, akte.laufzeit_end) == (date(2015, 2, 1), date(2019, 11, 30))
    dokument, vorgang, teilakte = akte.children
    assert teilakte.aussonderungsart == Code(code="Auswahl nach Stichprobe")  # AussonderungsartKonfigurierbar
    assert teilakte.kennzeichen == "621.41-01/2015/T1"
    assert (vorgang.laufzeit_begin, vorgang.laufzeit_end) == (date(2016, 5, 1), None)
    anlage = vorgang.children[0].children[0].children[0]
    assert (anlage.attachment, anlage.betreff) == (True, "Lageplan")
    assert vorgang.children[0].children[0].attachment is False
    assert (vorgang2.laufzeit_begin, vorgang2.laufzeit_end) == (None, date(2020, 12, 31))
    [version] = dokument.versions
    assert version.number == "2"
    pdf, lwp = version.formats
    assert (pdf.name.code, pdf.version, pdf.other_name) == ("030", "1b", None)
    assert (lwp.name.code, lwp.version, lwp.other_name) == ("999", "9", "Lotus Word Pro")
    assert pdf.primary is not None
    assert pdf.primary.filename == "3f0e8a52-0000-4000-8000-0000000d0001_v2.pdf"
    assert pdf.primary.original_filename == "Aufstellungsbeschluss final.pdf"
    assert pdf.primary.creator == "E. Schulze"
    assert pdf.primary.created_at == datetime(2015, 2, 3, 14, 5)
    assert files(msg) == [
        "3f0e8a52-0000-4000-8000-0000000d0001_v2.pdf",
        "3f0e8a52-0000-4000-8000-0000000d0001_v2.lwp",
        "3f0e8a52-0000-4000-8000-0000000d0003.pdf",
    ]
    # The JSON form lists the cover letter's file too, first, as it comes first in the message.
    letter_file = "3f0e8a52-0000-4000-8000-00000000a001_anschreiben.pdf"
    assert message_to_json(msg)["primary_files"] == [letter_file, *files(msg)]


def test_230_0503_teilakte_beside_akteninhalt(validator: Validator, settings: Settings) -> None:
    msg = message("2.3.0/5b2d7c90-1e4f-4a8b-8c3d-230000000503_Aussonderung.Aussonderung.0503.xml", validator, settings)
    assert msg.kopf.created_at == datetime(2016, 10, 5, 8, 0, tzinfo=UTC)
    erfurt = Party(institution="Stadtverwaltung Erfurt", authority_prefix="psw", authority_id="16055000")
    assert msg.kopf.sender == erfurt
    assert msg.kopf.sending_system is not None
    assert msg.kopf.sending_system.product == "Altsystem"
    assert (msg.kopf.import_confirmation_requested, msg.kopf.archive_id_requested) == (True, False)
    assert msg.kopf.receipt_requested is False
    assert outline(msg.objects) == [
        (0, "Akte", "5b2d7c90-0000-4000-8000-0000000a0001"),
        (1, "Vorgang", "5b2d7c90-0000-4000-8000-0000000b0001"),
        (2, "Dokument", "5b2d7c90-0000-4000-8000-0000000d0001"),
        (3, "Dokument", "5b2d7c90-0000-4000-8000-0000000d0002"),
        (2, "Teilvorgang", "5b2d7c90-0000-4000-8000-0000000c0001"),
        (1, "Teilakte", "5b2d7c90-0000-4000-8000-0000000e0001"),
        (2, "Dokument", "5b2d7c90-0000-4000-8000-0000000d0003"),
    ]
    akte = msg.objects[0]
    assert akte.aussonderungsart == Code(code="A", list_uri=AUSSONDERUNGSART, list_version="1.0")  # bare 2.x code
    assert akte.bewertungsvorschlag == Code(code="A", list_uri=BEWERTUNGSVORSCHLAG, list_version="1.0")
    assert akte.children[0].number_in_parent == "1"
    assert akte.children[0].children[0].children[0].attachment is True
    assert akte.children[1].kennzeichen == "66.10/1"
    primary = akte.children[0].children[0].versions[0].formats[0].primary
    assert primary is not None
    assert (primary.filename, primary.creator) == ("5b2d7c90-0000-4000-8000-0000000d0001_streuplan.pdf", "Tiefbauamt")


def test_240_0506_overall_result_with_rueckgabeparameter(validator: Validator, settings: Settings) -> None:
    msg = message(
        "2.4.0/7d1e4b22-9c3a-4f5e-8b1d-240000000506_Aussonderung.AussonderungImportBestaetigen.0506.xml",
        validator,
        settings,
    )
    assert msg.kopf.created_at == datetime(2019, 5, 6, 10, 11, 12, 500000)
    assert msg.kopf.recipient == Party(organisation_unit="Registratur")
    assert msg.kopf.recipient.display_name == "Registratur"
    assert (msg.success, msg.errors) == (False, ["Primärdatei fehlt"])
    assert msg.referenced_ids == ["7d1e4b22-0000-4000-8000-0000000a0001", "7d1e4b22-0000-4000-8000-0000000a0002"]
    assert [o.archive_id for o in msg.outcomes] == ["LATh 5-12-3456", "LATh 5-12-3457"]
    assert [o.success for o in msg.outcomes] == [None, None]


def test_240_0201_hauptobjekt_and_anlagen(validator: Validator, settings: Settings) -> None:
    msg = message(
        "2.4.0/4a6c8e02-5f1b-4d3a-9e7c-240000000201_Geschaeftsgang.Geschaeftsgang.0201.xml", validator, settings
    )
    assert msg.kopf.receipt_requested is True  # EmpfangsbestaetigungAnInitiator
    assert msg.kopf.sender == Party(organisation_unit="Referat 23")
    assert outline(msg.objects) == [
        (0, "Dokument", "4a6c8e02-0000-4000-8000-0000000d0001"),
        (0, "Vorgang", "4a6c8e02-0000-4000-8000-0000000b0001"),
        (0, "Dokument", "4a6c8e02-0000-4000-8000-0000000d0002"),
    ]
    # The ExternerGeschaeftsgang's Identifikation is not a Schriftgutobjekt.
    assert [obj.attachment for obj in msg.objects] == [False, True, True]


def test_300_0402_per_object_results(validator: Validator, settings: Settings) -> None:
    msg = message("3.0.0/9c4b2e10-7a5d-4e3f-b2c1-300000000402_Abgabe.ImportBestaetigen.0402.xml", validator, settings)
    assert msg.kopf.created_at == datetime(2023, 6, 30, 16, 45, tzinfo=CEST)
    assert msg.objects == []
    assert msg.referenced_ids == ["9c4b2e10-0000-4000-8000-0000000a0001", "9c4b2e10-0000-4000-8000-0000000a0002"]
    ok, failed = msg.outcomes
    assert (ok.success, ok.errors, ok.error_codes) == (True, [], [])
    assert (failed.success, failed.errors) == (False, ["Aktenplaneinheit unbekannt"])
    assert failed.error_codes == [
        Code(
            code="0604001",
            name="Die ID des Containerobjekts ist unbekannt/ungültig.",
            list_uri="urn:xoev-de:xdomea:codeliste:spezifischefehlermeldung0604",
            list_version="1.0",
        )
    ]
    assert msg.success is None


def test_300_0506_ausgesondertes_sgo(validator: Validator, settings: Settings) -> None:
    msg = message(
        "3.0.0/2e8f6a14-3b9c-4d7e-a5f0-300000000506_Aussonderung.AussonderungImportBestaetigen.0506.xml",
        validator,
        settings,
    )
    ok, failed = msg.outcomes
    assert (ok.id, ok.success, ok.archive_id) == ("2e8f6a14-0000-4000-8000-0000000a0001", True, "LATh 6-1-77")
    assert (failed.id, failed.success, failed.archive_id) == ("2e8f6a14-0000-4000-8000-0000000b0001", False, None)
    assert failed.errors == ["Primärdokument nicht lesbar"]


def test_400_0503(validator: Validator, settings: Settings) -> None:
    msg = message("4.0.0/c7a91f3e-2d4b-4e6a-9f18-400000000503_0503_1.xml", validator, settings)
    kopf = msg.kopf
    assert kopf.process_id == "c7a91f3e-2d4b-4e6a-9f18-400000000503"
    assert kopf.message_uuid == "c7a91f3e-0000-4000-8000-00000000ffff"
    assert kopf.created_at == datetime(2025, 9, 1, 7, 15, 30, 250000, tzinfo=CEST)
    assert kopf.sender == Party(
        institution="Landratsamt Altenburger Land",
        person="Jan Krause",
        directory="DVDV",
        authority_prefix="psw",
        authority_id="16077000",
    )
    assert kopf.sender.xoev_identifier == "psw:16077000"
    assert kopf.recipient == Party(
        institution="Landesarchiv Thüringen", institution_short="LATh", organisation_unit="Staatsarchiv Altenburg"
    )
    system = kopf.sending_system
    assert system is not None
    assert (system.product, system.manufacturer, system.version, system.instance_id) == (
        "Muster-DMS",
        "Muster GmbH",
        "11.0.3",
        "dms-abg-02",
    )
    assert (kopf.receipt_requested, kopf.import_confirmation_requested, kopf.archive_id_requested) == (
        True,
        True,
        True,
    )
    assert (kopf.sequence_number, kopf.sequence_total) == (2, 3)
    assert kopf.origin_message_uuid is None
    assert outline(msg.objects) == [
        (0, "Akte", "c7a91f3e-0000-4000-8000-0000000a0001"),
        (1, "Dokument", "c7a91f3e-0000-4000-8000-0000000d0001"),
        (2, "Dokument", "c7a91f3e-0000-4000-8000-0000000d0002"),
        (2, "Dokument", "c7a91f3e-0000-4000-8000-0000000d0003"),
        (1, "Vorgang", "c7a91f3e-0000-4000-8000-0000000b0001"),
        (2, "Dokument", "c7a91f3e-0000-4000-8000-0000000d0004"),
        (3, "Dokument", "c7a91f3e-0000-4000-8000-0000000d0005"),
        (2, "Teilvorgang", "c7a91f3e-0000-4000-8000-0000000c0001"),
        (1, "Teilakte", "c7a91f3e-0000-4000-8000-0000000e0001"),
    ]
    akte = msg.objects[0]
    assert akte.context_object is False
    assert akte.aussonderungsart == Code(code="A", list_uri=AUSSONDERUNGSART, list_version="1.0")
    assert akte.bewertungsvorschlag == Code(code="A", list_uri=BEWERTUNGSVORSCHLAG, list_version="1.0")
    mit_schriftstueck, vorgang, _ = akte.children
    assert mit_schriftstueck.has_schriftstuecke is True
    assert mit_schriftstueck.number_in_parent == "1"
    assert [child.has_schriftstuecke for child in mit_schriftstueck.children] == [False, False]
    primary = mit_schriftstueck.children[0].versions[0].formats[0].primary
    assert primary is not None
    assert primary.original_filename == "Vorlage KT-2017-044.pdf"
    assert primary.creator == "J. Krause"
    assert primary.created_at == datetime(2017, 3, 2, 10, 0, tzinfo=UTC)
    assert primary.modified_at == datetime(2017, 3, 3, 12, 30, tzinfo=UTC)
    assert (primary.hash_algorithm, primary.hash_value[:8] if primary.hash_value else None) == ("SHA-256", "9f86d081")
    dokument = vorgang.children[0]
    assert (dokument.document_type, dokument.attachment) == ("Bericht", False)
    assert (dokument.children[0].attachment, dokument.children[0].betreff) == (True, "Fragebogen")
    assert files(msg) == ["c7a91f3e-0000-4000-8000-0000000f0002.pdf", "c7a91f3e-0000-4000-8000-0000000f0005.txt"]


def test_400_0506(validator: Validator, settings: Settings) -> None:
    msg = message("4.0.0/c7a91f3e-2d4b-4e6a-9f18-400000000503_0506_1.xml", validator, settings)
    assert msg.kopf.origin_message_uuid == "c7a91f3e-0000-4000-8000-00000000ffff"
    assert (msg.kopf.sequence_number, msg.kopf.sequence_total) == (1, 1)
    assert msg.kopf.receipt_requested is False
    assert msg.kopf.import_confirmation_requested is None
    assert (msg.success, msg.errors) == (False, ["Ein Objekt konnte nicht übernommen werden."])
    ok, failed = msg.outcomes
    assert (ok.id, ok.success, ok.archive_id) == (
        "c7a91f3e-0000-4000-8000-0000000a0001",
        True,
        "LATh StA Altenburg, Kreisverwaltung 1234",
    )
    assert (failed.success, failed.errors) == (False, ["Hashwert stimmt nicht", "Datei nicht lesbar"])
    assert msg.referenced_ids == [ok.id, failed.id]


def test_400_0502(validator: Validator, settings: Settings) -> None:
    msg = message("4.0.0/c7a91f3e-2d4b-4e6a-9f18-400000000501_0502_1.xml", validator, settings)
    assert msg.kopf.receipt_requested is True
    assert msg.kopf.origin_message_uuid == "c7a91f3e-0000-4000-8000-00000000cccc"
    assert msg.kopf.sending_system is not None
    assert msg.kopf.sending_system.version == "2.1"
    assert msg.referenced_ids == ["c7a91f3e-0000-4000-8000-0000000a0001", "c7a91f3e-0000-4000-8000-0000000a0002"]
    assert [o.aussonderungsart for o in msg.outcomes] == [
        Code(code="A", list_uri=AUSSONDERUNGSART, list_version="1.0"),
        Code(code="V", list_uri=AUSSONDERUNGSART, list_version="1.0"),
    ]


def _inline(version: str, element: str, body: str) -> Message:
    xml = f'<xdomea:{element} xmlns:xdomea="urn:xoev-de:xdomea:schema:{version}">{body}</xdomea:{element}>'
    return parse_message(etree.fromstring(xml.encode()))


def test_07xx_requests_reference_objects_by_bare_uuid() -> None:
    msg = _inline(
        "3.1.0",
        "Zwischenarchivierung.RueckleiheAnforderung.0711",
        "<xdomea:RueckzuleihendesObjekt> 11111111-0000-4000-8000-000000000001 </xdomea:RueckzuleihendesObjekt>"
        "<xdomea:RueckzuleihendesObjekt>11111111-0000-4000-8000-000000000002</xdomea:RueckzuleihendesObjekt>",
    )
    assert msg.referenced_ids == ["11111111-0000-4000-8000-000000000001", "11111111-0000-4000-8000-000000000002"]
    assert [(o.success, o.aussonderungsart) for o in msg.outcomes] == [(None, None), (None, None)]


def test_0514_results_per_aktenplaneinheit() -> None:
    msg = _inline(
        "4.0.0",
        "Aussonderung.BewertungskatalogImportBestaetigen.0514",
        "<xdomea:ErfolgOderMisserfolg><xdomea:Erfolgreich>true</xdomea:Erfolgreich></xdomea:ErfolgOderMisserfolg>"
        "<xdomea:BewerteteAktenplaneinheit><xdomea:xdomeaUUID>22222222-0000-4000-8000-000000000001</xdomea:xdomeaUUID>"
        "<xdomea:ErfolgOderMisserfolg><xdomea:Erfolgreich>false</xdomea:Erfolgreich>"
        "<xdomea:FehlermeldungCode listURI='urn:example' listVersionID='1'><code>E1</code></xdomea:FehlermeldungCode>"
        "</xdomea:ErfolgOderMisserfolg></xdomea:BewerteteAktenplaneinheit>",
    )
    assert (msg.success, msg.errors) == (True, [])
    [outcome] = msg.outcomes
    assert (outcome.id, outcome.success) == ("22222222-0000-4000-8000-000000000001", False)
    assert outcome.error_codes == [Code(code="E1", list_uri="urn:example", list_version="1")]


def test_2x_0402_overall_result_only() -> None:
    msg = _inline(
        "2.3.0",
        "Abgabe.ImportBestaetigen.0402",
        "<xdomea:ErfolgOderMisserfolg><xdomea:Erfolgreich>1</xdomea:Erfolgreich></xdomea:ErfolgOderMisserfolg>",
    )
    assert (msg.success, msg.errors, msg.outcomes, msg.referenced_ids) == (True, [], [], [])


# -- tolerance ------------------------------------------------------------------------------------------


def test_broken_message_keeps_what_is_there(validator: Validator, settings: Settings) -> None:
    msg = message("tolerant/broken_3.0.0_0503.xml", validator, settings)
    kopf = msg.kopf
    assert (kopf.process_id, kopf.message_type, kopf.created_at) == ("", Code(code=""), None)
    assert kopf.sender is None
    assert kopf.recipient == Party()
    assert kopf.receipt_requested is True  # "true"
    assert kopf.import_confirmation_requested is None  # "yes" is no xs:boolean
    assert kopf.archive_id_requested is False  # " false " (whitespace collapsed)
    assert outline(msg.objects) == [(0, "Akte", ""), (1, "Dokument", "not-a-uuid")]
    akte = msg.objects[0]
    assert (akte.betreff, akte.kennzeichen) == (None, "K-1")
    assert (akte.laufzeit_begin, akte.laufzeit_end) == (None, date(2021, 2, 3))
    dokument = akte.children[0]
    assert dokument.number_in_parent == "x"
    [version] = dokument.versions
    assert version.number == ""
    no_primary, no_name = version.formats
    assert (no_primary.name, no_primary.primary, no_primary.version) == (Code(code="030"), None, None)
    assert no_name.name == Code(code="")
    assert no_name.primary is not None
    assert (no_name.primary.filename, no_name.primary.created_at) == ("", None)  # 30 February
    # Both readable forms cope with the gaps.
    assert "ProzessID            (missing)" in render_message(msg)
    json.dumps(message_to_json(msg))


def test_4_0_flags_misplaced_into_the_nachrichtenkopf(validator: Validator, settings: Settings) -> None:
    msg = message("tolerant/misplaced_4.0.0_0501.xml", validator, settings)
    kopf = msg.kopf
    assert kopf.process_id == "0f0e0d0c-0000-4000-8000-000000000501"
    assert kopf.message_uuid == "0f0e0d0c-0000-4000-8000-000000000001"  # qualified, still found
    assert kopf.message_type == Code(code="0501")
    assert kopf.receipt_requested is True
    assert (kopf.sender, kopf.recipient, kopf.sending_system) == (None, None, None)
    assert msg.objects[0].context_object is False  # "maybe"


def test_non_xdomea_root_raises(settings: Settings) -> None:
    tree = parse_xml((MESSAGES / "tolerant" / "not_xdomea.xml").read_bytes(), settings.limits)
    with pytest.raises(NotXdomea, match=r"urn:xoev-de:xdomea:schema:<version>"):
        parse_message(tree)
    assert issubclass(NotXdomea, ValueError)


@pytest.mark.parametrize(
    "xml",
    [
        b"<Aussonderung.Aussonderung.0503/>",  # no namespace
        b'<x:Aussonderung.Aussonderung.0503 xmlns:x="urn:xoev-de:xdomea:schema:"/>',  # no version
        b'<x:Aussonderung.Aussonderung.0503 xmlns:x="urn:xoev-de:xdomea:codeliste:nachrichtentyp"/>',
    ],
)
def test_roots_outside_an_xdomea_schema_namespace_raise(xml: bytes) -> None:
    with pytest.raises(NotXdomea):
        parse_message(etree.fromstring(xml))


def test_unknown_version_and_bare_root_parse_to_an_empty_message() -> None:
    root = etree.fromstring(b'<x:Aussonderung.Aussonderung.0503 xmlns:x="urn:xoev-de:xdomea:schema:9.9.9"/>')
    assert xdomea_version(root) == "9.9.9"
    msg = parse_message(root)  # an element works as well as a tree
    assert (msg.version, msg.code, msg.kopf.process_id, msg.objects) == ("9.9.9", "0503", "", [])


# -- scale ----------------------------------------------------------------------------------------------


def _big_0503(documents: int) -> bytes:
    ns = "urn:xoev-de:xdomea:schema:3.0.0"
    parts = [
        f'<xdomea:Aussonderung.Aussonderung.0503 xmlns:xdomea="{ns}"><xdomea:Kopf>'
        "<xdomea:ProzessID>11111111-2222-4333-8444-555555555555</xdomea:ProzessID></xdomea:Kopf>"
        "<xdomea:Schriftgutobjekt><xdomea:Akte><xdomea:Identifikation><xdomea:ID>akte</xdomea:ID>"
        "</xdomea:Identifikation><xdomea:Akteninhalt><xdomea:Vorgang><xdomea:Identifikation>"
        "<xdomea:ID>vorgang</xdomea:ID></xdomea:Identifikation>"
    ]
    for i in range(documents):
        parts.append(
            f"<xdomea:Dokument><xdomea:Identifikation><xdomea:ID>doc-{i}</xdomea:ID></xdomea:Identifikation>"
            f"<xdomea:AllgemeineMetadaten><xdomea:Betreff>Dokument {i}</xdomea:Betreff></xdomea:AllgemeineMetadaten>"
            "<xdomea:Version><xdomea:Nummer>1</xdomea:Nummer><xdomea:Format><xdomea:Name><code>030</code>"
            f"</xdomea:Name><xdomea:Version>2b</xdomea:Version><xdomea:Primaerdokument><xdomea:Dateiname>f-{i}.pdf"
            "</xdomea:Dateiname></xdomea:Primaerdokument></xdomea:Format></xdomea:Version></xdomea:Dokument>"
        )
    parts.append("</xdomea:Vorgang></xdomea:Akteninhalt></xdomea:Akte></xdomea:Schriftgutobjekt>")
    parts.append("</xdomea:Aussonderung.Aussonderung.0503>")
    return "".join(parts).encode()


def test_thousands_of_documents(settings: Settings) -> None:
    msg = parse_message(parse_xml(_big_0503(5000), settings.limits))
    vorgang = msg.objects[0].children[0]
    assert len(vorgang.children) == 5000
    assert vorgang.children[4321].betreff == "Dokument 4321"
    assert files(msg)[-1] == "f-4999.pdf"
    assert message_to_json(msg)["object_counts"] == {
        "Akte": 1,
        "Teilakte": 0,
        "Vorgang": 1,
        "Teilvorgang": 0,
        "Dokument": 5000,
    }


def test_nesting_beyond_the_object_depth_limit_is_cut_not_crashed() -> None:
    """A tree built in memory (not through the safe parser) deeper than Python's recursion allows."""
    ns = "urn:xoev-de:xdomea:schema:3.0.0"
    root = etree.Element(f"{{{ns}}}Aussonderung.Aussonderung.0503")
    parent = etree.SubElement(etree.SubElement(root, f"{{{ns}}}Schriftgutobjekt"), f"{{{ns}}}Vorgang")
    for _ in range(3000):
        parent = etree.SubElement(parent, f"{{{ns}}}Teilvorgang")
    msg = parse_message(root)
    assert 100 < len(msg.walk()) < 3000


# -- text form ------------------------------------------------------------------------------------------


def test_text_rendering_is_an_indented_tree(validator: Validator, settings: Settings) -> None:
    msg = message("4.0.0/c7a91f3e-2d4b-4e6a-9f18-400000000503_0503_1.xml", validator, settings)
    lines = render_message(msg).splitlines()
    assert lines[0] == "xdomea 4.0.0  Aussonderung.Aussonderung.0503"
    assert "ProzessID            c7a91f3e-2d4b-4e6a-9f18-400000000503" in lines
    assert "Absender             Landratsamt Altenburger Land / Jan Krause [psw:16077000]" in lines
    assert "Schriftgutobjekte (1 Akte, 1 Teilakte, 1 Vorgang, 1 Teilvorgang, 5 Dokument):" in lines
    assert (
        "  Akte  c7a91f3e-0000-4000-8000-0000000a0001  [01.20.05]  “Kreisentwicklungskonzept”  "
        "2012-01-01 – 2018-06-30  Aussonderungsart A  Bewertungsvorschlag A"
    ) in lines
    assert "          file c7a91f3e-0000-4000-8000-0000000f0005.txt  (format 045, version 1)" in lines
    assert "        Dokument (Anlage)  c7a91f3e-0000-4000-8000-0000000d0005  “Fragebogen”" in lines
    container = (
        "    Dokument (mit Schriftstuecken)  c7a91f3e-0000-4000-8000-0000000d0001  “Kreistagsbeschluss mit Anlagen”"
    )
    assert container in lines


def test_text_rendering_of_a_receipt(validator: Validator, settings: Settings) -> None:
    msg = message("4.0.0/c7a91f3e-2d4b-4e6a-9f18-400000000503_0506_1.xml", validator, settings)
    text = render_message(msg)
    assert "result               FAILED" in text
    assert "  c7a91f3e-0000-4000-8000-0000000b0001  FAILED  Hashwert stimmt nicht  Datei nicht lesbar" in text


# -- documentation --------------------------------------------------------------------------------------


def test_docs_json_example_is_current(validator: Validator, settings: Settings) -> None:
    """docs/model.md shows the JSON of a real sample; it must be exactly what the code produces today."""
    doc = (Path(__file__).parents[1] / "docs" / "model.md").read_text(encoding="utf-8")
    example = doc.split("```json\n", 1)[1].split("```", 1)[0]
    msg = load(SAMPLES / "4.0.0/518c7c31-d1a0-11ef-accb-005056871b7c_0503_1.xml", validator, settings)
    assert json.loads(example) == message_to_json(msg)
    text_example = doc.split("```text\n", 1)[1].split("```", 1)[0]
    assert text_example == render_message(msg)

"""A small hand-written record tree, the same for every version, so round trips compare like with like."""

from __future__ import annotations

from datetime import UTC, date, datetime

from gateway.xoev.model import (
    Code,
    DocumentVersion,
    Format,
    Kopf,
    Message,
    ObjectKind,
    Party,
    Primaerdokument,
    RecordObject,
)

PROCESS_ID = "518c7c31-d1a0-11ef-accb-005056871b7c"
MESSAGE_UUID = "95b80307-d19c-11ef-a43a-005056871b7c"
CREATED = datetime(2025, 1, 15, 12, 0, 5, tzinfo=UTC)
SENDER = Party(
    institution="Landratsamt Gotha", organisation_unit="Registratur", authority_prefix="psw", authority_id="16067000"
)
ARCHIVE = Party(institution="Landesarchiv Thüringen", person="Anna Müller")
PRIMARY_FILES = ("f4bcaaf7-d7cb-11ef-a278-005056871b7c.pdf", "0a3c1c55-2f0e-4c1e-9f0c-3d9a4b1e2f10.txt")
ELEMENTS = {
    "0101": "Information.Information.0101",
    "0401": "Abgabe.Abgabe.0401",
    "0501": "Aussonderung.Anbieteverzeichnis.0501",
    "0503": "Aussonderung.Aussonderung.0503",
}


def record_tree() -> list[RecordObject]:
    letter = RecordObject(
        ObjectKind.DOKUMENT,
        "7bf9473a-b4a7-11ec-a407-005056871b7c",
        betreff="Bescheid über die Förderung",
        number_in_parent="1",
        versions=[
            DocumentVersion("1", [Format(Code("018"), "1.7", Primaerdokument(PRIMARY_FILES[0], created_at=CREATED))]),
            DocumentVersion("2", [Format(Code("045"), "", Primaerdokument(PRIMARY_FILES[1]))]),
        ],
    )
    sub_process = RecordObject(ObjectKind.TEILVORGANG, "1d2c3b4a-0000-4000-8000-000000000001", betreff="Nachträge")
    process = RecordObject(
        ObjectKind.VORGANG,
        "67e456ea-b420-11ec-b503-005056871b7c",
        kennzeichen="061.10-2024/0815-1",
        betreff="Zuwendung Straßenbau",
        laufzeit_begin=date(2024, 1, 1),
        laufzeit_end=date(2024, 6, 30),
        aussonderungsart=Code("A"),
        children=[letter, sub_process],
    )
    sub_file = RecordObject(
        ObjectKind.TEILAKTE, "1d2c3b4a-0000-4000-8000-000000000002", kennzeichen="061.10-2024/0815-T1"
    )
    akte = RecordObject(
        ObjectKind.AKTE,
        "548d5041-d8c8-11ef-9c4e-005056871b7c",
        kennzeichen="061.10-2024/0815",
        betreff="Straßenbau Gemeinde Süd",
        laufzeit_begin=date(2020, 1, 1),
        laufzeit_end=date(2024, 12, 31),
        bewertungsvorschlag=Code("A"),
        children=[process, sub_file],
    )
    return [akte]


def message(version: str, code: str, *, with_files: bool = True) -> Message:
    objects = record_tree()
    if not with_files:
        for obj in objects[0].walk():
            obj.versions.clear()
    return Message(
        version=version,
        element=ELEMENTS[code],
        kopf=Kopf(
            process_id=PROCESS_ID,
            message_type=Code(code),
            created_at=CREATED,
            sender=SENDER,
            recipient=ARCHIVE,
            receipt_requested=True,
            archive_id_requested=code == "0503",
            message_uuid=MESSAGE_UUID,
        ),
        objects=objects,
    )

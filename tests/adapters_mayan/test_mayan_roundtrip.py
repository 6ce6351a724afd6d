"""Round trip through a real Mayan EDMS: a record tree of realistic shape is imported from an xdomea package,
checked in Mayan through its own API, moved to the outbox as a user would, exported as a new message and
compared with the source field by field and byte by byte."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import pytest

from adapters import Acknowledgement, ImportStatus, ObjectStatus, export_once
from adapters.mayan.schema import COMPLETE, IMPORT, STATE
from gateway.config import Settings
from gateway.xoev.model import Message, ObjectKind
from gateway.xoev.parsing.parse import parse_message
from gateway.xoev.parsing.safe_xml import parse_xml
from gateway.xoev.validation.validate import Validator
from tests.adapters.conftest import generated_tree, write_generated
from tests.adapters.test_hotfolder_roundtrip import codes_only
from tests.adapters_mayan.conftest import MayanFactory

pytestmark = pytest.mark.xdist_group("mayan")


def read_package(path: Path, settings: Settings) -> tuple[Message, dict[str, bytes]]:
    with zipfile.ZipFile(path) as zf:
        xml = zf.read(path.stem + ".xml")
        files = {n: zf.read(n) for n in zf.namelist() if n != path.stem + ".xml"}
    return parse_message(parse_xml(xml, settings.limits)), files


def test_record_tree_round_trip(mayan_adapter: MayanFactory, tmp_path: Path, settings: Settings) -> None:
    generated = generated_tree(documents=50, size=3_000_000)
    source = generated.message
    documents = [o for o in source.walk() if o.kind is ObjectKind.DOKUMENT]
    assert len(documents) == 50 and any(len(d.versions) > 1 for d in documents)
    assert {ObjectKind.AKTE, ObjectKind.TEILAKTE, ObjectKind.VORGANG} <= {o.kind for o in source.walk()}
    assert {"044", "024", "030"} <= {f.name.code for d in documents for v in d.versions for f in v.formats}
    assert any(ch in (o.betreff or "") for o in source.walk() for ch in "äöüßÄÖÜ")
    package = write_generated(tmp_path / "built", generated, settings)
    original, original_files = read_package(package, settings)

    dms = mayan_adapter("dms")
    result = dms.import_message(package)
    assert result.status is ImportStatus.IMPORTED, result.reason
    assert [r.id for r in result.objects] == [o.id for o in source.walk()]
    assert all(r.status is ObjectStatus.IMPORTED and r.dms_id for r in result.objects)
    assert [o.success for o in result.outcomes()] == [True] * len(source.objects)

    # in Mayan, seen through its API: the cabinet tree, one document per object, every file as sent
    client = dms.client
    inbox = dms.cabinet(dms.config.inbox_cabinet)
    cabinets = client.cabinets()
    akte = source.objects[0]
    (akte_cabinet,) = [c for c in cabinets if c.get("parent_id") == inbox]
    assert akte_cabinet["label"].startswith(akte.kennzeichen or "")
    containers = [o for o in source.walk() if o.kind is not ObjectKind.DOKUMENT]
    below = {c["id"] for c in cabinets if c["full_path"].startswith(akte_cabinet["full_path"])}
    assert len(below) == len(containers)
    by_object = {r.id: int((r.dms_id or "").split()[0].split("/")[1]) for r in result.objects}
    for doc in documents:
        mayan_id = by_object[doc.id]
        metadata = {name: value for name, (_, value) in client.metadata(mayan_id).items()}
        assert metadata["xdomea_id"] == doc.id and metadata["betreff"] == doc.betreff
        assert metadata[STATE] == COMPLETE
        assert metadata[IMPORT] == f"0503/{source.kopf.process_id}"
        files = client.files(mayan_id)
        wanted = [f.primary.filename for v in doc.versions for f in v.formats if f.primary]
        assert [f["filename"] for f in files] == wanted
        for f in files:
            assert f["checksum"] == hashlib.sha256(original_files[f["filename"]]).hexdigest()
    for obj in containers:
        assert client.metadata(by_object[obj.id])[STATE][1] == COMPLETE

    # a user files the Akte into the outbox; the export is taken by the gateway after validation
    outbox, sent, _ = dms._folders()
    client.move_cabinet(int(akte_cabinet["id"]), outbox)
    validator = Validator(settings=settings)
    exported: list[Path] = []

    def gateway(file: object) -> Acknowledgement:
        copy = tmp_path / "gateway" / file.name  # type: ignore[attr-defined]
        copy.parent.mkdir(exist_ok=True)
        with file.open() as src:  # type: ignore[attr-defined]
            copy.write_bytes(src.read())
        report = validator.validate_path(copy).report
        assert report.valid, report.to_text()
        exported.append(copy)
        return Acknowledgement.taken("msg-1")

    done = export_once(dms, gateway)
    assert len(done.taken) == 1 and len(exported) == 1
    assert [c["id"] for c in client.cabinets() if c.get("parent_id") == sent] == [akte_cabinet["id"]]
    assert export_once(dms, gateway).taken == []  # the outbox is empty now

    message, files = read_package(exported[0], settings)
    assert message.code == "0503" and message.kopf.process_id != source.kopf.process_id
    # field by field: every object with its metadata, versions, formats and primary file data
    assert [codes_only(o) for o in message.objects] == [codes_only(o) for o in original.objects]
    for got, want in zip(message.walk(), original.walk(), strict=True):
        assert (got.kind, got.id, got.kennzeichen, got.betreff) == (want.kind, want.id, want.kennzeichen, want.betreff)
        assert (got.laufzeit_begin, got.laufzeit_end) == (want.laufzeit_begin, want.laufzeit_end)
    # byte by byte: every primary file as the generator produced it
    assert set(files) == set(generated.files)
    for name, content in generated.files.items():
        assert files[name] == b"".join(content.chunks()), name

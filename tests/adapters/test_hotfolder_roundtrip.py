"""Round trip through two transfer directories: a record tree of realistic shape leaves DMS A's outbox as an
xdomea package, is validated as the gateway would, and is delivered into DMS B's inbox by the adapter's
import; then B's copy is compared with the source field by field and byte by byte.
"""

from __future__ import annotations

import copy
import json
import zipfile
from pathlib import Path

from adapters import Acknowledgement, ExportedFile, ImportStatus, export_once
from gateway.config import Settings
from gateway.xoev.model import Code, Message, ObjectKind, RecordObject
from gateway.xoev.parsing.parse import parse_message
from gateway.xoev.parsing.safe_xml import parse_xml
from gateway.xoev.validation.validate import Validator
from tests.adapters.conftest import HotfolderFactory, generated_tree, write_generated


def codes_only(obj: RecordObject) -> RecordObject:
    """The object as a DMS keeps it: codes as their values (list URI, version and name come with the
    xdomea version and are added again when a message is built)."""
    obj = copy.deepcopy(obj)
    for item in obj.walk():
        for attr in ("bewertungsvorschlag", "aussonderungsart"):
            code = getattr(item, attr)
            if code is not None:
                setattr(item, attr, Code(code.code))
        for version in item.versions:
            for fmt in version.formats:
                fmt.name = Code(fmt.name.code)
    return obj


def _read(path: Path, settings: Settings) -> tuple[Message, dict[str, bytes]]:
    with zipfile.ZipFile(path) as zf:
        xml = zf.read(path.stem + ".xml")
        files = {n: zf.read(n) for n in zf.namelist() if n != path.stem + ".xml"}
    return parse_message(parse_xml(xml, settings.limits)), files


def test_record_tree_round_trip(hotfolder: HotfolderFactory, tmp_path: Path, settings: Settings) -> None:
    generated = generated_tree(documents=50, size=3_000_000)
    source = generated.message
    kinds = {o.kind for o in source.walk()}
    assert {ObjectKind.AKTE, ObjectKind.TEILAKTE, ObjectKind.VORGANG, ObjectKind.DOKUMENT} <= kinds
    documents = [o for o in source.walk() if o.kind is ObjectKind.DOKUMENT]
    assert len(documents) == 50 and any(len(d.versions) > 1 for d in documents)
    codes = {f.name.code for d in documents for v in d.versions for f in v.formats}
    assert {"044", "024", "030"} <= codes  # PDF/A, TIFF, XML primary files
    assert any(ch in (o.betreff or "") for o in source.walk() for ch in "äöüßÄÖÜ")

    package = write_generated(tmp_path / "built", generated, settings)
    a = hotfolder("a", per_type=True)
    b = hotfolder("b", per_type=True, index=True)
    a.storage.put_atomic("out/0503", package.name, package)

    validator = Validator(settings=settings)
    delivered: list[str] = []

    def gateway(file: ExportedFile) -> Acknowledgement:
        """What the pipeline does with an exported file: take it in, validate it, deliver it to B."""
        copy = tmp_path / "gateway" / f"payload-{len(delivered)}"
        copy.parent.mkdir(exist_ok=True)
        with file.open() as src:
            copy.write_bytes(src.read())
        named = copy.with_name(file.name)
        copy.rename(named)
        report = validator.validate_path(named).report
        if not report.valid:
            return Acknowledgement.refused(report.to_text())
        result = b.import_message(named)
        assert result.status is ImportStatus.IMPORTED, result.reason
        delivered.append(result.location or "")
        return Acknowledgement.taken(f"msg-{len(delivered)}")

    first = export_once(a, gateway)  # first sight: not yet known to be complete
    second = export_once(a, gateway)
    assert first.taken == [] and second.taken == [package.name]
    assert delivered == [f"in/0503/{package.name}"]

    # A: the package left the outbox for processed/, nothing else is there
    a_out = {e.name for e in a.storage.list("out/0503")}
    assert a_out == {"processed"}
    assert [e.name for e in a.storage.list("out/0503/processed")] == [package.name]

    # B: the package under its xdomea name, with the index beside it, nothing half-written
    b_in = sorted(e.name for e in b.storage.list("in/0503"))
    assert b_in == sorted([package.name, package.stem + ".index.json"])
    received = tmp_path / "received" / package.name
    received.parent.mkdir()
    b.storage.download(f"in/0503/{package.name}", received)
    assert Validator(settings=settings).validate_path(received).report.valid

    original, original_files = _read(package, settings)
    received_msg, copy_files = _read(received, settings)
    # field by field: the whole typed model (Kopf, every object, version, format and primary file)
    assert received_msg == original
    assert [o.id for o in received_msg.walk()] == [o.id for o in source.walk()]
    for got, want in zip(received_msg.walk(), source.walk(), strict=True):
        assert (got.kind, got.kennzeichen, got.betreff) == (want.kind, want.kennzeichen, want.betreff)
        assert (got.laufzeit_begin, got.laufzeit_end) == (want.laufzeit_begin, want.laufzeit_end)
        assert [v.number for v in got.versions] == [v.number for v in want.versions]
        assert [f.primary.original_filename for v in got.versions for f in v.formats if f.primary] == [
            f.primary.original_filename for v in want.versions for f in v.formats if f.primary
        ]
    # byte by byte: every primary file as the generator produced it
    assert set(copy_files) == set(generated.files)
    for name, content in generated.files.items():
        assert copy_files[name] == b"".join(content.chunks()), name
    assert copy_files == original_files

    # the index holds the same records under the DMS's field names, and maps back to the same objects
    index_path = tmp_path / "index.json"
    b.storage.download(f"in/0503/{package.stem}.index.json", index_path)
    index = json.loads(index_path.read_text(encoding="utf-8"))
    assert index["message"]["process_id"] == source.kopf.process_id
    assert index["message"]["sender"] == "psw:16067000"
    assert [b.mapping.from_dms(r) for r in index["records"]] == [codes_only(o) for o in original.objects]
    assert index["records"][0]["aktenzeichen"] == source.objects[0].kennzeichen

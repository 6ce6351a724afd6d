"""Round trip through a CMIS repository: a record tree of realistic shape (Akte with Teilakte, Vorgänge,
50 Dokumente with versions, PDF/TIFF/XML/text primary files, umlauts) is imported from an xdomea package,
checked in the repository as folders, documents, versions and properties, moved by a "DMS user" into the
export folder and exported again; the exported message is compared with the original field by field and
every primary file byte by byte. Run for each way a repository can hold xdomea: secondary-type properties
with CMIS versions, cmis:description with CMIS versions, and a repository without versioning.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from adapters import Acknowledgement, ImportStatus, ObjectStatus, export_once
from adapters.cmis import CmisAdapter
from adapters.cmis.properties import CMIS_DEFAULT
from gateway.config import Settings
from gateway.xoev.model import Message, ObjectKind, RecordObject
from gateway.xoev.parsing.parse import parse_message
from gateway.xoev.parsing.safe_xml import parse_xml
from gateway.xoev.validation.validate import Validator
from tests.adapters.conftest import generated_tree, write_generated
from tests.adapters_cmis.cmis_server import CmisServer
from tests.adapters_cmis.conftest import PASSWORD, SECONDARY, USER, CmisFactory


def _read(path: Path, settings: Settings) -> tuple[Message, dict[str, bytes]]:
    with zipfile.ZipFile(path) as zf:
        xml = zf.read(path.stem + ".xml")
        files = {n: zf.read(n) for n in zf.namelist() if n != path.stem + ".xml"}
    return parse_message(parse_xml(xml, settings.limits)), files


def _shape(obj: RecordObject) -> list[tuple[str, str, int]]:
    return [(o.kind.value, o.id, len(o.versions)) for o in obj.walk()]


@pytest.mark.parametrize(
    ("metadata", "versioning"),
    [("secondary", True), ("description", True), ("secondary", False)],
    ids=["secondary-type+checkin", "description+checkin", "secondary-type+no-versioning"],
)
def test_record_tree_round_trip(
    metadata: str, versioning: bool, cmis_adapter: CmisFactory, tmp_path: Path, settings: Settings
) -> None:
    generated = generated_tree(documents=50, size=3_000_000)
    source = generated.message
    documents = [o for o in source.walk() if o.kind is ObjectKind.DOKUMENT]
    assert len(documents) == 50 and any(len(d.versions) > 1 for d in documents)
    assert {ObjectKind.AKTE, ObjectKind.TEILAKTE, ObjectKind.VORGANG} <= {o.kind for o in source.walk()}
    assert {f.name.code for d in documents for v in d.versions for f in v.formats} >= {"044", "024", "030"}
    package = write_generated(tmp_path / "built", generated, settings)

    server = CmisServer({USER: PASSWORD}, versioning=versioning, secondary_types=SECONDARY)
    with server:
        adapter: CmisAdapter = cmis_adapter(server, metadata=metadata)
        result = adapter.import_message(package)
        assert result.status is ImportStatus.IMPORTED, result.reason
        assert [o.id for o in result.objects] == [o.id for o in source.walk()]
        assert all(o.status is ObjectStatus.IMPORTED and o.dms_id for o in result.objects)

        # in the repository: one visible Akte folder, nothing hidden left, objects as the standard says
        repo = server.repo
        inbox = repo.by_path("/xdomea/Eingang")
        (akte,) = repo.children(inbox.id)
        assert akte.base == "cmis:folder"
        assert akte.props["cmis:name"].startswith(source.objects[0].kennzeichen.replace("/", "_"))
        props = repo.properties(akte)
        if metadata == "secondary":
            assert props["cmis:secondaryObjectTypeIds"] == ["xdomea:metadata"]
            assert props["xdomea:id"] == source.objects[0].id
            assert props["xdomea:betreff"] == source.objects[0].betreff
            assert props["xdomea:prozessId"] == source.kopf.process_id
        else:
            assert '"xdomea:id": "' + source.objects[0].id in props["cmis:description"]
        docs = [o for o in repo.objects.values() if o.base == "cmis:document"]
        multi = next(d for d in documents if len(d.versions) > 1)
        if versioning:
            assert len(repo.series) == 50
            series = next(
                s for s in repo.series.values() if multi.id in str(repo.properties(repo.objects[s.versions[0]]))
            )
            assert [repo.objects[v].label for v in series.versions] == ["1.0", "2.0"]
        else:
            assert len(docs) == sum(len(d.versions) for d in documents)
        assert sum(len(o.content or b"") for o in docs) == sum(
            len(b"".join(c.chunks())) for c in generated.files.values()
        )

        # a DMS user hands the Akte over: it goes into the export folder and leaves as a message
        outbox = adapter.session.ensure_folder("/xdomea/Ausgang")
        adapter.session.move(akte.id, inbox.id, outbox.id)
        taken: list[Path] = []

        def gateway(file) -> Acknowledgement:  # type: ignore[no-untyped-def]
            target = tmp_path / "gateway" / file.name
            target.parent.mkdir(exist_ok=True)
            with file.open() as src:
                target.write_bytes(src.read())
            report = Validator(settings=settings).validate_path(target).report
            assert report.valid, report.to_text()
            taken.append(target)
            return Acknowledgement.taken("msg-1")

        done = export_once(adapter, gateway)
        assert len(done.taken) == 1 and done.refused == []
        assert [c.name for c in adapter.session.children(outbox.id)] == ["Erledigt"]
        assert export_once(adapter, gateway).taken == []  # processed: not offered again

    original, original_files = _read(package, settings)
    exported, exported_files = _read(taken[0], settings)
    assert exported.kopf.message_type.code == "0503"
    assert exported.kopf.sender.xoev_identifier == "psw:16067000"
    # field by field: the whole record tree (kinds, ids, Kennzeichen, Betreff, Laufzeit, numbers,
    # Bewertungsvorschlag, versions, formats and primary file metadata) as the sender wrote it
    assert _shape(exported.objects[0]) == _shape(original.objects[0])
    assert exported.objects == original.objects
    # byte by byte: every primary file
    assert exported_files == original_files
    for name, content in generated.files.items():
        assert exported_files[name] == b"".join(content.chunks()), name


def test_a_mapping_file_renames_properties(cmis_adapter: CmisFactory, tmp_path: Path, settings: Settings) -> None:
    mapping = tmp_path / "gotha.toml"
    mapping.write_text('[fields]\nbetreff = "gth:titel"\nkennzeichen = "gth:aktenzeichen"\n', encoding="utf-8")
    ids = [p for p in SECONDARY["xdomea:metadata"] if p not in ("xdomea:betreff", "xdomea:kennzeichen")]
    server = CmisServer({USER: PASSWORD}, secondary_types={"xdomea:metadata": [*ids, "gth:titel", "gth:aktenzeichen"]})
    package = write_generated(tmp_path / "built", generated_tree(documents=6, size=20_000), settings)
    with server:
        adapter = cmis_adapter(server, mapping="gotha.toml", metadata="secondary")
        assert adapter.mapping.fields.betreff == "gth:titel"
        assert adapter.mapping.fields.id == CMIS_DEFAULT.fields.id  # unset keys keep the CMIS default
        result = adapter.import_message(package)
        assert result.status is ImportStatus.IMPORTED, result.reason
        (akte,) = server.repo.children(server.repo.by_path("/xdomea/Eingang").id)
        props = server.repo.properties(akte)
        assert props["gth:aktenzeichen"] and props["gth:titel"] and "xdomea:betreff" not in props

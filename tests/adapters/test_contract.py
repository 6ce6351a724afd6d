"""The adapter contract, checked the same way for every adapter: the reference double, and the hotfolder on a
local directory and on a real WebDAV server.

Each harness knows how to put a file where its DMS offers it and how to count what its DMS holds; the
assertions are the contract's, not any adapter's.
"""

from __future__ import annotations

import shutil
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from adapters import Acknowledgement, DmsAdapter, ImportStatus, ObjectStatus, export_once
from adapters.base import AdapterContext
from adapters.hotfolder import HotfolderAdapter
from adapters.hotfolder.storage import join
from gateway.config import Settings
from gateway.xoev.build import build_receipt
from gateway.xoev.model import Message
from gateway.xoev.parsing.parse import parse_message
from gateway.xoev.parsing.safe_xml import parse_xml
from gateway.xoev.validation.validate import Validator
from tests.adapters.conftest import DavServer, generated_tree, write_generated
from tests.adapters.memory import MemoryAdapter


@dataclass
class Harness:
    adapter: DmsAdapter
    drop: Callable[[Path], None]
    #: how many delivered messages the DMS holds (memory: records of top-level objects)
    held: Callable[[], int]


@pytest.fixture(params=["memory", "local", "webdav"])
def harness(
    request: pytest.FixtureRequest, tmp_path: Path, context_for: Callable[[str], AdapterContext]
) -> Iterator[Harness]:
    if request.param == "memory":
        mem = MemoryAdapter(context_for("mem"))

        def drop_mem(path: Path) -> None:
            mem.outbox[path.name] = path.read_bytes()

        yield Harness(mem, drop_mem, lambda: sum(1 for r in mem.records.values() if r["parent"] is None))
        return
    server = None
    if request.param == "webdav":
        server = DavServer(tmp_path / "dav-root")
        server.start()
        (server.root / "dms").mkdir()
        config = {"url": server.url + "dms/", "username": "gw", "password_env": "XGW_TEST_DAV_PASSWORD"}
        root = server.root / "dms"
    else:
        root = tmp_path / "dms"
        root.mkdir()
        config = {"path": str(root)}
    adapter = HotfolderAdapter.from_config({"kind": "hotfolder", "poll_interval": 0, **config}, context_for("dms"))

    def drop(path: Path) -> None:
        adapter.storage.put_atomic("out", path.name, path)

    def held() -> int:
        return len([e for e in adapter.storage.list("in") if e.name.endswith(".zip")])

    try:
        yield Harness(adapter, drop, held)
    finally:
        adapter.close()
        if server is not None:
            server.stop()


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory, settings: Settings) -> Path:
    return write_generated(tmp_path_factory.mktemp("pkg"), generated_tree(documents=12, size=60_000), settings)


def _message(path: Path, settings: Settings) -> Message:
    with zipfile.ZipFile(path) as zf:
        xml = zf.read(path.stem + ".xml")
    return parse_message(parse_xml(xml, settings.limits))


def test_import_reports_every_object_and_answers_as_0506(harness: Harness, package: Path, settings: Settings) -> None:
    result = harness.adapter.import_message(package)
    message = _message(package, settings)
    assert result.status is ImportStatus.IMPORTED, result.reason
    assert [o.id for o in result.objects] == [o.id for o in message.walk()]
    assert all(o.status is ObjectStatus.IMPORTED and o.dms_id for o in result.objects)
    assert harness.held() == 1
    outcomes = result.outcomes()
    assert [o.id for o in outcomes] == [o.id for o in message.objects]
    receipt = build_receipt(message, "0506", outcomes=outcomes)  # validated by the builder
    assert [o.success for o in receipt.message.outcomes] == [True] * len(message.objects)


def test_redelivery_creates_nothing_twice(harness: Harness, package: Path, tmp_path: Path) -> None:
    first = harness.adapter.import_message(package)
    spooled = tmp_path / "spool-0001.bin"  # the pipeline's content-addressed copy, named differently
    shutil.copyfile(package, spooled)
    again = harness.adapter.import_message(spooled, filename=package.name)
    assert first.status is ImportStatus.IMPORTED
    assert again.status is ImportStatus.DUPLICATE
    assert [o.dms_id for o in again.objects] == [o.dms_id for o in first.objects]
    assert all(o.status is ObjectStatus.DUPLICATE for o in again.objects)
    assert harness.held() == 1


def test_a_package_missing_a_primary_file_imports_nothing(
    harness: Harness, package: Path, tmp_path: Path, settings: Settings
) -> None:
    broken = tmp_path / "broken" / package.name
    broken.parent.mkdir()
    with zipfile.ZipFile(package) as src, zipfile.ZipFile(broken, "w") as dst:
        names = src.namelist()
        victim = next(n for n in names if n.endswith(".pdf"))
        for name in names:
            if name != victim:
                dst.writestr(src.getinfo(name), src.read(name))
    result = harness.adapter.import_message(broken)
    assert result.status is ImportStatus.FAILED
    assert harness.held() == 0
    failed = [o for o in result.objects if o.status is ObjectStatus.FAILED]
    assert len(failed) == 1 and victim in (failed[0].reason or "")
    assert all(o.status is ObjectStatus.NOT_ATTEMPTED for o in result.objects if o is not failed[0])
    outcomes = result.outcomes()
    assert sum(not o.success for o in outcomes) == 1  # only the Akte holding the Dokument fails
    # the intact package still goes in afterwards: the failure left no trace in the ledger
    assert harness.adapter.import_message(package).status is ImportStatus.IMPORTED


def test_export_offers_until_acknowledged(harness: Harness, package: Path, settings: Settings) -> None:
    harness.drop(package)
    validator = Validator(settings=settings)

    def take(file):  # type: ignore[no-untyped-def]
        data = file.open().read()
        report = validator.validate_xml_bytes(data) if data.startswith(b"<") else None
        assert report is None and len(data) == file.size
        return Acknowledgement.taken("msg-1")

    rounds = [export_once(harness.adapter, take) for _ in range(3)]
    assert [r.taken for r in rounds].count([package.name]) == 1
    assert rounds[-1].taken == []
    assert list(harness.adapter.export()) == []


def test_health_is_ok(harness: Harness) -> None:
    health = harness.adapter.health()
    assert health.ok, health.detail


def test_join_drops_empty_parts() -> None:
    assert join("out", "", "0503/", "/x.zip") == "out/0503/x.zip"

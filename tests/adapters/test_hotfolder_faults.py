"""Faults around a transfer directory: each one ends in a defined state, nothing lost, nothing doubled."""

from __future__ import annotations

import logging
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from adapters import (
    Acknowledgement,
    AuthenticationFailed,
    ExportedFile,
    ImportStatus,
    Unavailable,
    export_once,
)
from adapters.base import AdapterContext
from adapters.hotfolder import HotfolderAdapter, HotfolderConfig
from adapters.hotfolder.local import LocalStorage
from adapters.hotfolder.webdav import WebDavStorage
from gateway.config import Settings
from gateway.xoev.validation.validate import Validator
from tests.adapters.conftest import PASSWORD, USER, DavServer, HotfolderFactory, generated_tree, write_generated


@pytest.fixture(scope="module")
def packages(tmp_path_factory: pytest.TempPathFactory, settings: Settings) -> list[Path]:
    out = tmp_path_factory.mktemp("packages")
    return [write_generated(out / str(i), generated_tree(documents=6, size=30_000, seed=i), settings) for i in range(3)]


def _validating(settings: Settings, tmp_path: Path) -> Callable[[ExportedFile], Acknowledgement]:
    """The gateway's side of an export: take the file in and validate it, as intake does."""
    validator = Validator(settings=settings)

    def take(file: ExportedFile) -> Acknowledgement:
        copy = tmp_path / "intake" / file.name
        copy.parent.mkdir(exist_ok=True)
        with file.open() as src:
            copy.write_bytes(src.read())
        report = validator.validate_path(copy).report
        copy.unlink()
        if not report.valid:
            return Acknowledgement.refused(report.to_text())
        return Acknowledgement.taken(f"msg-{file.sha256[:8]}")

    return take


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


# -- incoming files: only complete ones are taken -------------------------------------------------------


def test_half_written_file_is_not_taken_until_stable(
    hotfolder: HotfolderFactory, packages: list[Path], tmp_path: Path, settings: Settings
) -> None:
    adapter = hotfolder("dms")
    data = packages[0].read_bytes()
    outbox = hotfolder.root / "dms" / "out"  # type: ignore[attr-defined]  # the DMS writes its share directly
    outbox.mkdir(parents=True)
    target = outbox / packages[0].name
    take = _validating(settings, tmp_path)
    with target.open("wb") as fh:
        fh.write(data[: len(data) // 3])
        fh.flush()
        assert export_once(adapter, take).taken == []  # first sight
        fh.write(data[len(data) // 3 : 2 * len(data) // 3])
        fh.flush()
        assert export_once(adapter, take).taken == []  # it grew: not stable
        fh.write(data[2 * len(data) // 3 :])
    assert export_once(adapter, take).taken == []  # it grew again
    done = export_once(adapter, take)
    assert done.taken == [packages[0].name] and done.refused == []
    assert (outbox / "processed" / packages[0].name).read_bytes() == data


def test_stability_needs_the_poll_interval(tmp_path: Path, packages: list[Path], context_for) -> None:  # type: ignore[no-untyped-def]
    now = [0.0]
    root = tmp_path / "dms"
    (root / "out").mkdir(parents=True)
    config = HotfolderConfig(path=root, poll_interval=10)
    adapter = HotfolderAdapter(LocalStorage(root), config, context_for("clocked"), clock=lambda: now[0])
    (root / "out" / packages[0].name).write_bytes(packages[0].read_bytes())
    seen = []
    for t in (0.0, 4.0, 9.9, 10.0):
        now[0] = t
        seen.append([f.name for f in adapter.export()])
    assert seen == [[], [], [], [packages[0].name]]
    adapter.close()


# -- the same package twice -------------------------------------------------------------------------------


def test_same_package_dropped_twice_is_taken_once(
    hotfolder: HotfolderFactory, packages: list[Path], tmp_path: Path, settings: Settings
) -> None:
    adapter = hotfolder("dms")
    take = _validating(settings, tmp_path)
    adapter.storage.put_atomic("out", packages[0].name, packages[0])
    rounds = [export_once(adapter, take) for _ in range(2)]
    adapter.storage.put_atomic("out", packages[0].name, packages[0])  # the DMS sends it again
    rounds += [export_once(adapter, take) for _ in range(2)]
    assert [r.taken for r in rounds] == [[], [packages[0].name], [], []]
    processed = sorted(e.name for e in adapter.storage.list("out/processed"))
    stem = packages[0].name.removesuffix(".zip")
    assert processed == sorted([packages[0].name, f"{stem}~2.zip", f"{stem}~2.zip.reason.txt"])
    reason = tmp_path / "reason.txt"
    adapter.storage.download(f"out/processed/{stem}~2.zip.reason.txt", reason)
    assert "duplicate" in reason.read_text(encoding="utf-8")
    assert [e.name for e in adapter.storage.list("out") if not e.is_dir] == []


def test_same_package_delivered_twice_is_imported_once(hotfolder: HotfolderFactory, packages: list[Path]) -> None:
    adapter = hotfolder("dms")
    results = [adapter.import_message(packages[0]) for _ in range(2)]
    assert [r.status for r in results] == [ImportStatus.IMPORTED, ImportStatus.DUPLICATE]
    assert [e.name for e in adapter.storage.list("in")] == [packages[0].name]


def test_objects_imported_before_under_another_message_are_refused(
    hotfolder: HotfolderFactory, packages: list[Path], tmp_path: Path, settings: Settings
) -> None:
    adapter = hotfolder("dms")
    assert adapter.import_message(packages[0]).ok
    # the same Akte offered again in a new process (another ProzessID): nothing may be created twice
    generated = generated_tree(documents=6, size=30_000, seed=0)
    generated.message.kopf.process_id = "0a9b7f7e-1111-4222-8333-944444444444"
    again = write_generated(tmp_path / "again", generated, settings)
    result = adapter.import_message(again)
    assert result.status is ImportStatus.FAILED
    assert all("already imported" in (o.reason or "") for o in result.objects)
    assert [e.name for e in adapter.storage.list("in")] == [packages[0].name]


# -- a package with a missing primary file ----------------------------------------------------------------


def _without_a_primary_file(package: Path, out: Path) -> tuple[Path, str]:
    broken = out / package.name
    out.mkdir()
    with zipfile.ZipFile(package) as src, zipfile.ZipFile(broken, "w") as dst:
        victim = next(n for n in src.namelist() if not n.endswith(package.stem + ".xml"))
        for info in src.infolist():
            if info.filename != victim:
                dst.writestr(info, src.read(info.filename))
    return broken, victim


def test_exported_package_missing_a_primary_file_goes_to_failed_with_reason(
    hotfolder: HotfolderFactory, packages: list[Path], tmp_path: Path, settings: Settings
) -> None:
    adapter = hotfolder("dms")
    broken, victim = _without_a_primary_file(packages[1], tmp_path / "broken")
    adapter.storage.put_atomic("out", broken.name, broken)
    take = _validating(settings, tmp_path)
    rounds = [export_once(adapter, take) for _ in range(2)]
    assert rounds[1].taken == [] and [name for name, _ in rounds[1].refused] == [broken.name]
    failed = sorted(e.name for e in adapter.storage.list("out/failed"))
    assert failed == [broken.name, broken.name + ".reason.txt"]
    reason = tmp_path / "why.txt"
    adapter.storage.download(f"out/failed/{broken.name}.reason.txt", reason)
    assert "XGW-ZIP-009" in reason.read_text(encoding="utf-8") and victim in reason.read_text(encoding="utf-8")
    assert adapter.storage.list("in") == []


def test_delivered_package_missing_a_primary_file_imports_nothing(
    hotfolder: HotfolderFactory, packages: list[Path], tmp_path: Path
) -> None:
    adapter = hotfolder("dms")
    broken, victim = _without_a_primary_file(packages[1], tmp_path / "broken")
    result = adapter.import_message(broken)
    assert any(victim in (o.reason or "") for o in result.objects)
    assert result.status is ImportStatus.FAILED and "XGW-ZIP-009" in (result.reason or "")
    assert adapter.storage.list("in") == []
    assert adapter.ledger.import_record(result.key) is None if result.key else True


# -- the WebDAV server goes away --------------------------------------------------------------------------


class _DyingStorage(WebDavStorage):
    """The real WebDAV client; the test stops the real server right before the package would appear."""

    def __init__(self, *args, on_rename: Callable[[], None], **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self.on_rename = on_rename

    def rename(self, src: str, dst: str) -> None:
        self.on_rename()
        super().rename(src, dst)


def test_webdav_down_mid_import_then_a_later_run_completes(
    dav: DavServer, packages: list[Path], context_for: Callable[[str], AdapterContext], settings: Settings
) -> None:
    (dav.root / "dms").mkdir()
    config = HotfolderConfig(url=dav.url + "dms/", username=USER, password_env="X", poll_interval=0)
    dying = [False]

    def maybe_die() -> None:
        if dying[0]:
            dying[0] = False
            dav.stop()

    storage = _DyingStorage(
        config.url, username=USER, password=PASSWORD, limits=settings.limits, timeout=5, on_rename=maybe_die
    )
    adapter = HotfolderAdapter(storage, config, context_for("dms"))
    assert adapter.import_message(packages[0]).status is ImportStatus.IMPORTED
    dying[0] = True
    with pytest.raises(Unavailable, match="unreachable"):
        adapter.import_message(packages[1])  # uploaded under its temporary name, then the server died
    with pytest.raises(Unavailable):
        adapter.import_message(packages[2])  # the run fails cleanly: nothing half-visible
    inbox = dav.root / "dms" / "in"
    assert sorted(p.name for p in inbox.iterdir() if not p.name.startswith(".")) == [packages[0].name]

    dav.start()
    # a later run delivers everything again, at least once; the effect is exactly once
    statuses = [adapter.import_message(p).status for p in packages]
    assert statuses == [ImportStatus.DUPLICATE, ImportStatus.IMPORTED, ImportStatus.IMPORTED]
    assert sorted(p.name for p in inbox.iterdir()) == sorted(p.name for p in packages)
    for p in packages:
        assert (inbox / p.name).read_bytes() == p.read_bytes()
    adapter.close()


def test_webdav_down_during_export_moves_nothing(
    dav: DavServer,
    packages: list[Path],
    context_for: Callable[[str], AdapterContext],
    settings: Settings,
    tmp_path: Path,
) -> None:
    (dav.root / "dms" / "out").mkdir(parents=True)
    adapter = HotfolderAdapter.from_config(
        {"kind": "hotfolder", "url": dav.url + "dms/", "username": USER, "password_env": "XGW_TEST_DAV_PASSWORD",
         "poll_interval": 0, "timeout": 5},
        context_for("dms"),
    )  # fmt: skip
    (dav.root / "dms" / "out" / packages[0].name).write_bytes(packages[0].read_bytes())
    take = _validating(settings, tmp_path)
    assert export_once(adapter, take).taken == []
    dav.stop()
    with pytest.raises(Unavailable):
        export_once(adapter, take)
    assert (dav.root / "dms" / "out" / packages[0].name).exists()
    dav.start()
    rounds = [export_once(adapter, take) for _ in range(2)]
    # unchanged since the poll before the outage: taken on the first poll after it, once
    assert [r.taken for r in rounds] == [[packages[0].name], []]
    assert (dav.root / "dms" / "out" / "processed" / packages[0].name).read_bytes() == packages[0].read_bytes()
    adapter.close()


# -- credentials ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("credentials", ["wrong-password", "anonymous"])
def test_refused_credentials_give_a_clear_error_and_move_nothing(
    dav: DavServer,
    packages: list[Path],
    settings: Settings,
    tmp_path: Path,
    credentials: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    (dav.root / "dms" / "out").mkdir(parents=True)
    (dav.root / "dms" / "out" / packages[0].name).write_bytes(packages[0].read_bytes())
    before = _files(dav.root)
    config: dict[str, object] = {"kind": "hotfolder", "url": dav.url + "dms/", "poll_interval": 0}
    if credentials == "wrong-password":
        config.update(username=USER, password_env="DAV_PW")
    context = AdapterContext("psw:1", tmp_path / "state", settings, env={"DAV_PW": "not-" + PASSWORD})
    adapter = HotfolderAdapter.from_config(config, context)
    who = f"user '{USER}'" if credentials == "wrong-password" else "anonymous access"

    health = adapter.health()
    assert not health.ok and f"refused {who} (HTTP 401" in health.detail
    with pytest.raises(AuthenticationFailed, match=f"refused {who}"):
        list(adapter.export())
    with pytest.raises(AuthenticationFailed, match=f"refused {who}"):
        adapter.import_message(packages[1])
    adapter.close()
    assert _files(dav.root) == before
    assert PASSWORD not in caplog.text and "not-" + PASSWORD not in caplog.text
    assert PASSWORD not in health.detail


# -- a crash between the steps of an import ----------------------------------------------------------------


class _CrashingStorage(LocalStorage):
    def __init__(self, root: Path, *, before: bool) -> None:
        super().__init__(root)
        self.before = before
        self.armed = True

    def rename(self, src: str, dst: str) -> None:
        if self.armed and self.before:
            self.armed = False
            raise KeyboardInterrupt("killed before the rename")
        super().rename(src, dst)
        if self.armed:
            self.armed = False
            raise KeyboardInterrupt("killed after the rename")


@pytest.mark.parametrize("before", [True, False], ids=["before-rename", "after-rename"])
def test_crash_between_steps_is_finished_by_the_next_delivery(
    tmp_path: Path, packages: list[Path], context_for: Callable[[str], AdapterContext], before: bool
) -> None:
    root = tmp_path / "dms"
    root.mkdir()
    config = HotfolderConfig(path=root, poll_interval=0)
    crashing = HotfolderAdapter(_CrashingStorage(root, before=before), config, context_for("dms"))
    with pytest.raises(KeyboardInterrupt):
        crashing.import_message(packages[0])
    crashing.ledger.close()
    # a new process with the same state directory gets the message again
    restarted = HotfolderAdapter(LocalStorage(root), config, context_for("dms"))
    result = restarted.import_message(packages[0])
    assert result.status is ImportStatus.IMPORTED
    assert sorted(p.name for p in (root / "in").iterdir()) == [packages[0].name]
    assert restarted.import_message(packages[0]).status is ImportStatus.DUPLICATE
    restarted.close()

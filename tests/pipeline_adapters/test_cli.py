"""``xgw adapter`` through click's runner against the same database and transfer directories as the pipeline."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from gateway.cli.main import cli
from gateway.pipeline.context import PipelineContext
from gateway.store.models import MessageState
from tests.pipeline.factories import ARCHIVE_ID, GOTHA, SAMPLE_SENDER
from tests.pipeline_adapters.support import Dms, messages, package, set_adapter

Xgw = Callable[..., Result]


@pytest.fixture
def xgw(ctx: PipelineContext, database_url: str, tmp_path: Path) -> Xgw:
    env = {
        "XGW_DATA_DIR": str(ctx.settings.data_dir),
        "XGW_DATABASE_URL": database_url,
        "XGW_SCHEMA_DIR": str(ctx.settings.schema_dir),
        "XGW_SCHEMA_CACHE_DIR": str(tmp_path / "cache"),
    }

    def run(*args: str) -> Result:
        return CliRunner().invoke(cli, list(args), env=env)

    return run


def _without_a_primary_file(path: Path, out: Path) -> tuple[Path, str]:
    broken = out / path.name
    out.mkdir()
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(broken, "w") as dst:
        victim = next(n for n in src.namelist() if n != path.stem + ".xml")
        for info in src.infolist():
            if info.filename != victim:
                dst.writestr(info, src.read(info.filename))
    return broken, victim


def test_list_shows_each_adapter_with_its_health_and_names_a_broken_one(
    xgw: Xgw, ctx: PipelineContext, dms: dict[str, Dms]
) -> None:
    result = xgw("adapter", "list", "--json")
    assert result.exit_code == 0, result.output
    entries = {e["participant"]: e for e in json.loads(result.output)}
    assert set(entries) == {GOTHA, ARCHIVE_ID}
    assert all(e["kind"] == "hotfolder" and e["ok"] and e["export_interval"] == 30 for e in entries.values())
    assert {c["name"] for c in entries[GOTHA]["checks"]} == {"configuration", "inbox", "outbox", "ledger"}

    set_adapter(ctx, SAMPLE_SENDER, {"kind": "hotfolder", "path": str(dms[GOTHA].root), "inbx": "x"})
    result = xgw("adapter", "list")
    assert result.exit_code == 1
    line = next(line for line in result.output.splitlines() if line.startswith(SAMPLE_SENDER))
    assert "FAILED" in line and "inbx: unknown key" in line


def test_check_tries_the_dms_and_fails_when_its_share_is_gone(xgw: Xgw, dms: dict[str, Dms], tmp_path: Path) -> None:
    result = xgw("adapter", "check", ARCHIVE_ID)
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0] == f"{ARCHIVE_ID} (hotfolder): ok"
    dms[ARCHIVE_ID].root.rename(tmp_path / "unmounted")
    result = xgw("adapter", "check", ARCHIVE_ID)
    assert result.exit_code == 1
    assert "inbox: FAILED" in result.output and "not mounted" in result.output
    result = xgw("adapter", "check", SAMPLE_SENDER)
    assert result.exit_code == 1 and "has no DMS adapter" in result.output


def test_export_shows_then_submits_what_the_dms_offers(
    xgw: Xgw, ctx: PipelineContext, dms: dict[str, Dms], tmp_path: Path
) -> None:
    gotha = dms[GOTHA]
    generated, path = package(tmp_path / "made", ctx, seed=51)
    broken, _ = _without_a_primary_file(package(tmp_path / "other", ctx, seed=52)[1], tmp_path / "broken")
    gotha.drop(path)
    gotha.drop(broken)

    shown = xgw("adapter", "export", GOTHA, "--json")
    assert shown.exit_code == 0, shown.output
    verdicts = {e["file"]: e["valid"] for e in json.loads(shown.output)}
    assert verdicts == {path.name: True, broken.name: False}
    assert sorted(gotha.listing("out")) == sorted([path.name, broken.name])  # only shown, nothing taken

    submitted = xgw("adapter", "export", GOTHA, "--submit")
    assert submitted.exit_code == 1, submitted.output  # one file was refused
    lines = {line.split()[0]: line for line in submitted.output.splitlines()}
    stored = messages(ctx, generated.message.kopf.process_id)
    assert len(stored) == 1 and stored[0].state is MessageState.VALIDATED and stored[0].channel == "adapter"
    assert f"submitted as message {stored[0].id}" in lines[path.name]
    assert "REFUSED: invalid" in lines[broken.name] and "XGW-ZIP-009" in lines[broken.name]
    assert gotha.listing("out/processed") == [path.name]
    assert gotha.listing("out/failed") == [broken.name, broken.name + ".reason.txt"]

    again = xgw("adapter", "export", GOTHA, "--submit")
    assert again.exit_code == 0 and "offers nothing" in again.output


def test_import_by_hand_prints_each_object_once_then_duplicates(
    xgw: Xgw, ctx: PipelineContext, dms: dict[str, Dms], tmp_path: Path
) -> None:
    archive = dms[ARCHIVE_ID]
    generated, path = package(tmp_path / "made", ctx, seed=53)
    ids = {o.id for o in generated.message.walk()}

    first = xgw("adapter", "import", ARCHIVE_ID, str(path), "--json")
    assert first.exit_code == 0, first.output
    data = json.loads(first.output)
    assert data["status"] == "imported" and {o["id"] for o in data["objects"]} == ids
    assert all(o["status"] == "imported" and o["dms_id"] == f"in/{path.name}#{o['id']}" for o in data["objects"])
    assert archive.inbox() == [path.name]

    second = xgw("adapter", "import", ARCHIVE_ID, str(path))
    assert second.exit_code == 0, second.output
    assert second.output.startswith(f"{path.name}: duplicate")
    assert sum("duplicate" in line for line in second.output.splitlines()[1:]) == len(ids)
    assert archive.inbox() == [path.name]

    broken, victim = _without_a_primary_file(package(tmp_path / "other", ctx, seed=54)[1], tmp_path / "broken")
    refused = xgw("adapter", "import", ARCHIVE_ID, str(broken))
    assert refused.exit_code == 1
    assert refused.output.startswith(f"{broken.name}: failed")
    assert f"primary file {victim} is missing from the package" in refused.output
    assert archive.inbox() == [path.name]
    assert messages(ctx, generated.message.kopf.process_id) == []  # by hand: the message store is not touched

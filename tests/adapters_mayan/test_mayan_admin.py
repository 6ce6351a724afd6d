"""What an administrator does with ``xgw adapter`` against a real Mayan: check (which only looks), setup
(which says what it made), import, and send an Akte by moving its cabinet under the outbox cabinet --
Mayan's own web interface cannot move a cabinet under another."""

from __future__ import annotations

import json
import uuid
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from adapters.mayan import MayanClient
from gateway.cli.main import cli
from gateway.config import Settings
from gateway.pipeline.context import PipelineContext
from gateway.xoev.parsing.parse import parse_message
from gateway.xoev.parsing.safe_xml import parse_xml
from tests.adapters.conftest import generated_tree, write_generated
from tests.adapters_mayan.conftest import PASSWORD_ENV
from tests.adapters_mayan.server import ADMIN, ADMIN_PASSWORD, MayanServer
from tests.pipeline.conftest import ctx, database_url, empty_engine, engine, pipeline_settings
from tests.pipeline.factories import GOTHA
from tests.pipeline_adapters.support import set_adapter

__all__ = ["ctx", "database_url", "empty_engine", "engine", "pipeline_settings"]
pytestmark = pytest.mark.xdist_group("mayan")

Xgw = Callable[..., Result]


@pytest.fixture
def xgw(ctx: PipelineContext, database_url: str, tmp_path: Path) -> Xgw:
    env = {
        "XGW_DATA_DIR": str(ctx.settings.data_dir),
        "XGW_DATABASE_URL": database_url,
        "XGW_SCHEMA_DIR": str(ctx.settings.schema_dir),
        "XGW_SCHEMA_CACHE_DIR": str(tmp_path / "cache"),
        PASSWORD_ENV: ADMIN_PASSWORD,
    }

    def run(*args: str) -> Result:
        return CliRunner().invoke(cli, list(args), env=env)

    return run


def counts(client: MayanClient) -> tuple[int, int, int]:
    return (
        len(client.cabinets()),
        client.json("GET", "document_types/", params={"page_size": 1})["count"],
        client.json("GET", "metadata_types/", params={"page_size": 1})["count"],
    )


def test_check_setup_import_send(
    xgw: Xgw,
    ctx: PipelineContext,
    mayan: MayanServer,
    tmp_path: Path,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(PASSWORD_ENV, ADMIN_PASSWORD)  # for the adapter this test opens itself, at the end
    run = uuid.uuid4().hex[:8]
    config: dict[str, Any] = {
        "kind": "mayan",
        "url": mayan.url,
        "username": ADMIN,
        "password_env": PASSWORD_ENV,
        "document_type": f"xdomea Test {run}",
        "inbox_cabinet": f"Eingang {run}",
        "outbox_cabinet": f"Ausgang {run}",
        "timeout": 120,
        "sender_name": "Landratsamt Gotha",
        "recipient": "psw:16000001",
        "recipient_name": "Thüringisches Landesarchiv",
        "gateway": {"export_interval": 0},
    }
    set_adapter(ctx, GOTHA, config)
    client = MayanClient(mayan.url, username=ADMIN, password=ADMIN_PASSWORD, timeout=120)

    # check only looks: it names what is missing and the command that makes it
    before = counts(client)
    checked = xgw("adapter", "check", GOTHA)
    assert checked.exit_code == 1, checked.output
    assert f"document type 'xdomea Test {run}'" in checked.output
    assert f"xgw adapter setup {GOTHA}" in checked.output
    assert counts(client) == before

    made = xgw("adapter", "setup", GOTHA, "--json")
    assert made.exit_code == 0, made.output
    report = json.loads(made.output)
    assert report["ok"] and any(m.startswith(f"document type 'xdomea Test {run}'") for m in report["made"])
    for label in (f"Eingang {run}", f"Ausgang {run}", "versendet", "abgelehnt"):
        assert any(m.startswith(f"cabinet {label!r}") for m in report["made"]), label
    again = xgw("adapter", "setup", GOTHA)
    assert again.exit_code == 0 and "nothing made" in again.output
    assert xgw("adapter", "check", GOTHA).exit_code == 0

    # a record comes in; the administrator sends its Akte with one command
    package = write_generated(tmp_path / "in", generated_tree(documents=4, size=20_000, seed=91), settings)
    imported = xgw("adapter", "import", GOTHA, str(package))
    assert imported.exit_code == 0 and ": imported" in imported.output, imported.output
    cabinets = {int(c["id"]): c for c in client.cabinets()}
    inbox = next(i for i, c in cabinets.items() if c["label"] == f"Eingang {run}" and c.get("parent_id") is None)
    outbox = next(i for i, c in cabinets.items() if c["label"] == f"Ausgang {run}" and c.get("parent_id") is None)
    (akte,) = [c for c in cabinets.values() if c.get("parent_id") == inbox]

    assert "no cabinet" in xgw("adapter", "send", GOTHA, "--cabinet", f"nowhere {run}").output
    own = xgw("adapter", "send", GOTHA, "--cabinet", f"Eingang {run}")
    assert own.exit_code == 1 and "one of the gateway's own cabinets" in own.output
    sent = xgw("adapter", "send", GOTHA, "--cabinet", akte["full_path"])
    assert sent.exit_code == 0, sent.output
    assert "is in the outbox cabinet" in sent.output and "xgw adapter export" in sent.output
    assert client.cabinet(int(akte["id"]))["parent_id"] == outbox
    twice = xgw("adapter", "send", GOTHA, "--cabinet", str(akte["id"]))
    assert twice.exit_code == 1 and "in the outbox already" in twice.output

    # the export is the Akte, from Gotha by its directory id, with the configured names
    preview = xgw("adapter", "export", GOTHA, "--wait", "0", "--json")
    assert preview.exit_code == 0, preview.output
    (offered,) = json.loads(preview.output)
    assert offered["valid"], offered
    with ctx.adapters.use(ctx.settings, _spec(config)) as adapter:
        (file,) = list(adapter.export())
        with file.open() as raw, zipfile.ZipFile(raw) as zf:
            xml = zf.read(Path(file.name).stem + ".xml")
    kopf = parse_message(parse_xml(xml, settings.limits)).kopf
    assert (kopf.sender.authority_prefix + ":" + kopf.sender.authority_id) == GOTHA
    assert kopf.sender.institution == "Landratsamt Gotha"
    assert kopf.recipient.institution == "Thüringisches Landesarchiv"
    client.close()


def _spec(config: dict[str, Any]) -> Any:
    from gateway.pipeline.dms import adapter_spec

    return adapter_spec(GOTHA, config)

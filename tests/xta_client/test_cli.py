"""``xgw xta`` against a running XTA server: each operation by hand, readable and JSON output, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from gateway.cli.main import cli

from .conftest import Peer
from .support import AUTHOR, HTML_502, READER


@pytest.fixture
def xgw(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, peer: Peer):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("XGW_DATA_DIR", str(tmp_path / "cli-data"))
    monkeypatch.setenv("XGW_XTA_URL", peer.url)

    def run(*args: str) -> Result:
        return CliRunner().invoke(cli, ["xta", *args])

    return run


def test_send_list_fetch_close_report(xgw, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    offer = tmp_path / "0501_offer.xml"
    offer.write_bytes(b"<xdomea/>")
    annex = tmp_path / "annex.pdf"
    annex.write_bytes(b"%PDF-1.7")
    assert xgw("check-account", "--as", AUTHOR.value).output.startswith(f"account {AUTHOR.value} is active")
    sent = xgw("send", str(offer), "--from", AUTHOR.value, "--to", READER.value, "--attach", str(annex), "--json")
    assert sent.exit_code == 0, sent.output
    message_id = json.loads(sent.output)["message_id"]

    listing = xgw("status-list", "--as", READER.value)
    assert message_id in listing.output and "1 listed, 0 more pending" in listing.output
    out = tmp_path / "fetched"
    fetched = xgw("fetch", message_id, "--as", READER.value, "--out", str(out), "--json")
    assert fetched.exit_code == 0, fetched.output
    assert sorted(p.name for p in out.iterdir()) == ["0501_offer.xml", "annex.pdf"]
    assert (out / "annex.pdf").read_bytes() == b"%PDF-1.7"
    assert xgw("close", message_id, "--as", READER.value).output.strip() == f"closed {message_id}"
    report = xgw("report", message_id, "--as", AUTHOR.value)
    assert "green (1)" in report.output and "info: received" in report.output
    assert xgw("create-id", "--as", AUTHOR.value).output.startswith("urn:")
    lookup = xgw("lookup", "--as", AUTHOR.value, "--reader", READER.value, "--service", "urn:x")
    assert lookup.output.strip() == f"{READER.value} urn:x: available"


def test_exit_codes_say_permanent_or_transient(xgw, peer: Peer) -> None:  # type: ignore[no-untyped-def]
    refused = xgw("cancel", "urn:test:unknown", "--as", AUTHOR.value, "--json")
    assert refused.exit_code == 1
    assert json.loads(refused.stdout)["fault"]["code"] == "9070"
    peer.front.script = [HTML_502]
    down = xgw("check-account", "--as", AUTHOR.value)
    assert down.exit_code == 75 and "error (transient)" in down.output
    peer.front.script = [HTML_502]
    retried = xgw("check-account", "--as", AUTHOR.value, "--retries", "2")
    assert retried.exit_code == 0, retried.output
    https = xgw("check-account", "--as", AUTHOR.value, "--url", "https://xta.example.de/services/XTAService")
    assert https.exit_code == 2 and "ca_bundle" in https.output

"""``xgw participants``, ``xgw tokens`` and ``xgw serve`` as an operator uses them (both databases)."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from click.testing import CliRunner, Result
from sqlmodel import Session, select

from gateway.cli.main import cli
from gateway.demo import DEMO_DIRECTORY
from gateway.participants.tokens import authenticate, hash_token
from gateway.store.db import create_engine
from gateway.store.models import ApiToken, Certificate
from gateway.xoev.signatures.keys import (
    KeyAlgorithm,
    certificate_pem,
    generate_key,
    self_signed_certificate,
    subject_name,
)
from tests.store.conftest import database_url

__all__ = ["database_url"]

DEMO = DEMO_DIRECTORY
Xgw = Callable[..., Result]


@pytest.fixture
def xgw(tmp_path: Path, database_url: str) -> Xgw:
    env = {
        "XGW_DATA_DIR": str(tmp_path / "var"),
        "XGW_DATABASE_URL": database_url,
        "XGW_SCHEMA_CACHE_DIR": str(tmp_path / "cache"),
    }

    def run(*args: str) -> Result:
        return CliRunner().invoke(cli, list(args), env=env)

    return run


def test_the_demo_directory_imports_idempotently(xgw: Xgw) -> None:
    first = xgw("participants", "import", str(DEMO))
    assert first.exit_code == 0, first.output
    assert first.stdout.count("created") == 7
    assert "7 created, 0 updated, 0 unchanged" in first.stderr
    second = xgw("participants", "import", str(DEMO))
    assert second.stdout.count("unchanged") == 7
    listed = json.loads(xgw("participants", "list", "--json").stdout)
    names = {p["name"] for p in listed}
    assert {"Landratsamt Altenburger Land", "Landratsamt Gotha", "Landratsamt Saale-Orla-Kreis"} <= names
    assert {"Landratsamt Weimarer Land", "Stadtverwaltung Weimar", "Landesarchiv Thüringen"} <= names
    archive = json.loads(xgw("participants", "show", "lth:16000100").stdout)
    assert archive["route"]["kind"] == "mailbox"  # reachable inside the demo (tests/test_demo.py)
    assert "psw:16077000" in xgw("participants", "list").stdout
    assert xgw("participants", "show", "psw:00000000").exit_code == 1


def test_a_faulty_file_names_each_entry_and_changes_nothing(xgw: Xgw, tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(
        """
[[participant]]
id = "psw:16076000"
name = "Landratsamt Greiz"

[[participant]]
id = "not an identifier"
name = "Broken"

[[participant]]
id = "lth:16000100"
name = "Landesarchiv Thüringen"
route = { kind = "xta" }

[[participant]]
id = "psw:16076000"
name = "Twice"
""",
        encoding="utf-8",
    )
    result = xgw("participants", "import", str(bad))
    assert result.exit_code == 1
    assert "participant #2" in result.output
    assert "id:" in result.output
    assert "participant #3 (lth:16000100): route" in result.output
    assert "needs endpoint_url" in result.output
    assert "participant #4 (psw:16076000): id psw:16076000 is already used by participant #1" in result.output
    # nothing was written: not even an empty database, so reading the directory finds no gateway data
    listed = xgw("participants", "list", "--json")
    assert listed.exit_code == 2
    assert "no gateway data" in listed.output
    broken = tmp_path / "broken.json"
    broken.write_text('{"participant": [', encoding="utf-8")
    assert "invalid JSON" in xgw("participants", "import", str(broken)).output


def test_json_import_updates_and_pins_certificates_without_reviving_ended_pins(
    xgw: Xgw, tmp_path: Path, database_url: str
) -> None:
    key = generate_key(KeyAlgorithm.EC)
    certificate = self_signed_certificate(key, subject_name("Stadtverwaltung Weimar"), days=30)
    (tmp_path / "weimar.pem").write_text(certificate_pem([certificate]), encoding="ascii")
    entry = {"id": "psw:16055000", "name": "Stadt Weimar", "certificates": [{"pem_file": "weimar.pem"}]}
    directory = tmp_path / "directory.json"
    directory.write_text(json.dumps({"participant": [entry]}), encoding="utf-8")
    assert "created   psw:16055000 (+1 certificate(s))" in xgw("participants", "import", str(directory)).stdout
    entry["name"] = "Stadtverwaltung Weimar"
    directory.write_text(json.dumps({"participant": [entry]}), encoding="utf-8")
    assert "updated   psw:16055000" in xgw("participants", "import", str(directory)).stdout
    engine = create_engine(database_url)
    try:
        ended = datetime.now(UTC) - timedelta(days=1)
        with Session(engine) as session:
            pin = session.exec(select(Certificate)).one()
            pin.not_after = ended
            session.add(pin)
            session.commit()
        assert "unchanged psw:16055000" in xgw("participants", "import", str(directory)).stdout
        with Session(engine) as session:
            assert session.exec(select(Certificate)).one().not_after == ended
    finally:
        engine.dispose()
    shown = json.loads(xgw("participants", "show", "psw:16055000").stdout)
    assert shown["name"] == "Stadtverwaltung Weimar"
    assert len(shown["certificates"]) == 1


def test_add(xgw: Xgw) -> None:
    created = xgw(
        "participants", "add", "psw:16074000", "--name", "Landratsamt Saale-Holzland-Kreis", "--version", "4.0.0"
    )
    assert created.exit_code == 0, created.output
    assert "created psw:16074000" in created.stdout
    assert (
        "unchanged"
        in xgw(
            "participants", "add", "psw:16074000", "--name", "Landratsamt Saale-Holzland-Kreis", "--version", "4.0.0"
        ).stdout
    )
    assert json.loads(xgw("participants", "show", "psw:16074000").stdout)["accepted_versions"] == ["4.0.0"]
    refused = xgw("participants", "add", "psw:1", "--name", "x", "--xta-endpoint", "ftp://nowhere")
    assert refused.exit_code == 1
    assert "http(s)" in refused.output


def test_add_with_the_receipt_and_sender_policy(xgw: Xgw) -> None:
    """The policy fields of issue 9 are settable from the command line, with the spec's own checks."""
    strict = xgw(
        "participants",
        "add",
        "psw:16067000",
        "--name",
        "Landratsamt Gotha",
        "--sender-identification",
        "kennung",
        "--technical-receipts",
        "gateway",
    )
    assert strict.exit_code == 0, strict.output
    shown = json.loads(xgw("participants", "show", "psw:16067000").stdout)
    assert shown["sender_identification"] == "kennung"
    assert shown["receipts"]["technical"] == "gateway"
    # an import confirmation by the gateway without an importing DMS adapter would confirm an import nobody made
    refused = xgw("participants", "add", "psw:16067000", "--name", "Gotha", "--import-confirmations", "gateway")
    assert refused.exit_code == 1
    assert "import nobody made" in refused.output
    assert json.loads(xgw("participants", "show", "psw:16067000").stdout)["name"] == "Landratsamt Gotha"


def test_tokens_are_shown_once_stored_hashed_and_revocable(xgw: Xgw, database_url: str) -> None:
    xgw("participants", "import", str(DEMO))
    created = xgw("tokens", "create", "psw:16077000", "--scope", "submit,read")
    assert created.exit_code == 0, created.output
    secret = created.stdout.strip()
    assert secret.startswith("xgw_")
    assert "\n" not in secret
    assert "shown only now" in created.stderr
    listing = xgw("tokens", "list", "--json")
    assert secret not in listing.output
    (info,) = json.loads(listing.stdout)
    assert info["scopes"] == ["submit", "read"]
    assert info["revoked_at"] is None
    engine = create_engine(database_url)
    try:
        with Session(engine) as session:
            (row,) = session.exec(select(ApiToken)).all()
            assert row.token_hash == hash_token(secret)
            dumped = " ".join(str(v) for v in row.model_dump().values())
            assert secret not in dumped
            assert authenticate(session, secret) is not None
        revoked = xgw("tokens", "revoke", str(info["id"]))
        assert revoked.exit_code == 0
        with Session(engine) as session:
            assert authenticate(session, secret) is None
    finally:
        engine.dispose()
    assert "revoked" in xgw("tokens", "list").stdout
    assert xgw("tokens", "create", "psw:16077000", "--scope", "write").exit_code == 2
    assert "unknown participant" in xgw("tokens", "create", "psw:99999999").output
    assert xgw("tokens", "revoke", "999").exit_code == 1


# -- xgw serve in a real process ----------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def fresh_checkout(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """An empty working directory and an environment without any XGW_ configuration."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("XGW_")}
    env["XDG_CACHE_HOME"] = str(tmp_path / "cache")
    work = tmp_path / "work"
    work.mkdir()
    return work, env


def _xgw_process(work: Path, env: dict[str, str], *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [str(Path(sys.executable).parent / "xgw"), *args],
        cwd=work,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def test_serve_comes_up_on_a_fresh_checkout(fresh_checkout: tuple[Path, dict[str, str]]) -> None:
    work, env = fresh_checkout
    port = _free_port()
    server = _xgw_process(work, env, "serve", "--port", str(port), "--no-worker")
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, server.communicate()[1].decode()[-2000:]
            assert time.monotonic() < deadline, "xgw serve did not come up"
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        imported = subprocess.run(
            [str(Path(sys.executable).parent / "xgw"), "participants", "import", str(DEMO)],
            cwd=work,
            env=env,
            capture_output=True,
            check=False,
        )
        assert imported.returncode == 0, imported.stderr.decode()
        assert (work / "var" / "gateway.db").is_file()
        assert httpx.get(f"http://127.0.0.1:{port}/api/v1/messages").status_code == 401
    finally:
        server.send_signal(signal.SIGINT)
        _, stderr = server.communicate(timeout=30)
    lines = [json.loads(line) for line in stderr.decode().splitlines() if line.startswith("{")]
    assert any("serving on" in entry["msg"] for entry in lines)


def test_serve_refuses_a_database_from_a_newer_gateway(fresh_checkout: tuple[Path, dict[str, str]]) -> None:
    work, env = fresh_checkout
    database = work / "var" / "gateway.db"
    database.parent.mkdir()
    engine = create_engine(f"sqlite:///{database}")
    with engine.begin() as connection:
        connection.execute(sa.text("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)"))
        connection.execute(sa.text("INSERT INTO alembic_version VALUES ('9999')"))
    engine.dispose()
    server = _xgw_process(work, env, "serve", "--port", str(_free_port()))
    _, stderr = server.communicate(timeout=60)
    assert server.returncode == 1
    assert "refusing to start" in stderr.decode()
    assert "9999" in stderr.decode()


def _wait_ready(server: subprocess.Popen[bytes], port: int) -> None:
    deadline = time.monotonic() + 60
    while True:
        assert server.poll() is None, server.communicate()[1].decode()[-2000:]
        assert time.monotonic() < deadline, "xgw serve did not come up"
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)


DEMO_TOKEN_LINE = re.compile(r"^ {4}\S.*? {2,}([a-z]+:\d+) +(xgw_\S+)$")


def _demo_tokens(server: subprocess.Popen[bytes]) -> dict[str, str]:
    """The tokens of the start-up block, by participant id (its table ends with the tokens.env line)."""
    assert server.stdout is not None
    tokens: dict[str, str] = {}
    while True:
        line = server.stdout.readline().decode()
        assert line, "xgw serve --demo printed no tokens"
        if "source " in line and tokens:
            return tokens
        if found := DEMO_TOKEN_LINE.match(line.rstrip("\n")):
            tokens[found.group(1)] = found.group(2)


def test_serve_demo_imports_the_directory_and_issues_tokens(fresh_checkout: tuple[Path, dict[str, str]]) -> None:
    """The quick start's one command: a working gateway with the demo directory and usable tokens."""
    work, env = fresh_checkout
    previous: dict[str, str] = {}
    for _ in range(2):
        port = _free_port()
        server = _xgw_process(work, env, "serve", "--demo", "--port", str(port), "--no-worker")
        try:
            tokens = _demo_tokens(server)
            _wait_ready(server, port)
            assert {"psw:16077000", "psw:16067000", "psw:16075000", "psw:16071000", "psw:16055000"} <= set(tokens)
            assert {"lth:16000100", "lth:16000200"} <= set(tokens)
            for secret in tokens.values():
                listed = httpx.get(
                    f"http://127.0.0.1:{port}/api/v1/messages", headers={"Authorization": f"Bearer {secret}"}
                )
                assert listed.status_code == 200, listed.text
            for secret in previous.values():  # a new --demo start revokes the last demo tokens
                stale = httpx.get(
                    f"http://127.0.0.1:{port}/api/v1/messages", headers={"Authorization": f"Bearer {secret}"}
                )
                assert stale.status_code == 401
        finally:
            server.send_signal(signal.SIGINT)
            server.communicate(timeout=30)
        previous = tokens

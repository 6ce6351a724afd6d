"""``xgw keys export``: a pinned certificate leaves the gateway as PEM, without reading the database by hand."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from cryptography import x509
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from gateway.cli.main import cli
from gateway.store.db import create_engine
from gateway.store.migrate import upgrade_database
from gateway.store.models import Certificate, Participant, RouteKind
from gateway.xoev.signatures.signature import certificate_fingerprint

PARTICIPANT = "psw:16067000"
Xgw = Callable[..., Result]


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "var"
    folder.mkdir(mode=0o700)
    return folder


@pytest.fixture
def engine(data_dir: Path) -> Engine:
    engine = create_engine(f"sqlite:///{data_dir / 'gateway.db'}")
    upgrade_database(engine)
    with Session(engine) as session:
        session.add(Participant(xoev_id=PARTICIPANT, display_name="Landratsamt Gotha", route_kind=RouteKind.MAILBOX))
        session.commit()
    return engine


@pytest.fixture
def xgw(data_dir: Path, engine: Engine) -> Xgw:
    env = {"XGW_DATA_DIR": str(data_dir), "XGW_DATABASE_URL": f"sqlite:///{data_dir / 'gateway.db'}"}

    def run(*args: str) -> Result:
        return CliRunner().invoke(cli, ["keys", *args], env=env)

    return run


def _pinned(engine: Engine) -> dict[str, str]:
    with Session(engine) as session:
        return {row.fingerprint_sha256: row.pem for row in session.exec(select(Certificate))}


def test_export_writes_the_pinned_signing_certificate_as_pem(xgw: Xgw, engine: Engine, tmp_path: Path) -> None:
    created = xgw("create", PARTICIPANT, "--algorithm", "ec")
    assert created.exit_code == 0, created.output
    [(fingerprint, pem)] = _pinned(engine).items()
    out = tmp_path / "gotha.pem"
    result = xgw("export", PARTICIPANT, "-o", str(out))
    assert result.exit_code == 0, result.output
    assert fingerprint in result.stderr
    [certificate] = x509.load_pem_x509_certificates(out.read_bytes())
    assert certificate_fingerprint(certificate) == fingerprint
    assert "PRIVATE KEY" not in out.read_text()
    stdout = xgw("export", PARTICIPANT)
    assert stdout.exit_code == 0
    assert stdout.stdout == out.read_text() == (pem if pem.endswith("\n") else pem + "\n")


def test_export_by_usage_and_of_ended_pins(xgw: Xgw, engine: Engine, tmp_path: Path) -> None:
    assert xgw("create", PARTICIPANT).exit_code == 0
    [fingerprint] = _pinned(engine)
    none_for_tls = xgw("export", PARTICIPANT, "--usage", "tls")
    assert none_for_tls.exit_code != 0
    assert "no pinned tls certificate" in none_for_tls.output
    assert xgw("expire", fingerprint).exit_code == 0
    with Session(engine) as session:  # the pin ended a second ago
        row = session.exec(select(Certificate)).one()
        row.not_after = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
        session.add(row)
        session.commit()
    ended = xgw("export", PARTICIPANT)
    assert ended.exit_code != 0 and "--all" in ended.output
    everything = xgw("export", PARTICIPANT, "--all")
    assert everything.exit_code == 0
    assert [certificate_fingerprint(c) for c in x509.load_pem_x509_certificates(everything.stdout.encode())] == [
        fingerprint
    ]


def test_export_of_an_unknown_participant_says_so(xgw: Xgw) -> None:
    result = xgw("export", "psw:00000000")
    assert result.exit_code != 0
    assert "unknown participant" in result.output

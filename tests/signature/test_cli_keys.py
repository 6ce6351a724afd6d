"""``xgw keys`` against a real SQLite participant directory and a real key directory in tmp_path."""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from gateway.cli.main import cli
from gateway.store.db import create_engine
from gateway.store.migrate import upgrade_database
from gateway.store.models import Certificate, Participant, RouteKind
from gateway.xoev.limits import Limits
from gateway.xoev.signatures.keys import KeyStore
from gateway.xoev.signatures.signing import sign_message
from gateway.xoev.signatures.verifying import (
    PinnedCertificate,
    SignatureReason,
    TrustDirectory,
    TrustedParticipant,
    VerificationStatus,
    verify_message,
)
from tests.signature.pki import DAY, NOW, OTHER, SENDER, Pki

LIMITS = Limits()
Xgw = Callable[..., Result]


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "var"


@pytest.fixture
def engine(data_dir: Path) -> Engine:
    data_dir.mkdir(mode=0o700)
    engine = create_engine(f"sqlite:///{data_dir / 'gateway.db'}")
    upgrade_database(engine)
    with Session(engine) as session:
        session.add(Participant(xoev_id=SENDER, display_name="Stadt Musterstadt", route_kind=RouteKind.MAILBOX))
        session.add(Participant(xoev_id=OTHER, display_name="Landesarchiv", route_kind=RouteKind.MAILBOX))
        session.commit()
    return engine


@pytest.fixture
def xgw(data_dir: Path, engine: Engine, caplog: pytest.LogCaptureFixture) -> Iterator[Xgw]:
    caplog.set_level(logging.DEBUG)
    outputs: list[str] = []

    def run(*args: str) -> Result:
        env = {"XGW_DATA_DIR": str(data_dir), "XGW_DATABASE_URL": f"sqlite:///{data_dir / 'gateway.db'}"}
        result = CliRunner().invoke(cli, ["keys", *args], env=env)
        outputs.append(result.output + result.stderr)
        return result

    yield run
    everything = "\n".join(outputs) + caplog.text
    assert "PRIVATE KEY" not in everything
    for key_file in (data_dir / "keys").glob("*.key.pem") if (data_dir / "keys").is_dir() else []:
        body = "".join(key_file.read_text().splitlines()[1:-1])
        assert body[10:60] not in everything


def pins(engine: Engine) -> TrustDirectory:
    """What the pipeline does: the directory's certificate rows, with the row's not_after as the pin's end."""
    participants: dict[str, list[PinnedCertificate]] = {}
    with Session(engine) as session:
        for row, owner in session.exec(
            select(Certificate, Participant).where(Certificate.participant_id == Participant.id)
        ).all():
            certificate = x509.load_pem_x509_certificate(row.pem.encode())
            participants.setdefault(owner.xoev_id, []).append(PinnedCertificate(certificate, row.not_after))
    return TrustDirectory(TrustedParticipant(p, tuple(c)) for p, c in participants.items())


def rows(engine: Engine) -> list[Certificate]:
    with Session(engine) as session:
        return list(session.exec(select(Certificate)).all())


@pytest.mark.parametrize("algorithm", ["ec", "rsa"])
def test_create_pins_a_certificate_and_signs(
    xgw: Xgw, engine: Engine, data_dir: Path, message: bytes, algorithm: str
) -> None:
    result = xgw("create", SENDER, "--algorithm", algorithm, "--days", "30")
    assert result.exit_code == 0, result.output
    [row] = rows(engine)
    assert row.fingerprint_sha256 in result.output
    certificate = x509.load_pem_x509_certificate(row.pem.encode())
    assert "CN=Stadt Musterstadt" in certificate.subject.rfc4514_string()
    assert certificate.extensions.get_extension_for_class(x509.KeyUsage).value.digital_signature
    store = KeyStore(data_dir / "keys")
    [key_file] = store.directory.iterdir()
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert store.directory.stat().st_mode & 0o777 == 0o700

    signed = sign_message(message, store.key_for(certificate), [certificate], limits=LIMITS)
    result_verify = verify_message(signed, SENDER, pins(engine), limits=LIMITS)
    assert result_verify.status is VerificationStatus.VERIFIED, result_verify.finding
    assert verify_message(signed, OTHER, pins(engine), limits=LIMITS).reason is SignatureReason.WRONG_SIGNER


def test_create_for_an_unknown_participant(xgw: Xgw, engine: Engine, data_dir: Path) -> None:
    result = xgw("create", "psw:00000000", "--algorithm", "ec")
    assert result.exit_code == 1
    assert "unknown participant" in result.output
    assert rows(engine) == []
    assert not (data_dir / "keys").exists() or not any((data_dir / "keys").iterdir())


def test_csr_then_import_of_the_ca_answer(xgw: Xgw, engine: Engine, data_dir: Path, pki: Pki, tmp_path: Path) -> None:
    csr_path = tmp_path / "request.csr"
    result = xgw("create", SENDER, "--algorithm", "ec", "--csr", "-o", str(csr_path))
    assert result.exit_code == 0, result.output
    assert rows(engine) == []
    csr = x509.load_pem_x509_csr(csr_path.read_bytes())
    assert csr.is_signature_valid
    issued = (
        x509.CertificateBuilder()
        .subject_name(csr.subject)
        .issuer_name(pki.ca.certificate.subject)
        .public_key(csr.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - DAY)
        .not_valid_after(NOW + 10 * DAY)
        .add_extension(csr.extensions.get_extension_for_class(x509.KeyUsage).value, critical=True)
        .sign(pki.ca.key, hashes.SHA256())
    )
    bundle = tmp_path / "answer.pem"
    bundle.write_bytes(issued.public_bytes(serialization.Encoding.PEM) + pki.ca.cert_pem)
    result = xgw("import", SENDER, str(bundle))
    assert result.exit_code == 0, result.output
    assert result.output.count("pinned") == 2
    assert "private key on this gateway" in result.output
    assert len(rows(engine)) == 2

    again = xgw("import", SENDER, str(bundle))
    assert again.exit_code == 0
    assert again.output.count("already pinned") == 2
    taken = xgw("import", OTHER, str(bundle))
    assert taken.exit_code == 1
    assert f"already pinned for {SENDER}" in taken.output

    listing = json.loads(xgw("list", "--json").output)
    mine = {e["fingerprint_sha256"]: e for e in listing}
    assert len(mine) == 2
    assert [e["private_key"] for e in listing].count(True) == 1
    assert all(e["participant"] == SENDER for e in listing)


def test_list_warns_about_expired_and_expiring(xgw: Xgw, pki: Pki, tmp_path: Path) -> None:
    bundle = tmp_path / "certs.pem"
    bundle.write_bytes(pki.expired.cert_pem + pki.sender_rsa.cert_pem + pki.ca.cert_pem)
    assert xgw("import", SENDER, str(bundle)).exit_code == 0
    result = xgw("list", "--warn-days", "60")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert len(lines) == 3
    assert any("expired" in line and pki.expired.certificate.subject.rfc4514_string() in line for line in lines)
    assert any(
        "expires in" in line and line.endswith(pki.sender_rsa.certificate.subject.rfc4514_string()) for line in lines
    )
    assert "warning:" in result.stderr
    assert "warning:" not in xgw("list", "--participant", OTHER).stderr


def test_expire_ends_the_pin(xgw: Xgw, engine: Engine, data_dir: Path, message: bytes) -> None:
    assert xgw("create", SENDER, "--algorithm", "ec").exit_code == 0
    [row] = rows(engine)
    certificate = x509.load_pem_x509_certificate(row.pem.encode())
    signed = sign_message(message, KeyStore(data_dir / "keys").key_for(certificate), [certificate], limits=LIMITS)
    assert verify_message(signed, SENDER, pins(engine), limits=LIMITS).ok

    assert xgw("expire", "ab").exit_code == 2
    assert xgw("expire", "0123456789").exit_code == 1
    result = xgw("expire", row.fingerprint_sha256[:12])
    assert result.exit_code == 0, result.output
    [ended] = rows(engine)
    assert ended.not_after <= dt.datetime.now(dt.UTC)
    assert ended.not_after < certificate.not_valid_after_utc
    assert verify_message(signed, SENDER, pins(engine), limits=LIMITS).reason is SignatureReason.EXPIRED
    assert json.loads(xgw("list", "--json").output)[0]["status"] == "expired"


def test_import_a_tls_client_certificate(xgw: Xgw, engine: Engine, pki: Pki, tmp_path: Path) -> None:
    """`--usage tls` pins the certificate an XTA client presents for mutual TLS, not a signing pin."""
    from gateway.store.models import CertificateUsage

    bundle = tmp_path / "client.pem"
    bundle.write_bytes(pki.ca.cert_pem)
    result = xgw("import", SENDER, str(bundle), "--usage", "tls")
    assert result.exit_code == 0, result.output
    assert "pinned (tls)" in result.output
    assert [r.usage for r in rows(engine)] == [CertificateUsage.TLS]
    assert xgw("import", SENDER, str(bundle), "--usage", "bogus").exit_code == 2

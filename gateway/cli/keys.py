"""``xgw keys``: signing keys and pinned certificates of the participants.

Private keys go to ``<data_dir>/keys/`` (see :class:`gateway.xoev.signatures.keys.KeyStore`); certificates and
their pin periods go to the participant directory's ``certificate`` table, which the verifier reads.
Nothing here prints or logs private key material: output names a key by the SHA-256 of its public key.

``export`` writes pinned certificates as PEM (what a peer or an operator pins on its side), so nobody
has to read them out of the database. ``expire`` ends a pin now (the row's ``not_after``) without touching
the certificate: messages signed with it are refused as expired from then on, and the row keeps saying
which certificate it was.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from pathlib import Path
from typing import Any

import click
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from gateway.config import Settings
from gateway.store.db import session_scope
from gateway.store.models import Certificate, CertificateUsage, Participant
from gateway.xoev.signatures.keys import (
    KeyAlgorithm,
    KeyFileError,
    KeyStore,
    certificate_pem,
    certificate_signing_request,
    generate_key,
    load_certificates,
    self_signed_certificate,
    subject_name,
)
from gateway.xoev.signatures.signature import certificate_fingerprint, public_key_fingerprint

log = logging.getLogger(__name__)

KEYS_DIR = "keys"
DEFAULT_DAYS = 730
DEFAULT_WARN_DAYS = 30


def key_store(settings: Settings) -> KeyStore:
    return KeyStore(settings.data_dir / KEYS_DIR)


def _engine(settings: Settings, *, create: bool = True) -> Engine:
    """The gateway's database; reading commands (``create=False``) refuse where there is no gateway yet."""
    from gateway.cli.state import open_engine

    return open_engine(settings, create=create)


def _participant(session: Session, xoev_id: str) -> Participant:
    found = session.exec(select(Participant).where(Participant.xoev_id == xoev_id)).first()
    if found is None:
        raise click.ClickException(
            f"unknown participant {xoev_id!r}: add it to the participant directory first (xgw participants add)"
        )
    return found


def _pin(
    session: Session,
    participant: Participant,
    certificate: x509.Certificate,
    usage: CertificateUsage = CertificateUsage.SIGNING,
) -> Certificate | None:
    """Store ``certificate`` for ``participant``; None when it is pinned for it already."""
    fingerprint = certificate_fingerprint(certificate)
    existing = session.exec(select(Certificate).where(Certificate.fingerprint_sha256 == fingerprint)).first()
    if existing is not None:
        if existing.participant_id == participant.id:
            return None
        owner = session.get(Participant, existing.participant_id)
        raise click.ClickException(
            f"certificate {fingerprint} is already pinned for {owner.xoev_id if owner else 'another participant'}"
        )
    assert participant.id is not None
    row = Certificate(
        participant_id=participant.id,
        pem=certificate_pem([certificate]),
        fingerprint_sha256=fingerprint,
        not_before=certificate.not_valid_before_utc,
        not_after=certificate.not_valid_after_utc,
        usage=usage,
    )
    session.add(row)
    return row


@click.group("keys")
def keys_group() -> None:
    """Signing keys and pinned certificates of participants."""


@keys_group.command("create")
@click.argument("participant")
@click.option(
    "--algorithm",
    type=click.Choice([a.value for a in KeyAlgorithm]),
    default=KeyAlgorithm.RSA.value,
    show_default=True,
    help="rsa: RSA 3072 (signs RSA-SHA256); ec: P-256 (signs ECDSA-SHA256).",
)
@click.option("--days", type=click.IntRange(1, 3650), default=DEFAULT_DAYS, show_default=True)
@click.option("--organization", help="O= of the subject; default: the participant's display name.")
@click.option("--csr", "as_csr", is_flag=True, help="Write a certificate signing request instead of a certificate.")
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write the CSR (default: standard output).",
)
def create_command(
    participant: str, algorithm: str, days: int, organization: str | None, as_csr: bool, output: Path | None
) -> None:
    """Create a key pair for PARTICIPANT and a self-signed certificate (pinned at once), or a CSR.

    A CA's answer to the CSR is pinned with ``xgw keys import``; it finds its key by the public key.
    """
    settings = Settings()
    engine = _engine(settings)
    with session_scope(engine) as session:
        entry = _participant(session, participant)
        key = generate_key(KeyAlgorithm(algorithm))
        subject = subject_name(entry.display_name or entry.xoev_id, organization or entry.display_name, entry.xoev_id)
        try:
            key_id = key_store(settings).save(key)
        except KeyFileError as exc:
            raise click.ClickException(str(exc)) from None
        log.info("created %s signing key %s for %s", algorithm, key_id, participant)
        if as_csr:
            csr = certificate_signing_request(key, subject).public_bytes(serialization.Encoding.PEM)
            if output is None:
                click.echo(csr.decode("ascii"), nl=False)
            else:
                output.write_bytes(csr)
            click.echo(f"key {key_id} for {participant}: CSR for {subject.rfc4514_string()}", err=True)
            return
        certificate = self_signed_certificate(key, subject, days=days)
        _pin(session, entry, certificate)
    click.echo(
        f"created {algorithm} key {key_id} for {participant}\n"
        f"  certificate {certificate_fingerprint(certificate)}\n"
        f"  subject     {certificate.subject.rfc4514_string()}\n"
        f"  valid until {certificate.not_valid_after_utc:%Y-%m-%d %H:%M} UTC"
    )


@keys_group.command("import")
@click.argument("participant")
@click.argument("cert_file", metavar="CERT.pem", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--usage",
    type=click.Choice([CertificateUsage.SIGNING.value, CertificateUsage.TLS.value]),
    default=CertificateUsage.SIGNING.value,
    show_default=True,
    help="signing: verifies the participant's message signatures; tls: its XTA client certificate (mutual TLS).",
)
def import_command(participant: str, cert_file: Path, usage: str) -> None:
    """Pin the certificates in CERT.pem (an end-entity certificate, and CA certificates) for PARTICIPANT."""
    settings = Settings()
    try:
        certificates = load_certificates(cert_file.read_bytes())
    except ValueError as exc:
        raise click.ClickException(f"{cert_file}: not a PEM certificate file ({exc})") from None
    store = key_store(settings)
    engine = _engine(settings)
    lines = []
    with session_scope(engine) as session:
        entry = _participant(session, participant)
        for certificate in certificates:
            added = _pin(session, entry, certificate, CertificateUsage(usage))
            has_key = store.has(public_key_fingerprint(certificate.public_key()))
            lines.append(
                f"{'pinned' if added else 'already pinned'} ({usage}) {certificate_fingerprint(certificate)} "
                f"{certificate.subject.rfc4514_string()}" + ("  (private key on this gateway)" if has_key else "")
            )
    click.echo("\n".join(lines))


def _status(row: Certificate, now: dt.datetime, warn_days: int) -> str:
    if now < row.not_before:
        return "not yet valid"
    if now > row.not_after:
        return "expired"
    left = row.not_after - now
    if left < dt.timedelta(days=warn_days):
        return f"expires in {left.days} days"
    return "valid"


@keys_group.command("list")
@click.option("--participant", help="Only this participant's certificates.")
@click.option("--warn-days", type=click.IntRange(0), default=DEFAULT_WARN_DAYS, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def list_command(participant: str | None, warn_days: int, as_json: bool) -> None:
    """Pinned certificates: participant, fingerprint, subject, end of validity, status, key present."""
    settings = Settings()
    store = key_store(settings)
    engine = _engine(settings, create=False)
    now = dt.datetime.now(dt.UTC)
    statement = select(Certificate, Participant).where(Certificate.participant_id == Participant.id)
    if participant:
        statement = statement.where(Participant.xoev_id == participant)
    with session_scope(engine) as session:
        rows = session.exec(statement.order_by(col(Participant.xoev_id), col(Certificate.not_after))).all()
        entries: list[dict[str, Any]] = []
        for cert_row, owner in rows:
            certificate = x509.load_pem_x509_certificate(cert_row.pem.encode("ascii"))
            entries.append(
                {
                    "participant": owner.xoev_id,
                    "fingerprint_sha256": cert_row.fingerprint_sha256,
                    "subject": certificate.subject.rfc4514_string(),
                    "not_after": cert_row.not_after.isoformat(timespec="seconds"),
                    "status": _status(cert_row, now, warn_days),
                    "private_key": store.has(public_key_fingerprint(certificate.public_key())),
                }
            )
    if as_json:
        click.echo(json.dumps(entries, indent=2))
        return
    for e in entries:
        click.echo(
            f"{e['participant']:<20} {e['fingerprint_sha256']}  {e['not_after'][:10]}  {e['status']:<18} "
            f"{'key' if e['private_key'] else '-':<3}  {e['subject']}"
        )
        if e["status"] != "valid":
            click.echo(
                f"warning: {e['participant']} certificate {e['fingerprint_sha256'][:16]}: {e['status']}", err=True
            )


@keys_group.command("expire")
@click.argument("fingerprint")
def expire_command(fingerprint: str) -> None:
    """End the pin of the certificate FINGERPRINT (SHA-256, or a unique prefix of at least 8 hex digits) now."""
    wanted = fingerprint.replace(":", "").lower()
    if len(wanted) < 8 or any(c not in "0123456789abcdef" for c in wanted):
        raise click.BadParameter("give the SHA-256 fingerprint or at least its first 8 hex digits")
    settings = Settings()
    engine = _engine(settings, create=False)
    now = dt.datetime.now(dt.UTC)
    with session_scope(engine) as session:
        matches = session.exec(select(Certificate).where(col(Certificate.fingerprint_sha256).startswith(wanted))).all()
        if not matches:
            raise click.ClickException(f"no pinned certificate with fingerprint {wanted}")
        if len(matches) > 1:
            raise click.ClickException(f"{len(matches)} certificates start with {wanted}: give more digits")
        row = matches[0]
        owner = session.get(Participant, row.participant_id)
        if row.not_after > now:
            row.not_after = now
            session.add(row)
            log.info("ended pin of certificate %s", row.fingerprint_sha256)
    who = owner.xoev_id if owner else "?"
    click.echo(f"certificate {row.fingerprint_sha256} of {who}: pinned until {row.not_after:%Y-%m-%d %H:%M:%S} UTC")


@keys_group.command("export")
@click.argument("participant")
@click.option(
    "--usage",
    type=click.Choice([CertificateUsage.SIGNING.value, CertificateUsage.TLS.value]),
    default=CertificateUsage.SIGNING.value,
    show_default=True,
    help="signing: the certificates that verify its signatures; tls: its XTA client certificates.",
)
@click.option("--all", "include_ended", is_flag=True, help="Also certificates whose pin has ended or not begun.")
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write the PEM file (default: standard output).",
)
def export_command(participant: str, usage: str, include_ended: bool, output: Path | None) -> None:
    """Write PARTICIPANT's pinned certificates as PEM, e.g. to hand the gateway's signing certificate to a peer.

    By default only the certificates pinned right now, newest pin end first; certificates are public, the
    private keys never leave ``<data_dir>/keys``.
    """
    settings = Settings()
    engine = _engine(settings, create=False)
    now = dt.datetime.now(dt.UTC)
    with session_scope(engine) as session:
        entry = _participant(session, participant)
        statement = select(Certificate).where(
            Certificate.participant_id == entry.id, Certificate.usage == CertificateUsage(usage)
        )
        if not include_ended:
            statement = statement.where(col(Certificate.not_before) <= now, col(Certificate.not_after) >= now)
        rows = session.exec(statement.order_by(col(Certificate.not_after).desc(), col(Certificate.id))).all()
        pems = [(row.fingerprint_sha256, row.not_after, row.pem) for row in rows]
    if not pems:
        hint = "" if include_ended else " (--all includes certificates whose pin has ended)"
        raise click.ClickException(f"{participant} has no pinned {usage} certificate{hint}")
    data = "".join(pem if pem.endswith("\n") else pem + "\n" for _, _, pem in pems)
    if output is None:
        click.echo(data, nl=False)
    else:
        output.write_text(data, encoding="ascii")
    for fingerprint, not_after, _ in pems:
        click.echo(
            f"exported {usage} certificate {fingerprint} of {participant} (pinned until {not_after:%Y-%m-%d})", err=True
        )

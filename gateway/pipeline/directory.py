"""What the pipeline needs from the participant directory: routes, pinned trust and signing keys.

Reads the store's tables directly (the directory's management lives in :mod:`gateway.participants`),
so that a worker sees a changed route or a retired certificate with its next message.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from sqlmodel import Session, col, select

from gateway.store.models import Certificate, CertificateUsage, Participant
from gateway.store.types import utcnow
from gateway.xoev.signatures.keys import KeyFileError, KeyStore, SigningKey, load_certificates
from gateway.xoev.signatures.signature import public_key_fingerprint
from gateway.xoev.signatures.verifying import PinnedCertificate, SignaturePolicy, TrustDirectory, TrustedParticipant


def participant(session: Session, xoev_id: str) -> Participant | None:
    return session.exec(select(Participant).where(col(Participant.xoev_id) == xoev_id)).first()


def _certificates(session: Session, participant_id: int) -> list[tuple[Certificate, x509.Certificate]]:
    rows = session.exec(
        select(Certificate).where(
            col(Certificate.participant_id) == participant_id, col(Certificate.usage) == CertificateUsage.SIGNING
        )
    ).all()
    return [(row, load_certificates(row.pem.encode("ascii"))[0]) for row in rows]


def trust_directory(session: Session, xoev_ids: Iterable[str]) -> TrustDirectory:
    """The verifier's view of these participants: their signature policy and pinned certificates.

    A participant missing from the directory gets the strictest policy (a signature is required and no
    certificate is trusted), so an unknown sender can never pass as unsigned.
    """
    entries: list[TrustedParticipant] = []
    for xoev_id in set(xoev_ids):
        row = participant(session, xoev_id)
        if row is None or row.id is None:
            continue
        pins = tuple(
            PinnedCertificate(certificate, pinned_until=cert_row.not_after)
            for cert_row, certificate in _certificates(session, row.id)
        )
        entries.append(TrustedParticipant(xoev_id, pins, SignaturePolicy(row.signature_policy.value)))
    return TrustDirectory(entries)


@dataclass(frozen=True, slots=True)
class SigningCredentials:
    key: SigningKey
    chain: tuple[x509.Certificate, ...]
    fingerprint: str


def signing_credentials(
    session: Session, keys: KeyStore, xoev_id: str, *, now: datetime | None = None
) -> SigningCredentials | None:
    """The participant's newest pinned, currently valid certificate whose private key this gateway holds."""
    row = participant(session, xoev_id)
    if row is None or row.id is None:
        return None
    now = now or utcnow()
    usable = [
        (cert_row, certificate)
        for cert_row, certificate in _certificates(session, row.id)
        if cert_row.not_before <= now <= cert_row.not_after
        and certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc
    ]
    for cert_row, certificate in sorted(usable, key=lambda pair: pair[0].not_after, reverse=True):
        key_id = public_key_fingerprint(certificate.public_key())
        if not keys.has(key_id):
            continue
        try:
            key = keys.load(key_id)
        except KeyFileError:
            continue
        return SigningCredentials(key, (certificate,), cert_row.fingerprint_sha256)
    return None

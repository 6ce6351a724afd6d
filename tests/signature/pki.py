"""A small real PKI for the signature tests: a test CA and end-entity certificates made with cryptography.

Validity periods are relative to the moment the PKI is built (a day ago to a month ahead), so the tests
never depend on the calendar; expired and not-yet-valid certificates lie safely outside that window.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from gateway.xoev.signatures.keys import SigningKey

SENDER = "psw:16077000"
OTHER = "psw:16051000"
NOW = dt.datetime.now(dt.UTC)
DAY = dt.timedelta(days=1)


@dataclass(frozen=True)
class Identity:
    key: SigningKey
    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...]  # signer first, then intermediates (never the root)

    @property
    def cert_pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    @property
    def key_pem(self) -> bytes:
        return self.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )


def new_key(kind: str) -> SigningKey:
    if kind == "ec":
        return ec.generate_private_key(ec.SECP256R1())
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "xoev-gateway tests"),
        ]
    )


def make_ca(
    common_name: str = "Test CA", *, not_before: dt.datetime = NOW - DAY, not_after: dt.datetime = NOW + 365 * DAY
) -> Identity:
    key = new_key("rsa")
    name = _name(common_name)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return Identity(key, cert, (cert,))


def make_ee(
    common_name: str,
    issuer: Identity | None = None,
    *,
    kind: str = "rsa",
    not_before: dt.datetime = NOW - DAY,
    not_after: dt.datetime = NOW + 30 * DAY,
    digital_signature: bool = True,
) -> Identity:
    """An end-entity certificate, issued by ``issuer`` or self-signed when it is None."""
    key = new_key(kind)
    subject = _name(common_name)
    signer_key = issuer.key if issuer else key
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.certificate.subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(digital_signature, True, not digital_signature, False, False, False, False, False, False),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if issuer:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()), critical=False
        )
    cert = builder.sign(signer_key, hashes.SHA256())
    return Identity(key, cert, (cert,))


@dataclass(frozen=True)
class Pki:
    ca: Identity
    sender_rsa: Identity  # CA-issued
    sender_ec: Identity  # CA-issued, P-256
    sender_self: Identity  # self-signed, as `xgw keys create` makes them
    expired: Identity
    not_yet_valid: Identity
    no_digital_signature: Identity
    other: Identity  # another participant's certificate from the same CA
    stranger: Identity  # self-signed, pinned for nobody
    unpinned_by_ca: Identity  # CA-issued but not pinned for anybody


def build_pki() -> Pki:
    ca = make_ca()
    return Pki(
        ca=ca,
        sender_rsa=make_ee("Stadtverwaltung Musterstadt", ca),
        sender_ec=make_ee("Stadtverwaltung Musterstadt EC", ca, kind="ec"),
        sender_self=make_ee("Stadtverwaltung Musterstadt self-signed"),
        expired=make_ee("Musterstadt expired", ca, not_before=NOW - 60 * DAY, not_after=NOW - 30 * DAY),
        not_yet_valid=make_ee("Musterstadt future", ca, not_before=NOW + 30 * DAY, not_after=NOW + 90 * DAY),
        no_digital_signature=make_ee("Musterstadt no digitalSignature", ca, digital_signature=False),
        other=make_ee("Landesarchiv", ca),
        stranger=make_ee("Somebody"),
        unpinned_by_ca=make_ee("Musterstadt unpinned", ca),
    )

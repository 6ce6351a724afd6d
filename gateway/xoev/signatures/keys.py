"""Signing keys and certificates of the authorities this gateway signs for.

A private key lives in one file under ``<data_dir>/keys/`` (mode 0600, directory 0700), named by the
SHA-256 of its public key, so that a certificate issued later for a CSR finds its key without any index.
The file is PKCS#8 without a passphrase, protected by the file system like an SSH host key; a key file
that the group or others can read is refused rather than used, because it may already have leaked.
Nothing here prints, logs or returns private key material except :meth:`KeyStore.load`, to the signer.

Certificates are public and are kept by the caller (the participant directory); this module only makes
and parses them.
"""

from __future__ import annotations

import datetime as dt
import enum
import os
import stat
import tempfile
from collections.abc import Sequence
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from gateway.xoev.signatures.signature import public_key_fingerprint

SigningKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

RSA_KEY_BITS = 3072
"""BSI TR-02102-1 asks for at least 3000-bit RSA for signatures made from 2023 on."""

KEY_SUFFIX = ".key.pem"


class KeyAlgorithm(enum.StrEnum):
    RSA = "rsa"  # RSA 3072, signs with RSA-SHA256
    EC = "ec"  # ECDSA on P-256, signs with ECDSA-SHA256


class KeyFileError(Exception):
    """A key file is missing, unreadable or unsafe; the message says which file and what to do."""


def generate_key(algorithm: KeyAlgorithm = KeyAlgorithm.RSA) -> SigningKey:
    if algorithm is KeyAlgorithm.EC:
        return ec.generate_private_key(ec.SECP256R1())
    return rsa.generate_private_key(public_exponent=65537, key_size=RSA_KEY_BITS)


def subject_name(common_name: str, organization: str | None = None, serial: str | None = None) -> x509.Name:
    """CN = the participant's display name, O = its organisation, serialNumber = its XÖV identifier."""
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organization:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    if serial:
        attributes.append(x509.NameAttribute(NameOID.SERIAL_NUMBER, serial))
    return x509.Name(attributes)


def _signing_key_usage() -> x509.KeyUsage:
    """digitalSignature is what XMLDSig verifiers (signxml, our own) require of a signing certificate."""
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=True,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )


def self_signed_certificate(
    key: SigningKey, subject: x509.Name, *, days: int, now: dt.datetime | None = None
) -> x509.Certificate:
    """A self-signed end-entity certificate for pinning in the participant directory (not a CA)."""
    if days < 1:
        raise ValueError("a certificate must be valid for at least one day")
    start = (now or dt.datetime.now(dt.UTC)) - dt.timedelta(minutes=5)  # tolerate small clock skew
    public_key = key.public_key()
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_signing_key_usage(), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .sign(key, hashes.SHA256())
    )


def certificate_signing_request(key: SigningKey, subject: x509.Name) -> x509.CertificateSigningRequest:
    """A CSR asking a CA for a signing certificate with the same key usage as our self-signed ones."""
    return (
        x509.CertificateSigningRequestBuilder()
        .subject_name(subject)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_signing_key_usage(), critical=True)
        .sign(key, hashes.SHA256())
    )


def load_certificates(pem: bytes) -> list[x509.Certificate]:
    """All certificates of a PEM bundle; raises ValueError when there is none or one is damaged."""
    certificates = x509.load_pem_x509_certificates(pem)
    if not certificates:
        raise ValueError("no PEM certificate found")
    return certificates


def certificate_pem(certificates: Sequence[x509.Certificate]) -> str:
    return "".join(c.public_bytes(serialization.Encoding.PEM).decode("ascii") for c in certificates)


def has_digital_signature(certificate: x509.Certificate) -> bool:
    try:
        usage = certificate.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return False
    return usage.digital_signature


class KeyStore:
    """Private keys in one owner-only directory, one file per key, named by the public key's SHA-256."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        #: parsed keys by (id, inode, mtime, size): loading an RSA key makes cryptography check it, which
        #: costs 0.1-0.2 s for RSA-3072 and dominated the pipeline's signing step; the file's permissions
        #: are still checked on every load, only the parsing is reused
        self._parsed: dict[tuple[str, int, int, int], SigningKey] = {}

    def path_for(self, key_id: str) -> Path:
        if len(key_id) != 64 or any(c not in "0123456789abcdef" for c in key_id):
            raise KeyFileError(f"not a key id (64 hex digits): {key_id!r}")
        return self.directory / f"{key_id}{KEY_SUFFIX}"

    def _ensure_directory(self) -> None:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        mode = stat.S_IMODE(self.directory.stat().st_mode)
        if mode & 0o077:
            raise KeyFileError(
                f"the key directory {self.directory} is accessible to others (mode {mode:o}); "
                f"run: chmod 700 {self.directory}"
            )

    def save(self, key: SigningKey) -> str:
        """Write ``key`` owner-only and atomically; returns its id (SHA-256 of the public key)."""
        self._ensure_directory()
        key_id = public_key_fingerprint(key.public_key())
        target = self.path_for(key_id)
        data = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        fd, tmp_name = tempfile.mkstemp(dir=self.directory, prefix=".tmp-", suffix=KEY_SUFFIX)  # mode 0600
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.link(tmp_name, target)  # refuses to replace an existing key file
        except FileExistsError:
            raise KeyFileError(f"a key with id {key_id} already exists in {self.directory}") from None
        finally:
            Path(tmp_name).unlink(missing_ok=True)
        return key_id

    def has(self, key_id: str) -> bool:
        return self.path_for(key_id).is_file()

    def load(self, key_id: str) -> SigningKey:
        """The private key, after checking that only its owner can read the file and the directory."""
        path = self.path_for(key_id)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        except FileNotFoundError:
            raise KeyFileError(f"no private key {key_id} in {self.directory}") from None
        except OSError as exc:
            raise KeyFileError(f"cannot open the private key file {path}: {exc.strerror}") from None
        with os.fdopen(fd, "rb") as fh:
            info = os.fstat(fh.fileno())
            mode = stat.S_IMODE(info.st_mode)
            if mode & 0o077:
                raise KeyFileError(
                    f"refusing to use the private key file {path}: it is readable by others (mode {mode:o}); "
                    f"treat the key as leaked, or if you are sure it is not, run: chmod 600 {path}"
                )
            if info.st_uid != os.geteuid():
                raise KeyFileError(f"refusing to use the private key file {path}: it belongs to another user")
            dir_mode = stat.S_IMODE(self.directory.stat().st_mode)
            if dir_mode & 0o077:
                raise KeyFileError(
                    f"refusing to use keys in {self.directory}: the directory is accessible to others "
                    f"(mode {dir_mode:o}); run: chmod 700 {self.directory}"
                )
            identity = (key_id, info.st_ino, info.st_mtime_ns, info.st_size)
            cached = self._parsed.get(identity)
            if cached is not None:
                return cached
            data = fh.read()
        try:
            key = serialization.load_pem_private_key(data, password=None)
        except (ValueError, TypeError):
            raise KeyFileError(f"the private key file {path} is damaged or encrypted") from None
        if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
            raise KeyFileError(f"the private key file {path} holds an unsupported key type")
        self._parsed[identity] = key
        return key

    def key_for(self, certificate: x509.Certificate) -> SigningKey:
        return self.load(public_key_fingerprint(certificate.public_key()))

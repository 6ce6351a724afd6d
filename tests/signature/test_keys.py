"""The key store and the certificates ``xgw keys`` makes: file modes, refusals, and what signxml needs."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from lxml import etree

from gateway.xoev.limits import Limits
from gateway.xoev.signatures.keys import (
    KeyAlgorithm,
    KeyFileError,
    KeyStore,
    certificate_signing_request,
    generate_key,
    has_digital_signature,
    self_signed_certificate,
    subject_name,
)
from gateway.xoev.signatures.signature import public_key_fingerprint
from gateway.xoev.signatures.signing import sign_message
from gateway.xoev.signatures.verifying import (
    PinnedCertificate,
    TrustDirectory,
    TrustedParticipant,
    VerificationStatus,
    verify_message,
)
from tests.signature.pki import SENDER


@pytest.fixture(scope="module")
def ec_key() -> ec.EllipticCurvePrivateKey:
    key = generate_key(KeyAlgorithm.EC)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return key


def mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def test_saved_key_is_owner_only(tmp_path: Path, ec_key: ec.EllipticCurvePrivateKey) -> None:
    store = KeyStore(tmp_path / "keys")
    key_id = store.save(ec_key)
    assert key_id == public_key_fingerprint(ec_key.public_key())
    assert mode(store.directory) == 0o700
    assert mode(store.path_for(key_id)) == 0o600
    assert [p.name for p in store.directory.iterdir()] == [f"{key_id}.key.pem"]
    loaded = store.load(key_id)
    assert public_key_fingerprint(loaded.public_key()) == key_id


def test_saving_twice_is_refused(tmp_path: Path, ec_key: ec.EllipticCurvePrivateKey) -> None:
    store = KeyStore(tmp_path / "keys")
    store.save(ec_key)
    with pytest.raises(KeyFileError, match="already exists"):
        store.save(ec_key)
    assert len(list(store.directory.iterdir())) == 1


@pytest.mark.parametrize("file_mode", [0o640, 0o604, 0o644])
def test_readable_key_file_is_refused(tmp_path: Path, ec_key: ec.EllipticCurvePrivateKey, file_mode: int) -> None:
    store = KeyStore(tmp_path / "keys")
    key_id = store.save(ec_key)
    store.path_for(key_id).chmod(file_mode)
    with pytest.raises(KeyFileError, match="readable by others") as info:
        store.load(key_id)
    assert "PRIVATE KEY" not in str(info.value)


def test_open_key_directory_is_refused(tmp_path: Path, ec_key: ec.EllipticCurvePrivateKey) -> None:
    store = KeyStore(tmp_path / "keys")
    key_id = store.save(ec_key)
    store.directory.chmod(0o755)
    with pytest.raises(KeyFileError, match="directory is accessible"):
        store.load(key_id)
    with pytest.raises(KeyFileError, match="accessible to others"):
        store.save(generate_key(KeyAlgorithm.EC))


def test_symlinked_key_file_is_refused(tmp_path: Path, ec_key: ec.EllipticCurvePrivateKey) -> None:
    store = KeyStore(tmp_path / "keys")
    key_id = store.save(ec_key)
    real = tmp_path / "elsewhere.pem"
    store.path_for(key_id).rename(real)
    store.path_for(key_id).symlink_to(real)
    with pytest.raises(KeyFileError, match="cannot open"):
        store.load(key_id)


def test_missing_and_invalid_key_ids(tmp_path: Path) -> None:
    store = KeyStore(tmp_path / "keys")
    with pytest.raises(KeyFileError, match="no private key"):
        store.load("0" * 64)
    with pytest.raises(KeyFileError, match="not a key id"):
        store.load("../../etc/passwd")


@pytest.mark.parametrize("algorithm", list(KeyAlgorithm))
def test_self_signed_certificate_signs_and_verifies(algorithm: KeyAlgorithm) -> None:
    key = generate_key(algorithm)
    assert isinstance(key, rsa.RSAPrivateKey if algorithm is KeyAlgorithm.RSA else ec.EllipticCurvePrivateKey)
    subject = subject_name("Stadtverwaltung Musterstadt", "Stadt Musterstadt", SENDER)
    cert = self_signed_certificate(key, subject, days=30)
    assert cert.subject == cert.issuer == subject
    assert has_digital_signature(cert)
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert cert.not_valid_after_utc - cert.not_valid_before_utc == dt.timedelta(days=30)
    message = b'<?xml version="1.0"?><r xmlns="urn:example"><a>1</a></r>'
    signed = sign_message(message, key, [cert], limits=Limits())
    directory = TrustDirectory([TrustedParticipant(SENDER, (PinnedCertificate(cert),))])
    result = verify_message(signed, SENDER, directory, limits=Limits())
    assert result.status is VerificationStatus.VERIFIED, result.finding
    assert etree.fromstring(signed)[-1].tag.endswith("Signature")


def test_csr_carries_subject_and_key_usage(ec_key: ec.EllipticCurvePrivateKey) -> None:
    subject = subject_name("Landesarchiv Thüringen", None, "psw:16000000")
    csr = certificate_signing_request(ec_key, subject)
    assert csr.is_signature_valid
    assert csr.subject == subject
    assert csr.extensions.get_extension_for_class(x509.KeyUsage).value.digital_signature
    assert public_key_fingerprint(csr.public_key()) == public_key_fingerprint(ec_key.public_key())


def test_days_must_be_positive(ec_key: ec.EllipticCurvePrivateKey) -> None:
    with pytest.raises(ValueError, match="at least one day"):
        self_signed_certificate(ec_key, subject_name("x"), days=0)


def test_loaded_keys_are_reused_but_permissions_are_checked_every_time(tmp_path: Path) -> None:
    from gateway.xoev.signatures.keys import KeyFileError, KeyStore, generate_key

    store = KeyStore(tmp_path / "keys")
    key_id = store.save(generate_key())
    first = store.load(key_id)
    assert store.load(key_id) is first  # parsed once per process
    store.path_for(key_id).chmod(0o644)
    with pytest.raises(KeyFileError, match="readable by others"):
        store.load(key_id)


def test_a_replaced_key_file_is_picked_up(tmp_path: Path, ec_key: ec.EllipticCurvePrivateKey) -> None:
    """The parsed-key cache is keyed by the file (inode, mtime, size): a key file written anew is read anew."""
    import os

    from cryptography.hazmat.primitives import serialization

    from gateway.xoev.signatures.keys import KeyStore

    store = KeyStore(tmp_path / "keys")
    key_id = store.save(ec_key)
    assert store.load(key_id).private_numbers() == ec_key.private_numbers()
    other = ec.generate_private_key(ec.SECP256R1())
    replacement = tmp_path / "keys" / ".replacement"
    replacement.write_bytes(
        other.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    replacement.chmod(0o600)
    os.replace(replacement, store.path_for(key_id))  # as an operator restoring a key file would
    loaded = store.load(key_id)
    assert isinstance(loaded, ec.EllipticCurvePrivateKey)
    assert loaded.private_numbers() == other.private_numbers()

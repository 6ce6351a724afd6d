"""Fixtures of the signature tests: one real test PKI per session, a pinned directory, sample messages."""

from __future__ import annotations

import shutil

import pytest

from gateway.xoev.signatures.verifying import PinnedCertificate, SignaturePolicy, TrustDirectory, TrustedParticipant
from tests.conftest import SAMPLES
from tests.signature.pki import OTHER, SENDER, Pki, build_pki

SAMPLE_0503 = SAMPLES / "3.0.0" / "9fde4e7a-b41b-11ec-9225-005056871b7c_Aussonderung.Aussonderung.0503.xml"
SAMPLE_XML = sorted(SAMPLES.rglob("*.xml"))


@pytest.fixture(scope="session")
def pki() -> Pki:
    return build_pki()


def directory_for(pki: Pki, policy: SignaturePolicy = SignaturePolicy.REQUIRE) -> TrustDirectory:
    sender_pins = [
        pki.ca,
        pki.sender_rsa,
        pki.sender_ec,
        pki.sender_self,
        pki.expired,
        pki.not_yet_valid,
        pki.no_digital_signature,
    ]
    return TrustDirectory(
        [
            TrustedParticipant(SENDER, tuple(PinnedCertificate(i.certificate) for i in sender_pins), policy),
            TrustedParticipant(
                OTHER, (PinnedCertificate(pki.ca.certificate), PinnedCertificate(pki.other.certificate))
            ),
        ]
    )


@pytest.fixture(scope="session")
def directory(pki: Pki) -> TrustDirectory:
    return directory_for(pki)


@pytest.fixture(scope="session")
def message() -> bytes:
    return SAMPLE_0503.read_bytes()


@pytest.fixture(scope="session")
def xmlsec1() -> str:
    path = shutil.which("xmlsec1")
    if path is None:
        pytest.skip("xmlsec1 is not installed: run scripts/system-deps as root (Debian package xmlsec1)")
    return path

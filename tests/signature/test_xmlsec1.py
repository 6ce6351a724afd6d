"""Independent verification with xmlsec1 (libxmlsec1/OpenSSL), in both directions.

Our signatures must verify with ``xmlsec1 --verify`` against the pinned certificate alone (no system CA
store), and a signature that xmlsec1 makes over a sample message must verify with our verifier; a
tampered message must fail in xmlsec1 too, so that a passing run means something.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from lxml import etree

from gateway.xoev.limits import Limits
from gateway.xoev.signatures.signature import ENVELOPED_TRANSFORM, Canonicalization, DigestAlgorithm, SignatureAlgorithm
from gateway.xoev.signatures.signing import sign_message
from gateway.xoev.signatures.verifying import SignatureReason, TrustDirectory, VerificationStatus, verify_message
from tests.signature.pki import SENDER, Identity, Pki

LIMITS = Limits()
SHA1_RSA = "http://www.w3.org/2000/09/xmldsig#rsa-sha1"
SHA1_DIGEST = "http://www.w3.org/2000/09/xmldsig#sha1"


def xmlsec_verify(xmlsec1: str, signed: Path, trusted: list[Path]) -> subprocess.CompletedProcess[str]:
    args = [xmlsec1, "--verify", "--enabled-key-data", "x509"]
    for pem in trusted:
        args += ["--trusted-pem", str(pem)]
    return subprocess.run([*args, str(signed)], capture_output=True, text=True, timeout=60, check=False)


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(("name", "anchor"), [("sender_rsa", "ca"), ("sender_ec", "ca"), ("sender_self", "self")])
def test_xmlsec1_verifies_our_signature(
    xmlsec1: str, pki: Pki, message: bytes, tmp_path: Path, name: str, anchor: str
) -> None:
    who: Identity = getattr(pki, name)
    signed = write(tmp_path / "signed.xml", sign_message(message, who.key, who.chain, limits=LIMITS))
    trusted = write(tmp_path / "trusted.pem", pki.ca.cert_pem if anchor == "ca" else who.cert_pem)
    result = xmlsec_verify(xmlsec1, signed, [trusted])
    assert result.returncode == 0, result.stderr
    assert "OK" in result.stdout + result.stderr

    tampered = signed.read_bytes().replace(b"<xdomea:ProzessID>", b"<xdomea:ProzessID>0", 1)
    assert tampered != signed.read_bytes()
    failed = xmlsec_verify(xmlsec1, write(tmp_path / "tampered.xml", tampered), [trusted])
    assert failed.returncode != 0


def test_xmlsec1_refuses_our_signature_without_the_pinned_anchor(
    xmlsec1: str, pki: Pki, message: bytes, tmp_path: Path
) -> None:
    who = pki.sender_rsa
    signed = write(tmp_path / "signed.xml", sign_message(message, who.key, who.chain, limits=LIMITS))
    result = xmlsec_verify(xmlsec1, signed, [write(tmp_path / "other.pem", pki.stranger.cert_pem)])
    assert result.returncode != 0


def template(message: bytes, method: str, digest: str) -> bytes:
    """The message with an empty ds:Signature in the enveloped position, for ``xmlsec1 --sign`` to fill."""
    root = etree.fromstring(message)
    ds = "http://www.w3.org/2000/09/xmldsig#"
    e = etree.SubElement
    signature = e(root, f"{{{ds}}}Signature", nsmap={"ds": ds})
    signed_info = e(signature, f"{{{ds}}}SignedInfo")
    e(signed_info, f"{{{ds}}}CanonicalizationMethod", Algorithm=Canonicalization.EXCLUSIVE.value)
    e(signed_info, f"{{{ds}}}SignatureMethod", Algorithm=method)
    reference = e(signed_info, f"{{{ds}}}Reference", URI="")
    transforms = e(reference, f"{{{ds}}}Transforms")
    e(transforms, f"{{{ds}}}Transform", Algorithm=ENVELOPED_TRANSFORM)
    e(transforms, f"{{{ds}}}Transform", Algorithm=Canonicalization.EXCLUSIVE.value)
    e(reference, f"{{{ds}}}DigestMethod", Algorithm=digest)
    e(reference, f"{{{ds}}}DigestValue")
    e(signature, f"{{{ds}}}SignatureValue")
    e(e(signature, f"{{{ds}}}KeyInfo"), f"{{{ds}}}X509Data")
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def xmlsec_sign(xmlsec1: str, tmp_path: Path, who: Identity, tmpl: bytes) -> bytes:
    key = write(tmp_path / "key.pem", who.key_pem)
    key.chmod(0o600)
    cert = write(tmp_path / "cert.pem", who.cert_pem)
    source = write(tmp_path / "template.xml", tmpl)
    out = tmp_path / "xmlsec-signed.xml"
    result = subprocess.run(
        [xmlsec1, "--sign", "--privkey-pem", f"{key},{cert}", "--output", str(out), str(source)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return out.read_bytes()


@pytest.mark.parametrize(
    ("name", "method"),
    [("sender_rsa", SignatureAlgorithm.RSA_SHA256), ("sender_ec", SignatureAlgorithm.ECDSA_SHA256)],
)
def test_we_verify_a_signature_made_by_xmlsec1(
    xmlsec1: str, pki: Pki, directory: TrustDirectory, message: bytes, tmp_path: Path, name: str, method: str
) -> None:
    who: Identity = getattr(pki, name)
    signed = xmlsec_sign(xmlsec1, tmp_path, who, template(message, method, DigestAlgorithm.SHA256.value))
    result = verify_message(signed, SENDER, directory, limits=LIMITS)
    assert result.status is VerificationStatus.VERIFIED, result.finding
    assert result.signer is not None
    assert result.signer.subject == who.certificate.subject.rfc4514_string()

    tampered = signed.replace(b"<xdomea:ProzessID>", b"<xdomea:ProzessID>0", 1)
    assert verify_message(tampered, SENDER, directory, limits=LIMITS).reason is SignatureReason.TAMPERED


def test_genuine_sha1_signature_from_xmlsec1_is_refused(
    xmlsec1: str, pki: Pki, directory: TrustDirectory, message: bytes, tmp_path: Path
) -> None:
    signed = xmlsec_sign(xmlsec1, tmp_path, pki.sender_rsa, template(message, SHA1_RSA, SHA1_DIGEST))
    trusted = write(tmp_path / "ca.pem", pki.ca.cert_pem)
    assert xmlsec_verify(xmlsec1, write(tmp_path / "sha1.xml", signed), [trusted]).returncode == 0, (
        "precondition: the SHA-1 signature is cryptographically valid"
    )
    result = verify_message(signed, SENDER, directory, limits=LIMITS)
    assert result.reason is SignatureReason.WEAK_ALGORITHM
    assert result.finding is not None
    assert result.finding.rule == "XGW-SIG-009"

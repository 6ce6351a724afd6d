"""Verification against pinned certificates: every accepted shape and every named refusal."""

from __future__ import annotations

import base64
import datetime as dt
from copy import deepcopy

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from lxml import etree
from signxml.algorithms import SignatureConstructionMethod
from signxml.signer import XMLSigner

from gateway.xoev.limits import Limits
from gateway.xoev.parsing.safe_xml import parse_xml
from gateway.xoev.report import Report
from gateway.xoev.rules import RULES
from gateway.xoev.signatures.signature import DS_SIGNATURE, NS, certificate_fingerprint
from gateway.xoev.signatures.signing import sign_tree
from gateway.xoev.signatures.verifying import (
    PinnedCertificate,
    SignaturePolicy,
    SignatureReason,
    TrustDirectory,
    TrustedParticipant,
    Verification,
    VerificationStatus,
    verify_message,
)
from gateway.xoev.validation.validate import Validator
from tests.signature.conftest import directory_for
from tests.signature.pki import DAY, NOW, OTHER, SENDER, Identity, Pki, make_ca, make_ee

LIMITS = Limits()
REASON_RULES = {
    SignatureReason.UNSIGNED: "XGW-SIG-001",
    SignatureReason.NOT_ALLOWED: "XGW-SIG-002",
    SignatureReason.TAMPERED: "XGW-SIG-003",
    SignatureReason.UNTRUSTED: "XGW-SIG-004",
    SignatureReason.EXPIRED: "XGW-SIG-005",
    SignatureReason.NOT_YET_VALID: "XGW-SIG-006",
    SignatureReason.WRONG_SIGNER: "XGW-SIG-007",
    SignatureReason.WRAPPING: "XGW-SIG-008",
    SignatureReason.WEAK_ALGORITHM: "XGW-SIG-009",
    SignatureReason.MALFORMED: "XGW-SIG-010",
}


def sign(message: bytes, who: Identity, *, now: dt.datetime | None = None) -> bytes:
    signed = sign_tree(parse_xml(message, LIMITS), who.key, who.chain, now=now)
    return etree.tostring(signed, xml_declaration=True, encoding="UTF-8")


def verify(data: bytes, directory: TrustDirectory, sender: str = SENDER) -> Verification:
    return verify_message(data, sender, directory, limits=LIMITS)


def assert_refused(result: Verification, reason: SignatureReason) -> None:
    assert result.status is VerificationStatus.REFUSED, result
    assert result.reason is reason, result.finding
    assert result.finding is not None
    assert result.finding.rule == REASON_RULES[reason]
    assert result.signer is None
    assert not result.ok


def test_every_reason_has_its_rule() -> None:
    assert set(REASON_RULES) == set(SignatureReason)
    assert all(rule in RULES for rule in REASON_RULES.values())


# -- accepted -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["sender_rsa", "sender_ec", "sender_self"])
def test_sender_signature_verifies(
    pki: Pki, directory: TrustDirectory, message: bytes, validator: Validator, name: str
) -> None:
    who: Identity = getattr(pki, name)
    result = verify(sign(message, who), directory)
    assert result.status is VerificationStatus.VERIFIED, result.finding
    assert result.ok
    assert result.signer is not None
    assert result.signer.participant == SENDER
    assert result.signer.fingerprint_sha256 == certificate_fingerprint(who.certificate)
    assert result.signer.subject == who.certificate.subject.rfc4514_string()
    assert result.signer.algorithm == ("ECDSA_SHA256" if name == "sender_ec" else "RSA_SHA256")
    assert result.tree is not None
    assert not list(result.tree.getroot().iter(DS_SIGNATURE))
    assert validator.validate_tree(result.tree).valid


def test_accept_policy_verifies_signatures_that_are_present(pki: Pki, message: bytes) -> None:
    accepting = directory_for(pki, SignaturePolicy.ACCEPT)
    assert verify(sign(message, pki.sender_rsa), accepting).status is VerificationStatus.VERIFIED
    forged = _edit(sign(message, pki.sender_rsa), "content")
    assert_refused(verify(forged, accepting), SignatureReason.TAMPERED)
    assert_refused(verify(sign(message, pki.other), accepting), SignatureReason.WRONG_SIGNER)


@pytest.mark.parametrize(
    ("policy", "status"),
    [(SignaturePolicy.ACCEPT, VerificationStatus.UNSIGNED), (SignaturePolicy.REJECT, VerificationStatus.UNSIGNED)],
)
def test_unsigned_messages_pass_when_the_policy_allows(
    pki: Pki, message: bytes, policy: SignaturePolicy, status: VerificationStatus
) -> None:
    result = verify(message, directory_for(pki, policy))
    assert result.status is status
    assert result.ok
    assert result.tree is not None


# -- policy refusals ------------------------------------------------------------------------------------


def test_unsigned_refused_when_required(directory: TrustDirectory, message: bytes) -> None:
    result = verify(message, directory)
    assert_refused(result, SignatureReason.UNSIGNED)
    assert result.finding is not None
    assert SENDER in result.finding.message


def test_signed_refused_when_policy_rejects(pki: Pki, message: bytes) -> None:
    assert_refused(
        verify(sign(message, pki.sender_rsa), directory_for(pki, SignaturePolicy.REJECT)), SignatureReason.NOT_ALLOWED
    )


def test_unknown_sender_has_nothing_pinned(pki: Pki, directory: TrustDirectory, message: bytes) -> None:
    result = verify(sign(message, pki.stranger), directory, sender="psw:99999999")
    assert_refused(result, SignatureReason.UNTRUSTED)
    assert result.finding is not None
    assert "no certificate is pinned" in result.finding.message


# -- tampering ------------------------------------------------------------------------------------------


def _edit(data: bytes, change: str) -> bytes:
    root = etree.fromstring(data)
    signature = root[-1]
    if change == "content":
        text = next(e for e in root.iter() if e.text and e.text.strip() and e is not signature)
        text.text = (text.text or "") + "x"
    elif change == "added element":
        root.insert(1, etree.Element(root[0].tag))
    elif change == "signature value":
        value = signature.find("ds:SignatureValue", NS)
        assert value is not None
        raw = bytearray(base64.b64decode(value.text or ""))
        raw[10] ^= 0x01
        value.text = base64.b64encode(bytes(raw)).decode()
    elif change == "digest value":
        digest = signature.find("ds:SignedInfo/ds:Reference/ds:DigestValue", NS)
        assert digest is not None
        digest.text = base64.b64encode(b"\0" * 32).decode()
    return etree.tostring(root)


@pytest.mark.parametrize("change", ["content", "added element", "signature value", "digest value"])
def test_tampering_is_refused(pki: Pki, directory: TrustDirectory, message: bytes, change: str) -> None:
    signed = sign(message, pki.sender_rsa)
    assert verify(_edit(signed, "none"), directory).ok, "precondition: re-serialising keeps the signature valid"
    assert_refused(verify(_edit(signed, change), directory), SignatureReason.TAMPERED)


# -- certificates -----------------------------------------------------------------------------------------


def test_expired_certificate(pki: Pki, directory: TrustDirectory, message: bytes) -> None:
    signed = sign(message, pki.expired, now=pki.expired.certificate.not_valid_before_utc + DAY)
    assert_refused(verify(signed, directory), SignatureReason.EXPIRED)


def test_not_yet_valid_certificate(pki: Pki, directory: TrustDirectory, message: bytes) -> None:
    signed = sign(message, pki.not_yet_valid, now=pki.not_yet_valid.certificate.not_valid_before_utc + DAY)
    assert_refused(verify(signed, directory), SignatureReason.NOT_YET_VALID)


def test_verification_time_is_a_parameter(message: bytes) -> None:
    """An archived message can be re-checked at the time it arrived, and only then."""
    old = make_ee("Musterstadt 2020", not_before=NOW - 90 * DAY, not_after=NOW - 60 * DAY)
    pins = TrustDirectory([TrustedParticipant(SENDER, (PinnedCertificate(old.certificate),))])
    signed = sign(message, old, now=NOW - 80 * DAY)
    then = verify_message(signed, SENDER, pins, limits=LIMITS, at=NOW - 70 * DAY)
    assert then.status is VerificationStatus.VERIFIED, then.finding
    assert_refused(verify(signed, pins), SignatureReason.EXPIRED)
    before = verify_message(signed, SENDER, pins, limits=LIMITS, at=NOW - 100 * DAY)
    assert_refused(before, SignatureReason.NOT_YET_VALID)


def test_pin_ended_by_operator(pki: Pki, message: bytes) -> None:
    retired = TrustDirectory(
        [TrustedParticipant(SENDER, (PinnedCertificate(pki.sender_self.certificate, pinned_until=NOW - DAY),))]
    )
    assert_refused(verify(sign(message, pki.sender_self), retired), SignatureReason.EXPIRED)


def test_expired_ca(message: bytes) -> None:
    old_ca = make_ca("Old CA", not_before=NOW - 400 * DAY, not_after=NOW - DAY)
    signer = make_ee("Musterstadt under an old CA", old_ca)
    pins = TrustDirectory(
        [TrustedParticipant(SENDER, (PinnedCertificate(old_ca.certificate), PinnedCertificate(signer.certificate)))]
    )
    result = verify(sign(message, signer), pins)
    assert_refused(result, SignatureReason.EXPIRED)
    assert result.finding is not None
    assert "Old CA" in result.finding.message


def test_ca_issued_certificate_needs_its_ca_pinned(pki: Pki, message: bytes) -> None:
    only_leaf = TrustDirectory([TrustedParticipant(SENDER, (PinnedCertificate(pki.sender_rsa.certificate),))])
    result = verify(sign(message, pki.sender_rsa), only_leaf)
    assert_refused(result, SignatureReason.UNTRUSTED)
    assert result.finding is not None
    assert "not pinned as a CA" in result.finding.message


def test_certificate_issued_by_pinned_ca_is_not_enough(pki: Pki, directory: TrustDirectory, message: bytes) -> None:
    """The signer is identified by its own pinned certificate, not by whom its CA also certified."""
    assert_refused(verify(sign(message, pki.unpinned_by_ca), directory), SignatureReason.UNTRUSTED)


def test_unknown_self_signed_certificate(pki: Pki, directory: TrustDirectory, message: bytes) -> None:
    assert_refused(verify(sign(message, pki.stranger), directory), SignatureReason.UNTRUSTED)


def test_forged_chain_to_a_pinned_ca_name(pki: Pki, directory: TrustDirectory, message: bytes) -> None:
    """A look-alike CA with the pinned CA's name issues a certificate that copies a pinned subject."""
    fake_ca = make_ca("Test CA")
    assert fake_ca.certificate.subject == pki.ca.certificate.subject
    impostor = make_ee("Stadtverwaltung Musterstadt", fake_ca)
    assert_refused(verify(sign(message, impostor), directory), SignatureReason.UNTRUSTED)


def test_certificate_without_digital_signature(pki: Pki, directory: TrustDirectory, message: bytes) -> None:
    who = pki.no_digital_signature
    signed = XMLSigner(method=SignatureConstructionMethod.enveloped).sign(
        etree.fromstring(message), key=who.key, cert=list(who.chain)
    )
    result = verify(etree.tostring(signed), directory)
    assert_refused(result, SignatureReason.UNTRUSTED)
    assert result.finding is not None
    assert "digitalSignature" in result.finding.message


def test_signed_by_another_participant(pki: Pki, directory: TrustDirectory, message: bytes) -> None:
    result = verify(sign(message, pki.other), directory)
    assert_refused(result, SignatureReason.WRONG_SIGNER)
    assert result.finding is not None
    assert OTHER in result.finding.message
    # the same message is fine when it is sent as the other participant's
    assert verify(sign(message, pki.other), directory, sender=OTHER).status is VerificationStatus.VERIFIED


# -- signature wrapping ----------------------------------------------------------------------------------


def test_second_signature(pki: Pki, directory: TrustDirectory, message: bytes) -> None:
    root = etree.fromstring(sign(message, pki.sender_rsa))
    root[0].append(deepcopy(root[-1]))
    assert_refused(verify(etree.tostring(root), directory), SignatureReason.WRAPPING)


def test_signature_not_in_the_enveloped_position(pki: Pki, directory: TrustDirectory, message: bytes) -> None:
    root = etree.fromstring(sign(message, pki.sender_rsa))
    root.insert(0, root[-1])  # moves it; the reference still covers the same content
    assert_refused(verify(etree.tostring(root), directory), SignatureReason.WRAPPING)
    root = etree.fromstring(sign(message, pki.sender_rsa))
    root[0].append(root[-1])  # inside the Kopf
    assert_refused(verify(etree.tostring(root), directory), SignatureReason.WRAPPING)


def test_reference_to_a_subtree(pki: Pki, directory: TrustDirectory, message: bytes) -> None:
    """A valid signature over only the Kopf (by ID) must not vouch for the rest of the message."""
    root = etree.fromstring(message)
    root[0].set("Id", "kopf")
    who = pki.sender_rsa
    signer = XMLSigner(
        method=SignatureConstructionMethod.enveloped, c14n_algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"
    )
    signed = signer.sign(root, key=who.key, cert=list(who.chain), reference_uri="#kopf")
    assert signed[-1].tag == DS_SIGNATURE
    assert_refused(verify(etree.tostring(signed), directory), SignatureReason.WRAPPING)


def test_object_wrapped_copy_of_the_content(pki: Pki, directory: TrustDirectory, message: bytes) -> None:
    """The sender's valid enveloping signature (content inside ds:Object) is grafted onto a forged message."""
    who = pki.sender_rsa
    genuine = XMLSigner(method=SignatureConstructionMethod.enveloping).sign(
        etree.fromstring(message), key=who.key, cert=list(who.chain)
    )
    forged = etree.fromstring(message)
    text = next(e for e in forged.iter() if e.text and e.text.strip())
    text.text = "forged"
    forged.append(genuine)
    assert_refused(verify(etree.tostring(forged), directory), SignatureReason.WRAPPING)


def test_two_references(pki: Pki, directory: TrustDirectory, message: bytes) -> None:
    root = etree.fromstring(sign(message, pki.sender_rsa))
    signed_info = root[-1].find("ds:SignedInfo", NS)
    assert signed_info is not None
    signed_info.append(deepcopy(signed_info.find("ds:Reference", NS)))
    assert_refused(verify(etree.tostring(root), directory), SignatureReason.WRAPPING)


# -- algorithms and form ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "uri"),
    [
        ("ds:SignedInfo/ds:SignatureMethod", "http://www.w3.org/2000/09/xmldsig#rsa-sha1"),
        ("ds:SignedInfo/ds:Reference/ds:DigestMethod", "http://www.w3.org/2000/09/xmldsig#sha1"),
        ("ds:SignedInfo/ds:SignatureMethod", "http://www.w3.org/2001/04/xmldsig-more#hmac-sha256"),
    ],
)
def test_weak_or_foreign_algorithms(pki: Pki, directory: TrustDirectory, message: bytes, path: str, uri: str) -> None:
    root = etree.fromstring(sign(message, pki.sender_rsa))
    element = root[-1].find(path, NS)
    assert element is not None
    element.set("Algorithm", uri)
    result = verify(etree.tostring(root), directory)
    assert_refused(result, SignatureReason.WEAK_ALGORITHM)
    assert result.finding is not None
    assert uri in result.finding.message


@pytest.mark.parametrize("damage", ["no certificate", "garbage certificate", "no SignedInfo"])
def test_malformed_signature(pki: Pki, directory: TrustDirectory, message: bytes, damage: str) -> None:
    root = etree.fromstring(sign(message, pki.sender_rsa))
    signature = root[-1]
    certificate = signature.find("ds:KeyInfo/ds:X509Data/ds:X509Certificate", NS)
    assert certificate is not None
    if damage == "no certificate":
        key_info = signature.find("ds:KeyInfo", NS)
        assert key_info is not None
        signature.remove(key_info)
    elif damage == "garbage certificate":
        certificate.text = base64.b64encode(b"not a certificate").decode()
    else:
        signed_info = signature.find("ds:SignedInfo", NS)
        assert signed_info is not None
        signature.remove(signed_info)
    assert_refused(verify(etree.tostring(root), directory), SignatureReason.MALFORMED)


@pytest.mark.parametrize(
    ("data", "rule"),
    [(b"<not xml", "XGW-XML-001"), (b'<!DOCTYPE r [<!ENTITY e "x">]><r>&e;</r>', "XGW-XML-002")],
)
def test_unreadable_input(directory: TrustDirectory, data: bytes, rule: str) -> None:
    result = verify(data, directory)
    assert result.reason is SignatureReason.MALFORMED
    assert result.finding is not None
    assert result.finding.rule == rule


def test_refusal_goes_into_a_validation_report(pki: Pki, directory: TrustDirectory, message: bytes) -> None:
    result = verify(sign(message, pki.other), directory)
    assert result.finding is not None
    report = Report(path="in.xml")
    report.add(result.finding)
    data = report.to_json()
    assert not data["valid"]
    assert data["errors"][0]["rule"] == "XGW-SIG-007"
    assert data["errors"][0]["location"]["xpath"].endswith("ds:Signature")
    assert data["errors"][0]["message_de"]


def test_a_pinned_ca_cannot_sign_as_the_participant(message: bytes) -> None:
    """A CA pinned as anchor, even with digitalSignature in its KeyUsage, is not a signer."""
    ca = make_ca("Signing CA")
    usage = x509.KeyUsage(True, False, False, False, False, True, True, False, False)
    builder = x509.CertificateBuilder(
        issuer_name=ca.certificate.issuer,
        subject_name=ca.certificate.subject,
        public_key=ca.key.public_key(),
        serial_number=x509.random_serial_number(),
        not_valid_before=NOW - DAY,
        not_valid_after=NOW + DAY,
    )
    certificate = (
        builder.add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(usage, critical=True)
        .sign(ca.key, hashes.SHA256())
    )
    signer = Identity(ca.key, certificate, (certificate,))
    pins = TrustDirectory([TrustedParticipant(SENDER, (PinnedCertificate(certificate),))])
    result = verify(sign(message, signer), pins)
    assert_refused(result, SignatureReason.UNTRUSTED)
    assert result.finding is not None
    assert "CA certificate" in result.finding.message

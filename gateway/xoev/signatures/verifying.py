"""Verifying an inbound message's signature against the participant directory's pinned certificates.

Trust is pinned, never taken from a public CA bundle: the certificate that made the signature must be
pinned for the participant named as the sender (by its SHA-256 fingerprint), and, unless it is
self-signed, it must chain to a CA certificate pinned for the same participant. Validity periods are
checked at the verification time for every certificate of that path, and for the pins themselves
(an operator retires a certificate by ending its pin, see ``xgw keys expire``).

Only one shape of signature is accepted: exactly one ``ds:Signature`` in the document, the last child of
the root, with exactly one ``ds:Reference URI=""`` (the whole document) whose transforms are the
enveloped-signature transform and a canonicalisation, and no ``ds:Object`` or ``ds:Manifest``. Anything
else is how signature wrapping attacks make a verifier check one thing and the application use another,
so it is refused as ``wrapping`` before any cryptography runs. :mod:`gateway.xoev.signatures.xmldsig` then
checks the digest and the signature value with the certificate we chose, in one pass over the tree we
were given (signxml did this until issue 11, re-parsing the message three times; it is still what the
tests compare us with). Trust is never decided there.

Every refusal is a :class:`Verification` with a :class:`SignatureReason` and a finding from the
``XGW-SIG`` rules, never an exception.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature as CryptoInvalidSignature
from cryptography.x509 import verification as x509v
from lxml import etree

from gateway.xoev.limits import Limits
from gateway.xoev.parsing.safe_xml import XmlRejected, parse_xml
from gateway.xoev.report import Finding, Location, finding
from gateway.xoev.signatures.keys import has_digital_signature
from gateway.xoev.signatures.signature import (
    ENVELOPED_TRANSFORM,
    NS,
    Canonicalization,
    DigestAlgorithm,
    SignatureAlgorithm,
    certificate_fingerprint,
    enveloped_signature,
    find_signatures,
    remove_keeping_tail,
    strip_signature,
)
from gateway.xoev.signatures.xmldsig import SignatureProblem, check_signature


class SignaturePolicy(enum.StrEnum):
    """What a participant's inbound messages must carry; the values match the participant directory's."""

    REQUIRE = "require"  # unsigned messages are refused
    ACCEPT = "accept"  # a signature is verified when present; unsigned messages pass
    REJECT = "reject"  # signed messages are refused (a participant that must not sign)


class SignatureReason(enum.StrEnum):
    """Why a message was refused; stable names for reports, metrics and the API."""

    UNSIGNED = "unsigned"
    NOT_ALLOWED = "not_allowed"
    TAMPERED = "tampered"
    UNTRUSTED = "untrusted"
    EXPIRED = "expired"
    NOT_YET_VALID = "not_yet_valid"
    WRONG_SIGNER = "wrong_signer"
    WRAPPING = "wrapping"
    WEAK_ALGORITHM = "weak_algorithm"
    MALFORMED = "malformed"


class VerificationStatus(enum.StrEnum):
    VERIFIED = "verified"  # a valid signature by the sender
    UNSIGNED = "unsigned"  # no signature, and the sender's policy accepts that
    REFUSED = "refused"


@dataclass(frozen=True, slots=True)
class PinnedCertificate:
    """A certificate of the directory; ``pinned_until`` ends trust earlier than the certificate does."""

    certificate: x509.Certificate
    pinned_until: dt.datetime | None = None

    @property
    def fingerprint(self) -> str:
        return certificate_fingerprint(self.certificate)


@dataclass(frozen=True, slots=True)
class TrustedParticipant:
    participant: str  # XÖV identifier, e.g. psw:16077000
    certificates: tuple[PinnedCertificate, ...] = ()
    policy: SignaturePolicy = SignaturePolicy.REQUIRE


class TrustDirectory:
    """The participants' pinned certificates, as the verifier needs them; built from the store by the caller."""

    def __init__(self, participants: Iterable[TrustedParticipant]) -> None:
        self._participants = {p.participant: p for p in participants}
        self._owners: dict[str, str] = {}
        for p in self._participants.values():
            for pin in p.certificates:
                self._owners.setdefault(pin.fingerprint, p.participant)

    def get(self, participant: str) -> TrustedParticipant | None:
        return self._participants.get(participant)

    def owner_of(self, fingerprint: str) -> str | None:
        return self._owners.get(fingerprint)


@dataclass(frozen=True, slots=True)
class Signer:
    participant: str
    fingerprint_sha256: str
    subject: str
    not_after: dt.datetime
    algorithm: str


@dataclass(frozen=True, slots=True)
class Verification:
    """The outcome for one message. ``tree`` is the message without its signature, for XSD validation."""

    status: VerificationStatus
    reason: SignatureReason | None = None
    finding: Finding | None = None
    signer: Signer | None = None
    tree: etree._ElementTree | None = field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        return self.status is not VerificationStatus.REFUSED


class SignatureRefused(Exception):
    """Raised inside the checks; :func:`verify_tree` turns it into a :class:`Verification`."""

    def __init__(self, why: SignatureReason, rule: str, **params: object) -> None:
        super().__init__(why.value)
        self.why = why
        self.rule = rule
        self.params = params


_ALLOWED_TRANSFORMS = {ENVELOPED_TRANSFORM, *Canonicalization}


def verify_message(
    data: bytes,
    sender: str,
    directory: TrustDirectory,
    *,
    limits: Limits,
    at: dt.datetime | None = None,
    source: str | None = None,
) -> Verification:
    """Verify ``data`` as a message from ``sender`` (the XÖV identifier the message or transport names)."""
    try:
        tree = parse_xml(data, limits, source=source)
    except XmlRejected as rejected:
        return Verification(VerificationStatus.REFUSED, SignatureReason.MALFORMED, rejected.finding)
    return verify_tree(tree, sender, directory, at=at, source=source, in_place=True)


def verify_tree(
    tree: etree._ElementTree,
    sender: str,
    directory: TrustDirectory,
    *,
    at: dt.datetime | None = None,
    source: str | None = None,
    in_place: bool = False,
) -> Verification:
    """Verify the message ``tree`` as sent by ``sender``; the result's ``tree`` is the message unsigned.

    With ``in_place`` the caller hands the tree over: a verified signature is removed from ``tree`` itself
    and ``tree`` is returned, instead of a copy (a deep copy of a 100 KB message costs about a third of
    the verification). A refused or unsigned tree is never changed.
    """
    when = (at or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    trusted = directory.get(sender) or TrustedParticipant(sender)
    location = Location(file=source)
    root = tree.getroot()
    signatures = find_signatures(root)
    try:
        if not signatures:
            if trusted.policy is SignaturePolicy.REQUIRE:
                raise SignatureRefused(SignatureReason.UNSIGNED, "XGW-SIG-001", participant=sender)
            return Verification(VerificationStatus.UNSIGNED, tree=tree)
        if trusted.policy is SignaturePolicy.REJECT:
            raise SignatureRefused(SignatureReason.NOT_ALLOWED, "XGW-SIG-002", participant=sender)
        location = Location(file=source, xpath=tree.getpath(signatures[0]))
        if len(signatures) > 1:
            raise _wrapping(f"the document contains {len(signatures)} ds:Signature elements; exactly one is allowed")
        algorithm = _check_algorithms(signatures[0])
        signature = _check_shape(root, signatures[0])
        chain = _embedded_certificates(signature)
        leaf = _signing_certificate(chain)
        check_signature_value(root, leaf, signature)
        pin = _check_signer(leaf, trusted, directory)
        _check_path(leaf, pin, chain, trusted, when)
    except SignatureRefused as refused:
        return Verification(VerificationStatus.REFUSED, refused.why, finding(refused.rule, location, **refused.params))
    signer = Signer(
        participant=sender,
        fingerprint_sha256=certificate_fingerprint(leaf),
        subject=leaf.subject.rfc4514_string(),
        not_after=leaf.not_valid_after_utc,
        algorithm=algorithm,
    )
    if in_place:
        remove_keeping_tail(signature)
        return Verification(VerificationStatus.VERIFIED, signer=signer, tree=tree)
    return Verification(VerificationStatus.VERIFIED, signer=signer, tree=strip_signature(tree))


# -- shape ------------------------------------------------------------------------------------------


def _wrapping(reason: str) -> SignatureRefused:
    return SignatureRefused(SignatureReason.WRAPPING, "XGW-SIG-008", reason=reason)


def _malformed(reason: str) -> SignatureRefused:
    return SignatureRefused(SignatureReason.MALFORMED, "XGW-SIG-010", reason=reason)


def _check_shape(root: etree._Element, only: etree._Element) -> etree._Element:
    signature = enveloped_signature(root)
    if signature is None or signature is not only:
        raise _wrapping("the ds:Signature must be the last child of the message's root element")
    for forbidden in ("Object", "Manifest"):
        if signature.find(f".//ds:{forbidden}", NS) is not None:
            raise _wrapping(f"ds:{forbidden} is not allowed in a message signature")
    signed_infos = signature.findall("ds:SignedInfo", NS)
    if len(signed_infos) != 1:
        raise _malformed("a ds:Signature needs exactly one ds:SignedInfo")
    references = signed_infos[0].findall("ds:Reference", NS)
    if len(references) != 1:
        raise _wrapping(f'the signature has {len(references)} references; exactly one (URI="") is allowed')
    reference = references[0]
    uri = reference.get("URI")
    if uri != "":
        shown = "no URI" if uri is None else f'URI="{uri}"'
        raise _wrapping(f'the reference must cover the whole document (URI=""), not {shown}')
    transforms = [t.get("Algorithm") or "" for t in reference.findall("ds:Transforms/ds:Transform", NS)]
    if ENVELOPED_TRANSFORM not in transforms:
        raise _wrapping("the reference lacks the enveloped-signature transform")
    others = [t for t in transforms if t not in _ALLOWED_TRANSFORMS]
    if others:
        raise _wrapping(f"transform {others[0]} is not allowed (only enveloped-signature and C14N)")
    return signature


def _check_algorithms(signature: etree._Element) -> str:
    signed_info = signature.find("ds:SignedInfo", NS)
    if signed_info is None:
        raise _malformed("the ds:Signature has no ds:SignedInfo")
    c14n = signed_info.find("ds:CanonicalizationMethod", NS)
    if c14n is None or c14n.get("Algorithm") not in set(Canonicalization):
        raise _malformed("missing or unknown ds:CanonicalizationMethod")
    method = signed_info.find("ds:SignatureMethod", NS)
    method_uri = method.get("Algorithm") if method is not None else None
    if not method_uri:
        raise _malformed("missing ds:SignatureMethod")
    if method_uri not in set(SignatureAlgorithm):
        raise SignatureRefused(SignatureReason.WEAK_ALGORITHM, "XGW-SIG-009", algorithm=method_uri)
    for digest in signed_info.findall("ds:Reference/ds:DigestMethod", NS):
        digest_uri = digest.get("Algorithm") or "(none)"
        if digest_uri not in set(DigestAlgorithm):
            raise SignatureRefused(SignatureReason.WEAK_ALGORITHM, "XGW-SIG-009", algorithm=digest_uri)
    return SignatureAlgorithm(method_uri).name


# -- certificates -----------------------------------------------------------------------------------


def _embedded_certificates(signature: etree._Element) -> list[x509.Certificate]:
    texts = [e.text or "" for e in signature.findall("ds:KeyInfo/ds:X509Data/ds:X509Certificate", NS)]
    if not texts:
        raise _malformed("the signature carries no certificate (KeyInfo/X509Data/X509Certificate)")
    certificates = []
    for text in texts:
        try:
            der = _b64(text)
            certificates.append(x509.load_der_x509_certificate(der))
        except ValueError:
            raise _malformed("an X509Certificate in KeyInfo cannot be read") from None
    return certificates


def _b64(text: str) -> bytes:
    try:
        return base64.b64decode("".join(text.split()), validate=True)
    except binascii.Error as exc:
        raise ValueError(str(exc)) from None


def _signing_certificate(chain: list[x509.Certificate]) -> x509.Certificate:
    """The certificate that issued none of the others (XMLDSig implies no order); the first on a tie."""
    if len(chain) == 1:
        return chain[0]
    issuers = {c.issuer for c in chain if c.issuer != c.subject}
    leaves = [c for c in chain if c.subject not in issuers]
    return leaves[0] if leaves else chain[0]


def check_signature_value(
    root: etree._Element, leaf: x509.Certificate, signature: etree._Element | None = None
) -> None:
    """Digest and signature value alone, checked with ``leaf``'s key; raises :class:`SignatureRefused`.

    This is the cryptographic step of :func:`verify_tree`, public for interoperability tests; the shape
    checks come before it (``signature`` defaults to the enveloped one). The certificate's validity period
    is not looked at here: that decision is :func:`_check_path`'s, with its own reasons.
    """
    if signature is None:
        signature = enveloped_signature(root)
        if signature is None:
            raise _wrapping("the ds:Signature must be the last child of the message's root element")
    try:
        check_signature(root, signature, leaf)
    except SignatureProblem as problem:
        if problem.kind == "tampered":
            raise SignatureRefused(SignatureReason.TAMPERED, "XGW-SIG-003", reason=problem.reason) from None
        raise _malformed(problem.reason) from None


def _describe(certificate: x509.Certificate) -> dict[str, str]:
    return {"subject": certificate.subject.rfc4514_string(), "fingerprint": certificate_fingerprint(certificate)}


def _check_signer(leaf: x509.Certificate, trusted: TrustedParticipant, directory: TrustDirectory) -> PinnedCertificate:
    fingerprint = certificate_fingerprint(leaf)
    for pin in trusted.certificates:
        if pin.fingerprint == fingerprint:
            return pin
    owner = directory.owner_of(fingerprint)
    if owner is not None and owner != trusted.participant:
        raise SignatureRefused(
            SignatureReason.WRONG_SIGNER,
            "XGW-SIG-007",
            participant=trusted.participant,
            signer=owner,
            **_describe(leaf),
        )
    reason = (
        "no certificate is pinned for this participant"
        if not trusted.certificates
        else "the certificate is not pinned for this participant"
    )
    raise SignatureRefused(
        SignatureReason.UNTRUSTED, "XGW-SIG-004", participant=trusted.participant, reason=reason, **_describe(leaf)
    )


def _check_period(certificate: x509.Certificate, pinned_until: dt.datetime | None, when: dt.datetime) -> None:
    checked_at = when.isoformat(timespec="seconds")
    if when < certificate.not_valid_before_utc:
        raise SignatureRefused(
            SignatureReason.NOT_YET_VALID,
            "XGW-SIG-006",
            not_before=certificate.not_valid_before_utc.isoformat(timespec="seconds"),
            checked_at=checked_at,
            **_describe(certificate),
        )
    end = certificate.not_valid_after_utc
    if pinned_until is not None:
        end = min(end, pinned_until.astimezone(dt.UTC))
    if when > end:
        raise SignatureRefused(
            SignatureReason.EXPIRED,
            "XGW-SIG-005",
            not_after=end.isoformat(timespec="seconds"),
            checked_at=checked_at,
            **_describe(certificate),
        )


@lru_cache(maxsize=1024)
def _is_ca(certificate: x509.Certificate) -> bool:
    try:
        return certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return False


@lru_cache(maxsize=1024)
def _is_self_signed(certificate: x509.Certificate) -> bool:
    """Issued by itself, its own signature checked: a property of the DER bytes, so cached per certificate
    (the check is a public-key operation, as costly as verifying the message's signature)."""
    if certificate.issuer != certificate.subject:
        return False
    try:
        certificate.verify_directly_issued_by(certificate)
    except (ValueError, TypeError, CryptoInvalidSignature):
        return False
    return True


def _check_path(
    leaf: x509.Certificate,
    pin: PinnedCertificate,
    chain: Sequence[x509.Certificate],
    trusted: TrustedParticipant,
    when: dt.datetime,
) -> None:
    """Validity at ``when`` and, for a CA-issued certificate, a path to one of the participant's CA pins."""
    untrusted = {"participant": trusted.participant, **_describe(leaf)}
    _check_period(leaf, pin.pinned_until, when)
    if not has_digital_signature(leaf):
        raise SignatureRefused(
            SignatureReason.UNTRUSTED,
            "XGW-SIG-004",
            reason="the certificate does not allow digital signatures (KeyUsage digitalSignature)",
            **untrusted,
        )
    if _is_ca(leaf):
        # a CA pinned as an anchor (possibly for several participants) must not sign as one of them
        raise SignatureRefused(
            SignatureReason.UNTRUSTED, "XGW-SIG-004", reason="a CA certificate cannot sign messages", **untrusted
        )
    if _is_self_signed(leaf):
        return
    anchors = [p for p in trusted.certificates if _is_ca(p.certificate) and p.certificate.subject == leaf.issuer]
    if not anchors:
        raise SignatureRefused(
            SignatureReason.UNTRUSTED,
            "XGW-SIG-004",
            reason=f"its issuer {leaf.issuer.rfc4514_string()} is not pinned as a CA for this participant",
            **untrusted,
        )
    for anchor in anchors:
        _check_period(anchor.certificate, anchor.pinned_until, when)
    intermediates = [c for c in chain if c is not leaf]
    verifier = (
        x509v.PolicyBuilder()
        .store(x509v.Store([a.certificate for a in anchors]))
        .time(when)
        .extension_policies(ee_policy=_EE_POLICY, ca_policy=x509v.ExtensionPolicy.webpki_defaults_ca())
        .build_client_verifier()
    )
    try:
        verifier.verify(leaf, intermediates)
    except x509v.VerificationError as exc:
        raise SignatureRefused(
            SignatureReason.UNTRUSTED, "XGW-SIG-004", reason=f"no valid path: {exc}", **untrusted
        ) from None


def _require_digital_signature(_policy: Any, _certificate: x509.Certificate, usage: x509.KeyUsage | None) -> None:
    if usage is None or not usage.digital_signature:
        raise ValueError("KeyUsage does not allow digitalSignature")


_EE_POLICY = x509v.ExtensionPolicy.permit_all().require_present(
    x509.KeyUsage, x509v.Criticality.AGNOSTIC, _require_digital_signature
)


def directory_from_pems(entries: Mapping[str, tuple[Sequence[bytes], SignaturePolicy]]) -> TrustDirectory:
    """A directory from PEM bundles per participant, for tests and for callers without a database."""
    from gateway.xoev.signatures.keys import load_certificates

    participants = []
    for participant, (pems, policy) in entries.items():
        pins = tuple(PinnedCertificate(c) for pem in pems for c in load_certificates(pem))
        participants.append(TrustedParticipant(participant, pins, policy))
    return TrustDirectory(participants)

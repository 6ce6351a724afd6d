"""The cryptographic core of verification: one enveloped XMLDSig signature's value and digest, in one pass.

Until issue 11 this step was signxml's ``XMLVerifier.verify``, which serialises and re-parses the whole
message three times (the input, the signature, a copy of the root for each reference) and the signed
``SignedInfo`` once more before it canonicalises anything -- 1.3 ms of a 1.9 ms verification beside a
0.05 ms RSA verification. Signing already went the direct way (:mod:`gateway.xoev.signatures.signing`);
this module is its mirror: lxml's canonicalisation of ``SignedInfo`` where it stands, the public key of
the certificate the caller chose, and one canonicalisation of the message with the signature taken out
(the enveloped transform) for the digest.

It runs only after :mod:`gateway.xoev.signatures.verifying` has refused every shape but the one the
gateway accepts (one signature, last child of the root, one ``Reference URI=""``, enveloped plus at most
one C14N transform, allowed algorithms), and keeps every check signxml made on that shape:

- the ``ds:Signature`` is valid against the XMLDSig 1.1 schema (the same W3C schema files signxml ships,
  copied to ``schemas/``);
- the signature method and digest method are the allowed ones, and the key fits the method;
- ``KeyValue`` or ``DEREncodedKeyValue`` in ``KeyInfo``, when present, must be the certificate's key (signxml
  refused a mismatch as ambiguous key information); the key used is always the certificate's;
- the digest is computed the way signxml computed it, so that a signature it accepted is still accepted
  and one it refused is still refused: the message's root element (not the processing instructions around
  it) with the signature removed and its tail text kept, canonicalised by the reference's C14N transform,
  or inclusive C14N without comments when the reference names none.

Anything signxml crashed on (two C14N transforms, a relative namespace URI that C14N cannot render) is now
a clean ``malformed`` refusal.
Every outcome is a :class:`SignatureProblem` naming the reason; the caller turns it into a finding.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import threading
from collections.abc import Iterable
from importlib import resources
from typing import Any, Literal

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from lxml import etree

from gateway.xoev.signatures.signature import (
    DIGEST_NAMES,
    DS_NS,
    ENVELOPED_TRANSFORM,
    METHOD_HASHES,
    NS,
    Canonicalization,
)

EC_NS = "http://www.w3.org/2001/10/xml-exc-c14n#"
DSIG11_NS = "http://www.w3.org/2009/xmldsig11#"
_NS = {**NS, "ec": EC_NS, "dsig11": DSIG11_NS}


class SignatureProblem(Exception):
    """Why the signature value or digest does not hold: ``tampered`` or ``malformed``, and a sentence."""

    def __init__(self, kind: Literal["tampered", "malformed"], reason: str) -> None:
        super().__init__(reason)
        self.kind = kind
        self.reason = reason


_CURVES: dict[str, type[ec.EllipticCurve]] = {
    "urn:oid:1.2.840.10045.3.1.7": ec.SECP256R1,
    "urn:oid:1.3.132.0.34": ec.SECP384R1,
    "urn:oid:1.3.132.0.35": ec.SECP521R1,
}

_schema_lock = threading.Lock()
_schema: etree.XMLSchema | None = None


def _schema_error(signature: etree._Element) -> str | None:
    """Why ``signature`` is not valid against the W3C XMLDSig 1.1 schema (core plus 1.1 additions), or None.

    The schema is compiled once per process; a lock guards it, as for the xdomea schemas, because a
    schema's error log is the schema object's own.
    """
    global _schema
    with _schema_lock:
        if _schema is None:
            folder = resources.files("gateway.xoev.signatures") / "schemas"
            with resources.as_file(folder / "xmldsig1-schema.xsd") as path:
                _schema = etree.XMLSchema(etree.parse(str(path)))
        if _schema.validate(signature):
            return None
        log: Iterable[Any] = _schema.error_log  # type: ignore[assignment]  # lxml-stubs lack __iter__
        messages = [e.message for e in log]
    return messages[-1] if messages else "invalid"


def _b64(text: str | None, what: str) -> bytes:
    try:
        return base64.b64decode("".join((text or "").split()), validate=True)
    except (binascii.Error, ValueError):
        raise SignatureProblem("malformed", f"the {what} is not base64") from None


def _c14n(element: etree._Element, algorithm: str, prefixes: list[str] | None) -> bytes:
    exclusive = algorithm.startswith(EC_NS)
    try:
        return etree.tostring(
            element,
            method="c14n",
            exclusive=exclusive,
            with_comments=algorithm.endswith("#WithComments"),
            inclusive_ns_prefixes=prefixes if exclusive else None,
        )
    except etree.C14NError as exc:  # e.g. a relative namespace URI, which C14N does not define
        raise SignatureProblem("malformed", f"the document cannot be canonicalised: {exc}") from None


def _prefix_list(method: etree._Element) -> list[str] | None:
    """The ``ec:InclusiveNamespaces PrefixList`` of an exclusive C14N method or transform, if any."""
    found = method.find("ec:InclusiveNamespaces[@PrefixList]", _NS)
    return (found.get("PrefixList") or "").split() if found is not None else None


def check_signature(root: etree._Element, signature: etree._Element, leaf: x509.Certificate) -> None:
    """Check the enveloped ``signature`` (the last child of ``root``) with ``leaf``'s public key.

    Raises :class:`SignatureProblem`. The tree is left as it was found: the signature is taken out for the
    digest and put back in the same place with the same tail text.
    """
    error = _schema_error(signature)
    if error is not None:
        raise SignatureProblem("malformed", f"the ds:Signature is not valid XMLDSig: {error}")
    signed_info = signature.find("ds:SignedInfo", _NS)
    assert signed_info is not None  # the schema requires it
    method = signed_info.find("ds:CanonicalizationMethod", _NS)
    assert method is not None
    signed_bytes = _c14n(signed_info, method.get("Algorithm") or "", _prefix_list(method))
    signature_method = signed_info.find("ds:SignatureMethod", _NS)
    algorithm = (signature_method.get("Algorithm") if signature_method is not None else None) or ""
    value = signature.find("ds:SignatureValue", _NS)
    _check_value(leaf, algorithm, _b64(value.text if value is not None else "", "SignatureValue"), signed_bytes)
    _check_key_info(signature, leaf)
    reference = signed_info.find("ds:Reference", _NS)
    assert reference is not None
    digest_method = reference.find("ds:DigestMethod", _NS)
    digest_uri = digest_method.get("Algorithm") if digest_method is not None else None
    if digest_uri not in DIGEST_NAMES:
        raise SignatureProblem("malformed", f"digest method {digest_uri} is not allowed")
    expected = _b64(reference.findtext("ds:DigestValue", "", _NS), "DigestValue")
    content = enveloped_content(root, signature, reference)
    if hashlib.new(DIGEST_NAMES[digest_uri], content).digest() != expected:
        raise SignatureProblem("tampered", "the content's digest differs")


def _check_value(leaf: x509.Certificate, algorithm: str, value: bytes, signed: bytes) -> None:
    make_hash = METHOD_HASHES.get(algorithm)
    if make_hash is None:
        raise SignatureProblem("malformed", f"signature method {algorithm} is not allowed")
    key = leaf.public_key()
    try:
        if algorithm.split("#")[-1].startswith("rsa-"):
            if not isinstance(key, rsa.RSAPublicKey):
                raise SignatureProblem("malformed", "the certificate's key does not match the signature method")
            key.verify(value, signed, padding.PKCS1v15(), make_hash())
        else:
            if not isinstance(key, ec.EllipticCurvePublicKey):
                raise SignatureProblem("malformed", "the certificate's key does not match the signature method")
            size = (key.key_size + 7) // 8
            if len(value) != 2 * size:
                raise SignatureProblem("tampered", f"expected a {2 * size} byte SignatureValue, got {len(value)}")
            r, s = int.from_bytes(value[:size], "big"), int.from_bytes(value[size:], "big")
            key.verify(encode_dss_signature(r, s), signed, ec.ECDSA(make_hash()))
    except InvalidSignature:
        raise SignatureProblem("tampered", "the signature value does not match") from None


def _check_key_info(signature: etree._Element, leaf: x509.Certificate) -> None:
    """A key value beside the certificate must be the certificate's key (it is never used on its own)."""
    key = leaf.public_key()
    spki = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    for der in signature.findall("ds:KeyInfo/dsig11:DEREncodedKeyValue", _NS):
        if _b64(der.text, "DEREncodedKeyValue") != spki:
            raise SignatureProblem("malformed", "DEREncodedKeyValue and the certificate name different keys")
    for key_value in signature.findall("ds:KeyInfo/ds:KeyValue", _NS):
        if not _key_value_matches(key_value, key):
            raise SignatureProblem("malformed", "KeyValue and the certificate name different keys")


def _key_value_matches(key_value: etree._Element, key: object) -> bool:
    rsa_value = key_value.find("ds:RSAKeyValue", _NS)
    if rsa_value is not None:
        if not isinstance(key, rsa.RSAPublicKey):
            return False
        numbers = key.public_numbers()
        modulus = int.from_bytes(_b64(rsa_value.findtext("ds:Modulus", "", _NS), "Modulus"), "big")
        exponent = int.from_bytes(_b64(rsa_value.findtext("ds:Exponent", "", _NS), "Exponent"), "big")
        return (modulus, exponent) == (numbers.n, numbers.e)
    ec_value = key_value.find("dsig11:ECKeyValue", _NS)
    if ec_value is not None:
        if not isinstance(key, ec.EllipticCurvePublicKey):
            return False
        named = ec_value.find("dsig11:NamedCurve", _NS)
        curve = _CURVES.get((named.get("URI") if named is not None else None) or "")
        point = _b64(ec_value.findtext("dsig11:PublicKey", "", _NS), "PublicKey")
        own = key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
        return curve is not None and isinstance(key.curve, curve) and point == own
    return False  # a DSA key value, or one we cannot compare


def enveloped_content(root: etree._Element, signature: etree._Element, reference: etree._Element) -> bytes:
    """The octets the reference's digest covers: ``root`` canonicalised without ``signature``.

    The signature is detached for the canonicalisation and put back afterwards, tail text included, so
    the caller's tree is unchanged; no copy of the message is made.
    """
    transforms = reference.findall("ds:Transforms/ds:Transform", _NS)
    uris = [t.get("Algorithm") or "" for t in transforms]
    if uris.count(ENVELOPED_TRANSFORM) != 1:
        raise SignatureProblem("malformed", "the reference must name the enveloped-signature transform once")
    c14n = [t for t in transforms if t.get("Algorithm") in set(Canonicalization)]
    if len(c14n) > 1:
        raise SignatureProblem("malformed", "the reference names more than one canonicalisation")
    if len(c14n) + 1 != len(transforms):
        raise SignatureProblem("malformed", "the reference names a transform other than enveloped and C14N")
    if c14n:
        algorithm, prefixes = c14n[0].get("Algorithm") or "", _prefix_list(c14n[0])
    else:  # signxml's default for a reference without C14N transform: C14N 1.1, which lxml does as 1.0
        algorithm, prefixes = Canonicalization.C14N_1_0.value, None
    with detached(signature):
        return _c14n(root, algorithm, prefixes)


class detached:  # noqa: N801 - used as a context manager, named like one
    """Take ``signature`` out of its parent (its tail text stays in the tree) and put it back on exit."""

    def __init__(self, signature: etree._Element) -> None:
        self.signature = signature
        self.parent = signature.getparent()
        self.index = 0
        self.tail: str | None = None
        self.holder: etree._Element | None = None
        self.held: str | None = None

    def __enter__(self) -> None:
        parent = self.parent
        assert parent is not None
        self.index = parent.index(self.signature)
        self.tail = self.signature.tail
        if self.tail:
            previous = self.signature.getprevious()
            self.holder = previous
            self.held = previous.tail if previous is not None else parent.text
            if previous is not None:
                previous.tail = (previous.tail or "") + self.tail
            else:
                parent.text = (parent.text or "") + self.tail
        parent.remove(self.signature)

    def __exit__(self, *_exc: object) -> None:
        parent = self.parent
        assert parent is not None
        if self.tail:
            if self.holder is not None:
                self.holder.tail = self.held
            else:
                parent.text = self.held
        parent.insert(self.index, self.signature)
        self.signature.tail = self.tail


__all__ = ["DS_NS", "SignatureProblem", "check_signature", "detached", "enveloped_content"]

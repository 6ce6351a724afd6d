"""Signing an outbound message: one enveloped XMLDSig signature over the whole xdomea document.

The sending authority's certificate (and any intermediates) travel in ``KeyInfo/X509Data`` so that the
receiver can match the signer against its pinned certificates without a look-up. The signature method
follows the key: RSA-SHA256 for RSA keys, ECDSA-SHA256 for P-256 keys; SHA-1 cannot be asked for.
Sign the message only after it was validated: the signed form no longer passes the xdomea schema (see
:mod:`gateway.xoev.signatures.signature`).

Signing is one pass (issue 11): one canonicalisation for the digest, one for ``SignedInfo``, one private-key
operation, and no verification of our own signature right afterwards (the receiver, and our own ``check``
of inbound copies, verify it; the tests verify every shape we produce with our verifier and xmlsec1).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from collections.abc import Sequence
from copy import deepcopy
from functools import lru_cache

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from lxml import etree

from gateway.xoev.limits import Limits
from gateway.xoev.parsing.safe_xml import parse_xml
from gateway.xoev.signatures.keys import SigningKey, has_digital_signature
from gateway.xoev.signatures.signature import (
    DIGEST_NAMES,
    ENVELOPED_TRANSFORM,
    METHOD_HASHES,
    NS,
    Canonicalization,
    DigestAlgorithm,
    SignatureAlgorithm,
    find_signatures,
    public_key_fingerprint,
)

_RSA_METHODS = {SignatureAlgorithm.RSA_SHA256, SignatureAlgorithm.RSA_SHA384, SignatureAlgorithm.RSA_SHA512}
_EC_METHODS = {SignatureAlgorithm.ECDSA_SHA256, SignatureAlgorithm.ECDSA_SHA384, SignatureAlgorithm.ECDSA_SHA512}


class SigningError(Exception):
    """The message cannot be signed as asked (wrong key for the certificate, already signed, ...)."""


def default_algorithm(key: SigningKey) -> SignatureAlgorithm:
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return SignatureAlgorithm.ECDSA_SHA256
    return SignatureAlgorithm.RSA_SHA256


def _check_key_and_chain(
    key: SigningKey, chain: Sequence[x509.Certificate], algorithm: SignatureAlgorithm, now: dt.datetime
) -> None:
    if not chain:
        raise SigningError("a signing certificate is required: it travels in KeyInfo")
    leaf = chain[0]
    if public_key_fingerprint(leaf.public_key()) != public_key_fingerprint(key.public_key()):
        raise SigningError("the private key does not belong to the first certificate of the chain")
    if isinstance(key, rsa.RSAPrivateKey) and algorithm not in _RSA_METHODS:
        raise SigningError(f"{algorithm.name} cannot be used with an RSA key")
    if isinstance(key, ec.EllipticCurvePrivateKey) and algorithm not in _EC_METHODS:
        raise SigningError(f"{algorithm.name} cannot be used with an EC key")
    if not has_digital_signature(leaf):
        raise SigningError("the certificate does not allow digital signatures (KeyUsage digitalSignature)")
    if not leaf.not_valid_before_utc <= now <= leaf.not_valid_after_utc:
        raise SigningError(
            f"the certificate is not valid now (valid {leaf.not_valid_before_utc:%Y-%m-%d %H:%M} to "
            f"{leaf.not_valid_after_utc:%Y-%m-%d %H:%M} UTC)"
        )


def sign_tree(
    tree: etree._ElementTree,
    key: SigningKey,
    chain: Sequence[x509.Certificate],
    *,
    algorithm: SignatureAlgorithm | None = None,
    digest: DigestAlgorithm = DigestAlgorithm.SHA256,
    now: dt.datetime | None = None,
) -> etree._ElementTree:
    """A signed copy of ``tree``; ``chain`` starts with the signer's certificate.

    Only the root element is carried over: processing instructions and comments outside it are dropped,
    because URI="" covers those processing instructions and implementations disagree on them.
    """
    if find_signatures(tree.getroot()):
        raise SigningError("the message already carries a ds:Signature")
    result = etree.ElementTree(deepcopy(tree.getroot()))
    _sign_root(result.getroot(), key, chain, algorithm=algorithm, digest=digest, now=now)
    return result


def sign_message(
    data: bytes,
    key: SigningKey,
    chain: Sequence[x509.Certificate],
    *,
    limits: Limits,
    algorithm: SignatureAlgorithm | None = None,
    now: dt.datetime | None = None,
) -> bytes:
    """Sign message XML bytes; the result is UTF-8 with an XML declaration, ready to store and send.

    The parsed tree is this function's own, so it is signed in place (no copy) and only its root element
    is written out, as :func:`sign_tree` does.
    """
    root = parse_xml(data, limits).getroot()
    if find_signatures(root):
        raise SigningError("the message already carries a ds:Signature")
    _sign_root(root, key, chain, algorithm=algorithm, digest=DigestAlgorithm.SHA256, now=now)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def _sign_root(
    root: etree._Element,
    key: SigningKey,
    chain: Sequence[x509.Certificate],
    *,
    algorithm: SignatureAlgorithm | None,
    digest: DigestAlgorithm,
    now: dt.datetime | None,
) -> None:
    """Append the enveloped signature to ``root``, in one pass.

    The XMLDSig steps are done here directly with lxml's C14N and ``cryptography``: one exclusive
    canonicalisation of the content for the digest, one of the ``SignedInfo`` for the signature value, one
    private-key operation. (signxml, which the gateway signed with before issue 11, re-serialised and
    re-parsed the message several times and the signature was then verified once more; together three
    times the cost of the RSA operation.) What a verifier needs is exactly what it gets: the enveloped
    transform removes the ``ds:Signature`` (appended without tail text), leaving the canonical form that
    was digested. Every produced shape is checked by the verifier tests, and by xmlsec1 in
    tests/signature/test_xmlsec1.py.
    """
    algorithm = SignatureAlgorithm(algorithm) if algorithm is not None else default_algorithm(key)
    digest = DigestAlgorithm(digest)
    _check_key_and_chain(key, chain, algorithm, now or dt.datetime.now(dt.UTC))
    content = etree.tostring(root, method="c14n", exclusive=True, with_comments=False)
    digest_value = hashlib.new(DIGEST_NAMES[digest], content).digest()
    signature = etree.SubElement(root, _ds("Signature"), nsmap={"ds": NS["ds"]})
    signed_info = etree.SubElement(signature, _ds("SignedInfo"))
    etree.SubElement(signed_info, _ds("CanonicalizationMethod"), Algorithm=Canonicalization.EXCLUSIVE.value)
    etree.SubElement(signed_info, _ds("SignatureMethod"), Algorithm=algorithm.value)
    reference = etree.SubElement(signed_info, _ds("Reference"), URI="")
    transforms = etree.SubElement(reference, _ds("Transforms"))
    etree.SubElement(transforms, _ds("Transform"), Algorithm=ENVELOPED_TRANSFORM)
    etree.SubElement(transforms, _ds("Transform"), Algorithm=Canonicalization.EXCLUSIVE.value)
    etree.SubElement(reference, _ds("DigestMethod"), Algorithm=digest.value)
    etree.SubElement(reference, _ds("DigestValue")).text = base64.b64encode(digest_value).decode("ascii")
    signed_bytes = etree.tostring(signed_info, method="c14n", exclusive=True, with_comments=False)
    value = _signature_value(key, algorithm, signed_bytes)
    etree.SubElement(signature, _ds("SignatureValue")).text = base64.b64encode(value).decode("ascii")
    x509_data = etree.SubElement(etree.SubElement(signature, _ds("KeyInfo")), _ds("X509Data"))
    for certificate in chain:
        etree.SubElement(x509_data, _ds("X509Certificate")).text = _certificate_text(certificate)


def _ds(name: str) -> str:
    return f"{{{NS['ds']}}}{name}"


def _signature_value(key: SigningKey, algorithm: SignatureAlgorithm, data: bytes) -> bytes:
    """RSA: PKCS#1 v1.5. ECDSA: XMLDSig wants r and s as two fixed-size big-endian integers, not DER."""
    hash_algorithm = METHOD_HASHES[algorithm]()
    if isinstance(key, rsa.RSAPrivateKey):
        return key.sign(data, padding.PKCS1v15(), hash_algorithm)
    r, s = decode_dss_signature(key.sign(data, ec.ECDSA(hash_algorithm)))
    size = (key.curve.key_size + 7) // 8
    return r.to_bytes(size, "big") + s.to_bytes(size, "big")


@lru_cache(maxsize=256)
def _certificate_text(certificate: x509.Certificate) -> str:
    """Base64 of the DER certificate in 64-character lines, as PEM bodies are written (cached per certificate)."""
    encoded = base64.b64encode(certificate.public_bytes(serialization.Encoding.DER)).decode("ascii")
    return "\n".join(encoded[i : i + 64] for i in range(0, len(encoded), 64)) + "\n"

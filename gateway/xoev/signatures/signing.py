"""Signing an outbound message: one enveloped XMLDSig signature over the whole xdomea document.

The sending authority's certificate (and any intermediates) travel in ``KeyInfo/X509Data`` so that the
receiver can match the signer against its pinned certificates without a look-up. The signature method
follows the key: RSA-SHA256 for RSA keys, ECDSA-SHA256 for P-256 keys; SHA-1 cannot be asked for.
Sign the message only after it was validated: the signed form no longer passes the xdomea schema (see
:mod:`gateway.xoev.signatures.signature`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from copy import deepcopy

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from lxml import etree
from signxml.algorithms import CanonicalizationMethod, SignatureConstructionMethod
from signxml.algorithms import DigestAlgorithm as SxDigest
from signxml.algorithms import SignatureMethod as SxMethod
from signxml.signer import XMLSigner

from gateway.xoev.limits import Limits
from gateway.xoev.parsing.safe_xml import parse_xml
from gateway.xoev.signatures.keys import SigningKey, has_digital_signature
from gateway.xoev.signatures.signature import (
    NS,
    Canonicalization,
    DigestAlgorithm,
    SignatureAlgorithm,
    enveloped_signature,
    find_signatures,
    public_key_fingerprint,
)
from gateway.xoev.signatures.verifying import SignatureRefused, check_signature_value

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
    """A signed copy of ``tree``; ``chain`` starts with the signer's certificate."""
    algorithm = SignatureAlgorithm(algorithm) if algorithm is not None else default_algorithm(key)
    digest = DigestAlgorithm(digest)
    _check_key_and_chain(key, chain, algorithm, now or dt.datetime.now(dt.UTC))
    if find_signatures(tree.getroot()):
        raise SigningError("the message already carries a ds:Signature")
    signer = XMLSigner(
        method=SignatureConstructionMethod.enveloped,
        signature_algorithm=SxMethod(algorithm.value),
        digest_algorithm=SxDigest(digest.value),
        c14n_algorithm=CanonicalizationMethod(Canonicalization.EXCLUSIVE.value),
    )
    signed_copy: etree._Element = signer.sign(tree.getroot(), key=key, cert=list(chain))
    signature = enveloped_signature(signed_copy)
    if signature is None:
        raise SigningError("signxml did not append the signature to the root element")
    if [r.get("URI") for r in signature.iterfind("ds:SignedInfo/ds:Reference", NS)] != [""]:
        # signxml refers to the root by its Id attribute when it has one; receivers require URI=""
        raise SigningError('the signature does not reference the whole document (URI="")')
    # signxml works on an ASCII re-serialisation of the message, which rewrites non-ASCII characters in
    # comments as character references. The comments are not signed, but they are the sender's: the
    # signature is therefore moved onto an untouched copy of the message.
    # Only the root element is carried over: processing instructions and comments outside it are
    # dropped, because URI="" covers those processing instructions and implementations disagree on them.
    result = etree.ElementTree(deepcopy(tree.getroot()))
    result.getroot().append(signature)
    try:
        check_signature_value(result.getroot(), chain[0])
    except SignatureRefused as refused:
        raise SigningError(f"the new signature does not verify ({refused.why.value}): {refused.params}") from None
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
    """Sign message XML bytes; the result is UTF-8 with an XML declaration, ready to store and send."""
    tree = parse_xml(data, limits)
    signed = sign_tree(tree, key, chain, algorithm=algorithm, now=now)
    return etree.tostring(signed, xml_declaration=True, encoding="UTF-8")

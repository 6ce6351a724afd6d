"""What signing and verifying share: the algorithms we accept, where the signature sits, how to remove it.

An xdomea message is signed with one XMLDSig *enveloped* signature over the whole document: a single
``ds:Reference URI=""`` with the enveloped-signature and exclusive-C14N transforms, and the
``ds:Signature`` as the last child of the message's root element. The xdomea schemas do not allow that
child (measured: every sample fails XSD validation once signed, "Element 'Signature': This element is not
expected"), so the pipeline verifies the signature first and then validates the message *without* it,
using :func:`strip_signature`. docs/signatures.md explains the decision.

Algorithms are enums of URIs (as signxml does), so that the accepted set is one reviewable list. SHA-1
and anything not listed are refused, in both directions.
"""

from __future__ import annotations

import enum
import hashlib
from copy import deepcopy
from functools import lru_cache

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from lxml import etree

DS_NS = "http://www.w3.org/2000/09/xmldsig#"
DS_SIGNATURE = f"{{{DS_NS}}}Signature"
NS = {"ds": DS_NS}


class SignatureAlgorithm(enum.StrEnum):
    """Signature methods the gateway creates and accepts (XMLDSig 1.1 / RFC 6931 URIs)."""

    RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
    RSA_SHA384 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384"
    RSA_SHA512 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512"
    ECDSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"
    ECDSA_SHA384 = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384"
    ECDSA_SHA512 = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512"


class DigestAlgorithm(enum.StrEnum):
    SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"
    SHA384 = "http://www.w3.org/2001/04/xmldsig-more#sha384"
    SHA512 = "http://www.w3.org/2001/04/xmlenc#sha512"


# What each algorithm means to hashlib and cryptography, for signing and verifying alike.
DIGEST_NAMES: dict[str, str] = {
    DigestAlgorithm.SHA256: "sha256",
    DigestAlgorithm.SHA384: "sha384",
    DigestAlgorithm.SHA512: "sha512",
}
METHOD_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    SignatureAlgorithm.RSA_SHA256: hashes.SHA256,
    SignatureAlgorithm.RSA_SHA384: hashes.SHA384,
    SignatureAlgorithm.RSA_SHA512: hashes.SHA512,
    SignatureAlgorithm.ECDSA_SHA256: hashes.SHA256,
    SignatureAlgorithm.ECDSA_SHA384: hashes.SHA384,
    SignatureAlgorithm.ECDSA_SHA512: hashes.SHA512,
}


class Canonicalization(enum.StrEnum):
    """Canonicalisations accepted on input; we sign with exclusive C14N without comments."""

    EXCLUSIVE = "http://www.w3.org/2001/10/xml-exc-c14n#"
    EXCLUSIVE_WITH_COMMENTS = "http://www.w3.org/2001/10/xml-exc-c14n#WithComments"
    C14N_1_0 = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"
    C14N_1_0_WITH_COMMENTS = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315#WithComments"
    C14N_1_1 = "http://www.w3.org/2006/12/xml-c14n11"
    C14N_1_1_WITH_COMMENTS = "http://www.w3.org/2006/12/xml-c14n11#WithComments"


ENVELOPED_TRANSFORM = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"


def find_signatures(root: etree._Element) -> list[etree._Element]:
    """Every ``ds:Signature`` in the document, wherever it is (more than one is refused as wrapping)."""
    return list(root.iter(DS_SIGNATURE))


def enveloped_signature(root: etree._Element) -> etree._Element | None:
    """The message's signature if it sits where the gateway puts it: the last element child of the root."""
    children = [child for child in root if isinstance(child.tag, str)]
    if children and children[-1].tag == DS_SIGNATURE:
        return children[-1]
    return None


def strip_signature(tree: etree._ElementTree, *, in_place: bool = False) -> etree._ElementTree:
    """A copy of ``tree`` without its enveloped signature, for XSD validation and everything after it.

    Only the signature in the enveloped position is removed; a ``ds:Signature`` anywhere else stays, so
    that schema validation still reports it. The signature's tail text is kept, exactly as the enveloped
    transform does, so that the result is the content that was signed. With ``in_place`` (a caller that
    owns ``tree``, e.g. one it has just parsed) the signature is removed from ``tree`` itself and no copy
    of the message is made.
    """
    copy = tree if in_place else deepcopy(tree)
    root = copy.getroot()
    signature = enveloped_signature(root)
    if signature is not None:
        remove_keeping_tail(signature)
    return copy


def remove_keeping_tail(element: etree._Element) -> None:
    """Remove ``element`` from its parent, leaving its tail text in the tree (the enveloped transform)."""
    parent = element.getparent()
    assert parent is not None
    tail = element.tail
    if tail:
        previous = element.getprevious()
        if previous is not None:
            previous.tail = (previous.tail or "") + tail
        else:
            parent.text = (parent.text or "") + tail
    parent.remove(element)


@lru_cache(maxsize=1024)
def certificate_fingerprint(certificate: x509.Certificate) -> str:
    """SHA-256 over the DER certificate, lower-case hex: how the directory pins a certificate.

    Cached (certificates compare and hash by their DER bytes): a verification asks for the fingerprints of
    the signer and of every pin of the sender, four to six times per message before the cache.
    """
    return certificate.fingerprint(hashes.SHA256()).hex()


def public_key_fingerprint(public_key: CertificatePublicKeyTypes) -> str:
    """SHA-256 over the SubjectPublicKeyInfo: links a private key on disk to the certificates issued for it."""
    der = public_key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()

"""Signing: the shape of what we produce, and what the xdomea schema says about it."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from gateway.xoev.limits import Limits
from gateway.xoev.parsing.safe_xml import parse_xml
from gateway.xoev.signatures.signature import (
    DS_SIGNATURE,
    NS,
    Canonicalization,
    SignatureAlgorithm,
    enveloped_signature,
    strip_signature,
)
from gateway.xoev.signatures.signing import SigningError, sign_message, sign_tree
from gateway.xoev.validation.validate import Validator
from tests.signature.conftest import SAMPLE_XML
from tests.signature.pki import Pki

LIMITS = Limits()


def _c14n(tree: etree._ElementTree) -> bytes:
    return etree.tostring(tree, method="c14n", exclusive=True)


@pytest.mark.parametrize("kind", ["rsa", "ec"])
def test_signature_shape(pki: Pki, message: bytes, kind: str) -> None:
    who = pki.sender_rsa if kind == "rsa" else pki.sender_ec
    signed = etree.fromstring(sign_message(message, who.key, who.chain, limits=LIMITS))
    signature = signed[-1]
    assert signature.tag == DS_SIGNATURE
    assert len(list(signed.iter(DS_SIGNATURE))) == 1
    method = signature.find("ds:SignedInfo/ds:SignatureMethod", NS)
    assert method is not None
    expected = SignatureAlgorithm.RSA_SHA256 if kind == "rsa" else SignatureAlgorithm.ECDSA_SHA256
    assert method.get("Algorithm") == expected.value
    c14n = signature.find("ds:SignedInfo/ds:CanonicalizationMethod", NS)
    assert c14n is not None
    assert c14n.get("Algorithm") == Canonicalization.EXCLUSIVE.value
    references = signature.findall("ds:SignedInfo/ds:Reference", NS)
    assert [r.get("URI") for r in references] == [""]
    transforms = [t.get("Algorithm") for t in references[0].findall("ds:Transforms/ds:Transform", NS)]
    assert transforms == ["http://www.w3.org/2000/09/xmldsig#enveloped-signature", Canonicalization.EXCLUSIVE.value]
    digest = references[0].find("ds:DigestMethod", NS)
    assert digest is not None
    assert digest.get("Algorithm") == "http://www.w3.org/2001/04/xmlenc#sha256"
    embedded = signature.findall("ds:KeyInfo/ds:X509Data/ds:X509Certificate", NS)
    assert len(embedded) == 1
    assert "".join((embedded[0].text or "").split()) in who.cert_pem.decode().replace("\n", "")


def test_signing_leaves_the_input_alone(pki: Pki, message: bytes) -> None:
    tree = parse_xml(message, LIMITS)
    before = _c14n(tree)
    signed = sign_tree(tree, pki.sender_rsa.key, pki.sender_rsa.chain)
    assert _c14n(tree) == before
    assert _c14n(strip_signature(signed)) == before


@pytest.mark.parametrize("sample", SAMPLE_XML, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_signed_message_fails_xsd_and_stripped_message_passes(pki: Pki, validator: Validator, sample: Path) -> None:
    """The measurement behind docs/signatures.md: xdomea does not allow ds:Signature in a message."""
    tree = parse_xml(sample.read_bytes(), LIMITS)
    unsigned = _verdict(validator, tree)
    assert not any(rule.startswith("XGW-XSD") for rule, _ in unsigned), "precondition: schema-valid sample"
    signed = sign_tree(tree, pki.sender_ec.key, pki.sender_ec.chain)
    report = validator.validate_tree(signed)
    xsd_errors = [f for f in report.errors if f.rule == "XGW-XSD-001"]
    assert xsd_errors
    assert all("Signature" in f.message for f in xsd_errors)
    stripped = strip_signature(signed)
    assert _verdict(validator, stripped) == unsigned
    assert _c14n(stripped) == _c14n(tree)


def _verdict(validator: Validator, tree: etree._ElementTree) -> list[tuple[str, str | None]]:
    return [(f.rule, f.location.xpath) for f in validator.validate_tree(tree).findings]


def test_strip_signature_keeps_text_and_only_removes_the_enveloped_signature(pki: Pki) -> None:
    tree = etree.ElementTree(etree.fromstring(b"<r><a>1</a>\n  <b/>\n</r>"))
    signed = sign_tree(tree, pki.sender_rsa.key, pki.sender_rsa.chain)
    assert _c14n(strip_signature(signed)) == _c14n(tree)
    moved = etree.ElementTree(etree.fromstring(etree.tostring(signed)))
    root = moved.getroot()
    signature = enveloped_signature(root)
    assert signature is not None
    root.insert(0, signature)  # no longer in the enveloped position: left for the schema to report
    assert len(list(strip_signature(moved).getroot().iter(DS_SIGNATURE))) == 1


def test_sha1_cannot_be_requested(pki: Pki, message: bytes) -> None:
    tree = parse_xml(message, LIMITS)
    with pytest.raises(ValueError, match="rsa-sha1"):
        sign_tree(
            tree,
            pki.sender_rsa.key,
            pki.sender_rsa.chain,
            algorithm="http://www.w3.org/2000/09/xmldsig#rsa-sha1",  # type: ignore[arg-type]
        )
    with pytest.raises(ValueError, match="sha1"):
        sign_tree(
            tree,
            pki.sender_rsa.key,
            pki.sender_rsa.chain,
            digest="http://www.w3.org/2000/09/xmldsig#sha1",  # type: ignore[arg-type]
        )


@pytest.mark.parametrize(
    ("case", "message_part"),
    [
        ("key of another certificate", "does not belong"),
        ("no digitalSignature", "digital signatures"),
        ("expired", "not valid now"),
        ("ec method with rsa key", "cannot be used with an RSA key"),
        ("no certificate", "certificate is required"),
        ("already signed", "already carries"),
    ],
)
def test_signing_refuses(pki: Pki, message: bytes, case: str, message_part: str) -> None:
    tree = parse_xml(message, LIMITS)
    key, chain, algorithm = pki.sender_rsa.key, list(pki.sender_rsa.chain), None
    if case == "key of another certificate":
        key = pki.other.key
    elif case == "no digitalSignature":
        key, chain = pki.no_digital_signature.key, list(pki.no_digital_signature.chain)
    elif case == "expired":
        key, chain = pki.expired.key, list(pki.expired.chain)
    elif case == "ec method with rsa key":
        algorithm = SignatureAlgorithm.ECDSA_SHA256
    elif case == "no certificate":
        chain = []
    elif case == "already signed":
        tree = sign_tree(tree, key, chain)
    with pytest.raises(SigningError, match=message_part):
        sign_tree(tree, key, chain, algorithm=algorithm)


def test_comments_keep_their_characters(pki: Pki) -> None:
    """signxml re-serialises in ASCII; the signed message must still carry the sender's comments unchanged."""
    sample = next(p for p in SAMPLE_XML if p.name.startswith("518c7c31"))
    data = sample.read_bytes()
    assert "geh\u00f6rt -->".encode() in data, "precondition: a comment with an umlaut"
    signed = sign_message(data, pki.sender_rsa.key, pki.sender_rsa.chain, limits=LIMITS)
    assert "geh\u00f6rt -->".encode() in signed
    assert b"&#246;" not in signed


def test_strip_signature_in_place_changes_the_callers_tree_and_a_copy_does_not(pki: Pki) -> None:
    tree = etree.ElementTree(etree.fromstring(b"<r><a>1</a>\n  <b/>\n</r>"))
    signed = sign_tree(tree, pki.sender_rsa.key, pki.sender_rsa.chain)
    before = etree.tostring(signed)
    copied = strip_signature(signed)
    assert copied is not signed and etree.tostring(signed) == before
    stripped = strip_signature(signed, in_place=True)
    assert stripped is signed
    assert _c14n(stripped) == _c14n(copied) == _c14n(tree)
    assert not list(signed.getroot().iter(DS_SIGNATURE))

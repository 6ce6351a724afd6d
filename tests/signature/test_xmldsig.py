"""Our XMLDSig core (``gateway.xoev.signatures.xmldsig``) against signxml, which it replaced (issue 11).

signxml stays a test dependency as the oracle: for every signature shape the verifier lets through to the
cryptography (one enveloped ``Reference URI=""``), and for hostile changes to each, both engines must give
the same answer -- valid, tampered (digest or signature value) or malformed -- with the certificate
chosen by the caller. The shapes come from our signer, from signxml's signer with every canonicalisation,
and from hand edits (prefix lists, key values, tails, comments); xmlsec1 checks the same engine in
test_xmlsec1.py. The last tests cover what signxml crashed on, and the tree being left unchanged.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from copy import deepcopy

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from lxml import etree
from signxml.algorithms import SignatureConstructionMethod
from signxml.exceptions import InvalidDigest, InvalidSignature
from signxml.signer import XMLSigner
from signxml.verifier import SignatureConfiguration, XMLVerifier

from gateway.xoev.limits import Limits
from gateway.xoev.parsing.safe_xml import parse_xml
from gateway.xoev.signatures.signature import NS, Canonicalization
from gateway.xoev.signatures.signing import sign_tree
from gateway.xoev.signatures.verifying import (
    SignatureReason,
    SignatureRefused,
    TrustDirectory,
    VerificationStatus,
    check_signature_value,
    verify_message,
    verify_tree,
)
from tests.signature.pki import SENDER, Identity, Pki

LIMITS = Limits()
DS = NS["ds"]
EC_NS = "http://www.w3.org/2001/10/xml-exc-c14n#"
DSIG11 = "http://www.w3.org/2009/xmldsig11#"
SMALL = (
    b'<m:Nachricht xmlns:m="urn:m" xmlns:unused="urn:u" xml:lang="de" a="1&#9;2&#10;3">'
    b'<m:Kopf id="k"><!-- a comment --><m:ID>4711</m:ID><x:Fremd xmlns:x="urn:x" x:attr="v"/></m:Kopf>'
    b"\n  <m:Text><![CDATA[<b> & </b>]]> &#xD; text </m:Text>\n</m:Nachricht>"
)


def signxml_says(root: etree._Element, leaf: x509.Certificate) -> str:
    config = SignatureConfiguration(
        require_x509=True, location="./", expect_references=1, verification_time=leaf.not_valid_before_utc
    )
    try:
        XMLVerifier().verify(deepcopy(root), x509_cert=leaf, expect_config=config)
    except (InvalidDigest, InvalidSignature):
        return "tampered"
    except Exception:  # every other refusal or crash of signxml counts as malformed
        return "malformed"
    return "valid"


def we_say(root: etree._Element, leaf: x509.Certificate) -> str:
    before = etree.tostring(root)
    try:
        check_signature_value(root, leaf)
    except SignatureRefused as refused:
        outcome = {SignatureReason.TAMPERED: "tampered", SignatureReason.MALFORMED: "malformed"}[refused.why]
    else:
        outcome = "valid"
    assert etree.tostring(root) == before, "the check must leave the tree as it found it"
    return outcome


def ours(message: bytes, who: Identity) -> etree._Element:
    return sign_tree(parse_xml(message, LIMITS), who.key, who.chain).getroot()


def theirs(message: bytes, who: Identity, c14n: str) -> etree._Element:
    signer = XMLSigner(
        method=SignatureConstructionMethod.enveloped,
        signature_algorithm="ecdsa-sha256" if isinstance(who.key, ec.EllipticCurvePrivateKey) else "rsa-sha256",
        digest_algorithm="sha256",
        c14n_algorithm=c14n,
    )
    return signer.sign(etree.fromstring(message), key=who.key, cert=list(who.chain))


def _first(root: etree._Element, path: str) -> etree._Element:
    found = root[-1].find(path, {"ds": DS, "dsig11": DSIG11})
    assert found is not None, path
    return found


def resign(root: etree._Element, who: Identity) -> None:
    """A fresh signature value over the (edited) ``SignedInfo``: the sender really signed that shape."""
    signed_info = _first(root, "ds:SignedInfo")
    method = _first(root, "ds:SignedInfo/ds:CanonicalizationMethod").get("Algorithm") or ""
    prefixes = signed_info.find(f"{{{DS}}}CanonicalizationMethod/{{{EC_NS}}}InclusiveNamespaces")
    octets = etree.tostring(
        signed_info,
        method="c14n",
        exclusive=method.startswith(EC_NS),
        with_comments=method.endswith("#WithComments"),
        inclusive_ns_prefixes=(prefixes.get("PrefixList") or "").split() if prefixes is not None else None,
    )
    if isinstance(who.key, ec.EllipticCurvePrivateKey):
        r, s = decode_dss_signature(who.key.sign(octets, ec.ECDSA(hashes.SHA256())))
        value = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    else:
        assert isinstance(who.key, rsa.RSAPrivateKey)
        value = who.key.sign(octets, padding.PKCS1v15(), hashes.SHA256())
    _first(root, "ds:SignatureValue").text = base64.b64encode(value).decode()


def _content(root: etree._Element) -> None:
    text = next(e for e in root.iter() if isinstance(e.tag, str) and e.text and e.text.strip())
    text.text = (text.text or "") + "x"


def _digest(root: etree._Element) -> None:
    _first(root, "ds:SignedInfo/ds:Reference/ds:DigestValue").text = base64.b64encode(b"\1" * 32).decode()


def _value(root: etree._Element) -> None:
    value = _first(root, "ds:SignatureValue")
    raw = bytearray(base64.b64decode(value.text or ""))
    raw[-1] ^= 1
    value.text = base64.b64encode(bytes(raw)).decode()


def _wrap_base64(root: etree._Element) -> None:
    for path in ("ds:SignatureValue", "ds:SignedInfo/ds:Reference/ds:DigestValue"):
        element = _first(root, path)
        text = element.text or ""
        element.text = "\n" + "\n".join(text[i : i + 20] for i in range(0, len(text), 20)) + "\n"


def _tail(root: etree._Element) -> None:
    root[-1].tail = "\n"


def _comment_after(root: etree._Element) -> None:
    root.append(etree.Comment(" after the signature "))


def _comment_in_content(root: etree._Element) -> None:
    root[0].insert(0, etree.Comment(" inserted "))


def _second_method(root: etree._Element) -> None:
    transforms = _first(root, "ds:SignedInfo/ds:Reference/ds:Transforms")
    etree.SubElement(transforms, f"{{{DS}}}Transform", Algorithm=Canonicalization.C14N_1_0.value)


def _swap_transforms(root: etree._Element) -> None:
    transforms = _first(root, "ds:SignedInfo/ds:Reference/ds:Transforms")
    transforms.insert(0, transforms[-1])


def _garbage_value(root: etree._Element) -> None:
    _first(root, "ds:SignatureValue").text = "not*base64!"


def _short_ec_value(root: etree._Element) -> None:
    value = _first(root, "ds:SignatureValue")
    value.text = base64.b64encode(base64.b64decode(value.text or "")[:-2]).decode()


def _foreign_key_value(root: etree._Element) -> None:
    key_info = _first(root, "ds:KeyInfo")
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    der = other.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    etree.SubElement(key_info, f"{{{DSIG11}}}DEREncodedKeyValue").text = base64.b64encode(der).decode()


def _unknown_element(root: etree._Element) -> None:
    etree.SubElement(_first(root, "ds:SignedInfo"), f"{{{DS}}}Surprise")


EDITS: dict[str, Callable[[etree._Element], None]] = {
    "as signed": lambda root: None,
    "content": _content,
    "digest value": _digest,
    "signature value": _value,
    "base64 in lines": _wrap_base64,
    "tail after the signature": _tail,
    "comment after the signature": _comment_after,
    "comment in the content": _comment_in_content,
    "two C14N transforms": _second_method,
    "C14N before enveloped": _swap_transforms,
    "signature value not base64": _garbage_value,
    "signature value too short": _short_ec_value,
    "foreign DEREncodedKeyValue": _foreign_key_value,
    "element not in the XMLDSig schema": _unknown_element,
}
#: Edits of SignedInfo that the sender then signs (a fresh signature value), so that what is compared is
#: the reference's processing, not only that the old signature value no longer fits.
RESIGNED = {"two C14N transforms", "C14N before enveloped", "element not in the XMLDSig schema"}


@pytest.mark.parametrize("edit", EDITS)
@pytest.mark.parametrize(
    ("signer", "who", "c14n"),
    [
        ("ours", "sender_rsa", ""),
        ("ours", "sender_ec", ""),
        ("signxml", "sender_rsa", Canonicalization.EXCLUSIVE.value),
        ("signxml", "sender_rsa", Canonicalization.EXCLUSIVE_WITH_COMMENTS.value),
        ("signxml", "sender_rsa", Canonicalization.C14N_1_0.value),
        ("signxml", "sender_ec", Canonicalization.C14N_1_1.value),
        ("signxml", "sender_rsa", Canonicalization.C14N_1_0_WITH_COMMENTS.value),
    ],
)
@pytest.mark.parametrize("sample", ["small", "0503"])
def test_same_answer_as_signxml(
    pki: Pki, message: bytes, sample: str, signer: str, who: str, c14n: str, edit: str
) -> None:
    identity: Identity = getattr(pki, who)
    data = SMALL if sample == "small" else message
    root = ours(data, identity) if signer == "ours" else theirs(data, identity, c14n)
    EDITS[edit](root)
    if edit in RESIGNED:
        resign(root, identity)
    root = etree.fromstring(etree.tostring(root))  # as it would arrive
    expected = signxml_says(root, identity.certificate)
    if edit == "as signed":
        assert expected == "valid", "precondition: signxml accepts the unedited signature"
    assert we_say(root, identity.certificate) == expected


def test_inclusive_namespace_prefix_lists(pki: Pki) -> None:
    """On the reference's transform a prefix list changes the digested octets and is honoured; on SignedInfo's
    method the XMLDSig schema refuses it (its wildcard there is strict), in signxml as in ours."""
    who = pki.sender_rsa
    signer = XMLSigner(method=SignatureConstructionMethod.enveloped, c14n_algorithm=Canonicalization.EXCLUSIVE.value)
    root = signer.sign(etree.fromstring(SMALL), key=who.key, cert=list(who.chain), inclusive_ns_prefixes=["unused"])
    assert root[-1].find(f".//{{{EC_NS}}}InclusiveNamespaces") is not None
    assert signxml_says(root, who.certificate) == we_say(root, who.certificate) == "malformed"
    method = _first(root, "ds:SignedInfo/ds:CanonicalizationMethod")
    method.remove(method[0])
    resign(root, who)
    # signxml digested the content with the list but wrote it only on SignedInfo's method
    assert signxml_says(root, who.certificate) == we_say(root, who.certificate) == "tampered"
    transform = _first(root, "ds:SignedInfo/ds:Reference/ds:Transforms/ds:Transform[2]")
    etree.SubElement(transform, f"{{{EC_NS}}}InclusiveNamespaces", PrefixList="unused")
    resign(root, who)
    assert signxml_says(root, who.certificate) == we_say(root, who.certificate) == "valid"


def test_key_value_of_the_certificate_is_accepted_and_of_another_key_refused(pki: Pki) -> None:
    who = pki.sender_rsa
    root = ours(SMALL, who)
    public_key = who.certificate.public_key()
    assert isinstance(public_key, rsa.RSAPublicKey)
    numbers = public_key.public_numbers()
    key_value = etree.SubElement(_first(root, "ds:KeyInfo"), f"{{{DS}}}KeyValue")
    rsa_value = etree.SubElement(key_value, f"{{{DS}}}RSAKeyValue")

    def b64int(n: int) -> str:
        return base64.b64encode(n.to_bytes((n.bit_length() + 7) // 8, "big")).decode()

    etree.SubElement(rsa_value, f"{{{DS}}}Modulus").text = b64int(numbers.n)
    etree.SubElement(rsa_value, f"{{{DS}}}Exponent").text = b64int(numbers.e)
    assert signxml_says(root, who.certificate) == we_say(root, who.certificate) == "valid"
    rsa_value[0].text = b64int(numbers.n + 2)
    assert signxml_says(root, who.certificate) == we_say(root, who.certificate) == "malformed"


def test_reference_without_c14n_transform_uses_inclusive_c14n(pki: Pki) -> None:
    """signxml's default when a reference names no C14N: inclusive, without comments; we agree."""
    who = pki.sender_rsa
    root = ours(SMALL, who)  # an unused namespace declaration: exclusive and inclusive C14N differ
    transforms = _first(root, "ds:SignedInfo/ds:Reference/ds:Transforms")
    transforms.remove(transforms[1])
    resign(root, who)
    assert signxml_says(root, who.certificate) == we_say(root, who.certificate) == "tampered"
    content = deepcopy(root)
    content.remove(content[-1])
    digest = base64.b64encode(
        hashlib.sha256(etree.tostring(content, method="c14n", with_comments=False)).digest()
    ).decode()
    _first(root, "ds:SignedInfo/ds:Reference/ds:DigestValue").text = digest
    resign(root, who)
    assert signxml_says(root, who.certificate) == we_say(root, who.certificate) == "valid"


def test_in_place_verification_strips_the_callers_tree_and_a_copy_does_not(
    pki: Pki, directory: TrustDirectory, message: bytes
) -> None:
    who = pki.sender_rsa
    signed = etree.tostring(ours(message, who))
    tree = parse_xml(signed, LIMITS)
    copied = verify_tree(tree, SENDER, directory)
    assert copied.status is VerificationStatus.VERIFIED
    assert copied.tree is not None and copied.tree is not tree
    assert etree.tostring(tree) == signed, "without in_place the caller's tree is untouched"
    kept = verify_tree(tree, SENDER, directory, in_place=True)
    assert kept.status is VerificationStatus.VERIFIED and kept.tree is tree
    assert etree.tostring(tree, method="c14n") == etree.tostring(copied.tree, method="c14n")
    refused_tree = parse_xml(signed.replace(b"<xdomea:ProzessID>", b"<xdomea:ProzessID>0", 1), LIMITS)
    before = etree.tostring(refused_tree)
    refused = verify_tree(refused_tree, SENDER, directory, in_place=True)
    assert refused.reason is SignatureReason.TAMPERED
    assert etree.tostring(refused_tree) == before, "a refused tree is never changed"


def test_a_document_c14n_cannot_render_is_malformed_not_a_crash(
    pki: Pki, directory: TrustDirectory, message: bytes
) -> None:
    """A relative namespace URI makes lxml's C14N fail; signxml let that error escape the verifier."""
    signed = etree.tostring(ours(message, pki.sender_rsa))
    start = signed.index(b"<xdomea:", 0)
    hostile = signed[:start] + signed[start:].replace(b" ", b' xmlns:rel="relative" ', 1)
    root = etree.fromstring(hostile)
    assert signxml_says(root, pki.sender_rsa.certificate) == "malformed"
    result = verify_message(hostile, SENDER, directory, limits=LIMITS)
    assert result.reason is SignatureReason.MALFORMED
    assert result.finding is not None and result.finding.rule == "XGW-SIG-010"

"""SOAP 1.2 envelopes: reading a request's header and body blocks, writing a reply.

Reading goes through the gateway's hardened parser (no DTD, no entities, no network, size and depth
limits), with the envelope limit from the settings; anything that is not a SOAP 1.2 envelope is refused
with a fault the client can act on. Header blocks marked ``mustUnderstand`` that the server does not
know are refused as SOAP requires.

Writing puts every namespace on the Envelope with a prefix (see :mod:`.ns`), so that unqualified
children like ``code`` stay unqualified, and always produces an envelope -- void operations answer with
an empty Body, never with an empty HTTP response.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from lxml import etree

from gateway.transport.xta.errors import ErrorCode, ParameterInvalid
from gateway.transport.xta.ns import NSMAP, OSCI, OSCIMETA, SOAP12, WSA, q
from gateway.xoev.limits import Limits
from gateway.xoev.parsing.safe_xml import XmlRejected, parse_xml

_UNDERSTOOD = frozenset({WSA, OSCIMETA, OSCI})
_TRUE = frozenset({"true", "1"})


@dataclass(frozen=True, slots=True)
class Envelope:
    """A parsed request envelope: its header blocks and body children (elements only)."""

    headers: tuple[etree._Element, ...]
    body: tuple[etree._Element, ...]

    def header(self, namespace: str, local: str) -> etree._Element | None:
        tag = q(namespace, local)
        return next((h for h in self.headers if h.tag == tag), None)

    def body_element(self) -> etree._Element | None:
        return self.body[0] if self.body else None


def _elements(parent: etree._Element | None) -> tuple[etree._Element, ...]:
    if parent is None:
        return ()
    return tuple(child for child in parent if isinstance(child.tag, str))


def parse_envelope(data: bytes, max_bytes: int) -> Envelope:
    """Parse a SOAP 1.2 envelope or raise :class:`ParameterInvalid` saying what is wrong with it."""
    limits = Limits(max_xml_bytes=max_bytes, max_text_bytes=max_bytes, max_xml_depth=64, max_xml_elements=100_000)
    if len(data) > max_bytes:
        raise ParameterInvalid(ErrorCode.MESSAGE_TOO_LARGE, f"the SOAP envelope exceeds {max_bytes} bytes")
    try:
        root = parse_xml(data, limits, source="SOAP envelope").getroot()
    except XmlRejected as exc:
        raise ParameterInvalid(ErrorCode.INVALID_PARAMETER_COMBINATION, exc.finding.message) from None
    if root.tag != q(SOAP12, "Envelope"):
        raise ParameterInvalid(
            ErrorCode.INVALID_PARAMETER_COMBINATION, f"expected a SOAP 1.2 Envelope, got {etree.QName(root).text}"
        )
    children = _elements(root)
    header = next((c for c in children if c.tag == q(SOAP12, "Header")), None)
    body = next((c for c in children if c.tag == q(SOAP12, "Body")), None)
    if body is None:
        raise ParameterInvalid(ErrorCode.NO_PARAMETERS, "the SOAP envelope has no Body")
    headers = _elements(header)
    for block in headers:
        must = (block.get(q(SOAP12, "mustUnderstand")) or "").strip()
        if must in _TRUE and etree.QName(block).namespace not in _UNDERSTOOD:
            raise ParameterInvalid(
                ErrorCode.INVALID_PARAMETER_COMBINATION,
                f"header {etree.QName(block).text} must be understood but is not supported",
            )
    return Envelope(headers, _elements(body))


def new_element(namespace: str, local: str, text: str | None = None, **attributes: str) -> etree._Element:
    """A detached element carrying the server's prefixes (merged into the envelope's on output)."""
    element = etree.Element(q(namespace, local), nsmap=NSMAP)
    if text is not None:
        element.text = text
    for name, value in attributes.items():
        element.set(name, value)
    return element


def sub(parent: etree._Element, namespace: str | None, local: str, text: str | None = None) -> etree._Element:
    """A child element; ``namespace=None`` makes an unqualified one (``code``, ``name``)."""
    element = etree.SubElement(parent, q(namespace, local) if namespace else local)
    if text is not None:
        element.text = text
    return element


def build_envelope(headers: Sequence[etree._Element], body: Sequence[etree._Element]) -> bytes:
    """A complete SOAP 1.2 envelope as UTF-8 bytes with an XML declaration."""
    root = etree.Element(q(SOAP12, "Envelope"), nsmap=NSMAP)
    header = etree.SubElement(root, q(SOAP12, "Header"))
    for block in headers:
        header.append(block)
    body_element = etree.SubElement(root, q(SOAP12, "Body"))
    for child in body:
        body_element.append(child)
    etree.cleanup_namespaces(root, top_nsmap=NSMAP, keep_ns_prefixes=list(NSMAP))
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")

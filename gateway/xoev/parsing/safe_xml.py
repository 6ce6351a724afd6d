"""Parsing untrusted XML safely: no DTDs, no entities, no network, and limits on size, depth and count.

Every message reaching the gateway comes from outside, so the parser is the first line of defence. The
rules: refuse any document type declaration (xdomea never needs one, and DTDs are how XXE and billion
laughs arrive), never resolve entities or fetch anything, and bound the size of the input, the element
count, the nesting depth and single text nodes, each by a setting. A rejection is an :class:`XmlRejected`
carrying the :class:`~gateway.xoev.report.Finding` that explains it.
"""

from __future__ import annotations

import re
import threading
from functools import lru_cache

from lxml import etree

from gateway.xoev.limits import Limits
from gateway.xoev.report import Finding, Location, finding


class XmlRejected(Exception):
    """The input is not XML the gateway is willing to look at; ``finding`` says why and where."""

    def __init__(self, item: Finding) -> None:
        super().__init__(f"{item.rule}: {item.message}")
        self.finding = item


_local = threading.local()


def _parser() -> etree.XMLParser:
    """One parser per thread: lxml parsers keep state and must not be shared between threads."""
    parser: etree.XMLParser | None = getattr(_local, "parser", None)
    if parser is None:
        parser = etree.XMLParser(
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            dtd_validation=False,
            huge_tree=False,  # keeps libxml2's own hard caps (depth 256, text node 10 MB) as a backstop
            remove_blank_text=False,
            collect_ids=False,
        )
        _local.parser = parser
    return parser


@lru_cache(maxsize=16)
def _depth_probe(limit: int) -> etree.XPath:
    """An XPath that is true when any element sits deeper than ``limit``: one O(n) pass in C."""
    return etree.XPath("boolean(" + "/*" * (limit + 1) + ")")


_COUNT = etree.XPath("count(//*)")
#: A DOCTYPE can only stand in the prolog: after the XML declaration, comments, PIs and white space.
#: The repetition is possessive (``*+``, ``\s++``): a prolog splits into those items in one way only, and
#: without it a run of white space, PIs or comments before a missing DOCTYPE was tried in every split --
#: exponential backtracking (30 spaces took about a minute).
_PROLOG_DOCTYPE = re.compile(rb"\A(?:\xef\xbb\xbf)?(?:\s++|<\?.*?\?>|<!--.*?-->)*+<!DOCTYPE", re.DOTALL)


def has_doctype(data: bytes) -> bool:
    """True when the document declares a DTD; checked before libxml2 sees it, so no DTD is ever read."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        head = data[: 1 << 20]
        try:
            text = head.decode("utf-16")
        except UnicodeDecodeError:
            text = head[: len(head) // 2 * 2].decode("utf-16", errors="replace")
        return _PROLOG_DOCTYPE.match(text.lstrip("\ufeff").encode("utf-8")) is not None
    return _PROLOG_DOCTYPE.match(data) is not None


_TEXT_LENGTHS = etree.XPath("//text()[string-length(.) > $limit]")


def source_line(element: etree._Element) -> int | None:
    """The element's line in its source, or None (lxml-stubs type ``sourceline`` loosely)."""
    line: object = element.sourceline
    return line if isinstance(line, int) else None


def _classify_syntax_error(exc: etree.XMLSyntaxError, source: str | None) -> Finding:
    reason = str(exc.msg or exc).strip()
    line = exc.lineno if exc.lineno else None
    loc = Location(file=source, line=line)
    lowered = reason.lower()
    if "entity" in lowered or "amplification" in lowered:
        return finding("XGW-XML-003", loc, reason=reason)
    if "depth" in lowered:
        return finding("XGW-XML-004", loc, limit=256)
    if "huge" in lowered or "too long" in lowered or "xmlsax2characters" in lowered:
        return finding("XGW-XML-006", loc, limit=10_000_000)
    return finding("XGW-XML-001", loc, reason=reason)


def parse_xml(data: bytes, limits: Limits, *, source: str | None = None) -> etree._ElementTree:
    """Parse ``data`` into a tree or raise :class:`XmlRejected`.

    The byte limit is checked before libxml2 sees anything; depth, element count and text size are
    checked on the parsed tree with compiled XPath probes, which costs well under a millisecond for a
    typical 100 KB message.
    """
    loc = Location(file=source)
    if not data.strip():
        raise XmlRejected(finding("XGW-IN-002", loc))
    if len(data) > limits.max_xml_bytes:
        raise XmlRejected(finding("XGW-IN-003", loc, size=len(data), limit=limits.max_xml_bytes))
    if has_doctype(data):
        raise XmlRejected(finding("XGW-XML-002", Location(file=source, line=1)))
    try:
        root = etree.fromstring(data, _parser())
    except etree.XMLSyntaxError as exc:
        raise XmlRejected(_classify_syntax_error(exc, source)) from None
    except ValueError as exc:  # e.g. unicode strings with an encoding declaration
        raise XmlRejected(finding("XGW-XML-001", loc, reason=str(exc))) from None
    tree = root.getroottree()
    docinfo = tree.docinfo
    if getattr(docinfo, "doctype", "") or docinfo.internalDTD is not None:
        raise XmlRejected(finding("XGW-XML-002", loc))
    check_tree_limits(tree, limits, source=source, input_bytes=len(data))
    return tree


#: How many UTF-8 bytes one input byte can become at most: a single-byte encoding's character (windows-1252's
#: euro sign, 0x80) is three bytes in UTF-8; UTF-16 and character references grow less.
_UTF8_GROWTH = 3
_SMALLEST_ELEMENT = len(b"<a/>")


def check_tree_limits(
    tree: etree._ElementTree, limits: Limits, *, source: str | None = None, input_bytes: int | None = None
) -> None:
    """Apply the depth, count and text limits to an already parsed tree (also used for built messages).

    ``input_bytes`` is the size of the document the tree was parsed from: when even three times that is
    within the text limit, no text node can exceed it and its probe is skipped; likewise the element count
    when the input has fewer than four bytes per allowed element. That probe visits every
    text node (1.8 ms for a 100 KB message, more than the parse), and the gateway's messages are far
    smaller than the limit (10 MiB by default), so it now runs only for documents that could break it.
    """
    loc = Location(file=source)
    if _depth_probe(limits.max_xml_depth)(tree):
        raise XmlRejected(finding("XGW-XML-004", loc, limit=limits.max_xml_depth))
    # the smallest element, <a/>, takes four bytes: fewer than four bytes per allowed element cannot break it
    if input_bytes is not None and input_bytes // _SMALLEST_ELEMENT <= limits.max_xml_elements:
        count = 0.0
    else:
        counted = _COUNT(tree)
        assert isinstance(counted, float)
        count = counted
    if count > limits.max_xml_elements:
        raise XmlRejected(finding("XGW-XML-005", loc, limit=limits.max_xml_elements))
    # string-length counts characters; a character is at most 4 bytes in UTF-8, so only nodes longer than
    # a quarter of the limit need their bytes counted.
    if input_bytes is not None and input_bytes * _UTF8_GROWTH <= limits.max_text_bytes:
        return
    candidates = _TEXT_LENGTHS(tree, limit=limits.max_text_bytes // 4)
    for text in candidates if isinstance(candidates, list) else []:
        if len(str(text).encode("utf-8")) > limits.max_text_bytes:
            parent = text.getparent() if isinstance(text, etree._ElementUnicodeResult) else None
            line = source_line(parent) if parent is not None else None
            raise XmlRejected(finding("XGW-XML-006", Location(file=source, line=line), limit=limits.max_text_bytes))

"""xdomea rules beyond XML Schema: what a schema-valid message can still get wrong.

Real messages are schema-valid and still wrong: the Kopf names another Nachrichtentyp than the message
element (the toolkit's own templates do this), the ProzessID is not a UUID, a code is not in its list,
the sender cannot be identified. Each check here is one rule of :mod:`gateway.xoev.rules` and returns
findings. They run on the parsed tree with precomputed Clark names so that a valid message pays well
under the XSD validation time again (see benchmarks/bench_validate.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import cast

from lxml import etree

from gateway.xoev.parsing.safe_xml import source_line
from gateway.xoev.report import Finding, Location, finding
from gateway.xoev.schemas.registry import SchemaRegistry
from gateway.xoev.validation.naming import UUID_RE

RECORD_ELEMENTS = ("Akte", "Teilakte", "Vorgang", "Teilvorgang", "Dokument", "Anlage")
_PLACEHOLDER = re.compile(r"^\[[^\]]+\]$")
#: xdomea's own code lists; values outside them are errors. General XÖV lists (e.g. Erreichbarkeit,
#: whose code '002' for '02' even the Landesarchiv Thüringen's own test messages use) only warn.
XDOMEA_LIST_PREFIX = "urn:xoev-de:xdomea:codeliste:"


@dataclass(frozen=True, slots=True)
class Header:
    """The parts of the Kopf the rules need, found in the version's own layout."""

    process_id: etree._Element | None
    type_code: etree._Element | None
    type_name: etree._Element | None
    senders: list[etree._Element]
    recipients: list[etree._Element]
    sender_label: str
    recipient_label: str


def _q(ns: str, name: str) -> str:
    return f"{{{ns}}}{name}"


def _child(el: etree._Element | None, tag: str) -> etree._Element | None:
    """The first child named ``tag``; ``iterchildren`` filters in C, ``find`` goes through Python ElementPath."""
    return next(el.iterchildren(tag), None) if el is not None else None


def _children(el: etree._Element | None, tag: str) -> list[etree._Element]:
    return list(el.iterchildren(tag)) if el is not None else []


def find_header(root: etree._Element, ns: str, version: str) -> Header:
    if version.startswith("4."):
        kopf = _child(root, _q(ns, "nachrichtenkopf"))
        typ = _child(_child(kopf, _q(ns, "identifikation.nachricht")), "nachrichtentyp")
        return Header(
            process_id=_child(kopf, _q(ns, "ProzessID")),
            type_code=_child(typ, "code"),
            type_name=_child(typ, "name"),
            senders=_children(kopf, _q(ns, "autor")),
            recipients=_children(kopf, _q(ns, "leser")),
            sender_label="autor",
            recipient_label="leser",
        )
    kopf = _child(root, _q(ns, "Kopf"))
    typ = _child(kopf, _q(ns, "Nachrichtentyp"))
    return Header(
        process_id=_child(kopf, _q(ns, "ProzessID")),
        type_code=_child(typ, "code"),
        type_name=_child(typ, "name"),
        senders=_children(kopf, _q(ns, "Absender")),
        recipients=_children(kopf, _q(ns, "Empfaenger")),
        sender_label="Absender",
        recipient_label="Empfaenger",
    )


def _loc(source: str | None, el: etree._Element | None) -> Location:
    if el is None:
        return Location(file=source)
    return Location(file=source, line=source_line(el), xpath=el.getroottree().getpath(el))


def _texts(el: etree._Element) -> Iterator[str]:
    for text in el.itertext():
        stripped = str(text).strip()
        if stripped:
            yield stripped


def check_header(
    header: Header, element: str, version: str, registry: SchemaRegistry, *, source: str | None
) -> list[Finding]:
    out: list[Finding] = []
    code = element.rsplit(".", 1)[-1]
    if header.type_code is not None:
        declared = (header.type_code.text or "").strip()
        if declared != code:
            out.append(
                finding(
                    "XGW-HDR-001",
                    _loc(source, header.type_code),
                    declared=declared or "(empty)",
                    element=element,
                    expected=code,
                )
            )
        elif header.type_name is not None and header.type_name.text:
            typ = header.type_code.getparent()
            uri = typ.get("listURI") if typ is not None else None
            list_version = typ.get("listVersionID") if typ is not None else None
            expected_name = registry.code_name(version, uri, list_version, code) if uri and list_version else None
            name = header.type_name.text.strip()
            if expected_name and " ".join(expected_name.split()) != " ".join(name.split()):
                out.append(
                    finding("XGW-HDR-006", _loc(source, header.type_name), code=code, name=name, expected=expected_name)
                )
    if header.process_id is not None:
        value = (header.process_id.text or "").strip()
        if not UUID_RE.match(value):
            out.append(finding("XGW-HDR-002", _loc(source, header.process_id), value=value))
    for label, parties in ((header.sender_label, header.senders), (header.recipient_label, header.recipients)):
        if not parties:
            out.append(finding("XGW-HDR-003", Location(file=source), party=label))
        for party in parties:
            joined = "".join(cast(Iterator[str], party.itertext()))
            if not joined.strip():
                out.append(finding("XGW-HDR-004", _loc(source, party), party=label))
                continue
            if "[" not in joined:
                continue  # no text can be a [placeholder]; the per-text look is only for those that could
            texts = list(_texts(party))
            placeholder = next((t for t in texts if _PLACEHOLDER.match(t)), None)
            if placeholder is not None:
                out.append(finding("XGW-HDR-005", _loc(source, party), party=label, value=placeholder))
    return out


def check_codes(
    root: etree._Element,
    open_elements: tuple[str, ...],
    version: str,
    registry: SchemaRegistry,
    *,
    source: str | None,
) -> list[Finding]:
    """Code values of the elements whose values the schema does not enumerate (the catalogue lists them).

    ``root.iter(*names)`` filters in C, so only those elements reach Python; the enumerated ones were
    checked by the XSD validation already. This keeps the check cheap next to the XSD validation.
    """
    out: list[Finding] = []
    if not open_elements:
        return out
    sets: dict[tuple[str, str], frozenset[str] | None] = {}
    for el in root.iter(*open_elements):
        uri = el.get("listURI")
        if not uri:
            continue
        key = (uri, el.get("listVersionID") or "")
        codes = sets.get(key, _UNSEEN)
        if codes is _UNSEEN:
            codes = sets[key] = registry.code_set(version, *key)
            if codes is None and key[1]:
                out.append(finding("XGW-CODE-002", _loc(source, el), list_uri=uri, list_version=key[1]))
        if codes is None:
            continue
        # the first unqualified ``code`` child, found by a plain loop (``find`` goes through Python
        # ElementPath); the unstripped text is tried first because it is almost always the code itself
        code_el = None
        for child in el:
            if child.tag == "code":
                code_el = child
                break
        text = code_el.text if code_el is not None else None
        if text in codes:
            continue
        code = (text or "").strip()
        if code not in codes:
            rule = "XGW-CODE-001" if uri.startswith(XDOMEA_LIST_PREFIX) else "XGW-CODE-003"
            out.append(finding(rule, _loc(source, code_el), code=code, list_uri=uri, list_version=key[1]))
    return out


_UNSEEN: frozenset[str] = frozenset({"\x00unseen"})


def check_content(
    root: etree._Element,
    ns: str,
    version: str,
    open_elements: tuple[str, ...],
    registry: SchemaRegistry,
    max_depth: int,
    *,
    source: str | None,
) -> list[Finding]:
    """The code lists, identifier uniqueness and record depth in one pass over the tree (issue 11).

    The rules beyond XSD cost as much as the XSD validation itself because every visit of the tree and
    every element handed to Python is paid per element (a quarter of a microsecond per element for all
    of libxml2's schema validation). So the coded elements and the identifiers are collected by one
    ``root.iter`` (tag matching in C) and only judged here; when anything looks wrong -- a code outside
    its list, an unknown list, two equal identifiers -- the precise checks (:func:`check_codes`,
    :func:`check_records`) run and make the findings, so findings and their order are exactly theirs.
    The common case costs two ``iter`` walks, a few attribute reads per coded element and a set of strings.
    Tried and measured slower (2026-12): an XPath or XSLT selecting the same elements with predicates
    (1.6-2 ms for a 100 KB message, libxml2 builds a node-set per predicate and element).
    """
    sets: dict[tuple[str, str], frozenset[str] | None] = {}
    codes_wrong = False
    for el in root.iter(*open_elements) if open_elements else ():
        uri = el.get("listURI")
        if not uri:
            continue
        key = (uri, el.get("listVersionID") or "")
        codes = sets.get(key, _UNSEEN)
        if codes is _UNSEEN:
            codes = sets[key] = registry.code_set(version, *key)
        if codes is None:
            if key[1]:
                codes_wrong = True
                break
            continue
        try:
            first = el[0]  # the code is the first child in every xdomea code type; el[0] makes no iterator
        except IndexError:
            codes_wrong = True
            break
        if first.tag != "code" or first.text not in codes:
            codes_wrong = True  # includes codes with white space around them: the precise check decides
            break
    out = check_codes(root, open_elements, version, registry, source=source) if codes_wrong else []
    # every identifier of a record is an ID (xdomeaUUID) element; if all of those differ, so do the records'
    id_tag = _q(ns, "xdomeaUUID" if ns.endswith(":4.0.0") else "ID")
    values = [v for v in map(str.strip, [e.text or "" for e in root.iter(id_tag)]) if v]
    unique = len(set(values)) == len(values)
    out.extend(_record_findings(root, ns, max_depth, source=source, duplicates=not unique))
    return out


@lru_cache(maxsize=32)
def _record_probes(ns: str, limit: int) -> tuple[etree.XPath, etree.XPath]:
    """Compiled XPaths for one namespace and limit: the record identifiers, and a cheap depth bound.

    The root is never a record and every record carries Identifikation/ID (mandatory in all versions),
    so ``limit + 1`` nested records need an XML depth of at least ``limit + 4``. Typical messages are far
    shallower, so the exact count (a walk over the records in Python) runs only when the probe fires.
    """
    id_name = "xdomeaUUID" if ns.endswith(":4.0.0") else "ID"
    ids = etree.XPath(f"//x:Identifikation/x:{id_name}/text()", namespaces={"x": ns}, smart_strings=False)
    deep = etree.XPath("boolean(" + "/*" * (limit + 4) + ")")
    return ids, deep


def check_records(root: etree._Element, ns: str, max_depth: int, *, source: str | None) -> list[Finding]:
    """Nesting depth of Schriftgutobjekte and uniqueness of their identifiers."""
    ids_xpath, _deep = _record_probes(ns, max_depth)
    ids = ids_xpath(root)
    values = [v.strip() for v in ids if isinstance(v, str)] if isinstance(ids, list) else []
    return _record_findings(root, ns, max_depth, source=source, duplicates=len(set(values)) != len(values))


def _record_findings(
    root: etree._Element, ns: str, max_depth: int, *, source: str | None, duplicates: bool
) -> list[Finding]:
    """Duplicate identifiers (looked for only when ``duplicates`` says there may be some) and record depth."""
    out: list[Finding] = []
    _ids, deep_xpath = _record_probes(ns, max_depth)
    if duplicates:
        seen: set[str] = set()
        id_name = "xdomeaUUID" if ns.endswith(":4.0.0") else "ID"
        for ident in root.iter(_q(ns, "Identifikation")):
            id_el = ident.find(_q(ns, id_name))
            value = (id_el.text or "").strip() if id_el is not None else ""
            if value and value in seen:
                out.append(finding("XGW-TREE-002", _loc(source, id_el), value=value))
            seen.add(value)
    if deep_xpath(root):
        tags = tuple(_q(ns, n) for n in RECORD_ELEMENTS)
        depth: dict[etree._Element, int] = {}
        deepest: tuple[int, etree._Element | None] = (0, None)
        for el in root.iter(*tags):
            above = next(el.iterancestors(*tags), None)
            level = depth[above] + 1 if above is not None else 1
            depth[el] = level
            if level > deepest[0]:
                deepest = (level, el)
        if deepest[0] > max_depth:
            out.append(finding("XGW-TREE-001", _loc(source, deepest[1]), depth=deepest[0], limit=max_depth))
    return out

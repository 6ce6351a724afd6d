"""XML Schema validation: libxml2 decides, xmlschema explains.

The fast path is libxml2 (through lxml): about a millisecond for a typical message, and it is what the
Thuringian state archive's software (x-man) uses, so its verdict is the one that predicts acceptance.
Only when libxml2 says "invalid" do we ask xmlschema as well: libxml2 stops at the first error inside a
content model, xmlschema reports every one. The report is the union, one finding per place.

The two disagree on one known point, decided here: a ``fixed`` boolean such as
``Kopf/Importbestaetigung`` (fixed ``1``) written as ``true``. libxml2 compares lexically and rejects it,
xmlschema compares values and accepts it. The gateway follows libxml2 and reports rule XGW-XSD-002,
because the receiving archive will reject such a message; see docs/validation.md.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from lxml import etree

from gateway.xoev.parsing.safe_xml import source_line
from gateway.xoev.report import Finding, Location, finding
from gateway.xoev.schemas.registry import CompiledSchema

_CLARK = re.compile(r"\{urn:xoev-de:xdomea:schema:[0-9.]+\}")
_OTHER_CLARK = re.compile(r"\{[^}]*\}")
_FIXED = re.compile(r"The actual value '(?P<value>[^']*)' does not match the fixed value constraint '(?P<fixed>[^']*)'")
_MAX_DETAILED_ERRORS = 200


def _short(text: str) -> str:
    """Clark names ({urn:...}Name) are unreadable for people; write them as xdomea:Name."""
    return _OTHER_CLARK.sub("", _CLARK.sub("xdomea:", text))


def validate_xsd(tree: etree._ElementTree, compiled: CompiledSchema, *, source: str | None) -> list[Finding]:
    """Return the schema findings for ``tree`` (empty when valid)."""
    with compiled.lock:
        if compiled.lxml_schema.validate(tree):
            return []
        log: Iterable[Any] = compiled.lxml_schema.error_log  # type: ignore[assignment]  # lxml-stubs lack __iter__
        lxml_errors = [(e.line, e.path, e.message) for e in log]
    findings: list[Finding] = []
    seen: set[tuple[int | None, str]] = set()
    for line, path, message in lxml_errors:
        loc = Location(file=source, line=line or None, xpath=path or None)
        fixed = _FIXED.search(message)
        if fixed:
            element = path.rsplit("/", 1)[-1] if path else "element"
            findings.append(finding("XGW-XSD-002", loc, element=element, fixed=fixed["fixed"], value=fixed["value"]))
        else:
            findings.append(finding("XGW-XSD-001", loc, reason=_short(message)))
        seen.add((line or None, path))
    for error in compiled.detailed().iter_errors(tree):
        if len(findings) >= _MAX_DETAILED_ERRORS:
            break
        path = error.path or ""
        line = error.sourceline
        child = getattr(error, "invalid_child", None)
        if isinstance(child, etree._Element):
            line = source_line(child) or line
            path = f"{path}/{_short(child.tag) if isinstance(child.tag, str) else '?'}"
        if (line, path) in seen:
            continue
        seen.add((line, path))
        reason = _short(error.reason or error.message)
        findings.append(finding("XGW-XSD-001", Location(file=source, line=line, xpath=path or None), reason=reason))
    return findings

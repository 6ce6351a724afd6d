"""The xdomea naming rule for message files and packages.

2.x and 3.x name a message ``<ProzessID>_<Gruppe.Name.Code>`` (``..._Aussonderung.Aussonderung.0503.xml``);
4.0.0 names it ``<ProzessID>_<Code>_<LfdNr>`` (``..._0503_1.xml``). Real systems also send the short form
``<ProzessID>_<Code>``, and packages may end in ``.xdomea`` instead of ``.zip``; both are accepted. The
receiving archive matches messages to processes by these names, so a wrong name is an error, not a style
issue.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from gateway.xoev.report import Finding, Location, finding

UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
XML_SUFFIXES = (".xml",)
PACKAGE_SUFFIXES = (".zip", ".xdomea")

_NAME = re.compile(
    r"^(?P<pid>[^_]+)_"
    r"(?:(?P<element>[A-Za-z]+\.[A-Za-z]+\.(?P<ecode>\d{4}))"
    r"|(?P<code>\d{4})(?:_(?P<lfdnr>[1-9]\d*))?)$"
)


@dataclass(frozen=True, slots=True)
class ParsedName:
    process_id: str
    code: str
    element: str | None  # Gruppe.Name.Code when the long 2.x/3.x form was used
    sequence: int | None  # 4.0.0 LfdNr


def pattern_for(version: str) -> str:
    if version.startswith("4."):
        return "<ProzessID>_<Code>_<LfdNr>, e.g. <uuid>_0503_1"
    return "<ProzessID>_<Gruppe.Name.Code>, e.g. <uuid>_Aussonderung.Aussonderung.0503"


def stem_of(name: str) -> str:
    """The name without directories and without its .xml/.zip/.xdomea suffix."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    lowered = base.lower()
    for suffix in XML_SUFFIXES + PACKAGE_SUFFIXES:
        if lowered.endswith(suffix):
            return base[: -len(suffix)]
    return base


def parse_name(name: str) -> ParsedName | None:
    m = _NAME.match(stem_of(name))
    if m is None or not UUID_RE.match(m["pid"]):
        return None
    lfdnr = m["lfdnr"]
    return ParsedName(
        process_id=m["pid"],
        code=m["ecode"] or m["code"],
        element=m["element"],
        sequence=int(lfdnr) if lfdnr else None,
    )


def check_name(name: str, *, version: str, element: str, process_id: str | None, location: Location) -> list[Finding]:
    """Check a file or package name against the message it carries (its version, element and ProzessID)."""
    parsed = parse_name(name)
    base = stem_of(name)
    if parsed is None:
        return [finding("XGW-NAME-001", location, name=base, version=version, pattern=pattern_for(version))]
    out: list[Finding] = []
    code = element.rsplit(".", 1)[-1]
    is_v4 = version.startswith("4.")
    if parsed.element is not None and is_v4:
        # 4.0.0 dropped the long form; accepting it would hide a sender still configured for 3.x
        out.append(finding("XGW-NAME-001", location, name=base, version=version, pattern=pattern_for(version)))
    elif parsed.element is not None and parsed.element != element:
        out.append(finding("XGW-NAME-003", location, in_name=parsed.element, actual=element))
    elif parsed.code != code:
        out.append(finding("XGW-NAME-003", location, in_name=parsed.code, actual=element))
    elif parsed.sequence is not None and not is_v4:
        out.append(finding("XGW-NAME-001", location, name=base, version=version, pattern=pattern_for(version)))
    if process_id is not None and parsed.process_id.lower() != process_id.strip().lower():
        out.append(finding("XGW-NAME-002", location, in_name=parsed.process_id, in_kopf=process_id.strip()))
    return out

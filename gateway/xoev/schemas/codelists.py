"""Genericode code lists of an xdomea version (Nachrichtentyp, Dateiformat, Aussonderungsart ...).

XSD pins each code element to its list (``listURI``/``listVersionID`` are fixed attributes) but in most
versions does not enumerate the values, so a code such as ``0599`` passes the schema. These lists close
that gap. A version without lists in its bundle (3.1.0) gets an empty set, and the rule reports that the
values went unchecked instead of silently passing them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree

GC_NS = "http://docs.oasis-open.org/codelist/ns/genericode/1.0/"


@dataclass(frozen=True, slots=True)
class CodeList:
    uri: str
    version: str
    short_name: str
    #: code -> its name/description column (the second column of the list), in list order
    codes: dict[str, str]


@dataclass(slots=True)
class CodeLists:
    lists: dict[tuple[str, str], CodeList] = field(default_factory=dict)

    def get(self, uri: str, version: str) -> CodeList | None:
        return self.lists.get((uri, version))

    def by_short_name(self, short_name: str) -> CodeList | None:
        for cl in self.lists.values():
            if cl.short_name.lower() == short_name.lower():
                return cl
        return None


def _text(el: etree._Element | None) -> str:
    return (el.text or "").strip() if el is not None else ""


def parse_code_list(path: Path) -> CodeList:
    doc = etree.parse(str(path), etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False))
    root = doc.getroot()
    ident = root.find("Identification")
    if ident is None:
        raise ValueError(f"{path.name}: not a genericode code list (no Identification)")
    uri = _text(ident.find("CanonicalUri"))
    version = _text(ident.find("Version"))
    short = _text(ident.find("ShortName"))
    columns = [c.get("Id") or "" for c in root.iterfind("ColumnSet/Column")]
    key_refs = [r.get("Ref") or "" for r in root.iterfind("ColumnSet/Key/ColumnRef")]
    key_col = key_refs[0] if key_refs else (columns[0] if columns else "code")
    name_col = next((c for c in columns if c != key_col), key_col)
    codes: dict[str, str] = {}
    for row in root.iterfind("SimpleCodeList/Row"):
        values = {v.get("ColumnRef"): _text(v.find("SimpleValue")) for v in row.iterfind("Value")}
        code = values.get(key_col)
        if code:
            codes[code] = values.get(name_col, "")
    return CodeList(uri=uri, version=version, short_name=short, codes=codes)


def load_code_lists(folder: Path | None) -> CodeLists:
    out = CodeLists()
    if folder is None or not folder.is_dir():
        return out
    for path in sorted(folder.glob("*.xml")):
        cl = parse_code_list(path)
        out.lists[(cl.uri, cl.version)] = cl
    return out

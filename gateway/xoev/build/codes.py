"""What each version's schema fixes for its code elements, read from the schema itself.

Every code element of xdomea pins its list through ``listURI``/``listVersionID``, as ``fixed`` values in
``xdomea-Datentypen.xsd``, and they change between versions (Nachrichtentyp 1.0 in 2.4.0, 2.0 in 3.x,
3.0 in 4.0.0). Some lists leave the version open but required (Dateiformat since 3.0.0), and 3.x forbids
a ``name`` child where 4.0.0 allows it. Reading these facts from the XSD rather than copying them into
code keeps the builder right for every bundle the registry accepts.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from lxml import etree

from gateway.xoev.schemas.catalogue import XSD_NS
from gateway.xoev.schemas.codelists import CodeList
from gateway.xoev.schemas.registry import SchemaRegistry

_XS = f"{{{XSD_NS}}}"
NACHRICHTENTYP_URI = "urn:xoev-de:xdomea:codeliste:nachrichtentyp"
DATEIFORMAT_URI = "urn:xoev-de:xdomea:codeliste:dateiformat"
#: List versions to write where the schema requires one but does not fix it and the bundle has no list.
#: Dateiformat 2.0 is what the published 3.x/4.0.0 examples use.
FALLBACK_LIST_VERSIONS = {
    DATEIFORMAT_URI: "2.0",
    "urn:xoev-de:xdomea:codeliste:bewertungsvorschlag": "1.0",
    "urn:xoev-de:kosit:codeliste:xta.serviceprofile.kryptographische-algorithmen": "1.0.0",
    "urn:xoev-de:kosit:codeliste:verzeichnisdienst": "2",
}


@dataclass(frozen=True, slots=True)
class CodeSpec:
    """The schema's constraints on one code type (e.g. ``NachrichtentypCodeType``)."""

    list_uri: str | None
    fixed_version: str | None
    version_required: bool
    allows_name: bool


@dataclass(frozen=True, slots=True)
class VersionCodes:
    """Code facts of one xdomea version: the schema's specs and the bundle's genericode lists."""

    version: str
    specs: dict[str, CodeSpec]
    lists: dict[str, CodeList]  # listURI -> the list the bundle has for it (the version the schema fixes)

    def spec(self, type_name: str) -> CodeSpec:
        try:
            return self.specs[type_name]
        except KeyError:
            raise KeyError(f"xdomea {self.version} has no code type {type_name}") from None

    def list_version(self, type_name: str, requested: str | None = None) -> str | None:
        """The listVersionID to write: the fixed one, else the requested, the bundle's or a known default."""
        spec = self.spec(type_name)
        if spec.fixed_version is not None:
            return spec.fixed_version
        if requested:
            return requested
        if spec.list_uri is None:
            return None
        bundled = self.lists.get(spec.list_uri)
        if bundled is not None:
            return bundled.version
        return FALLBACK_LIST_VERSIONS.get(spec.list_uri) if spec.version_required else None

    def name_of(self, type_name: str, code: str) -> str | None:
        spec = self.spec(type_name)
        cl = self.lists.get(spec.list_uri) if spec.list_uri else None
        return cl.codes.get(code) if cl is not None else None

    def message_type_name(self, element: str) -> str:
        """Nachrichtentyp name for a message element: the code list's wording, else the element's."""
        code = element.rsplit(".", 1)[-1]
        listed = self.name_of("NachrichtentypCodeType", code)
        return listed or element.rsplit(".", 1)[0]


def _parse_specs(xsd: Path) -> dict[str, CodeSpec]:
    doc = etree.parse(str(xsd), etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False))
    specs: dict[str, CodeSpec] = {}
    for ct in doc.getroot().iterchildren(f"{_XS}complexType"):
        name = ct.get("name") or ""
        if not name.endswith("CodeType"):
            continue
        attrs = {a.get("name"): a for a in ct.iter(f"{_XS}attribute")}
        uri_attr = attrs.get("listURI")
        version_attr = attrs.get("listVersionID")
        specs[name] = CodeSpec(
            list_uri=uri_attr.get("fixed") if uri_attr is not None else None,
            fixed_version=version_attr.get("fixed") if version_attr is not None else None,
            version_required=version_attr is not None and version_attr.get("use") == "required",
            allows_name=any(e.get("name") == "name" for e in ct.iter(f"{_XS}element")),
        )
    return specs


_cache: dict[tuple[Path, str], VersionCodes] = {}
_lock = threading.Lock()


def version_codes(registry: SchemaRegistry, version: str) -> VersionCodes:
    entry = registry.version(version)
    key = (registry.schema_dir, version)
    cached = _cache.get(key)
    if cached is not None:
        return cached
    with _lock:
        cached = _cache.get(key)
        if cached is None:
            specs = _parse_specs(registry.schema_dir / entry.directory / "xdomea-Datentypen.xsd")
            bundle = registry.code_lists(version)
            lists: dict[str, CodeList] = {}
            for spec in specs.values():
                if spec.list_uri is None:
                    continue
                if spec.fixed_version is not None:
                    # lists are versioned apart from xdomea: 3.1.0 has none but uses 3.0.0's Nachrichtentyp 2.0
                    cl = registry.code_list(version, spec.list_uri, spec.fixed_version)
                else:
                    cl = next((c for (uri, _), c in bundle.lists.items() if uri == spec.list_uri), None)
                if cl is not None:
                    lists[spec.list_uri] = cl
            cached = VersionCodes(version=version, specs=specs, lists=lists)
            _cache[key] = cached
        return cached

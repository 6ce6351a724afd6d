"""The project's catalogue of supported xdomea versions (``gateway/xoev/schemas/catalogue.json``).

The official schema files are never copied into the repository; instead the catalogue records, per
version, the namespace, the entry XSDs with the message elements each defines, the XML catalog that maps
absolute imports to local files, the code list folder and the SHA-256 of every file the version needs.
The registry checks a bundle against it, so a tampered or incomplete bundle is refused with a message
that names the file. ``xgw schemas catalogue`` regenerates the catalogue from a trusted bundle.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lxml import etree

XSD_NS = "http://www.w3.org/2001/XMLSchema"
CATALOG_NS = "urn:oasis:names:tc:entity:xmlns:xml:catalog"
NAMESPACE_PREFIX = "urn:xoev-de:xdomea:schema:"
MESSAGE_ELEMENT = re.compile(r"^[A-Za-z]+\.[A-Za-z]+\.\d{4}$")
#: Versions the gateway supports, oldest first.
SUPPORTED_VERSIONS = ("2.3.0", "2.4.0", "3.0.0", "3.1.0", "4.0.0")
CATALOGUE_FORMAT = 1


class CatalogueError(Exception):
    """The catalogue file itself is missing or malformed."""


@dataclass(frozen=True, slots=True)
class VersionEntry:
    version: str
    namespace: str
    directory: str  # relative to the schema dir, e.g. "xdomea/3.0.0"
    #: entry XSD (relative to the schema dir) -> message element local names it declares
    entries: dict[str, tuple[str, ...]]
    catalog: str | None  # OASIS XML catalog (relative to the schema dir) for absolute imports
    code_lists: str | None  # folder of genericode files (relative to the schema dir)
    files: dict[str, str] = field(default_factory=dict)  # relative path -> sha256
    #: coded elements whose values the schemas do not enumerate (Clark names), see _open_code_elements
    open_code_elements: tuple[str, ...] = ()

    def entry_for(self, element: str) -> str | None:
        for xsd, elements in self.entries.items():
            if element in elements:
                return xsd
        return None

    @property
    def message_elements(self) -> tuple[str, ...]:
        return tuple(sorted({e for els in self.entries.values() for e in els}))


@dataclass(frozen=True, slots=True)
class Catalogue:
    versions: dict[str, VersionEntry]

    def by_namespace(self, namespace: str) -> VersionEntry | None:
        for entry in self.versions.values():
            if entry.namespace == namespace:
                return entry
        return None


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def load_catalogue(path: Path) -> Catalogue:
    try:
        raw: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CatalogueError(f"cannot read the schema catalogue {path}: {exc}") from exc
    if raw.get("format") != CATALOGUE_FORMAT:
        raise CatalogueError(f"{path}: unknown catalogue format {raw.get('format')!r}")
    versions = {}
    for version, v in raw["versions"].items():
        versions[version] = VersionEntry(
            version=version,
            namespace=v["namespace"],
            directory=v["directory"],
            entries={k: tuple(els) for k, els in v["entries"].items()},
            catalog=v.get("catalog"),
            code_lists=v.get("code_lists"),
            files=dict(v["files"]),
            open_code_elements=tuple(v.get("open_code_elements", ())),
        )
    return Catalogue(versions)


def _global_message_elements(xsd: Path) -> tuple[str, ...]:
    doc = etree.parse(str(xsd), etree.XMLParser(resolve_entities=False, no_network=True))
    names = doc.xpath("/xs:schema/xs:element/@name", namespaces={"xs": XSD_NS})
    assert isinstance(names, list)
    return tuple(sorted(str(n) for n in names if MESSAGE_ELEMENT.match(str(n))))


def _referenced_schemas(xsd: Path, uri_map: dict[str, Path], seen: set[Path]) -> None:
    """Collect every local file reachable from ``xsd`` through import/include (for hashing)."""
    xsd = xsd.resolve()
    if xsd in seen:
        return
    seen.add(xsd)
    doc = etree.parse(str(xsd), etree.XMLParser(resolve_entities=False, no_network=True))
    locations = doc.xpath("//xs:import/@schemaLocation | //xs:include/@schemaLocation", namespaces={"xs": XSD_NS})
    assert isinstance(locations, list)
    for loc in locations:
        loc = str(loc)
        target = uri_map.get(loc) or (xsd.parent / loc)
        if target.is_file():
            _referenced_schemas(target, uri_map, seen)


def read_xml_catalog(path: Path) -> dict[str, Path]:
    """URL -> local file from an OASIS catalog's ``system`` and ``uri`` entries."""
    doc = etree.parse(str(path), etree.XMLParser(resolve_entities=False, no_network=True))
    mapping: dict[str, Path] = {}
    for el in doc.getroot().iter(f"{{{CATALOG_NS}}}system", f"{{{CATALOG_NS}}}uri"):
        key = el.get("systemId") or el.get("name")
        uri = el.get("uri")
        if key and uri:
            mapping[key] = (path.parent / uri).resolve()
    return mapping


def _open_code_elements(schema_dir: Path, entries: list[str], uri_map: dict[str, Path]) -> list[str]:
    """Clark names of the coded elements whose values the version's schemas do not enumerate.

    The schemas enumerate the values of most xdomea code lists, so XSD validation has already checked
    them; only the others need the genericode lists. Knowing them ahead lets the validator visit just
    those elements (``root.iter(*names)``) instead of every element of the message, which keeps the rules
    beyond XSD cheaper than the XSD validation itself.
    """
    import tempfile

    import xmlschema
    from xmlschema.validators import XsdComplexType, XsdElement, XsdGroup

    includes = "".join(f'<xs:include schemaLocation="{(schema_dir / e).resolve().as_uri()}"/>' for e in entries)
    namespace = _target_namespace(schema_dir / entries[0])
    wrapper = (
        f'<xs:schema xmlns:xs="{XSD_NS}" targetNamespace="{namespace}" elementFormDefault="qualified">'
        f"{includes}</xs:schema>"
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "all.xsd"
        path.write_text(wrapper, encoding="utf-8")
        schema = xmlschema.XMLSchema10(
            str(path), uri_mapper={k: str(v) for k, v in uri_map.items()}, allow="local", defuse="always"
        )
    names: set[str] = set()
    for comp in schema.maps.iter_components(xsd_classes=XsdElement):
        assert isinstance(comp, XsdElement)
        typ = comp.type
        if not isinstance(typ, XsdComplexType) or "listURI" not in typ.attributes:
            continue
        content = typ.content
        children = content.iter_elements() if isinstance(content, XsdGroup) else iter(())
        code = next((c for c in children if c.local_name == "code"), None)
        code_type = code.type if code is not None else None
        enumerated = code_type is not None and code_type.is_simple() and bool(getattr(code_type, "enumeration", None))
        if not enumerated and comp.name:
            names.add(comp.name)
    return sorted(names)


def _target_namespace(xsd: Path) -> str:
    doc = etree.parse(str(xsd), etree.XMLParser(resolve_entities=False, no_network=True))
    return doc.getroot().get("targetNamespace") or ""


def build_catalogue(schema_dir: Path) -> dict[str, Any]:
    """Describe the bundle under ``schema_dir`` (trusted at this moment) as catalogue JSON data."""
    schema_dir = schema_dir.resolve()
    out: dict[str, Any] = {"format": CATALOGUE_FORMAT, "versions": {}}
    for version in SUPPORTED_VERSIONS:
        vdir = schema_dir / "xdomea" / version
        if not vdir.is_dir():
            continue
        catalog = vdir / "catalog.xml"
        uri_map = read_xml_catalog(catalog) if catalog.is_file() else {}
        entries: dict[str, list[str]] = {}
        reachable: set[Path] = set()
        for xsd in sorted(vdir.glob("xdomea-Nachrichten-*.xsd")):
            elements = _global_message_elements(xsd)
            if elements:
                entries[xsd.relative_to(schema_dir).as_posix()] = list(elements)
                _referenced_schemas(xsd, uri_map, reachable)
        files = set(reachable)
        if catalog.is_file():
            files.add(catalog.resolve())
        code_dir = vdir / "code_lists"
        if code_dir.is_dir():
            files.update(p.resolve() for p in code_dir.glob("*.xml"))
        out["versions"][version] = {
            "namespace": NAMESPACE_PREFIX + version,
            "directory": vdir.relative_to(schema_dir).as_posix(),
            "entries": entries,
            "catalog": catalog.relative_to(schema_dir).as_posix() if catalog.is_file() else None,
            "code_lists": code_dir.relative_to(schema_dir).as_posix() if code_dir.is_dir() else None,
            "files": {p.relative_to(schema_dir).as_posix(): sha256_file(p) for p in sorted(files)},
            "open_code_elements": _open_code_elements(schema_dir, list(entries), uri_map),
        }
    return out

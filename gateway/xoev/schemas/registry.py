"""The schema registry: which xdomea versions exist, and their compiled schemas and code lists.

Compiling is lazy and happens once per process per (version, entry XSD): libxml2 needs 5-12 ms, which is
cheaper than any cache we could load from disk, and xmlschema (0.3-0.5 s) is only needed for the
detailed report of an invalid message. Both compiled forms are shared between threads. Before a version
is used for the first time its files are checked against the catalogue's SHA-256, so a changed or missing
file is refused with a message naming it rather than producing odd validation results later.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pickle
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import xmlschema
from lxml import etree

from gateway.config import Settings
from gateway.xoev.schemas.catalogue import (
    Catalogue,
    CatalogueError,
    VersionEntry,
    load_catalogue,
    read_xml_catalog,
    sha256_file,
)
from gateway.xoev.schemas.codelists import CodeList, CodeLists, load_code_lists


class SchemaBundleError(Exception):
    """The schema bundle cannot be used (missing, tampered, incomplete); the message says which file."""


class _CatalogResolver(etree.Resolver):
    """Resolves the absolute http(s) imports of xdomea 4.0.0 to the bundle's local copies, never the network."""

    def __init__(self, mapping: dict[str, Path]) -> None:
        super().__init__()
        self._mapping = mapping

    def resolve(self, system_url: str, public_id: str, context: Any) -> Any:  # type: ignore[override]
        local = self._mapping.get(system_url)
        if local is not None:
            return self.resolve_filename(str(local), context)  # type: ignore[attr-defined]
        if system_url.startswith(("http:", "https:", "ftp:")):
            raise SchemaBundleError(f"schema import {system_url} is not mapped by the bundle's catalog")
        return None


@dataclass(slots=True)
class CompiledSchema:
    """One entry XSD compiled by both libraries; ``lock`` guards lxml's per-instance error log."""

    lxml_schema: etree.XMLSchema
    path: Path
    uri_map: dict[str, Path]
    #: where the xmlschema form is cached between processes (None: no cache), and the cache key
    cache_file: Path | None = None
    _xmlschema: xmlschema.XMLSchema10 | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def detailed(self) -> xmlschema.XMLSchema10:
        """The xmlschema form, built on first use only: it takes 0.3-0.5 s against libxml2's 10 ms.

        A pickled copy in the cache directory loads in about a tenth of that, so a second process (a
        CLI run, a worker restart) does not pay the full build again. The key covers the catalogue
        hashes of the bundle and the xmlschema version, so a changed bundle never meets a stale cache.
        """
        with self.lock:
            if self._xmlschema is None:
                self._xmlschema = _load_cached(self.cache_file) or self._build()
            return self._xmlschema

    def _build(self) -> xmlschema.XMLSchema10:
        schema = xmlschema.XMLSchema10(
            str(self.path),
            uri_mapper={k: str(v) for k, v in self.uri_map.items()},
            allow="local",
            defuse="always",
        )
        if self.cache_file is not None:
            _store_cached(self.cache_file, schema)
        return schema


def _load_cached(path: Path | None) -> xmlschema.XMLSchema10 | None:
    """Unpickle only a file this user owns and nobody else can write; anything odd means rebuild."""
    if path is None:
        return None
    try:
        st = path.stat()
        if st.st_uid != os.getuid() or st.st_mode & 0o022:
            return None
        with path.open("rb") as fh:
            schema = pickle.load(fh)  # noqa: S301 - our own cache file, owner-checked above
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError, TypeError, ValueError):
        return None
    return schema if isinstance(schema, xmlschema.XMLSchema10) else None


def _store_cached(path: Path, schema: xmlschema.XMLSchema10) -> None:
    """Write atomically (temp file, rename); a cache that cannot be written is simply not used."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".pickle")
        try:
            with os.fdopen(fd, "wb") as fh:
                pickle.dump(schema, fh, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
    except (OSError, pickle.PicklingError, RecursionError, TypeError, AttributeError):
        return


class SchemaRegistry:
    """All supported versions of one schema bundle directory."""

    def __init__(
        self,
        schema_dir: Path,
        catalogue: Catalogue,
        *,
        verify_hashes: bool = True,
        cache_dir: Path | None = None,
    ) -> None:
        self.schema_dir = schema_dir
        self.cache_dir = cache_dir
        self.catalogue = catalogue
        self.verify_hashes = verify_hashes
        self._lock = threading.RLock()
        self._verified: set[str] = set()
        self._schemas: dict[tuple[str, str], CompiledSchema] = {}
        self._code_lists: dict[str, CodeLists] = {}
        self._code_sets: dict[tuple[str, str, str], frozenset[str] | None] = {}
        self._found_lists: dict[tuple[str, str, str], CodeList | None] = {}

    @classmethod
    def from_settings(cls, settings: Settings) -> SchemaRegistry:
        schema_dir = settings.schema_dir
        if not (schema_dir / "xdomea").is_dir():
            raise SchemaBundleError(
                f"no XÖV schema bundle at {schema_dir} (expected {schema_dir / 'xdomea'}/<version>/); "
                "set XGW_SCHEMA_DIR to the directory that holds xdomea/ and xta/"
            )
        try:
            catalogue = load_catalogue(settings.catalogue_file)
        except CatalogueError as exc:
            raise SchemaBundleError(str(exc)) from exc
        return cls(
            schema_dir,
            catalogue,
            verify_hashes=settings.verify_schema_hashes,
            cache_dir=settings.schema_cache_dir,
        )

    # -- versions ------------------------------------------------------------------------------------

    @property
    def versions(self) -> tuple[str, ...]:
        return tuple(self.catalogue.versions)

    def version_for_namespace(self, namespace: str) -> VersionEntry | None:
        return self.catalogue.by_namespace(namespace)

    def version(self, version: str) -> VersionEntry:
        entry = self.catalogue.versions.get(version)
        if entry is None:
            raise SchemaBundleError(f"xdomea {version} is not in the catalogue")
        self._verify(entry)
        return entry

    def _verify(self, entry: VersionEntry) -> None:
        if entry.version in self._verified:
            return
        with self._lock:
            if entry.version in self._verified:
                return
            problems = []
            for rel, expected in entry.files.items():
                path = self.schema_dir / rel
                if not path.is_file():
                    problems.append(f"{rel} is missing")
                elif self.verify_hashes and sha256_file(path) != expected:
                    problems.append(f"{rel} differs from the catalogue (SHA-256 mismatch)")
            if problems:
                shown = "; ".join(problems[:5]) + (f"; and {len(problems) - 5} more" if len(problems) > 5 else "")
                raise SchemaBundleError(
                    f"xdomea {entry.version} bundle in {self.schema_dir} is incomplete or altered: {shown}"
                )
            self._verified.add(entry.version)

    # -- schemas -------------------------------------------------------------------------------------

    def schema_for(self, version: str, element: str) -> CompiledSchema | None:
        """The compiled schema that declares message ``element`` in ``version``, or None if none does."""
        entry = self.version(version)
        xsd = entry.entry_for(element)
        if xsd is None:
            return None
        key = (version, xsd)
        compiled = self._schemas.get(key)
        if compiled is not None:
            return compiled
        with self._lock:
            compiled = self._schemas.get(key)
            if compiled is None:
                compiled = self._compile(entry, xsd)
                self._schemas[key] = compiled
            return compiled

    def _compile(self, entry: VersionEntry, xsd: str) -> CompiledSchema:
        uri_map = read_xml_catalog(self.schema_dir / entry.catalog) if entry.catalog else {}
        parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
        parser.resolvers.add(_CatalogResolver(uri_map))
        path = self.schema_dir / xsd
        try:
            schema = etree.XMLSchema(etree.parse(str(path), parser))
        except (etree.XMLSchemaParseError, etree.XMLSyntaxError, OSError) as exc:
            raise SchemaBundleError(f"cannot compile {xsd}: {exc}") from exc
        return CompiledSchema(lxml_schema=schema, path=path, uri_map=uri_map, cache_file=self._cache_file(entry, xsd))

    def _cache_file(self, entry: VersionEntry, xsd: str) -> Path | None:
        if self.cache_dir is None:
            return None
        key = hashlib.sha256(str(self.schema_dir.resolve()).encode())
        for rel, digest in sorted(entry.files.items()):
            key.update(f"{rel}={digest};".encode())
        key.update(f"xmlschema={xmlschema.__version__};".encode())
        name = f"{entry.version}-{Path(xsd).stem}-{key.hexdigest()[:24]}.pickle"
        return self.cache_dir / name

    # -- code lists ----------------------------------------------------------------------------------

    def code_lists(self, version: str) -> CodeLists:
        cached = self._code_lists.get(version)
        if cached is not None:
            return cached
        entry = self.version(version)
        with self._lock:
            cached = self._code_lists.get(version)
            if cached is None:
                folder = self.schema_dir / entry.code_lists if entry.code_lists else None
                cached = load_code_lists(folder)
                self._code_lists[version] = cached
            return cached

    #: How many (version, list URI, list version) look-ups are remembered. The keys come from messages
    #: (the listURI and listVersionID attributes), so a sender could otherwise grow the memo without end
    #: with made-up lists; real bundles hold about 50 lists per version.
    MEMO_LIMIT = 1024

    def code_set(self, version: str, uri: str, list_version: str) -> frozenset[str] | None:
        """The codes of a list as a set, memoised: the validator asks this for every coded element."""
        key = (version, uri, list_version)
        try:
            return self._code_sets[key]
        except KeyError:
            pass
        cl = self.code_list(version, uri, list_version)
        codes = frozenset(cl.codes) if cl is not None else None
        if len(self._code_sets) < self.MEMO_LIMIT:
            self._code_sets[key] = codes
        return codes

    def code_name(self, version: str, uri: str, list_version: str, code: str) -> str | None:
        """The name of ``code`` in a list (its second column), or None; one memoised look-up per list."""
        cl = self.code_list(version, uri, list_version)
        return cl.codes.get(code) if cl is not None else None

    def code_list(self, version: str, uri: str, list_version: str) -> CodeList | None:
        """A code list by URI and list version: the message version's own bundle first, then any other.

        Code lists are versioned independently of xdomea (Medium 1.0 is the same list in 3.0.0 and
        4.0.0), so a list missing from one version's bundle may be checked with another's copy. The
        answer is memoised (up to :attr:`MEMO_LIMIT` look-ups): 3.1.0 carries no lists of its own, so
        every look-up for it went through every other bundle.
        """
        key = (version, uri, list_version)
        try:
            return self._found_lists[key]
        except KeyError:
            pass
        found = self._find_code_list(version, uri, list_version)
        if len(self._found_lists) < self.MEMO_LIMIT:
            self._found_lists[key] = found
        return found

    def _find_code_list(self, version: str, uri: str, list_version: str) -> CodeList | None:
        found = self.code_lists(version).get(uri, list_version)
        if found is not None:
            return found
        for other in self.versions:
            if other == version:
                continue
            try:
                found = self.code_lists(other).get(uri, list_version)
            except SchemaBundleError:
                continue  # a damaged bundle of another version must not break this one
            if found is not None:
                return found
        return None


_default: SchemaRegistry | None = None
_default_lock = threading.Lock()


def default_registry(settings: Settings | None = None) -> SchemaRegistry:
    """The process-wide registry for the process settings (tests may build their own)."""
    global _default
    if _default is None:
        with _default_lock:
            if _default is None:
                from gateway.config import get_settings

                _default = SchemaRegistry.from_settings(settings or get_settings())
    return _default

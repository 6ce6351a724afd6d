"""The schema registry refuses tampered, incomplete or missing bundles and never touches the network."""

from __future__ import annotations

import json
import os
import shutil
import threading
from pathlib import Path

import pytest

from gateway.config import PACKAGE_ROOT, Settings
from gateway.xoev.schemas.catalogue import SUPPORTED_VERSIONS, build_catalogue, load_catalogue
from gateway.xoev.schemas.registry import SchemaBundleError, SchemaRegistry
from gateway.xoev.validation.validate import Validator

from .conftest import SAMPLES, SHARED


@pytest.fixture
def bundle_copy(tmp_path: Path) -> Path:
    target = tmp_path / "xoev"
    shutil.copytree(SHARED / "xdomea", target / "xdomea")
    return target


def test_catalogue_matches_the_shared_bundle() -> None:
    """schemas/catalogue.json is what `xgw schemas catalogue` derives from the trusted bundle."""
    committed = json.loads((PACKAGE_ROOT / "xoev" / "schemas" / "catalogue.json").read_text(encoding="utf-8"))
    assert committed == build_catalogue(SHARED)
    assert tuple(committed["versions"]) == SUPPORTED_VERSIONS


def test_every_version_compiles_offline(registry: SchemaRegistry) -> None:
    catalogue = load_catalogue(PACKAGE_ROOT / "xoev" / "schemas" / "catalogue.json")
    for version, entry in catalogue.versions.items():
        for elements in entry.entries.values():
            compiled = registry.schema_for(version, elements[0])
            assert compiled is not None, (version, elements[0])


def test_4_0_0_groups_present(registry: SchemaRegistry) -> None:
    entry = registry.version("4.0.0")
    codes = {e[-4:] for e in entry.message_elements}
    assert {c[:2] for c in codes} == {"01", "02", "04", "05"}
    assert {"0401", "0402", "0501", "0503", "0506", "0507", "0102", "0202"} <= codes


def test_tampered_file_is_refused(bundle_copy: Path, tmp_path: Path) -> None:
    target = bundle_copy / "xdomea" / "3.0.0" / "xdomea-Baukasten.xsd"
    target.write_bytes(target.read_bytes().replace(b'minOccurs="0"', b'minOccurs="1"', 1))
    settings = Settings(schema_dir=bundle_copy, schema_cache_dir=None)
    validator = Validator(SchemaRegistry.from_settings(settings), settings)
    report = validator.validate_path(
        SAMPLES / "3.0.0" / "9fde4e7a-b41b-11ec-9225-005056871b7c_Aussonderung.Aussonderung.0503.xml"
    ).report
    assert [f.rule for f in report.errors] == ["XGW-SETUP-001"]
    assert "xdomea/3.0.0/xdomea-Baukasten.xsd differs from the catalogue" in report.errors[0].message
    # other versions are unaffected
    ok = validator.validate_path(SAMPLES / "4.0.0" / "518c7c31-d1a0-11ef-accb-005056871b7c_0503_1.xml").report
    assert ok.valid


def test_missing_file_is_refused(bundle_copy: Path) -> None:
    (bundle_copy / "xdomea" / "4.0.0" / "xoev-code.xsd").unlink()
    registry = SchemaRegistry.from_settings(Settings(schema_dir=bundle_copy, schema_cache_dir=None))
    with pytest.raises(SchemaBundleError, match=r"xdomea/4.0.0/xoev-code.xsd is missing"):
        registry.schema_for("4.0.0", "Aussonderung.Aussonderung.0503")


def test_no_bundle_is_a_clear_setup_error(tmp_path: Path) -> None:
    with pytest.raises(SchemaBundleError, match="XGW_SCHEMA_DIR"):
        SchemaRegistry.from_settings(Settings(schema_dir=tmp_path))


def test_4_0_0_without_catalog_cannot_fetch(bundle_copy: Path) -> None:
    """Without catalog.xml the absolute imports have no local target; the registry refuses, never fetches."""
    catalogue = load_catalogue(PACKAGE_ROOT / "xoev" / "schemas" / "catalogue.json")
    entry = catalogue.versions["4.0.0"]
    stripped = type(catalogue)(
        {**catalogue.versions, "4.0.0": type(entry)(**{**_fields(entry), "catalog": None, "files": {}})}
    )
    registry = SchemaRegistry(bundle_copy, stripped)
    with pytest.raises(SchemaBundleError, match=r"cannot compile .*http://xoev.de/schemata/code/1_0/xoev-code.xsd"):
        registry.schema_for("4.0.0", "Aussonderung.Aussonderung.0503")


def _fields(entry: object) -> dict[str, object]:
    return {name: getattr(entry, name) for name in entry.__slots__}  # type: ignore[attr-defined]


def test_schemas_are_shared_between_threads(registry: SchemaRegistry) -> None:
    seen: list[object] = []

    def work() -> None:
        seen.append(registry.schema_for("3.1.0", "Abgabe.Abgabe.0401"))

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({id(s) for s in seen}) == 1


def test_detailed_schema_cache_is_reused_and_survives_corruption(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    settings = Settings(schema_dir=SHARED, schema_cache_dir=cache)
    first = SchemaRegistry.from_settings(settings).schema_for("2.4.0", "Aussonderung.Aussonderung.0503")
    assert first is not None
    first.detailed()
    files = list(cache.glob("*.pickle"))
    assert len(files) == 1
    assert files[0].stat().st_mode & 0o077 == 0
    written = files[0].stat().st_mtime_ns
    second = SchemaRegistry.from_settings(settings).schema_for("2.4.0", "Aussonderung.Aussonderung.0503")
    assert second is not None
    assert second.detailed().is_valid("<x/>") is False
    assert files[0].stat().st_mtime_ns == written, "the second process loads the cache instead of rebuilding"
    # a corrupt or foreign-writable cache file is ignored and rebuilt
    files[0].write_bytes(b"not a pickle")
    third = SchemaRegistry.from_settings(settings).schema_for("2.4.0", "Aussonderung.Aussonderung.0503")
    assert third is not None
    assert third.detailed().is_valid("<x/>") is False
    os.chmod(files[0], 0o666)
    fourth = SchemaRegistry.from_settings(settings).schema_for("2.4.0", "Aussonderung.Aussonderung.0503")
    assert fourth is not None
    assert fourth.detailed().is_valid("<x/>") is False


def test_code_lists_loaded_per_version(registry: SchemaRegistry) -> None:
    nt = registry.code_list("3.0.0", "urn:xoev-de:xdomea:codeliste:nachrichtentyp", "2.0")
    assert nt is not None
    assert nt.codes["0503"] == "Aussonderung.Aussonderung"
    assert registry.code_list("4.0.0", "urn:xoev-de:xdomea:codeliste:nachrichtentyp", "3.0") is not None
    assert registry.code_lists("3.1.0").lists == {}


def test_code_list_memo_is_bounded_against_made_up_lists() -> None:
    """listURI and listVersionID come from messages; made-up lists must not grow the memo without end."""
    registry = SchemaRegistry.from_settings(Settings(schema_dir=SHARED))
    known = next(iter(registry.code_lists("3.0.0").lists.values()))
    for n in range(3 * SchemaRegistry.MEMO_LIMIT):
        assert registry.code_set("3.0.0", f"urn:example:made-up:{n}", "1.0") is None
        assert registry.code_name("3.0.0", f"urn:example:made-up:{n}", "1.0", "001") is None
    assert len(registry._code_sets) <= SchemaRegistry.MEMO_LIMIT
    assert len(registry._found_lists) <= SchemaRegistry.MEMO_LIMIT
    # a full memo still answers, from the bundle
    assert registry.code_set("3.0.0", known.uri, known.version) == frozenset(known.codes)
    code, name = next(iter(known.codes.items()))
    assert registry.code_name("3.0.0", known.uri, known.version, code) == name

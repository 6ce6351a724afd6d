"""The declarative mapping and the adapter configuration: what is accepted, and how refusals name the key."""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest

from adapters import ConfigError, adapter_kinds, open_adapter
from adapters.base import AdapterContext
from adapters.hotfolder import HotfolderAdapter
from adapters.mapping import DEFAULT, load_mapping, parse_mapping
from gateway.config import REPO_ROOT
from tests.adapters.conftest import generated_tree
from tests.adapters.test_hotfolder_roundtrip import codes_only

EXAMPLE_TOML = """
[kinds]
Akte = "E-Akte"
Vorgang = "Vorgangsmappe"

[fields]
kennzeichen = "Aktenzeichen"
betreff = "Titel"
laufzeit_begin = "Beginn"
laufzeit_end = "Ende"
children = "Inhalt"

[kennzeichen]
Vorgang = "Vorgangsnummer"
Dokument = "Dokumentnummer"

[formats]
file = "Dateiname"
original_name = "Anzeigename"

[format_codes]
"044" = "PDF/A"

[extra]
Quelle = "xdomea {message_type} von {sender}, Prozess {process_id}"
"""


def test_default_mapping_round_trips_every_object() -> None:
    for obj in generated_tree(documents=30, size=20_000).message.objects:
        record = DEFAULT.to_dms(obj)
        assert record["objektart"] == "Akte" and record["aktenzeichen"] == obj.kennzeichen
        assert DEFAULT.from_dms(record) == codes_only(obj)


def test_custom_toml_mapping_uses_the_dms_names(tmp_path: Path) -> None:
    path = tmp_path / "mapping.toml"
    path.write_text(EXAMPLE_TOML, encoding="utf-8")
    mapping = load_mapping(path)
    akte = generated_tree(documents=30, size=20_000).message.objects[0]
    context = {"message_type": "0503", "sender": "psw:16067000", "process_id": "p-1"}
    record = mapping.to_dms(akte, context)
    assert record["objektart"] == "E-Akte" and record["Aktenzeichen"] == akte.kennzeichen
    assert record["Titel"] == akte.betreff and record["Beginn"] == akte.laufzeit_begin.isoformat()
    assert record["Quelle"] == "xdomea 0503 von psw:16067000, Prozess p-1"
    vorgang = next(c for c in record["Inhalt"] if c["objektart"] == "Vorgangsmappe")
    assert "Vorgangsnummer" in vorgang and "Aktenzeichen" not in vorgang
    pdfs = [
        f for o in akte.walk() for v in o.versions for f in v.formats if f.name.code == "044" and f.primary is not None
    ]
    assert pdfs, "the tree has PDF/A files"
    dumped = str(record)
    assert "'format': 'PDF/A'" in dumped and "'Dateiname': " in dumped and "'Anzeigename': " in dumped
    assert mapping.from_dms(record) == codes_only(akte)
    assert mapping.extras_of(record) == {"Quelle": record["Quelle"]}  # the DMS's own field


def test_yaml_mapping_loads(tmp_path: Path) -> None:
    path = tmp_path / "mapping.yaml"
    path.write_text("fields:\n  betreff: Bezeichnung\nkinds:\n  Dokument: Schriftstück\n", encoding="utf-8")
    mapping = load_mapping(path)
    assert mapping.fields.betreff == "Bezeichnung" and mapping.kinds["Dokument"] == "Schriftstück"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"fields": {"betref": "Titel"}}, "fields.betref: unknown key"),
        ({"fieldz": {}}, "fieldz: unknown key"),
        (
            {"fields": {"betreff": "Titel", "kennzeichen": "Titel"}},
            "fields.betreff: DMS name 'Titel' is already used by fields.kennzeichen",
        ),
        (
            {"kinds": {"Akte": "Mappe", "Vorgang": "Mappe"}},
            "kinds.Vorgang: DMS name 'Mappe' is already used by kinds.Akte",
        ),
        ({"kinds": {"Ordner": "x"}}, "kinds.Ordner.[key]: Input should be 'Akte'"),
        ({"extra": {"Quelle": "{absender}"}}, "extra.Quelle: unknown placeholder {absender}"),
        (
            {"format_codes": {"044": "PDF", "018": "PDF"}},
            "format_codes.018: DMS name 'PDF' is already used by format_codes.044",
        ),
        ({"versions": {"number": ""}}, "versions.number: must not be empty"),
    ],
)
def test_mapping_errors_name_the_key(data: dict[str, object], expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_mapping(data, "m.toml")
    assert expected in str(caught.value)


def test_mapping_file_errors(tmp_path: Path) -> None:
    bad = tmp_path / "m.toml"
    bad.write_text("[fields\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"m\.toml"):
        load_mapping(bad)
    (tmp_path / "m.ini").write_text("x=1\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"use \.toml, \.yaml or \.yml"):
        load_mapping(tmp_path / "m.ini")
    with pytest.raises(ConfigError, match="No such file"):
        load_mapping(tmp_path / "missing.toml")


def test_record_errors_name_the_field() -> None:
    with pytest.raises(ConfigError, match="record field objektart: 'Ordner'"):
        DEFAULT.from_dms({"objektart": "Ordner", "xdomea_id": "x"})
    with pytest.raises(ConfigError, match=r"record field laufzeit_beginn: '1\.1\.2020' is not a date"):
        DEFAULT.from_dms({"objektart": "Akte", "xdomea_id": "x", "laufzeit_beginn": "1.1.2020"})


# -- adapter configuration and discovery ---------------------------------------------------------------


def test_hotfolder_is_found_through_its_entry_point(
    tmp_path: Path, context_for: Callable[[str], AdapterContext]
) -> None:
    assert "hotfolder" in adapter_kinds()
    (tmp_path / "dms").mkdir()
    adapter = open_adapter({"kind": "hotfolder", "path": "dms"}, context_for("dms"))  # relative to base_dir
    assert isinstance(adapter, HotfolderAdapter)
    assert adapter.health().ok
    adapter.close()


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({}, "kind: missing"),
        ({"kind": "sharepoint"}, "kind: no adapter 'sharepoint' is installed (known: cmis, hotfolder"),
        ({"kind": "hotfolder", "path": "x", "inbx": "in"}, "inbx: unknown key"),
        ({"kind": "hotfolder"}, "give exactly one of path"),
        ({"kind": "hotfolder", "path": "x", "url": "https://h/"}, "give exactly one of path"),
        ({"kind": "hotfolder", "path": "x", "inbox": "../etc"}, "inbox: Value error, must be a relative folder"),
        (
            {"kind": "hotfolder", "path": "x", "poll_interval": -1},
            "poll_interval: Input should be greater than or equal to 0",
        ),
        (
            {"kind": "hotfolder", "url": "http://dms.example.de/dav", "username": "u"},
            "url: 'http://dms.example.de/dav' would send the password in clear text",
        ),
        ({"kind": "hotfolder", "url": "https://u:p@dms.example.de/dav"}, "url: must not contain credentials"),
        (
            {"kind": "hotfolder", "url": "https://dms.example.de/dav", "username": "u", "password_env": "NOPE_UNSET"},
            "password_env: the environment variable NOPE_UNSET is not set",
        ),
        ({"kind": "hotfolder", "path": "x", "mapping": "nowhere.toml"}, "mapping file"),
    ],
)
def test_adapter_config_errors_name_the_key(
    config: dict[str, object], expected: str, context_for: Callable[[str], AdapterContext]
) -> None:
    with pytest.raises(ConfigError) as caught:
        open_adapter(config, context_for("cfg"))
    assert expected.replace("Value error, ", "") in str(caught.value)


def test_documented_default_mapping_is_the_default() -> None:
    doc = (REPO_ROOT / "docs" / "adapters.md").read_text(encoding="utf-8")
    section = doc.split("## Mapping", 1)[1]
    block = section.split("```toml\n", 1)[1].split("```", 1)[0]
    assert parse_mapping(tomllib.loads(block), "docs/adapters.md") == DEFAULT

"""xdomea metadata as CMIS properties and back, through the participant's declarative mapping.

The mapping (:mod:`adapters.mapping`) names the DMS field for each xdomea metadatum; for CMIS those names
are property ids. :data:`CMIS_DEFAULT` names them ``xdomea:*``, the properties of a secondary type
``xdomea:metadata`` that the repository's administrator defines (an Alfresco aspect, a Nuxeo facet, an
enaio/d.velop/nscale property group); :func:`metadata_property_ids` lists what that type must hold. A
mapping file overrides single keys (``[fields] betreff = "d:betreff"``); keys it leaves out keep the CMIS
default, not the hotfolder's.

Where a repository has no such type the same fields travel as one JSON object in ``cmis:description``
(``Store.DESCRIPTION``), which every repository has; the adapter reads either.

A folder carries the object's fields; a document version carries the object's fields plus its version
number and the fields of its Format and Primaerdokument (one primary file per version, the version's
content stream).
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping as MappingABC
from pathlib import Path
from typing import Any

from adapters.base import ConfigError
from adapters.mapping import Mapping, load_mapping, parse_mapping

CMIS_DEFAULT = parse_mapping(
    {
        "fields": {
            "kind": "xdomea:objektart",
            "id": "xdomea:id",
            "kennzeichen": "xdomea:kennzeichen",
            "betreff": "xdomea:betreff",
            "laufzeit_begin": "xdomea:laufzeitBeginn",
            "laufzeit_end": "xdomea:laufzeitEnde",
            "number_in_parent": "xdomea:laufendeNummer",
            "document_type": "xdomea:dokumenttyp",
            "bewertungsvorschlag": "xdomea:bewertungsvorschlag",
            "aussonderungsart": "xdomea:aussonderungsart",
        },
        "versions": {"number": "xdomea:version"},
        "formats": {
            "format": "xdomea:format",
            "format_version": "xdomea:formatVersion",
            "other_name": "xdomea:formatName",
            "file": "xdomea:dateiname",
            "original_name": "xdomea:originalDateiname",
            "created_at": "xdomea:erstelltAm",
            "creator": "xdomea:ersteller",
            "modified_at": "xdomea:geaendertAm",
            "hash": "xdomea:pruefsumme",
            "hash_algorithm": "xdomea:pruefsummenverfahren",
        },
        "extra": {"xdomea:prozessId": "{process_id}", "xdomea:absender": "{sender}"},
    },
    "CMIS default mapping",
)


class Store(enum.StrEnum):
    SECONDARY = "secondary"
    DESCRIPTION = "description"


def _deep_merge(base: dict[str, Any], over: MappingABC[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, MappingABC) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def load_cmis_mapping(path: Path | None) -> Mapping:
    """The participant's mapping file over :data:`CMIS_DEFAULT` (checked as a whole after merging)."""
    if path is None:
        return CMIS_DEFAULT
    given = load_mapping(path).model_dump(mode="json", exclude_unset=True)
    base = CMIS_DEFAULT.model_dump(mode="json")
    # a file that names its own extra fields replaces the default ones rather than adding to them
    if "extra" in given:
        base["extra"] = {}
    return parse_mapping(_deep_merge(base, given), str(path))


def structural(mapping: Mapping) -> set[str]:
    """Keys of a mapped record that are nesting, not properties."""
    return {mapping.fields.children, mapping.fields.versions, mapping.versions.formats}


def object_property_ids(mapping: Mapping) -> list[str]:
    f = mapping.fields.model_dump()
    ids = [v for k, v in f.items() if k not in ("children", "versions")]
    ids += [v for v in mapping.kennzeichen.values() if v not in ids]
    ids += [k for k in mapping.extra if k not in ids]
    return ids


def metadata_property_ids(mapping: Mapping) -> list[str]:
    """Every property the secondary type must define (all single-valued strings)."""
    ids = object_property_ids(mapping)
    ids.append(mapping.versions.number)
    ids += list(mapping.formats.model_dump().values())
    return ids


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value) if not isinstance(value, int) else str(value)


def object_fields(record: MappingABC[str, Any], mapping: Mapping) -> dict[str, str]:
    """The object-level fields of a mapped record (no children, no versions), as strings."""
    skip = structural(mapping)
    return {k: _text(v) for k, v in record.items() if k not in skip}


def version_fields(version: MappingABC[str, Any], mapping: Mapping) -> dict[str, str]:
    """A mapped version's number and the fields of its (single) Format."""
    out = {mapping.versions.number: _text(version[mapping.versions.number])}
    formats = version.get(mapping.versions.formats) or []
    if formats:
        out.update({k: _text(v) for k, v in formats[0].items()})
    return out


def to_cmis(fields: MappingABC[str, str], store: Store, secondary_type: str) -> dict[str, Any]:
    """CMIS properties to send for these fields."""
    if store is Store.SECONDARY:
        return {"cmis:secondaryObjectTypeIds": [secondary_type], **fields}
    return {"cmis:description": json.dumps(dict(fields), ensure_ascii=False, sort_keys=True)}


def from_cmis(props: MappingABC[str, Any], mapping: Mapping, secondary_type: str) -> dict[str, str] | None:
    """The xdomea fields an object carries (either store), or None when it carries none (a native object)."""
    ids = set(metadata_property_ids(mapping))
    secondary = props.get("cmis:secondaryObjectTypeIds") or []
    if secondary_type in secondary:
        found = {k: str(v) for k, v in props.items() if k in ids and v is not None}
        if mapping.fields.id in found:
            return found
    description = props.get("cmis:description")
    if isinstance(description, str) and description.startswith("{"):
        try:
            data = json.loads(description)
        except ValueError:
            return None
        if isinstance(data, dict) and mapping.fields.id in data:
            return {k: str(v) for k, v in data.items() if k in ids and v is not None}
    return None


def split_version(fields: MappingABC[str, str], mapping: Mapping) -> tuple[dict[str, str], dict[str, Any]]:
    """A document version's fields as (object fields, mapped version with its one format)."""
    version_keys = set(mapping.formats.model_dump().values())
    number = mapping.versions.number
    obj = {k: v for k, v in fields.items() if k not in version_keys and k != number}
    fmt = {k: v for k, v in fields.items() if k in version_keys}
    version: dict[str, Any] = {number: fields.get(number) or "1", mapping.versions.formats: [fmt] if fmt else []}
    return obj, version


def check_secondary_type(definition: MappingABC[str, Any] | None, mapping: Mapping, type_id: str) -> None:
    """Refuse a secondary type that lacks properties the mapping needs, naming them."""
    if definition is None:
        raise ConfigError(f"metadata: the repository has no secondary type {type_id!r}")
    if definition.get("baseId") != "cmis:secondary":
        raise ConfigError(f"secondary_type: {type_id!r} is a {definition.get('baseId')} type, not cmis:secondary")
    defined = set((definition.get("propertyDefinitions") or {}).keys())
    missing = [p for p in metadata_property_ids(mapping) if p not in defined]
    if missing:
        raise ConfigError(
            f"secondary_type: {type_id!r} lacks the mapped properties {', '.join(missing[:8])}"
            + (" ..." if len(missing) > 8 else "")
        )

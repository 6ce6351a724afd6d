"""The gateway's document type and metadata types in Mayan: made once if missing, then only looked up.

Why a document type of our own and not Mayan's bootstrap "Default": that one has no parsing settings and
the upload of a file to it fails with a server error; and a type of our own lets the metadata types be
attached to it (and only to it), and its stub pruning be switched off, because the record card of an Akte
or Vorgang is a document without files (a "stub") that Mayan would otherwise delete after a day.

The metadata type names are the DMS field names of the participant's mapping (``aktenzeichen``,
``betreff`` ...) plus the gateway's own bookkeeping fields (``xgw_*``).

:func:`missing_schema` only looks (for ``xgw adapter check``, which must change nothing);
:func:`ensure_schema` makes what is missing and says what it made (``xgw adapter setup``, and the first
import or export).
"""

from __future__ import annotations

from dataclasses import dataclass

from adapters.mapping import Mapping
from adapters.mayan.client import MayanClient

#: where the import stands for this object: partial until it and everything below it is in Mayan
STATE = "xgw_import_state"
#: "<Nachrichtentyp>/<ProzessID>" of the message that brought the object
IMPORT = "xgw_import"
#: the object's place among its parent's children (document order), and its parent's xdomea id
POSITION = "xgw_position"
PARENT = "xgw_parent"
OWN_FIELDS = (STATE, IMPORT, POSITION, PARENT)

PARTIAL = "partial"
COMPLETE = "complete"


@dataclass(frozen=True, slots=True)
class Schema:
    document_type: int
    #: metadata type name -> id
    metadata: dict[str, int]


def field_names(mapping: Mapping) -> list[str]:
    """Every metadata type the mapping writes, in a stable order (children are cabinets, not metadata)."""
    f = mapping.fields
    names = [n for key, n in f.model_dump().items() if key != "children"]
    names += [n for n in mapping.kennzeichen.values() if n not in names]
    names += [n for n in mapping.extra if n not in names]
    return names + list(OWN_FIELDS)


def missing_schema(client: MayanClient, label: str, mapping: Mapping) -> tuple[Schema | None, list[str]]:
    """The schema if Mayan holds all of it, and what :func:`ensure_schema` would make; changes nothing."""
    missing: list[str] = []
    types = {t["label"]: t for t in client.pages("document_types/")}
    found = types.get(label)
    if found is None:
        missing.append(f"document type {label!r}")
    elif found.get("document_stub_pruning_enabled", False):
        missing.append(f"document type {label!r}: stub pruning switched off (record cards have no files)")
    existing = {m["name"]: int(m["id"]) for m in client.pages("metadata_types/")}
    names = field_names(mapping)
    missing += [f"metadata type {name!r}" for name in names if name not in existing]
    if found is not None:
        attached = {
            int(a["metadata_type"]["id"]) for a in client.pages(f"document_types/{int(found['id'])}/metadata_types/")
        }
        missing += [
            f"metadata type {name!r} attached to {label!r}"
            for name in names
            if name in existing and existing[name] not in attached
        ]
    if missing or found is None:
        return None, missing
    return Schema(int(found["id"]), {name: existing[name] for name in names}), []


def ensure_schema(client: MayanClient, label: str, mapping: Mapping, made: list[str] | None = None) -> Schema:
    """The schema, made where missing; each thing made is appended to ``made``."""
    made = [] if made is None else made
    types = {t["label"]: t for t in client.pages("document_types/")}
    if label in types:
        type_id = int(types[label]["id"])
        pruning = types[label].get("document_stub_pruning_enabled", True)
    else:
        type_id = int(client.json("POST", "document_types/", json={"label": label})["id"])
        made.append(f"document type {label!r} (id {type_id})")
        pruning = True
    if pruning:
        client.request("PATCH", f"document_types/{type_id}/", json={"document_stub_pruning_enabled": False})
    existing = {m["name"]: int(m["id"]) for m in client.pages("metadata_types/")}
    metadata: dict[str, int] = {}
    for name in field_names(mapping):
        if name not in existing:
            created = client.json("POST", "metadata_types/", json={"name": name, "label": name.replace("_", " ")[:48]})
            existing[name] = int(created["id"])
            made.append(f"metadata type {name!r} (id {existing[name]})")
        metadata[name] = existing[name]
    attached = {int(a["metadata_type"]["id"]) for a in client.pages(f"document_types/{type_id}/metadata_types/")}
    for name, type_of_field in metadata.items():
        if type_of_field not in attached:
            client.request(
                "POST",
                f"document_types/{type_id}/metadata_types/",
                json={"metadata_type_id": type_of_field, "required": False},
            )
            made.append(f"metadata type {name!r} attached to {label!r}")
    return Schema(type_id, metadata)

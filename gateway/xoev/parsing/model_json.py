"""The JSON form of a parsed :class:`~gateway.xoev.model.Message` (documented in docs/model.md).

Written out field by field rather than with ``dataclasses.asdict`` so that the JSON stays a stable,
documented interface even when the model grows: a new model field appears in the JSON only when it is
added here (and to docs/model.md). Dates and times are ISO 8601 strings; absent values are ``null``.
"""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime
from typing import Any

from gateway.xoev.model import (
    Code,
    DocumentVersion,
    Format,
    Kopf,
    Message,
    ObjectKind,
    ObjectOutcome,
    Party,
    Primaerdokument,
    RecordObject,
    SendingSystem,
)

Json = dict[str, Any]


def _iso(value: date | datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def code_to_json(value: Code | None) -> Json | None:
    if value is None:
        return None
    return {"code": value.code, "name": value.name, "list_uri": value.list_uri, "list_version": value.list_version}


def party_to_json(party: Party | None) -> Json | None:
    if party is None:
        return None
    return {
        "display_name": party.display_name,
        "institution": party.institution,
        "institution_short": party.institution_short,
        "organisation_unit": party.organisation_unit,
        "person": party.person,
        "authority_prefix": party.authority_prefix,
        "authority_id": party.authority_id,
        "directory": party.directory,
        "xoev_identifier": party.xoev_identifier,
    }


def _system_to_json(system: SendingSystem | None) -> Json | None:
    if system is None:
        return None
    return {
        "product": system.product,
        "manufacturer": system.manufacturer,
        "version": system.version,
        "instance_id": system.instance_id,
    }


def kopf_to_json(kopf: Kopf) -> Json:
    return {
        "process_id": kopf.process_id,
        "message_type": code_to_json(kopf.message_type),
        "created_at": _iso(kopf.created_at),
        "message_uuid": kopf.message_uuid,
        "sender": party_to_json(kopf.sender),
        "recipient": party_to_json(kopf.recipient),
        "sending_system": _system_to_json(kopf.sending_system),
        "receipt_requested": kopf.receipt_requested,
        "import_confirmation_requested": kopf.import_confirmation_requested,
        "archive_id_requested": kopf.archive_id_requested,
        "origin_message_uuid": kopf.origin_message_uuid,
        "sequence_number": kopf.sequence_number,
        "sequence_total": kopf.sequence_total,
        "note": kopf.note,
    }


def _primary_to_json(primary: Primaerdokument | None) -> Json | None:
    if primary is None:
        return None
    return {
        "filename": primary.filename,
        "original_filename": primary.original_filename,
        "creator": primary.creator,
        "created_at": _iso(primary.created_at),
        "modified_at": _iso(primary.modified_at),
        "hash_value": primary.hash_value,
        "hash_algorithm": primary.hash_algorithm,
    }


def _format_to_json(fmt: Format) -> Json:
    return {
        "name": code_to_json(fmt.name),
        "other_name": fmt.other_name,
        "version": fmt.version,
        "primary": _primary_to_json(fmt.primary),
    }


def _version_to_json(version: DocumentVersion) -> Json:
    return {"number": version.number, "formats": [_format_to_json(fmt) for fmt in version.formats]}


def object_to_json(obj: RecordObject) -> Json:
    return {
        "kind": obj.kind.value,
        "id": obj.id,
        "number_in_parent": obj.number_in_parent,
        "kennzeichen": obj.kennzeichen,
        "betreff": obj.betreff,
        "laufzeit_begin": _iso(obj.laufzeit_begin),
        "laufzeit_end": _iso(obj.laufzeit_end),
        "aussonderungsart": code_to_json(obj.aussonderungsart),
        "bewertungsvorschlag": code_to_json(obj.bewertungsvorschlag),
        "context_object": obj.context_object,
        "document_type": obj.document_type,
        "attachment": obj.attachment,
        "has_schriftstuecke": obj.has_schriftstuecke,
        "versions": [_version_to_json(version) for version in obj.versions],
        "children": [object_to_json(child) for child in obj.children],
    }


def _outcome_to_json(outcome: ObjectOutcome) -> Json:
    return {
        "id": outcome.id,
        "aussonderungsart": code_to_json(outcome.aussonderungsart),
        "success": outcome.success,
        "archive_id": outcome.archive_id,
        "errors": list(outcome.errors),
        "error_codes": [code_to_json(item) for item in outcome.error_codes],
    }


def object_counts(msg: Message) -> dict[str, int]:
    """How many objects of each kind the message carries (all kinds listed, zeros included)."""
    counts = Counter(obj.kind for obj in msg.walk())
    return {kind.value: counts.get(kind, 0) for kind in ObjectKind}


def primary_files(msg: Message) -> list[str]:
    """Every Primaerdokument/Dateiname, the cover letters' (Anschreiben) included, in document order."""
    objects = [*(item for letter in msg.cover_letters for item in letter.walk()), *msg.walk()]
    return [
        fmt.primary.filename
        for obj in objects
        for version in obj.versions
        for fmt in version.formats
        if fmt.primary is not None
    ]


def message_to_json(msg: Message) -> Json:
    return {
        "version": msg.version,
        "element": msg.element,
        "message_type": msg.code,
        "kopf": kopf_to_json(msg.kopf),
        "object_counts": object_counts(msg),
        "primary_files": primary_files(msg),
        "objects": [object_to_json(obj) for obj in msg.objects],
        "cover_letters": [object_to_json(obj) for obj in msg.cover_letters],
        "referenced_ids": list(msg.referenced_ids),
        "outcomes": [_outcome_to_json(outcome) for outcome in msg.outcomes],
        "success": msg.success,
        "errors": list(msg.errors),
    }

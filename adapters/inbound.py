"""What every adapter does first with a delivered message: check it again, and know what it hands over.

The pipeline validated the message before delivering it, but an adapter is also called by hand
(``xgw adapter import``) and by third parties, and a DMS must never receive half a package; so the adapter
re-validates with the gateway's own validator (ZIP checked from its central directory before anything is
read, primary files against their references and declared hashes). A refusal becomes an
:class:`~adapters.base.ImportResult` that names, per Schriftgutobjekt, what was wrong.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from adapters.base import ImportResult, ImportStatus, MessageKey, ObjectResult, ObjectStatus
from gateway.xoev.model import Message, RecordObject
from gateway.xoev.parsing.parse import NotXdomea, parse_message
from gateway.xoev.report import Report
from gateway.xoev.validation.package import scan_package
from gateway.xoev.validation.validate import ZIP_MAGIC, Validator

_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class Inbound:
    """A delivered message that passed validation, with its identity and its objects in document order."""

    path: Path
    filename: str
    key: MessageKey
    message: Message
    sha256: str
    is_package: bool
    #: (object, xdomea id of its parent or None) for every Schriftgutobjekt, depth first
    objects: tuple[tuple[RecordObject, str | None], ...]

    def results(
        self, status: ObjectStatus, *, reason: str | None = None, dms_id: str | None = None
    ) -> list[ObjectResult]:
        return [
            ObjectResult(obj.id, obj.kind, status, parent, dms_id + "#" + obj.id if dms_id else None, reason)
            for obj, parent in self.objects
        ]


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _flatten(objects: list[RecordObject], parent: str | None) -> Iterator[tuple[RecordObject, str | None]]:
    for obj in objects:
        yield obj, parent
        yield from _flatten(obj.children, obj.id)


@contextmanager
def _named(path: Path, filename: str) -> Iterator[Path]:
    """``path`` under the name the message travelled with (a symlink in a private directory), because the
    naming rule and the package's inner message name are checked against the file's own name."""
    if path.name == filename:
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="xgw-inbound-") as tmp:
        alias = Path(tmp) / filename
        os.symlink(path.resolve(), alias)
        yield alias


def _summary(report: Report, limit: int = 3) -> str:
    errors = report.errors
    text = "; ".join(f"{f.rule} {f.message}" + (f" ({f.location})" if str(f.location) else "") for f in errors[:limit])
    if len(errors) > limit:
        text += f"; and {len(errors) - limit} more"
    return text


def read_inbound(validator: Validator, path: Path, filename: str | None = None) -> Inbound | ImportResult:
    """The validated message, or the refusal as a FAILED result (nothing may be imported from it)."""
    name = Path(filename or path.name).name
    with _named(path, name) as named:
        result = validator.validate_path(named)
    report = result.report
    with path.open("rb") as fh:
        is_package = fh.read(4).startswith(ZIP_MAGIC)
    message: Message | None = None
    if result.tree is not None:
        try:
            message = parse_message(result.tree)
        except NotXdomea:
            message = None
    key = None
    if message is not None and report.process_id and report.message_type:
        key = MessageKey(report.process_id, report.message_type, message.kopf.sequence_number or 1)
    if report.valid and message is not None and key is not None:
        objects = tuple(_flatten(message.objects, None))
        return Inbound(path, name, key, message, file_sha256(path), is_package, objects)
    reason = f"{name} is not a valid xdomea message: {_summary(report) or 'unreadable'}"
    if message is None:
        return ImportResult(key, ImportStatus.FAILED, (), reason)
    missing = _missing_primaries(validator, path, message) if is_package else set()
    results: list[ObjectResult] = []
    for obj, parent in _flatten(message.objects, None):
        lacking = sorted(
            fmt.primary.filename
            for ver in obj.versions
            for fmt in ver.formats
            if fmt.primary is not None and fmt.primary.filename in missing
        )
        if lacking:
            why = f"primary file {', '.join(lacking)} is missing from the package"
            results.append(ObjectResult(obj.id, obj.kind, ObjectStatus.FAILED, parent, None, why))
        else:
            results.append(ObjectResult(obj.id, obj.kind, ObjectStatus.NOT_ATTEMPTED, parent, None, reason))
    return ImportResult(key, ImportStatus.FAILED, tuple(results), reason)


def _missing_primaries(validator: Validator, path: Path, message: Message) -> set[str]:
    scan = scan_package(path, validator.limits)
    present = {e.name for e in scan.files}
    return {p.filename for p in message.primary_documents() if p.filename not in present}


def refused(inbound: Inbound, reason: str, *, failed: dict[str, str] | None = None) -> ImportResult:
    """Nothing imported: the objects in ``failed`` (id -> why) failed, the others were not attempted."""
    failed = failed or {}
    objects = tuple(
        ObjectResult(
            obj.id,
            obj.kind,
            ObjectStatus.FAILED if obj.id in failed else ObjectStatus.NOT_ATTEMPTED,
            parent,
            None,
            failed.get(obj.id, reason),
        )
        for obj, parent in inbound.objects
    )
    return ImportResult(inbound.key, ImportStatus.FAILED, objects, reason)

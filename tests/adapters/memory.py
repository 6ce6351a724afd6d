"""An in-memory reference adapter: the contract's test double, as httpx's MockTransport is for transports.

It keeps its "DMS" as a dict of records under the default mapping's field names, so the contract tests can
check that an adapter that is *not* a transfer directory keeps the same promises. It is not registered as
an entry point and not shipped: real adapters talk to a real DMS.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, BinaryIO, Self

from adapters.base import (
    Acknowledgement,
    AdapterContext,
    Check,
    DmsAdapter,
    ExportedFile,
    Health,
    ImportResult,
    ImportStatus,
    ObjectResult,
    ObjectStatus,
)
from adapters.inbound import read_inbound, refused
from adapters.ledger import Ledger
from adapters.mapping import DEFAULT
from adapters.mapping import Mapping as FieldMapping
from gateway.xoev.validation.validate import Validator


class MemoryAdapter(DmsAdapter):
    kind = "memory"

    def __init__(self, context: AdapterContext, mapping: FieldMapping = DEFAULT) -> None:
        self.validator = Validator(settings=context.settings)
        self.ledger = Ledger(None)
        self.mapping = mapping
        #: dms id -> record (under the DMS's field names)
        self.records: dict[str, dict[str, Any]] = {}
        self.outbox: dict[str, bytes] = {}
        self.processed: dict[str, str] = {}
        self.failed: dict[str, str] = {}

    @classmethod
    def from_config(cls, config: Mapping[str, Any], context: AdapterContext) -> Self:
        return cls(context)

    def export(self) -> Iterator[ExportedFile]:
        for name, data in list(self.outbox.items()):
            digest = hashlib.sha256(data).hexdigest()
            if self.ledger.exported(digest) is not None:
                del self.outbox[name]
                self.processed[name] = "duplicate"
                continue

            def opener(data: bytes = data) -> BinaryIO:
                return io.BytesIO(data)

            yield ExportedFile(name, len(data), name, digest, opener)

    def acknowledge(self, file: ExportedFile, ack: Acknowledgement) -> None:
        self.outbox.pop(file.key, None)
        if ack.accepted:
            self.ledger.record_export(file.sha256, file.name, ack.reference)
            self.processed[file.name] = ack.reason
        else:
            self.failed[file.name] = ack.reason

    def import_message(self, package_path: Path, *, filename: str | None = None) -> ImportResult:
        inbound = read_inbound(self.validator, package_path, filename)
        if isinstance(inbound, ImportResult):
            return inbound
        if (record := self.ledger.import_record(inbound.key)) is not None and record.state == "done":
            known = {o.id: o.dms_id for o in self.ledger.objects_of(inbound.key)}
            objects = tuple(
                ObjectResult(o.id, o.kind, ObjectStatus.DUPLICATE, p, known.get(o.id)) for o, p in inbound.objects
            )
            return ImportResult(inbound.key, ImportStatus.DUPLICATE, objects, "delivered before")
        earlier = self.ledger.imported_objects(o.id for o, _ in inbound.objects)
        if earlier:
            return refused(inbound, "imported before", failed={i: f"already as {o.dms_id}" for i, o in earlier.items()})
        self.ledger.begin(inbound.key, target="memory", temp="memory", sha256=inbound.sha256)
        results = []
        for obj, parent in inbound.objects:
            dms_id = f"mem-{len(self.records) + 1}"
            record = self.mapping.to_dms(obj)
            record.pop(self.mapping.fields.children, None)
            record["parent"] = parent
            self.records[dms_id] = record
            results.append(ObjectResult(obj.id, obj.kind, ObjectStatus.IMPORTED, parent, dms_id))
        self.ledger.complete(inbound.key, results)
        return ImportResult(inbound.key, ImportStatus.IMPORTED, tuple(results), location="memory")

    def health(self) -> Health:
        return Health.of(Check("memory", True, f"{len(self.records)} records"))

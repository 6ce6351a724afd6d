"""One delivered message into Mayan: the cabinet tree, the record cards, the documents and their files.

How xdomea lands in Mayan:

* an Akte, Teilakte, Vorgang or Teilvorgang becomes a cabinet (below its parent's cabinet, the top ones
  below the inbox cabinet) holding a *record card*: a document without files whose metadata carry the
  object's xdomea metadata (Mayan's cabinets have a label and nothing else);
* a Dokument becomes a document in its parent's cabinet, with the xdomea metadata as metadata values and
  one document file per primary file, in version order; the file keeps its xdomea Dateiname and its
  SHA-256 is compared with Mayan's ``checksum`` after the upload.

Exactly once: before creating anything for an object, Mayan is asked whether a document for its xdomea id
exists (an earlier attempt may have created it and crashed before the ledger heard of it); every document
carries ``xdomea <kind> <id>`` in its description from the moment it is created, so even one whose
metadata never got written is found again. A cabinet is found again through its card, or by its label
below the same parent. Every object carries ``xgw_import_state=partial`` until it and everything below it
is complete, so an import that stopped part-way is visible as such in Mayan, and the next delivery picks
up where it stopped. An object found ``complete`` is reported ``found``, not ``imported``: after a lost
ledger the administrator learns that nothing was created twice.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from adapters.base import AdapterError, MessageKey, ObjectResult, ObjectStatus
from adapters.inbound import Inbound
from adapters.mapping import Mapping
from adapters.mayan.client import MayanClient, MayanRefused
from adapters.mayan.schema import COMPLETE, IMPORT, PARENT, PARTIAL, POSITION, STATE, Schema
from gateway.xoev.model import ObjectKind, RecordObject

log = logging.getLogger(__name__)
_CHUNK = 1 << 20


def marker(obj: RecordObject) -> str:
    return f"xdomea {obj.kind} {obj.id}"


def cabinet_label(obj: RecordObject) -> str:
    text = " ".join(p for p in (obj.kennzeichen, obj.betreff) if p) or f"{obj.kind} {obj.id}"
    return text[:128]


def document_label(obj: RecordObject) -> str:
    return (obj.betreff or obj.kennzeichen or f"{obj.kind} {obj.id}")[:255]


@dataclasses.dataclass(slots=True)
class _Placed:
    document: int
    cabinet: int | None  # containers only
    #: the id of the document's xgw_import_state metadata instance
    state: int
    #: the object was complete in Mayan before this run (an earlier attempt the ledger does not know of)
    found: bool = False


class ObjectFailed(AdapterError):
    """This object cannot be imported (Mayan refused it or holds a conflicting copy); the others go on."""


class Importer:
    def __init__(self, client: MayanClient, schema: Schema, mapping: Mapping, inbox: int, spool: Path) -> None:
        self.client = client
        self.schema = schema
        self.mapping = mapping
        self.inbox = inbox
        self.spool = spool
        #: objects done by this run, in order (for the progress message when Mayan goes away)
        self.done = 0
        self._parents: dict[str, str | None] = {}

    def run(self, inbound: Inbound) -> list[ObjectResult]:
        """Import every object; Mayan trouble that a retry may heal propagates (Unavailable)."""
        key = inbound.key
        positions = _positions(inbound)
        placed: dict[str, _Placed] = {}
        skipped: dict[str, str] = {}
        results: dict[str, ObjectResult] = {}
        containers: list[RecordObject] = []
        with self._package(inbound) as package:
            for obj, parent in inbound.objects:
                if parent is not None and parent in skipped:
                    skipped[obj.id] = skipped[parent]
                    results[obj.id] = ObjectResult(
                        obj.id, obj.kind, ObjectStatus.NOT_ATTEMPTED, parent, None, skipped[parent]
                    )
                    continue
                try:
                    where = self._one(obj, parent, placed, key, positions[obj.id], package)
                except (MayanRefused, ObjectFailed) as exc:
                    reason = str(exc)
                    skipped[obj.id] = f"not attempted: {obj.kind} {obj.id} above it failed"
                    results[obj.id] = ObjectResult(obj.id, obj.kind, ObjectStatus.FAILED, parent, None, reason)
                    log.warning("mayan import %s: %s %s failed: %s", key, obj.kind, obj.id, reason)
                    continue
                placed[obj.id] = where
                if obj.kind is not ObjectKind.DOKUMENT:
                    containers.append(obj)
                dms = f"document/{where.document}" + (f" cabinet/{where.cabinet}" if where.cabinet else "")
                status = ObjectStatus.FOUND if where.found else ObjectStatus.IMPORTED
                note = "found complete in Mayan already; nothing created" if where.found else None
                results[obj.id] = ObjectResult(obj.id, obj.kind, status, parent, dms, note)
                self.done += 1
        # a container is complete when nothing below it failed; deepest first
        failed_below = _failed_ancestors(inbound, results)
        for obj in reversed(containers):
            if obj.id not in failed_below:
                self._set_state(placed[obj.id], COMPLETE)
        return [results[obj.id] for obj, _ in inbound.objects]

    # -- one object ------------------------------------------------------------------------------------

    def _one(
        self,
        obj: RecordObject,
        parent: str | None,
        placed: dict[str, _Placed],
        key: MessageKey,
        position: int,
        package: zipfile.ZipFile | None,
    ) -> _Placed:
        parent_place = placed.get(parent) if parent else None
        home = self.inbox if parent_place is None else parent_place.cabinet
        parent_document = parent_place.document if parent_place and parent_place.cabinet is None else None
        if home is None:  # a Dokument below a Dokument (Anlage): the enclosing container's cabinet
            home = self._cabinet_of(parent, placed)
        existing = self._find(obj, key)
        values = self._values(obj, key, position, parent if parent_document else None)
        if obj.kind is ObjectKind.DOKUMENT:
            document = existing or self._create(obj)
            state, done = self._ensure_metadata(document, values, fresh=existing is None)
            place = _Placed(document, None, state, found=done)
            if not done:
                self._ensure_files(document, obj, package)
            self._ensure_member(home, document, fresh=existing is None)
            if not done:
                self._set_state(place, COMPLETE)
            return place
        cabinet = self._container_cabinet(obj, existing, home)
        document = existing or self._create(obj)
        state, done = self._ensure_metadata(document, values, fresh=existing is None)
        self._ensure_member(cabinet, document, fresh=existing is None)
        return _Placed(document, cabinet, state, found=done)

    def _cabinet_of(self, xid: str | None, placed: dict[str, _Placed]) -> int:
        # walk up through Dokumente until a container; the inbox when there is none
        while xid is not None:
            place = placed.get(xid)
            if place is not None and place.cabinet is not None:
                return place.cabinet
            xid = self._parents.get(xid)
        return self.inbox

    def _values(self, obj: RecordObject, key: MessageKey, position: int, parent_document: str | None) -> dict[str, str]:
        context = {"process_id": key.process_id, "message_type": key.message_type}
        record = self.mapping.to_dms(dataclasses.replace(obj, children=[]), context)
        values: dict[str, str] = {}
        for name, value in record.items():
            if name not in self.schema.metadata:
                continue
            values[name] = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        values[IMPORT] = f"{key.message_type}/{key.process_id}"
        values[POSITION] = str(position)
        if parent_document:
            values[PARENT] = parent_document
        return values

    def _find(self, obj: RecordObject, key: MessageKey) -> int | None:
        """The document an earlier attempt made for ``obj``; ObjectFailed when another message made it."""
        id_field = self.mapping.fields.id
        for candidate in self.client.find_documents(obj.id):
            if int(candidate["document_type"]["id"]) != self.schema.document_type:
                continue
            if candidate.get("description") != marker(obj):
                continue
            document = int(candidate["id"])
            metadata = self.client.metadata(document)
            origin = metadata.get(IMPORT, (0, ""))[1]
            if origin and origin != f"{key.message_type}/{key.process_id}":
                raise ObjectFailed(f"already in Mayan as document {document}, imported from message {origin}")
            if metadata.get(id_field, (0, obj.id))[1] != obj.id:
                continue
            return document
        return None

    def _create(self, obj: RecordObject) -> int:
        made = self.client.create_document(self.schema.document_type, document_label(obj), marker(obj))
        return int(made["id"])

    def _ensure_metadata(self, document: int, values: dict[str, str], *, fresh: bool) -> tuple[int, bool]:
        """Write what is missing or different; the state instance's id, and whether the object is complete."""
        present = {} if fresh else self.client.metadata(document)
        if STATE in present:
            state, done = present[STATE][0], present[STATE][1] == COMPLETE
        else:
            state, done = self.client.add_metadata(document, self.schema.metadata[STATE], PARTIAL), False
        for name, value in values.items():
            if name in present:
                if present[name][1] != value:
                    self.client.set_metadata(document, present[name][0], value)
                continue
            self.client.add_metadata(document, self.schema.metadata[name], value)
        return state, done

    def _set_state(self, place: _Placed, state: str) -> None:
        self.client.set_metadata(place.document, place.state, state)

    def _ensure_member(self, cabinet: int, document: int, *, fresh: bool) -> None:
        if not fresh and any(int(c["id"]) == cabinet for c in self.client.document_cabinets(document)):
            return
        self.client.add_to_cabinet(cabinet, document)

    def _container_cabinet(self, obj: RecordObject, card: int | None, parent: int) -> int:
        if card is not None:
            for cabinet in self.client.document_cabinets(card):
                if cabinet.get("parent_id") == parent:
                    return int(cabinet["id"])
        label = cabinet_label(obj)
        siblings = [c for c in self.client.cabinets() if c.get("parent_id") == parent]
        for sibling in siblings:
            if sibling["label"] == label and not self._has_other_card(int(sibling["id"]), obj):
                return int(sibling["id"])  # made by an attempt that crashed before its card went in
        taken = {s["label"] for s in siblings}
        if label in taken:
            label = f"{label[: 128 - 11]} ({obj.id[:8]})"
        return int(self.client.create_cabinet(label, parent)["id"])

    def _has_other_card(self, cabinet: int, obj: RecordObject) -> bool:
        return any(
            d.get("description", "").startswith("xdomea ")
            and d.get("description") != marker(obj)
            and int(d["document_type"]["id"]) == self.schema.document_type
            and not d.get("description", "").startswith(f"xdomea {ObjectKind.DOKUMENT} ")
            for d in self.client.cabinet_documents(cabinet)
        )

    # -- files -----------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _package(self, inbound: Inbound) -> Iterator[zipfile.ZipFile | None]:
        self._parents = {obj.id: parent for obj, parent in inbound.objects}
        if not inbound.is_package:
            yield None
            return
        with zipfile.ZipFile(inbound.path) as zf:
            yield zf

    def _ensure_files(self, document: int, obj: RecordObject, package: zipfile.ZipFile | None) -> None:
        wanted = [
            (version.number, fmt.name.code, fmt.primary.filename)
            for version in obj.versions
            for fmt in version.formats
            if fmt.primary is not None
        ]
        if wanted and package is None:
            raise ObjectFailed("the message names primary files but is not a package")
        present = self.client.files(document)
        for index, (number, code, filename) in enumerate(wanted):
            assert package is not None
            if index < len(present):
                got = present[index]
                if got.get("filename") != filename or got.get("checksum") != _zip_sha256(package, filename):
                    raise ObjectFailed(
                        f"document {document} holds file {got.get('filename')!r} where {filename!r} belongs"
                    )
                continue
            with tempfile.NamedTemporaryFile(dir=self.spool, suffix=".part", delete=False) as fh:
                digest = hashlib.sha256()
                with package.open(filename) as src:
                    while chunk := src.read(_CHUNK):
                        digest.update(chunk)
                        fh.write(chunk)
                local = Path(fh.name)
            try:
                self.client.add_file(document, local, filename, f"xdomea Version {number}, Format {code}")
            finally:
                local.unlink(missing_ok=True)
            present = self.client.files(document)
            if len(present) != index + 1:
                raise ObjectFailed(f"Mayan did not keep file {filename} of document {document}")
            if present[index].get("checksum") != digest.hexdigest():
                raise ObjectFailed(
                    f"file {filename} arrived damaged in Mayan (document {document}): "
                    f"SHA-256 {present[index].get('checksum')} instead of {digest.hexdigest()}"
                )


def _zip_sha256(package: zipfile.ZipFile, name: str) -> str:
    digest = hashlib.sha256()
    with package.open(name) as src:
        while chunk := src.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _positions(inbound: Inbound) -> dict[str, int]:
    out: dict[str, int] = {}
    counters: dict[str | None, int] = {}
    for obj, parent in inbound.objects:
        out[obj.id] = counters.get(parent, 0)
        counters[parent] = out[obj.id] + 1
    return out


def _failed_ancestors(inbound: Inbound, results: dict[str, ObjectResult]) -> set[str]:
    """Ids of objects with a failed or skipped descendant (or failed themselves)."""
    parents = {obj.id: parent for obj, parent in inbound.objects}
    out: set[str] = set()
    for xid, result in results.items():
        if result.ok:
            continue
        node: str | None = xid
        while node is not None:
            out.add(node)
            node = parents.get(node)
    return out


def describe(results: list[ObjectResult]) -> dict[str, Any]:
    counts: dict[str, int] = {}
    for r in results:
        counts[str(r.status)] = counts.get(str(r.status), 0) + 1
    return counts

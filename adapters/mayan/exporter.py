"""Records in Mayan's outbox cabinet as one xdomea message: the reverse of :mod:`adapters.mayan.importer`.

Every cabinet directly in the outbox is one Akte or Vorgang (its record card says which, and carries its
metadata), every document directly in it one Dokument; below them the cabinet tree and the documents give
the children, ordered by ``xgw_position``. The primary files are streamed from Mayan into the ZIP while it
is written, each checked against the size and SHA-256 Mayan reports, so a damaged download never becomes
a valid-looking package.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from adapters.base import ConfigError
from adapters.mapping import Mapping
from adapters.mayan.client import MayanClient
from adapters.mayan.schema import PARENT, POSITION, Schema, field_names
from gateway.xoev.build import BuildError, ChunkSource
from gateway.xoev.model import ObjectKind, RecordObject


@dataclass(slots=True)
class Collected:
    objects: list[RecordObject] = field(default_factory=list)
    files: dict[str, ChunkSource] = field(default_factory=dict)
    #: the outbox's direct members, to move once the message is taken
    cabinets: list[int] = field(default_factory=list)
    documents: list[int] = field(default_factory=list)


class Exporter:
    def __init__(self, client: MayanClient, schema: Schema, mapping: Mapping) -> None:
        self.client = client
        self.schema = schema
        self.mapping = mapping
        self._names = field_names(mapping)
        self._cabinets: list[dict[str, Any]] = []

    def collect(self, outbox: int, skip: set[int]) -> Collected:
        """What the outbox holds now (cabinets in ``skip``, the sent/failed folders, are left out)."""
        self._cabinets = self.client.cabinets()
        out = Collected()
        entries: list[tuple[int, str, dict[str, Any]]] = []
        for cabinet in self._children(outbox):
            if int(cabinet["id"]) in skip:
                continue
            record = self._container(int(cabinet["id"]), out)
            entries.append((_position(record), str(cabinet["label"]), record))
            out.cabinets.append(int(cabinet["id"]))
        loose = self._documents(outbox, out)
        for record in loose:
            entries.append((_position(record), "", record))
        out.documents.extend(int(r["_document"]) for r in loose)
        entries.sort(key=lambda e: (e[0], e[1]))
        out.objects = [self.mapping.from_dms(_clean(r)) for _, _, r in entries]
        return out

    def record_of(self, cabinet: int) -> RecordObject:
        """The record ``cabinet`` would leave as, read without downloading a file; ConfigError if it cannot."""
        self._cabinets = self.client.cabinets()
        return self.mapping.from_dms(_clean(self._container(cabinet, Collected())))

    def _children(self, cabinet: int) -> list[dict[str, Any]]:
        return [c for c in self._cabinets if c.get("parent_id") == cabinet]

    def _record(self, document: dict[str, Any]) -> dict[str, Any]:
        metadata = self.client.metadata(int(document["id"]))
        record: dict[str, Any] = {"_document": int(document["id"]), "_label": document.get("label")}
        for name in self._names:
            if name in metadata and metadata[name][1] != "":
                record[name] = metadata[name][1]
        versions = self.mapping.fields.versions
        if isinstance(record.get(versions), str):
            try:
                record[versions] = json.loads(record[versions])
            except ValueError:
                raise ConfigError(f"document {document['id']}: metadata {versions} is not JSON") from None
        return record

    def _is_card(self, record: dict[str, Any]) -> bool:
        return record.get(self.mapping.fields.kind) != self.mapping.kinds[ObjectKind.DOKUMENT]

    def _container(self, cabinet: int, out: Collected) -> dict[str, Any]:
        members = [d for d in self.client.cabinet_documents(cabinet) if _ours(d, self.schema)]
        records = [self._record(d) for d in members]
        cards = [r for r in records if self._is_card(r)]
        if len(cards) != 1:
            raise ConfigError(
                f"cabinet {cabinet}: expected one record card (Akte/Vorgang metadata), found {len(cards)}"
            )
        card = cards[0]
        children: list[tuple[int, str, dict[str, Any]]] = []
        for sub in self._children(cabinet):
            record = self._container(int(sub["id"]), out)
            children.append((_position(record), str(sub["label"]), record))
        for record in self._nest([r for r in records if not self._is_card(r)], out):
            children.append((_position(record), "", record))
        children.sort(key=lambda e: (e[0], e[1]))
        card[self.mapping.fields.children] = [r for _, _, r in children]
        return card

    def _documents(self, cabinet: int, out: Collected) -> list[dict[str, Any]]:
        docs = [self._record(d) for d in self.client.cabinet_documents(cabinet) if _ours(d, self.schema)]
        return self._nest([r for r in docs if not self._is_card(r)], out)

    def _nest(self, records: list[dict[str, Any]], out: Collected) -> list[dict[str, Any]]:
        """Dokumente of one cabinet, Anlagen under their parent Dokument; files registered for the package."""
        id_field = self.mapping.fields.id
        by_id = {r.get(id_field): r for r in records}
        top: list[dict[str, Any]] = []
        for record in records:
            self._register_files(record, out)
            parent = by_id.get(record.get(PARENT))
            if parent is None:
                top.append(record)
            else:
                parent.setdefault(self.mapping.fields.children, []).append(record)
        for record in records:
            children = record.get(self.mapping.fields.children)
            if children:
                children.sort(key=_position)
        return top

    def _register_files(self, record: dict[str, Any], out: Collected) -> None:
        document = int(record["_document"])
        names = [
            item.get(self.mapping.formats.file)
            for version in record.get(self.mapping.fields.versions) or []
            for item in version.get(self.mapping.versions.formats) or []
            if item.get(self.mapping.formats.file)
        ]
        if not names:
            return
        files = {f.get("filename"): f for f in self.client.files(document)}
        for name in names:
            found = files.get(name)
            if found is None:
                raise ConfigError(f"document {document}: its primary file {name} is not among its files in Mayan")
            out.files[str(name)] = ChunkSource(int(found["size"]), self._chunks(document, found))

    def _chunks(self, document: int, file: dict[str, Any]) -> Any:
        client, file_id, want = self.client, int(file["id"]), str(file.get("checksum") or "")

        def chunks() -> Iterator[bytes]:
            digest = hashlib.sha256()
            for chunk in client.download(document, file_id):
                digest.update(chunk)
                yield chunk
            if want and digest.hexdigest() != want:
                raise BuildError(f"file {file.get('filename')} of document {document} does not match Mayan's checksum")

        return chunks


def _ours(document: dict[str, Any], schema: Schema) -> bool:
    return int(document["document_type"]["id"]) == schema.document_type


def _position(record: dict[str, Any]) -> int:
    try:
        return int(record.get(POSITION, 1 << 30))
    except ValueError:
        return 1 << 30


def _clean(record: dict[str, Any]) -> dict[str, Any]:
    """The record without the gateway's bookkeeping, recursively, as the mapping reads it."""
    out = {k: v for k, v in record.items() if not k.startswith(("_", "xgw_"))}
    for key, value in out.items():
        if isinstance(value, list) and value and isinstance(value[0], dict) and "_document" in value[0]:
            out[key] = [_clean(v) for v in value]
    return out

"""Export: each folder a DMS user puts into the export folder leaves as one xdomea message (0401 or 0503).

The folder is read as a record tree: folders with xdomea metadata are the Akten, Teilakten, Vorgänge they
say they are, documents are Dokumente whose CMIS versions (or same-id documents, without versioning) are
the xdomea versions, each content stream a primary file. Objects without xdomea metadata (made in the DMS,
not imported) are mapped too: a top folder is an Akte, folders below are Vorgänge and Teilvorgänge, a
document is a Dokument with a stable id derived from its version series, its format taken from its MIME
type through ``format_codes``. The message is built and validated by :func:`gateway.xoev.build.write_package`.

The message is the same bytes for the same folder content (ProzessID derived from the repository and
folder id, creation time the latest modification in the tree), so an offer repeated after a crash is a
duplicate the gateway's intake recognises. A folder that cannot become a valid message is set aside in
the failed folder with a reason document, as the gateway's refusals are.
"""

from __future__ import annotations

import io
import logging
import shutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from adapters.base import Acknowledgement, ExportedFile
from adapters.cmis.client import CmisFault, CmisSession, Node
from adapters.cmis.layout import clean_name, disambiguated
from adapters.cmis.properties import from_cmis, split_version
from adapters.inbound import file_sha256
from adapters.ledger import Ledger
from adapters.mapping import Mapping
from gateway.config import Settings
from gateway.xoev.build import PRIMARY_TYPES, BuildError, write_package
from gateway.xoev.model import Code, Kopf, Message, ObjectKind, Party

log = logging.getLogger(__name__)

NAMESPACE = uuid.UUID("6f1e4c3a-9a57-4e55-8f0e-2d3b7c1a5e01")  # xoev-gateway CMIS export ids
_SUFFIXES = {"application/pdf": ".pdf", "image/tiff": ".tif", "application/xml": ".xml", "text/plain": ".txt"}


class NotExportable(Exception):
    """The folder cannot become a message; the text says which object and why."""


@dataclass(frozen=True, slots=True)
class ExportSettings:
    export_folder: str
    processed_folder: str
    failed_folder: str
    message_type: str
    version: str
    sender: Party
    recipient: Party
    secondary_type: str
    checkin_versions: bool


def party(identifier: str, name: str | None) -> Party:
    prefix, _, ident = identifier.partition(":")
    return Party(institution=name or identifier, authority_prefix=prefix, authority_id=ident)


def _timestamp(value: Any) -> datetime | None:
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value / 1000, UTC)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


class Exporter:
    def __init__(
        self,
        session: CmisSession,
        ledger: Ledger,
        mapping: Mapping,
        options: ExportSettings,
        settings: Settings,
        spool: Path,
    ) -> None:
        self.session = session
        self.ledger = ledger
        self.mapping = mapping
        self.options = options
        self.settings = settings
        self.spool = spool

    # -- offering --------------------------------------------------------------------------------------

    def offers(self) -> Iterator[ExportedFile]:
        outbox = self.session.ensure_folder(self.options.export_folder)
        set_aside = {self.options.processed_folder, self.options.failed_folder}
        for child in self.session.children(outbox.id):
            if not child.is_folder or child.name in set_aside or child.name.startswith("."):
                continue
            work = self.spool / f"export-{uuid.uuid5(NAMESPACE, child.id).hex[:16]}"
            shutil.rmtree(work, ignore_errors=True)
            work.mkdir(parents=True)
            try:
                path = self.build(child, work)
            except NotExportable as exc:
                log.warning("cmis %s: %s cannot be exported: %s", self.session.describe(), child.name, exc)
                self._set_aside(outbox, child, self.options.failed_folder, f"not exported: {exc}")
                shutil.rmtree(work, ignore_errors=True)
                continue
            digest = file_sha256(path)
            earlier = self.ledger.exported(digest)
            if earlier is not None:
                reason = (
                    f"duplicate: taken by the gateway at {earlier.exported_at} as {earlier.reference or earlier.name}"
                )
                self._set_aside(outbox, child, self.options.processed_folder, reason)
                shutil.rmtree(work, ignore_errors=True)
                continue
            yield ExportedFile(path.name, path.stat().st_size, child.id, digest, _opener(path))

    def acknowledge(self, file: ExportedFile, ack: Acknowledgement) -> None:
        outbox = self.session.ensure_folder(self.options.export_folder)
        folder = self.session.get(file.key)
        if ack.accepted:
            self.ledger.record_export(file.sha256, file.name, ack.reference)
            self._set_aside(outbox, folder, self.options.processed_folder, ack.reason if ack.duplicate else None)
        else:
            self._set_aside(outbox, folder, self.options.failed_folder, ack.reason or "refused by the gateway")
        work = self.spool / f"export-{uuid.uuid5(NAMESPACE, file.key).hex[:16]}"
        shutil.rmtree(work, ignore_errors=True)

    def _set_aside(self, outbox: Node, folder: Node, sub: str, reason: str | None) -> None:
        dest = self.session.ensure_folder(f"{self.options.export_folder.rstrip('/')}/{sub}")
        if reason is not None:
            text = f"{folder.name}\n{datetime.now(UTC).isoformat(timespec='seconds')}\n{reason}\n".encode()
            name = clean_name(f"{folder.name}.reason.txt")
            try:
                self.session.create_document(dest.id, name, {}, io.BytesIO(text), "text/plain")
            except CmisFault as fault:
                if fault.name != "nameConstraintViolation":
                    raise
                self.session.create_document(
                    dest.id, disambiguated(name, uuid.uuid4().hex), {}, io.BytesIO(text), "text/plain"
                )
        try:
            self.session.move(folder.id, outbox.id, dest.id)
        except CmisFault as fault:
            if fault.name != "nameConstraintViolation":
                raise
            self.session.update(folder.id, {"cmis:name": disambiguated(folder.name, uuid.uuid4().hex)})
            self.session.move(folder.id, outbox.id, dest.id)

    # -- building --------------------------------------------------------------------------------------

    def build(self, folder: Node, work: Path) -> Path:
        files: dict[str, Path] = {}
        stamps: list[datetime] = []
        record = self._folder_record(folder, None, work, files, stamps)
        try:
            top = self.mapping.from_dms(record)
        except Exception as exc:  # ConfigError from the mapping names the field
            raise NotExportable(str(exc)) from None
        element = PRIMARY_TYPES[self.options.message_type]
        repository = str(self.session.info().get("repositoryId") or "")
        kopf = Kopf(
            process_id=str(uuid.uuid5(NAMESPACE, f"{repository}/{folder.id}")),
            message_type=Code(self.options.message_type),
            created_at=max(stamps, default=datetime(2000, 1, 1, tzinfo=UTC)).replace(microsecond=0),
            sender=self.options.sender,
            recipient=self.options.recipient,
            import_confirmation_requested=True,
            archive_id_requested=True if self.options.message_type == "0503" else None,
        )
        message = Message(version=self.options.version, element=element, kopf=kopf, objects=[top])
        out = work / "package"
        try:
            built = write_package(message, out, files, settings=self.settings, compresslevel=1)
        except BuildError as exc:
            raise NotExportable(str(exc)) from None
        return built.path

    def _kind_below(self, parent_kind: ObjectKind | None) -> ObjectKind:
        if parent_kind is None:
            return ObjectKind.AKTE
        if parent_kind in (ObjectKind.AKTE, ObjectKind.TEILAKTE):
            return ObjectKind.VORGANG
        return ObjectKind.TEILVORGANG

    def _folder_record(
        self, folder: Node, parent_kind: ObjectKind | None, work: Path, files: dict[str, Path], stamps: list[datetime]
    ) -> dict[str, Any]:
        m = self.mapping
        stamp = _timestamp(folder.props.get("cmis:lastModificationDate"))
        if stamp is not None:
            stamps.append(stamp)
        fields = from_cmis(folder.props, m, self.options.secondary_type)
        if fields is None:
            kind = self._kind_below(parent_kind)
            record: dict[str, Any] = {
                m.fields.kind: m.kinds[kind],
                m.fields.id: str(uuid.uuid5(NAMESPACE, folder.id)),
                m.fields.betreff: folder.name,
            }
        else:
            record = {**fields}
            kinds = {v: k for k, v in m.kinds.items()}
            kind = kinds.get(record.get(m.fields.kind, ""), self._kind_below(parent_kind))
        children: list[dict[str, Any]] = []
        documents: dict[str, list[tuple[dict[str, str], dict[str, Any]]]] = {}
        order: list[str] = []
        for child in self.session.children(folder.id):
            if child.is_folder:
                children.append(self._folder_record(child, kind, work, files, stamps))
                order.append(f"folder:{len(children) - 1}")
                continue
            for obj_fields, version in self._document_versions(child, work, files, stamps):
                xid = obj_fields[m.fields.id]
                if xid not in documents:
                    documents[xid] = []
                    order.append(f"doc:{xid}")
                documents[xid].append((obj_fields, version))
        ordered: list[dict[str, Any]] = []
        for item in order:
            kind_tag, _, ref = item.partition(":")
            if kind_tag == "folder":
                ordered.append(children[int(ref)])
                continue
            versions = sorted(documents[ref], key=lambda fv: _number(fv[1].get(m.versions.number)))
            doc: dict[str, Any] = dict(versions[0][0])
            doc[m.fields.versions] = [v for _, v in versions if v.get(m.versions.formats)]
            ordered.append(doc)
        record[m.fields.children] = ordered
        return record

    def _document_versions(
        self, document: Node, work: Path, files: dict[str, Path], stamps: list[datetime]
    ) -> Iterator[tuple[dict[str, str], dict[str, Any]]]:
        """(object fields, mapped version) for each version of one CMIS document."""
        m = self.mapping
        versions = self.session.versions(document.id) if self.options.checkin_versions else [document]
        for number, node in enumerate(versions, start=1):
            stamp = _timestamp(node.props.get("cmis:lastModificationDate"))
            if stamp is not None:
                stamps.append(stamp)
            fields = from_cmis(node.props, m, self.options.secondary_type)
            if fields is None:
                fields = self._native_fields(node, number)
            obj_fields, version = split_version(fields, m)
            formats = version.get(m.versions.formats) or []
            has_content = node.props.get("cmis:contentStreamLength") not in (None, 0) or node.props.get(
                "cmis:contentStreamMimeType"
            )
            if formats and has_content:
                filename = formats[0].get(m.formats.file)
                if not filename or "/" in filename or filename in files:
                    raise NotExportable(
                        f"document {node.name!r}: primary file name {filename!r} is missing or not unique"
                    )
                dest = work / f"{len(files):05d}.bin"
                self.session.download(node.id, dest)
                files[filename] = dest
            elif formats:
                formats[0].pop(m.formats.file, None)
            yield obj_fields, version

    def _native_fields(self, node: Node, number: int) -> dict[str, str]:
        """xdomea fields for a document the DMS made itself (no xdomea metadata)."""
        m = self.mapping
        mime = str(node.props.get("cmis:contentStreamMimeType") or "")
        codes = {value: code for code, value in m.format_codes.items()}
        name = node.name
        stem = name.rsplit(".", 1)[0] if "." in name else name
        fields = {
            m.fields.kind: m.kinds[ObjectKind.DOKUMENT],
            m.fields.id: str(uuid.uuid5(NAMESPACE, node.series)),
            m.fields.betreff: stem,
            m.versions.number: str(number),
        }
        if mime:
            if mime not in codes:
                raise NotExportable(
                    f"document {name!r}: no Dateiformat code for MIME type {mime!r} (add it to format_codes)"
                )
            suffix = _SUFFIXES.get(mime, "." + name.rsplit(".", 1)[1] if "." in name else ".bin")
            fields[m.formats.format] = mime
            fields[m.formats.file] = f"{uuid.uuid5(NAMESPACE, node.id)}{suffix}"
            fields[m.formats.original_name] = name
        return fields


def _opener(path: Path) -> Callable[[], BinaryIO]:
    def open_package() -> BinaryIO:
        return path.open("rb")

    return open_package


def _number(value: Any) -> tuple[int, str]:
    text = str(value or "")
    return (int(text), text) if text.isdigit() else (0, text)

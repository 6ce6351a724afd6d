"""Import: a delivered message becomes folders and documents in the repository, exactly once, all or nothing.

The way one import goes:

1. The message is re-validated (:func:`~adapters.inbound.read_inbound`); a package with a missing primary
   file, objects imported before under another message (ledger), handed-over objects the repository
   already holds (a CMIS query for their xdomea id), or content the mapping cannot carry are refused
   before anything is created.
2. The whole tree is built inside a hidden staging folder ``.xgw-import-<ProzessID>-<type>-<LfdNr>`` in
   the import folder: Akten, Teilakten, Vorgänge as nested ``cmis:folder``, Dokumente as ``cmis:document``
   with their primary file as content stream, later versions by checkOut/checkIn (or as separate
   documents), the xdomea metadata as properties. The ledger says ``pending``.
3. The ledger says ``staged``; the top-level folders are moved into the import folder (nothing is visible
   before this step), the empty staging folder is deleted, the ledger says ``done`` with every object.

Failures: a CMIS refusal (``constraint``, ``nameConstraintViolation`` after disambiguation ...) is
permanent: the staging folder is deleted and the result is FAILED, naming the object and the server's
reason, everything else NOT_ATTEMPTED. A server that fails or goes away is transient: the adapter tries to
delete the staging folder and raises :class:`~adapters.base.Unavailable` saying whether it could; if it
could not, the hidden staging folder stays and the next delivery continues it, finding what exists by
xdomea id (a document with missing versions or left checked out is replaced), so nothing is created twice.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

from adapters.base import ImportResult, ImportStatus, ObjectResult, ObjectStatus, Unavailable
from adapters.cmis.client import CmisFault, CmisSession, Node
from adapters.cmis.layout import disambiguated, document_name, folder_name, ql_string, staging_name
from adapters.cmis.properties import Store, object_fields, to_cmis, version_fields
from adapters.inbound import Inbound, refused
from adapters.ledger import Ledger
from adapters.mapping import Mapping
from gateway.xoev.model import ObjectKind, RecordObject

log = logging.getLogger(__name__)


class Importer:
    def __init__(
        self,
        session: CmisSession,
        ledger: Ledger,
        mapping: Mapping,
        *,
        import_folder: str,
        store: Store,
        secondary_type: str,
        folder_type: str,
        document_type: str,
        checkin_versions: bool,
        spool: Path,
    ) -> None:
        self.session = session
        self.ledger = ledger
        self.mapping = mapping
        self.import_folder = import_folder
        self.store = store
        self.secondary_type = secondary_type
        self.folder_type = folder_type
        self.document_type = document_type
        self.checkin_versions = checkin_versions
        self.spool = spool

    # -- lookups ---------------------------------------------------------------------------------------

    def find(self, xdomea_id: str, folder_id: str | None = None) -> list[Node]:
        """Objects carrying this xdomea id (latest versions), optionally only those directly in one folder."""
        in_folder = f" AND IN_FOLDER({ql_string(folder_id)})" if folder_id else ""
        id_prop = self.mapping.fields.id
        if self.store is Store.SECONDARY:
            statements = [
                f"SELECT cmis:objectId FROM {self.secondary_type} "  # noqa: S608 -- CMIS QL, values escaped
                f"WHERE {id_prop} = {ql_string(xdomea_id)}{in_folder}"
            ]
        else:
            needle = ql_string(f'%"{id_prop}": "{xdomea_id}"%')
            statements = [
                f"SELECT cmis:objectId FROM {base} WHERE cmis:description LIKE {needle}{in_folder}"  # noqa: S608
                for base in ("cmis:folder", "cmis:document")
            ]
        found: list[Node] = []
        for statement in statements:
            found.extend(self.session.get(n.id) for n in self.session.query(statement))
        return found

    # -- the import ------------------------------------------------------------------------------------

    def run(self, inbound: Inbound) -> ImportResult:
        key = inbound.key
        record = self.ledger.import_record(key)
        if record is not None and record.state == "done":
            return self._duplicate(inbound)
        ids = [obj.id for obj, _ in inbound.objects]
        earlier = {i: o for i, o in self.ledger.imported_objects(ids).items() if o.key != key}
        if earlier:
            failed = {i: f"already imported from message {o.key} as {o.dms_id}" for i, o in earlier.items()}
            return refused(inbound, f"{len(earlier)} object(s) were imported before; nothing imported", failed=failed)
        unsupported = self._unsupported(inbound)
        if unsupported:
            return refused(inbound, "the CMIS mapping cannot carry some objects; nothing imported", failed=unsupported)
        target = self.session.ensure_folder(self.import_folder, self.folder_type)
        resuming = record is not None
        if not resuming:
            present = {
                obj.id: nodes for obj, parent in inbound.objects if parent is None and (nodes := self.find(obj.id))
            }
            if present:
                failed = {i: f"already in the repository as {nodes[0].id}" for i, nodes in present.items()}
                return refused(
                    inbound, "handed-over objects are already in the repository; nothing imported", failed=failed
                )
        staging = self._staging(target, key_name := staging_name(key))
        if record is None or record.state != "staged":
            self.ledger.begin(key, target=target.id, temp=staging.id, sha256=inbound.sha256)
        created: dict[str, str] = {}
        moved: set[str] = set()
        current: RecordObject | None = None
        try:
            with self._package(inbound) as package:
                for obj, parent in inbound.objects:
                    current = obj
                    parent_id = staging.id if parent is None else created[parent]
                    existing = (
                        self._existing(obj, parent_id, target.id if parent is None else None) if resuming else None
                    )
                    if existing is not None and existing.props.get("cmis:parentId") == target.id and parent is None:
                        moved.add(obj.id)
                    created[obj.id] = (
                        existing.series if existing is not None else self._create(obj, parent_id, inbound, package)
                    )
            current = None
        except CmisFault as fault:
            why = f"{current.kind} {current.id}: {fault}" if current is not None else str(fault)
            rolled = self._rollback(staging)
            if rolled:
                self.ledger.forget_import(key)
            reason = f"the repository refused the import ({why}); " + (
                "nothing was kept" if rolled else f"the hidden folder {key_name} remains for the next delivery"
            )
            return refused(inbound, reason, failed={current.id: str(fault)} if current is not None else None)
        except Unavailable as exc:
            rolled = self._rollback(staging)
            if rolled:
                self.ledger.forget_import(key)
            state = (
                "nothing was kept"
                if rolled
                else f"the incomplete import stays in the hidden folder {key_name}; the next delivery finishes it"
            )
            raise Unavailable(f"{exc}; {state}") from None
        self.ledger.staged(key)
        try:
            for obj, parent in inbound.objects:
                if parent is None and obj.id not in moved:
                    self._move_into_place(obj, created[obj.id], staging.id, target.id)
        except Unavailable as exc:
            raise Unavailable(
                f"{exc}; every object is written and waits in the hidden folder {key_name}: "
                "the next delivery moves it into place"
            ) from None
        with contextlib.suppress(CmisFault):  # an empty leftover hides itself; the import is complete
            self.session.delete(staging.id)
        results = tuple(
            ObjectResult(obj.id, obj.kind, ObjectStatus.IMPORTED, parent, created[obj.id])
            for obj, parent in inbound.objects
        )
        self.ledger.complete(key, results)
        log.info("cmis %s: imported %s (%d objects) into %s", self.session.describe(), key, len(results), target.id)
        return ImportResult(key, ImportStatus.IMPORTED, results, location=self.import_folder)

    def _duplicate(self, inbound: Inbound) -> ImportResult:
        known = {o.id: o.dms_id for o in self.ledger.objects_of(inbound.key)}
        objects = tuple(
            ObjectResult(o.id, o.kind, ObjectStatus.DUPLICATE, p, known.get(o.id), "imported before")
            for o, p in inbound.objects
        )
        return ImportResult(inbound.key, ImportStatus.DUPLICATE, objects, "imported before", self.import_folder)

    def _unsupported(self, inbound: Inbound) -> dict[str, str]:
        out: dict[str, str] = {}
        for obj, parent in inbound.objects:
            kinds = {o.kind for o, p in inbound.objects if o.id == parent}
            if obj.kind is ObjectKind.DOKUMENT and ObjectKind.DOKUMENT in kinds:
                out[obj.id] = "an Anlage of a Dokument has no place in a CMIS folder tree (not supported)"
            elif obj.kind is not ObjectKind.DOKUMENT and obj.versions:
                out[obj.id] = f"a {obj.kind} with versions cannot be a cmis:folder"
            elif any(len([f for f in v.formats if f.primary is not None]) > 1 for v in obj.versions):
                out[obj.id] = "a version with more than one primary file (one content stream per version)"
        return out

    def _staging(self, target: Node, name: str) -> Node:
        path = self.import_folder.rstrip("/") + "/" + name
        try:
            return self.session.by_path(path)
        except CmisFault as fault:
            if fault.name != "objectNotFound":
                raise
        marker = {"cmis:description": "xoev-gateway: import in progress; finished or removed by the gateway"}
        return self.session.create_folder(target.id, name, {"cmis:objectTypeId": self.folder_type, **marker})

    def _rollback(self, staging: Node) -> bool:
        try:
            self.session.delete_tree(staging.id)
        except (CmisFault, Unavailable) as exc:
            log.warning("cmis %s: could not remove %s: %s", self.session.describe(), staging.name, exc)
            return False
        return True

    def _existing(self, obj: RecordObject, parent_id: str, or_in: str | None) -> Node | None:
        """On a resumed import: the object made by the earlier try, if it is complete (else removed)."""
        nodes = self.find(obj.id, parent_id)
        if not nodes and or_in is not None:
            nodes = self.find(obj.id, or_in)
        if not nodes:
            return None
        node = nodes[0]
        if node.is_folder:
            return node
        complete = not node.props.get("cmis:isVersionSeriesCheckedOut")
        if self.checkin_versions:
            complete = complete and len(self.session.versions(node.id)) == max(1, len(obj.versions))
        else:
            complete = complete and len(nodes) == max(1, len(obj.versions))
        if complete:
            return node
        for stale in nodes:  # a document whose versions were not all written: start it again
            if stale.props.get("cmis:isVersionSeriesCheckedOut"):
                with contextlib.suppress(CmisFault):
                    self.session.cancel_check_out(stale.id)
            self.session.delete(stale.id)
        return None

    # -- creating --------------------------------------------------------------------------------------

    def _props(self, fields: dict[str, str], type_id: str) -> dict[str, Any]:
        return {"cmis:objectTypeId": type_id, **to_cmis(fields, self.store, self.secondary_type)}

    def _context(self, inbound: Inbound) -> dict[str, str]:
        kopf = inbound.message.kopf
        return {
            "process_id": inbound.key.process_id,
            "message_type": inbound.key.message_type,
            "sender": (kopf.sender.xoev_identifier or kopf.sender.display_name) if kopf.sender else "",
            "recipient": (kopf.recipient.xoev_identifier or "") if kopf.recipient else "",
        }

    def _named(self, create: Any, name: str, xdomea_id: str) -> Node:
        try:
            node: Node = create(name)
        except CmisFault as fault:
            if fault.name != "nameConstraintViolation":
                raise
            node = create(disambiguated(name, xdomea_id))
        return node

    def _create(self, obj: RecordObject, parent_id: str, inbound: Inbound, package: zipfile.ZipFile | None) -> str:
        record = self.mapping.to_dms(obj, self._context(inbound))
        fields = object_fields(record, self.mapping)
        if obj.kind is not ObjectKind.DOKUMENT:
            props = self._props(fields, self.folder_type)
            node = self._named(lambda n: self.session.create_folder(parent_id, n, props), folder_name(obj), obj.id)
            return node.id
        versions = record.get(self.mapping.fields.versions) or []
        name = document_name(obj)
        if not versions:
            props = self._props(fields, self.document_type)
            node = self._named(lambda n: self.session.create_document(parent_id, n, props, None, None), name, obj.id)
            return node.series
        first: Node | None = None
        for number, (version, source) in enumerate(zip(versions, obj.versions, strict=True), start=1):
            props = self._props({**fields, **version_fields(version, self.mapping)}, self.document_type)
            primary = next((f.primary for f in source.formats if f.primary is not None), None)
            mime = self._mime(version)
            with self._content(package, primary.filename if primary else None) as content:
                if first is None:
                    first = self._document(parent_id, name, props, content, mime, obj.id)
                elif self.checkin_versions:
                    pwc = self.session.check_out(first.id)
                    props.pop("cmis:objectTypeId")
                    self.session.check_in(pwc.id, props, content, mime)
                else:
                    stem, dot, suffix = name.rpartition(".")
                    versioned = f"{stem} (Version {number}).{suffix}" if dot and stem else f"{name} (Version {number})"
                    self._document(parent_id, versioned, props, content, mime, obj.id)
        assert first is not None
        return first.series

    def _document(
        self, parent_id: str, name: str, props: dict[str, Any], content: BinaryIO | None, mime: str | None, xid: str
    ) -> Node:
        try:
            return self.session.create_document(parent_id, name, props, content, mime)
        except CmisFault as fault:
            if fault.name != "nameConstraintViolation":
                raise
        if content is not None:
            content.seek(0)
        return self.session.create_document(parent_id, disambiguated(name, xid), props, content, mime)

    def _mime(self, version: dict[str, Any]) -> str:
        formats = version.get(self.mapping.versions.formats) or []
        value = formats[0].get(self.mapping.formats.format) if formats else None
        return value if isinstance(value, str) and "/" in value else "application/octet-stream"

    @contextmanager
    def _package(self, inbound: Inbound) -> Iterator[zipfile.ZipFile | None]:
        if not inbound.is_package:
            yield None
            return
        with zipfile.ZipFile(inbound.path) as zf:
            yield zf

    @contextmanager
    def _content(self, package: zipfile.ZipFile | None, filename: str | None) -> Iterator[BinaryIO | None]:
        """The primary file as a seekable file (the upload needs its length), spooled from the package."""
        if package is None or filename is None:
            yield None
            return
        with tempfile.TemporaryFile(dir=self.spool) as spooled:
            with package.open(filename) as source:
                shutil.copyfileobj(source, spooled, 1 << 20)
            spooled.seek(0)
            yield spooled

    def _move_into_place(self, obj: RecordObject, object_id: str, staging_id: str, target_id: str) -> None:
        try:
            self.session.move(object_id, staging_id, target_id)
        except CmisFault as fault:
            if fault.name != "nameConstraintViolation":
                raise
            node = self.session.get(object_id)
            self.session.update(object_id, {"cmis:name": disambiguated(node.name, obj.id)})
            self.session.move(object_id, staging_id, target_id)

"""The Mayan EDMS adapter: a DMS with a REST API, standing for the products that offer one.

Import: a delivered message is re-validated, checked against the ledger, and written into Mayan by
:mod:`adapters.mayan.importer` (cabinet tree, record cards, documents, files with verified checksums,
metadata). The ledger says ``pending`` while that runs and ``done`` afterwards; a delivery that finds
``done`` is a duplicate and changes nothing, one that finds ``pending`` (a crash, Mayan gone) runs the
import again, which finds what the earlier attempt made in Mayan and adds only what is missing.

Export: the records in the outbox cabinet become one 0503 (Aussonderung) or 0401 (Abgabe) package,
built in the adapter's spool and offered until the gateway acknowledges it; then they move to the
``sent`` cabinet below the outbox (or ``failed`` with the reason as a comment on each record card).
Mayan's own web interface cannot move a cabinet under another, so :meth:`MayanAdapter.send_cabinet`
(``xgw adapter send``) does it through the API, after checking that the cabinet is a record that can
leave.
"""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
import uuid
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self

from pydantic import ValidationError

from adapters.base import (
    Acknowledgement,
    AdapterContext,
    AdapterError,
    AuthenticationFailed,
    Check,
    ConfigError,
    DmsAdapter,
    ExportedFile,
    Health,
    ImportResult,
    ImportStatus,
    ObjectResult,
    ObjectStatus,
    Unavailable,
)
from adapters.inbound import Inbound, file_sha256, read_inbound, refused
from adapters.ledger import Ledger
from adapters.mapping import Mapping as FieldMapping
from adapters.mapping import load_mapping
from adapters.mayan.client import MayanClient, MayanRefused
from adapters.mayan.config import MayanConfig
from adapters.mayan.exporter import Exporter
from adapters.mayan.importer import Importer
from adapters.mayan.schema import Schema, ensure_schema, missing_schema
from gateway.xoev.build import PRIMARY_TYPES, BuildError, write_package
from gateway.xoev.model import Code, Kopf, Message, Party, SendingSystem
from gateway.xoev.validation.validate import Validator

log = logging.getLogger(__name__)
PENDING_EXPORT = "export.json"


class SendRefused(AdapterError):
    """The cabinet named for sending cannot go into the outbox; the message says why and what to do."""


FAILED_CABINET = "abgelehnt"


def _party(identifier: str, name: str) -> Party:
    prefix, _, kennung = identifier.partition(":")
    return Party(institution=name, authority_prefix=prefix, authority_id=kennung)


class MayanAdapter(DmsAdapter):
    kind = "mayan"

    def __init__(
        self,
        client: MayanClient,
        config: MayanConfig,
        context: AdapterContext,
        *,
        mapping: FieldMapping | None = None,
        ledger: Ledger | None = None,
    ) -> None:
        self.client = client
        self.config = config
        self.context = context
        self.mapping = mapping or load_mapping(None)
        self.validator = Validator(settings=context.settings)
        self.ledger = ledger or Ledger(context.state_dir / "ledger.sqlite3")
        self.spool = context.state_dir / "spool"
        self.spool.mkdir(parents=True, exist_ok=True)
        self._schema: Schema | None = None
        self._cabinet_ids: dict[tuple[str, int | None], int] = {}

    @classmethod
    def from_config(cls, config: Mapping[str, Any], context: AdapterContext) -> Self:
        try:
            cfg = MayanConfig.model_validate(dict(config))
        except ValidationError as exc:
            raise ConfigError.from_validation(exc, f"adapter_config of {context.participant}") from None
        mapping = load_mapping(context.base_dir / cfg.mapping if cfg.mapping else None)
        token = password = None
        if cfg.token_env:
            token = context.env.get(cfg.token_env)
            if token is None:
                raise ConfigError(f"token_env: the environment variable {cfg.token_env} is not set")
        if cfg.password_env:
            password = context.env.get(cfg.password_env)
            if password is None:
                raise ConfigError(f"password_env: the environment variable {cfg.password_env} is not set")
        client = MayanClient(
            cfg.url, token=token, username=cfg.username, password=password, timeout=cfg.timeout, verify=cfg.verify_tls
        )
        return cls(client, cfg, context, mapping=mapping)

    def close(self) -> None:
        self.client.close()
        self.ledger.close()

    # -- what the gateway keeps in Mayan ---------------------------------------------------------------

    def schema(self) -> Schema:
        if self._schema is None:
            self._schema = ensure_schema(self.client, self.config.document_type, self.mapping)
        return self._schema

    def find_cabinet(self, label: str, parent: int | None = None) -> int | None:
        """The cabinet ``label`` below ``parent`` (top level for None), or None; changes nothing."""
        key = (label, parent)
        if key not in self._cabinet_ids:
            found = [c for c in self.client.cabinets() if c["label"] == label and c.get("parent_id") == parent]
            if not found:
                return None
            self._cabinet_ids[key] = int(found[0]["id"])
        return self._cabinet_ids[key]

    def cabinet(self, label: str, parent: int | None = None, made: list[str] | None = None) -> int:
        """The cabinet ``label`` below ``parent`` (top level for None), made if missing (and noted in ``made``)."""
        found = self.find_cabinet(label, parent)
        if found is None:
            found = int(self.client.create_cabinet(label, parent)["id"])
            self._cabinet_ids[(label, parent)] = found
            if made is not None:
                made.append(f"cabinet {label!r} (id {found})" + (f" below cabinet {parent}" if parent else ""))
        return found

    def setup(self) -> list[str]:
        """The document type, metadata types and the inbox/outbox cabinets, made where missing."""
        made: list[str] = []
        self._schema = ensure_schema(self.client, self.config.document_type, self.mapping, made)
        self.cabinet(self.config.inbox_cabinet, None, made)
        outbox = self.cabinet(self.config.outbox_cabinet, None, made)
        self.cabinet(self.config.sent_cabinet, outbox, made)
        self.cabinet(FAILED_CABINET, outbox, made)
        return made

    # -- import ----------------------------------------------------------------------------------------

    def import_message(self, package_path: Path, *, filename: str | None = None) -> ImportResult:
        inbound = read_inbound(self.validator, package_path, filename)
        if isinstance(inbound, ImportResult):
            return inbound  # refused before anything was created in Mayan
        key = inbound.key
        record = self.ledger.import_record(key)
        if record is not None and record.state == "done":
            return self._duplicate(inbound, record.target)
        ids = [obj.id for obj, _ in inbound.objects]
        earlier = {i: o for i, o in self.ledger.imported_objects(ids).items() if o.key != key}
        if earlier:
            failed = {i: f"already imported from message {o.key} as {o.dms_id}" for i, o in earlier.items()}
            return refused(inbound, f"{len(earlier)} object(s) were imported before; nothing imported", failed=failed)
        inbox = self.cabinet(self.config.inbox_cabinet)
        target = f"{self.client.base}cabinets/{inbox}"
        self.ledger.begin(key, target=target, temp="", sha256=inbound.sha256)
        importer = Importer(self.client, self.schema(), self.mapping, inbox, self.spool)
        try:
            results = importer.run(inbound)
        except (Unavailable, AuthenticationFailed) as exc:
            total = len(inbound.objects)
            log.warning("mayan import %s stopped after %d of %d objects: %s", key, importer.done, total, exc)
            raise type(exc)(
                f"import of {key} stopped after {importer.done} of {total} objects ({exc}); what is in Mayan "
                "is marked xgw_import_state=partial and the next delivery completes it"
            ) from None
        if all(r.ok for r in results):
            self.ledger.complete(key, results)
            if all(r.status is ObjectStatus.FOUND for r in results):
                log.info("mayan: %s was complete in Mayan already (%d objects); nothing created", key, len(results))
                reason = "every object was found complete in Mayan already (the ledger did not know them)"
                return ImportResult(key, ImportStatus.FOUND, tuple(results), reason, target)
            log.info("mayan: imported %s (%d objects) below cabinet %s", key, len(results), inbox)
            return ImportResult(key, ImportStatus.IMPORTED, tuple(results), location=target)
        bad = [r for r in results if r.status is ObjectStatus.FAILED]
        reason = f"{len(bad)} object(s) failed in Mayan: " + "; ".join(f"{r.kind} {r.id}: {r.reason}" for r in bad[:3])
        status = ImportStatus.PARTIAL if any(r.ok for r in results) else ImportStatus.FAILED
        return ImportResult(key, status, tuple(results), reason, target)

    def _duplicate(self, inbound: Inbound, target: str) -> ImportResult:
        known = {o.id: o for o in self.ledger.objects_of(inbound.key)}
        objects = tuple(
            ObjectResult(
                obj.id,
                obj.kind,
                ObjectStatus.DUPLICATE,
                parent,
                known[obj.id].dms_id if obj.id in known else None,
                f"imported before below {target}",
            )
            for obj, parent in inbound.objects
        )
        return ImportResult(inbound.key, ImportStatus.DUPLICATE, objects, f"imported before below {target}", target)

    # -- export ----------------------------------------------------------------------------------------

    def _folders(self) -> tuple[int, int, int]:
        outbox = self.cabinet(self.config.outbox_cabinet)
        return outbox, self.cabinet(self.config.sent_cabinet, outbox), self.cabinet(FAILED_CABINET, outbox)

    def export(self) -> Iterator[ExportedFile]:
        """The outbox's records as one package; the same package again until it is acknowledged."""
        outbox, sent, failed = self._folders()
        exporter = Exporter(self.client, self.schema(), self.mapping)
        try:
            collected = exporter.collect(outbox, {sent, failed})
        except ConfigError as exc:
            log.warning("mayan export: the outbox cannot be sent as it is: %s", exc)
            return
        if not collected.objects:
            return
        members = {"cabinets": collected.cabinets, "documents": collected.documents}
        pending = self._pending_export()
        if pending is not None and pending["members"] == members and Path(pending["path"]).exists():
            path = Path(pending["path"])
        else:
            self._drop_pending_export()
            out = self.spool / "export" / uuid.uuid4().hex
            try:
                built = write_package(self._message(collected), out, collected.files, settings=self.context.settings)
            except BuildError as exc:
                shutil.rmtree(out, ignore_errors=True)
                log.warning("mayan export: no valid message from the outbox: %s", exc)
                return
            path = built.path
            state = {"members": members, "path": str(path)}
            (self.spool / PENDING_EXPORT).write_text(json.dumps(state))
        digest = file_sha256(path)
        yield ExportedFile(path.name, path.stat().st_size, json.dumps(members), digest, lambda: path.open("rb"))

    def _message(self, collected: Any) -> Message:
        code = self.config.export_type
        kopf = Kopf(
            process_id=str(uuid.uuid4()),
            message_type=Code(code),
            created_at=datetime.now(UTC).replace(microsecond=0),
            sender=_party(self.config.sender or self.context.participant, self.config.sender_name),
            recipient=_party(self.config.recipient, self.config.recipient_name),
            sending_system=SendingSystem(product="xoev-gateway Mayan adapter", manufacturer="xoev-gateway"),
            receipt_requested=True,
            import_confirmation_requested=True,
            archive_id_requested=code == "0503",
            message_uuid=str(uuid.uuid4()),
        )
        return Message(self.config.export_version, PRIMARY_TYPES[code], kopf, objects=collected.objects)

    def _pending_export(self) -> dict[str, Any] | None:
        try:
            data: dict[str, Any] = json.loads((self.spool / PENDING_EXPORT).read_text())
        except (OSError, ValueError):
            return None
        return data

    def _drop_pending_export(self) -> None:
        pending = self._pending_export()
        if pending is not None:
            shutil.rmtree(Path(pending["path"]).parent, ignore_errors=True)
        (self.spool / PENDING_EXPORT).unlink(missing_ok=True)

    def acknowledge(self, file: ExportedFile, ack: Acknowledgement) -> None:
        members = json.loads(file.key)
        outbox, sent, failed = self._folders()
        target = sent if ack.accepted else failed
        for cabinet in members["cabinets"]:
            self.client.move_cabinet(cabinet, target)
        for document in members["documents"]:
            self.client.add_to_cabinet(target, document)
            self.client.remove_from_cabinet(outbox, document)
        if ack.accepted:
            self.ledger.record_export(file.sha256, file.name, ack.reference)
        else:
            note = f"xoev-gateway refused {file.name}: {ack.reason or 'no reason given'}"
            for document in self._cards(members):
                with contextlib.suppress(MayanRefused):
                    self.client.request("POST", f"documents/{document}/comments/", json={"text": note[:2000]})
        self._drop_pending_export()

    def _cards(self, members: dict[str, list[int]]) -> list[int]:
        schema = self.schema()
        out = list(members["documents"])
        for cabinet in members["cabinets"]:
            out += [
                int(d["id"])
                for d in self.client.cabinet_documents(cabinet)
                if int(d["document_type"]["id"]) == schema.document_type
                and not str(d.get("description", "")).startswith("xdomea Dokument ")
            ]
        return out

    def send_cabinet(self, ref: str) -> str:
        """Move the record cabinet ``ref`` (an id, a label or a full path) under the outbox cabinet.

        Refused (:class:`SendRefused`) when ``ref`` names no cabinet or several, one of the gateway's own
        cabinets, one already in the outbox, or a cabinet the exporter could not send (no record card).
        """
        cabinets = self.client.cabinets()
        if ref.strip().isdigit():
            matches = [c for c in cabinets if int(c["id"]) == int(ref)]
        else:
            matches = [c for c in cabinets if ref in (c["label"], c.get("full_path"))]
        if not matches:
            raise SendRefused(f"no cabinet {ref!r} in Mayan (give its id, label or full path)")
        if len(matches) > 1:
            named = "; ".join(f"id {c['id']}: {c.get('full_path') or c['label']}" for c in matches[:10])
            raise SendRefused(f"{len(matches)} cabinets are called {ref!r}; give the id of one ({named})")
        cabinet = matches[0]
        cabinet_id, path = int(cabinet["id"]), str(cabinet.get("full_path") or cabinet["label"])
        outbox, sent, failed = self._folders()
        own = {outbox, sent, failed, self.cabinet(self.config.inbox_cabinet)}
        if cabinet_id in own:
            raise SendRefused(f"cabinet {path!r} is one of the gateway's own cabinets, not a record")
        by_id = {int(c["id"]): c for c in cabinets}
        for node in self._ancestors(cabinet_id, by_id):
            if node == failed:
                break  # a refused record may be sent again once corrected
            if node == sent:
                raise SendRefused(f"cabinet {path!r} was sent already (it is in {self.config.sent_cabinet!r})")
            if node == outbox:
                raise SendRefused(f"cabinet {path!r} is in the outbox already: it leaves with the next export")
        if cabinet_id in self._ancestors(outbox, by_id):
            raise SendRefused(f"cabinet {path!r} holds the outbox cabinet; it cannot be sent")
        try:
            record = Exporter(self.client, self.schema(), self.mapping).record_of(cabinet_id)
        except ConfigError as exc:
            raise SendRefused(
                f"cabinet {path!r} cannot be sent: {exc} (only records with a record card, as the gateway "
                "files them on import, can leave)"
            ) from None
        self.client.move_cabinet(cabinet_id, outbox)
        log.info("mayan: cabinet %s (%s) moved into the outbox %s", cabinet_id, path, outbox)
        what = f"{record.kind} {record.kennzeichen or ''} {record.betreff or ''}".strip()
        return f"{what} (cabinet {cabinet_id}, {path!r}) is in the outbox cabinet {self.config.outbox_cabinet!r}"

    @staticmethod
    def _ancestors(cabinet: int, by_id: Mapping[int, Any]) -> list[int]:
        """The cabinets above ``cabinet``, nearest first."""
        out: list[int] = []
        node = by_id[cabinet].get("parent_id") if cabinet in by_id else None
        while node is not None and int(node) not in out:
            out.append(int(node))
            node = by_id[int(node)].get("parent_id") if int(node) in by_id else None
        return out

    # -- health ----------------------------------------------------------------------------------------

    def health(self) -> Health:
        """Reads only: what is missing in Mayan is reported with the command that makes it."""
        checks = []
        setup = f"missing; `xgw adapter setup {self.context.participant}` makes it"
        try:
            self.client.ping()
            checks.append(Check("api", True, self.client.base))
            schema, missing = missing_schema(self.client, self.config.document_type, self.mapping)
            if schema is not None:
                detail = f"{self.config.document_type} (id {schema.document_type}) with its metadata types"
                checks.append(Check("document type", True, detail))
            else:
                checks.append(Check("document type", False, ", ".join(missing) + f": {setup}"))
            for name, label in (("inbox", self.config.inbox_cabinet), ("outbox", self.config.outbox_cabinet)):
                found = self.find_cabinet(label)
                checks.append(
                    Check(name, found is not None, f"cabinet {label!r}: " + (f"id {found}" if found else setup))
                )
        except AdapterError as exc:
            checks.append(Check("api", False, str(exc)))
        try:
            self.ledger.exported("0" * 64)
            checks.append(Check("ledger", True, str(self.ledger.path or "in memory")))
        except Exception as exc:  # a broken ledger file must show here, not crash the health page
            checks.append(Check("ledger", False, f"{type(exc).__name__}: {exc}"))
        return Health.of(*checks)

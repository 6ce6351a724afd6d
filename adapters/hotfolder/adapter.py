"""The transfer-directory (hotfolder) adapter: xdomea files between the gateway and a DMS through folders.

This is how DMS products and archive software (x-man of the Landesarchiv Thüringen, for one) exchange
xdomea today: the DMS drops ``<ProzessID>_<Nachrichtentyp>.zip`` into an outbox and picks up what appears
in its inbox. The adapter keeps the three promises such an exchange needs:

* nothing half-written is taken: a file is offered only after its size and modification time stayed the
  same across two polls at least ``poll_interval`` apart;
* nothing half-written is seen: delivered files appear by rename (WebDAV: MOVE) from a hidden temporary
  name, under the xdomea name of their version, and never replace a file;
* nothing is lost or doubled: an offered file leaves the outbox only when the gateway acknowledged it
  (``processed/``, or ``failed/`` with ``<name>.reason.txt``), and every delivery is checked against the
  :class:`~adapters.ledger.Ledger` first.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self, cast

from pydantic import ValidationError

from adapters.base import (
    Acknowledgement,
    AdapterContext,
    AdapterError,
    Check,
    ConfigError,
    DmsAdapter,
    ExportedFile,
    Health,
    ImportResult,
    ImportStatus,
    ObjectResult,
    ObjectStatus,
)
from adapters.hotfolder.config import HotfolderConfig
from adapters.hotfolder.local import LocalStorage
from adapters.hotfolder.storage import AlreadyExists, Storage, is_hidden, join, temp_name
from adapters.hotfolder.webdav import WebDavStorage
from adapters.inbound import Inbound, file_sha256, read_inbound, refused
from adapters.ledger import Ledger
from adapters.mapping import Mapping as FieldMapping
from adapters.mapping import load_mapping
from gateway.xoev.build.naming import message_stem
from gateway.xoev.validation.validate import Validator

log = logging.getLogger(__name__)

MESSAGE_SUFFIXES = (".zip", ".xdomea", ".xml")
REASON_SUFFIX = ".reason.txt"
INDEX_SUFFIX = ".index.json"


def _split(path: str) -> tuple[str, str]:
    folder, _, name = path.rpartition("/")
    return folder, name


#: preset name -> the subclass that implements it; filled by :mod:`adapters.hotfolder` (the presets build on
#: this module, so this module does not import them)
PRESETS: dict[str, type[HotfolderAdapter]] = {}


class HotfolderAdapter(DmsAdapter):
    kind = "hotfolder"

    def __init__(
        self,
        storage: Storage,
        config: HotfolderConfig,
        context: AdapterContext,
        *,
        mapping: FieldMapping | None = None,
        ledger: Ledger | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.storage = storage
        self.config = config
        self.context = context
        self.mapping = mapping or load_mapping(None)
        self.validator = Validator(settings=context.settings)
        self.ledger = ledger or Ledger(context.state_dir / "ledger.sqlite3")
        self.spool = context.state_dir / "spool"
        self.spool.mkdir(parents=True, exist_ok=True)
        self._clock = clock
        #: outbox path -> ((size, stamp), when first seen like that)
        self._seen: dict[str, tuple[tuple[int, str], float]] = {}

    @classmethod
    def from_config(cls, config: Mapping[str, Any], context: AdapterContext) -> Self:
        try:
            cfg = HotfolderConfig.model_validate(dict(config))
        except ValidationError as exc:
            raise ConfigError.from_validation(exc, f"adapter_config of {context.participant}") from None
        mapping = load_mapping(context.base_dir / cfg.mapping if cfg.mapping else None)
        made = PRESETS[cfg.preset] if cfg.preset else cls
        return cast(Self, made(open_storage(cfg, context), cfg, context, mapping=mapping))

    def close(self) -> None:
        self.storage.close()
        self.ledger.close()

    # -- export: the DMS's outbox -> the gateway ---------------------------------------------------------

    def _outbox_folders(self) -> list[str]:
        if not self.config.per_type:
            return [self.config.outbox]
        return [
            join(self.config.outbox, e.name)
            for e in self.storage.list(self.config.outbox)
            if e.is_dir and len(e.name) == 4 and e.name.isdigit()
        ]

    def export(self) -> Iterator[ExportedFile]:
        """One poll: offer the files that were already there, unchanged, at the previous poll."""
        now = self._clock()
        seen: dict[str, tuple[tuple[int, str], float]] = {}
        stable: list[tuple[str, int]] = []
        for folder in self._outbox_folders():
            for entry in self.storage.list(folder):
                if entry.is_dir or is_hidden(entry.name) or not entry.name.lower().endswith(MESSAGE_SUFFIXES):
                    continue
                path = join(folder, entry.name)
                observed = (entry.size, entry.stamp)
                before = self._seen.get(path)
                if before is None or before[0] != observed:
                    seen[path] = (observed, now)
                    continue
                seen[path] = before
                if now - before[1] >= self.config.poll_interval:
                    stable.append((path, entry.size))
        self._seen = seen
        self._clear_spool(keep=set())
        for path, _size in stable:
            offered = self._offer(path)
            if offered is not None:
                yield offered

    def _spool_path(self, path: str) -> Path:
        return self.spool / (hashlib.sha256(path.encode()).hexdigest()[:32] + ".copy")

    def _clear_spool(self, keep: set[Path]) -> None:
        for item in self.spool.iterdir():
            if item not in keep:
                item.unlink(missing_ok=True)

    def _offer(self, path: str) -> ExportedFile | None:
        local = self.storage.local_path(path)
        if local is None:
            local = self._spool_path(path)
            self.storage.download(path, local)
        try:
            digest = file_sha256(local)
        except FileNotFoundError:  # the DMS took it back between listing and reading
            return None
        earlier = self.ledger.exported(digest)
        folder, name = _split(path)
        if earlier is not None:
            reason = f"duplicate: identical to {earlier.name}, taken by the gateway at {earlier.exported_at}" + (
                f" as message {earlier.reference}" if earlier.reference else ""
            )
            log.info("hotfolder %s: %s is a duplicate, set aside", self.storage.describe(), path)
            self._set_aside(folder, name, self.config.processed, reason)
            self._drop_spool(path)
            return None
        source = local
        return ExportedFile(name, local.stat().st_size, path, digest, lambda: source.open("rb"))

    def _drop_spool(self, path: str) -> None:
        self._spool_path(path).unlink(missing_ok=True)

    def acknowledge(self, file: ExportedFile, ack: Acknowledgement) -> None:
        folder, name = _split(file.key)
        if ack.accepted:
            self.ledger.record_export(file.sha256, name, ack.reference)
            self._set_aside(folder, name, self.config.processed, ack.reason if ack.duplicate else None)
        else:
            self._set_aside(folder, name, self.config.failed, ack.reason or "refused by the gateway")
        self._drop_spool(file.key)
        self._seen.pop(file.key, None)

    def _set_aside(self, folder: str, name: str, sub: str, reason: str | None) -> str:
        """Move ``folder/name`` into ``folder/sub/``, under a free name, with its reason written first."""
        dest = join(folder, sub)
        self.storage.ensure_dir(dest)
        taken = {e.name for e in self.storage.list(dest)}
        for attempt in range(1, 1000):
            target = _numbered(name, attempt)
            if target in taken:
                continue
            if reason is not None:
                self._write_text(dest, target + REASON_SUFFIX, _reason_text(name, reason))
            try:
                self.storage.rename(join(folder, name), join(dest, target))
            except AlreadyExists:
                continue
            return join(dest, target)
        raise AdapterError(f"no free name for {name} in {dest}")

    def _write_text(self, folder: str, name: str, text: str) -> None:
        with tempfile.NamedTemporaryFile(dir=self.spool, suffix=".txt", delete=False) as fh:
            fh.write(text.encode("utf-8"))
            local = Path(fh.name)
        try:
            self.storage.remove(join(folder, name))  # an old reason for an earlier file of this name
            self.storage.put_atomic(folder, name, local)
        finally:
            local.unlink(missing_ok=True)

    # -- import: the gateway -> the DMS's inbox --------------------------------------------------------

    def _inbox_folder(self, message_type: str) -> str:
        return join(self.config.inbox, message_type) if self.config.per_type else self.config.inbox

    def import_message(self, package_path: Path, *, filename: str | None = None) -> ImportResult:
        inbound = read_inbound(self.validator, package_path, filename)
        if isinstance(inbound, ImportResult):
            return inbound
        key = inbound.key
        record = self.ledger.import_record(key)
        if record is not None and record.state == "done":
            return self._duplicate(inbound, record.target)
        ids = [obj.id for obj, _ in inbound.objects]
        earlier = {i: o for i, o in self.ledger.imported_objects(ids).items() if o.key != key}
        if earlier:
            failed = {i: f"already imported from message {o.key} as {o.dms_id}" for i, o in earlier.items()}
            return refused(inbound, f"{len(earlier)} object(s) were imported before; nothing imported", failed=failed)
        folder = self._inbox_folder(key.message_type)
        final = message_stem(inbound.message) + (".zip" if inbound.is_package else ".xml")
        return self._write_once(inbound, package_path, folder, final, staging=folder, status=ImportStatus.IMPORTED)

    def _write_once(
        self,
        inbound: Inbound,
        source: Path,
        folder: str,
        final: str,
        *,
        staging: str,
        status: ImportStatus,
        stage_name: str | None = None,
    ) -> ImportResult:
        """Write ``source`` as ``folder/final`` exactly once: staged under a hidden name in ``staging``
        (same file system), recorded in the ledger, then renamed into place; a crash at any point is finished
        or undone by the next delivery of the same message."""
        key = inbound.key
        record = self.ledger.import_record(key)
        target = join(folder, final)
        temp = join(staging, temp_name(stage_name or final))
        finished = False
        if record is not None and record.state == "staged":
            if not self.storage.exists(record.temp):
                finished = True  # the rename happened before the crash; do not write a second copy
            elif record.sha256 == inbound.sha256:
                self._reveal(inbound, record.temp, record.target)
                finished = True
            if finished:
                target = record.target
        if not finished:
            if record is not None:
                self.storage.remove(record.temp)
            if self.storage.exists(target):
                return refused(
                    inbound,
                    f"{target} already waits in the transfer directory and the ledger has no record of "
                    "delivering it: not overwritten (remove it or restore the ledger)",
                )
            self.ledger.begin(key, target=target, temp=temp, sha256=inbound.sha256)
            self.storage.upload_temp(staging, stage_name or final, source)
            self.ledger.staged(key)
            try:
                self._reveal(inbound, temp, target)
            except AlreadyExists:
                self.storage.remove(temp)
                self.ledger.forget_import(key)
                return refused(inbound, f"{target} appeared in the transfer directory meanwhile: not overwritten")
        object_status = ObjectStatus.HANDED_OVER if status is ImportStatus.HANDED_OVER else ObjectStatus.IMPORTED
        results = inbound.results(object_status, dms_id=target)
        self.ledger.complete(key, results)
        log.info("hotfolder %s: delivered %s as %s", self.storage.describe(), key, target)
        return ImportResult(key, status, tuple(results), location=target)

    def _reveal(self, inbound: Inbound, temp: str, target: str) -> None:
        if self.config.index:
            folder, name = _split(target)
            stem = name.rsplit(".", 1)[0]
            with contextlib.suppress(AlreadyExists):  # written by the try that crashed
                self._write_index(inbound, folder, stem + INDEX_SUFFIX)
        self.storage.rename(temp, target)

    def _write_index(self, inbound: Inbound, folder: str, name: str) -> None:
        msg = inbound.message
        context = {
            "process_id": inbound.key.process_id,
            "message_type": inbound.key.message_type,
            "sender": (msg.kopf.sender.xoev_identifier or msg.kopf.sender.display_name) if msg.kopf.sender else "",
            "recipient": (msg.kopf.recipient.xoev_identifier or "") if msg.kopf.recipient else "",
        }
        index = {
            "message": {**context, "version": msg.version, "file": inbound.filename, "sha256": inbound.sha256},
            "records": [self.mapping.to_dms(obj, context) for obj in msg.objects],
        }
        with tempfile.NamedTemporaryFile(dir=self.spool, suffix=".json", delete=False) as fh:
            fh.write(json.dumps(index, ensure_ascii=False, indent=1).encode("utf-8"))
            local = Path(fh.name)
        try:
            self.storage.put_atomic(folder, name, local)
        finally:
            local.unlink(missing_ok=True)

    def _duplicate(self, inbound: Inbound, target: str) -> ImportResult:
        known = {o.id: o for o in self.ledger.objects_of(inbound.key)}
        objects = tuple(
            ObjectResult(
                obj.id,
                obj.kind,
                ObjectStatus.DUPLICATE,
                parent,
                known[obj.id].dms_id if obj.id in known else f"{target}#{obj.id}",
                f"delivered before as {target}",
            )
            for obj, parent in inbound.objects
        )
        return ImportResult(inbound.key, ImportStatus.DUPLICATE, objects, f"delivered before as {target}", target)

    # -- health ----------------------------------------------------------------------------------------

    def health(self) -> Health:
        checks = []
        for label, folder in (("inbox", self.config.inbox), ("outbox", self.config.outbox)):
            try:
                self.storage.ensure_dir(folder)
                self.storage.list(folder)
                checks.append(Check(label, True, join(self.storage.describe(), folder)))
            except AdapterError as exc:
                checks.append(Check(label, False, str(exc)))
        try:
            self.ledger.exported("0" * 64)
            checks.append(Check("ledger", True, str(self.ledger.path or "in memory")))
        except Exception as exc:  # a broken ledger file must show here, not crash the health page
            checks.append(Check("ledger", False, f"{type(exc).__name__}: {exc}"))
        return Health.of(*checks)


def _numbered(name: str, n: int) -> str:
    if n == 1:
        return name
    stem, dot, suffix = name.rpartition(".")
    return f"{stem}~{n}.{suffix}" if dot else f"{name}~{n}"


def _reason_text(name: str, reason: str) -> str:
    stamp = datetime.now(UTC).isoformat(timespec="seconds")
    return f"{name}\n{stamp}\n{reason}\n"


def open_storage(config: HotfolderConfig, context: AdapterContext) -> Storage:
    if config.path is not None:
        return LocalStorage(context.base_dir / config.path, file_mode=config.file_mode)
    assert config.url is not None  # the config's validator guarantees one of the two
    password = None
    if config.password_env:
        password = context.env.get(config.password_env)
        if password is None:
            raise ConfigError(f"password_env: the environment variable {config.password_env} is not set")
    return WebDavStorage(
        config.url,
        username=config.username,
        password=password,
        limits=context.settings.limits,
        timeout=config.timeout,
        verify=config.verify_tls,
        allow_http=config.allow_http,
    )

"""An in-memory :class:`~gateway.transport.xta.backend.XtaBackend` for protocol-level tests -- a seam, not a store.

Like httpx's ``MockTransport``, this is an honest implementation of the interface with the simplest
possible state: accounts, messages and iterators in dictionaries behind one lock, content files moved
into a directory the caller owns (so large content never sits in memory). It delivers a message to the
reader's box at once when the reader is one of its accounts and reports it green; messages for unknown
readers stay open (status 0). It knows nothing of validation, signatures or routing -- the real backend
is the pipeline. Nothing here survives the process.
"""

from __future__ import annotations

import itertools
import shutil
import threading
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from gateway.transport.xta.backend import (
    Content,
    FetchedMessage,
    KeyCode,
    MessageMeta,
    MsgBoxSelection,
    PartyId,
    ReportRecord,
    ReportStatus,
    StatusListPage,
    TransportReport,
)
from gateway.transport.xta.errors import (
    CancelDenied,
    ErrorCode,
    InvalidMessageId,
    ParameterInvalid,
    PermissionDenied,
)
from gateway.transport.xta.identity import CallerIdentity

#: Record codes the memory backend writes into reports; a private list, as XTA allows.
RECORD_LIST = ("urn:xoev-gateway:xta:memory-backend:record", "1.0")


@dataclass
class Account:
    """A participant: its address, the certificates bound to it, and whether it is locked."""

    party: PartyId
    certificates: frozenset[str] = frozenset()
    locked: bool = False
    services: frozenset[str] | None = None  # None: accepts every service


@dataclass
class _Stored:
    meta: MessageMeta
    message: Content
    attachments: tuple[Content, ...]
    status: ReportStatus
    delivered: datetime | None
    infos: list[ReportRecord] = field(default_factory=list)
    errors: list[ReportRecord] = field(default_factory=list)
    closed: bool = False


@dataclass
class _Iterator:
    reader: PartyId
    remaining: list[str]
    max_items: int | None = None


class MemoryBackend:
    """Accounts and messages in memory, content files in ``content_dir``."""

    def __init__(self, content_dir: Path, accounts: Iterable[Account] = ()) -> None:
        self._dir = content_dir
        self._dir.mkdir(parents=True, exist_ok=True)
        self._accounts = {a.party: a for a in accounts}
        self._messages: dict[str, _Stored] = {}
        self._reserved: dict[str, PartyId] = {}
        self._iterators: dict[str, _Iterator] = {}
        self._lock = threading.Lock()
        self._counter = itertools.count()

    # -- accounts -------------------------------------------------------------------------------------
    def add_account(self, account: Account) -> None:
        with self._lock:
            self._accounts[account.party] = account

    def authorize(self, caller: CallerIdentity, party: PartyId) -> None:
        account = self._accounts.get(party)
        if account is None:
            raise PermissionDenied(ErrorCode.ACCOUNT_UNKNOWN, f"no account {party.type}:{party.value}")
        if account.locked:
            raise PermissionDenied(ErrorCode.ACCOUNT_LOCKED)
        if caller.trusted_without_certificate:
            return
        if caller.certificate_sha256 not in account.certificates:
            raise PermissionDenied(ErrorCode.IDENTITY_MISMATCH, "the certificate is not bound to this account")

    # -- sending --------------------------------------------------------------------------------------
    def create_message_id(self, author: PartyId) -> str:
        message_id = f"urn:de:xta:messageid:xoev-gateway:{uuid.uuid4()}"
        with self._lock:
            self._reserved[message_id] = author
        return message_id

    def lookup_service(self, author: PartyId, reader: PartyId, service: str) -> bool | None:
        account = self._accounts.get(reader)
        if account is None:
            return False
        return account.services is None or service in account.services

    def accept_message(self, meta: MessageMeta, message: Content, attachments: Sequence[Content]) -> None:
        now = datetime.now(UTC)
        with self._lock:
            if meta.message_id in self._messages:
                raise ParameterInvalid(ErrorCode.MESSAGE_ID_ALREADY_USED, meta.message_id)
            owner = self._reserved.get(meta.message_id)
            if owner is not None and owner != meta.author:
                raise ParameterInvalid(ErrorCode.MESSAGE_ID_ALREADY_USED, meta.message_id)
            kept = tuple(self._keep(c) for c in (message, *attachments))
            local = meta.reader in self._accounts
            size = sum(c.size for c in kept)
            stored_meta = replace(
                meta,
                size=size or None,
                delivery=replace(meta.delivery, initial_send=meta.delivery.initial_send or now),
            )
            stored = _Stored(
                meta=stored_meta,
                message=kept[0],
                attachments=kept[1:],
                status=ReportStatus.GREEN if local else ReportStatus.OPEN,
                delivered=now if local else None,
            )
            if local:
                stored.meta = replace(stored.meta, delivery=replace(stored.meta.delivery, delivery=now))
                stored.infos.append(self._record(now, "delivered", "delivered to the reader's message box"))
            self._messages[meta.message_id] = stored
            self._reserved.pop(meta.message_id, None)

    def _keep(self, content: Content) -> Content:
        target = self._dir / f"{next(self._counter):08d}.bin"
        shutil.move(content.path, target)
        return replace(content, path=target)

    @staticmethod
    def _record(when: datetime, code: str, reason: str) -> ReportRecord:
        return ReportRecord(when, KeyCode(code, RECORD_LIST[0], RECORD_LIST[1]), reason)

    def _own(self, author: PartyId, message_id: str) -> _Stored:
        stored = self._messages.get(message_id)
        if stored is None or stored.meta.author != author:
            raise InvalidMessageId(ErrorCode.MESSAGE_ID_UNKNOWN, message_id)
        return stored

    def transport_report(self, author: PartyId, message_id: str) -> TransportReport:
        with self._lock:
            stored = self._own(author, message_id)
            return TransportReport(
                meta=stored.meta,
                report_time=datetime.now(UTC),
                status=stored.status,
                errors=tuple(stored.errors),
                infos=tuple(stored.infos),
            )

    def cancel_message(self, author: PartyId, message_id: str) -> None:
        now = datetime.now(UTC)
        with self._lock:
            stored = self._own(author, message_id)
            not_before = stored.meta.delivery.not_before
            if not_before is None:
                raise CancelDenied(ErrorCode.NOT_BEFORE_NOT_SET)
            if not_before <= now:
                raise CancelDenied(ErrorCode.NOT_BEFORE_PASSED)
            stored.closed = True
            stored.status = ReportStatus.RED
            stored.errors.append(self._record(now, "cancelled", "withdrawn by the author"))

    # -- message box ----------------------------------------------------------------------------------
    def _open_for(self, reader: PartyId, selection: MsgBoxSelection) -> list[str]:
        ids = []
        for message_id, stored in self._messages.items():
            if stored.closed or stored.delivered is None or stored.meta.reader != reader:
                continue
            if selection.message_ids and message_id not in selection.message_ids:
                continue
            if selection.new_only and stored.meta.delivery.initial_fetch is not None:
                continue
            if selection.entry_from and stored.delivered < selection.entry_from:
                continue
            if selection.entry_to and stored.delivered > selection.entry_to:
                continue
            ids.append(message_id)
        return ids

    def _page(self, request_id: str, iterator: _Iterator, max_items: int | None) -> StatusListPage:
        count = len(iterator.remaining) if max_items is None else max_items
        taken, iterator.remaining = iterator.remaining[:count], iterator.remaining[count:]
        items = tuple(self._messages[i].meta for i in taken)
        return StatusListPage(request_id, items, len(iterator.remaining))

    def status_list(self, reader: PartyId, selection: MsgBoxSelection, max_items: int | None) -> StatusListPage:
        request_id = f"urn:uuid:{uuid.uuid4()}"
        with self._lock:
            iterator = _Iterator(reader, self._open_for(reader, selection), max_items)
            self._iterators[request_id] = iterator
            return self._page(request_id, iterator, max_items)

    def _iterator(self, reader: PartyId, request_id: str) -> _Iterator:
        iterator = self._iterators.get(request_id)
        if iterator is None or iterator.reader != reader:
            raise InvalidMessageId(ErrorCode.MESSAGE_ID_UNKNOWN, f"no open request {request_id}")
        return iterator

    def next_status_list(self, reader: PartyId, request_id: str) -> StatusListPage:
        with self._lock:
            iterator = self._iterator(reader, request_id)
            return self._page(request_id, iterator, iterator.max_items)

    def _fetched(self, request_id: str, message_id: str, pending: int) -> FetchedMessage:
        stored = self._messages[message_id]
        if stored.meta.delivery.initial_fetch is None:
            stored.meta = replace(stored.meta, delivery=replace(stored.meta.delivery, initial_fetch=datetime.now(UTC)))
        return FetchedMessage(request_id, stored.meta, stored.message, stored.attachments, pending)

    def fetch_message(self, reader: PartyId, selection: MsgBoxSelection) -> FetchedMessage:
        request_id = f"urn:uuid:{uuid.uuid4()}"
        with self._lock:
            ids = self._open_for(reader, selection)
            if not ids:
                wanted = ", ".join(selection.message_ids) or "any message"
                raise InvalidMessageId(ErrorCode.MESSAGE_ID_UNKNOWN, f"{wanted} is not open in this box")
            self._iterators[request_id] = _Iterator(reader, ids[1:])
            return self._fetched(request_id, ids[0], len(ids) - 1)

    def fetch_next_message(self, reader: PartyId, request_id: str, received: Sequence[str]) -> FetchedMessage:
        with self._lock:
            iterator = self._iterator(reader, request_id)
            iterator.remaining = [i for i in iterator.remaining if i not in received]
            if not iterator.remaining:
                raise InvalidMessageId(ErrorCode.MESSAGE_ID_UNKNOWN, "no further message in this request")
            message_id = iterator.remaining.pop(0)
            return self._fetched(request_id, message_id, len(iterator.remaining))

    def close(self, reader: PartyId, request_id: str, received: Sequence[str]) -> None:
        now = datetime.now(UTC)
        with self._lock:
            targets = []
            for message_id in received:
                stored = self._messages.get(message_id)
                if stored is None or stored.closed or stored.delivered is None or stored.meta.reader != reader:
                    raise InvalidMessageId(ErrorCode.MESSAGE_ID_UNKNOWN, message_id)
                targets.append(stored)
            for stored in targets:
                stored.closed = True
                stored.meta = replace(stored.meta, delivery=replace(stored.meta.delivery, reception=now))
                stored.infos.append(self._record(now, "received", "the reader confirmed receipt"))
            iterator = self._iterators.get(request_id)
            if iterator is not None and iterator.reader == reader:
                del self._iterators[request_id]

    # -- for tests ------------------------------------------------------------------------------------
    def message(self, message_id: str) -> tuple[MessageMeta, Content, tuple[Content, ...]]:
        """What was stored for ``message_id`` (tests look at the files the server handed over)."""
        with self._lock:
            stored = self._messages[message_id]
            return stored.meta, stored.message, stored.attachments

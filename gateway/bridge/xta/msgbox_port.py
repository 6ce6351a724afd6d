"""The MsgBoxPort over the pipeline: status lists, fetching and closing a participant's box (:mod:`.box`).

Fetching a message records its first fetch (``xta_fetched_at`` and a history note); closing it takes
it out of the box and confirms a delivered message nobody else needs to act on. Iterators hold no
server state (see :mod:`.box`), so any server process continues any of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlmodel import Session, col, update

from gateway.bridge.xta import authorise, box
from gateway.bridge.xta.meta import message_meta, payload_size
from gateway.pipeline import lifecycle
from gateway.pipeline.context import PipelineContext
from gateway.pipeline.states import NEVER
from gateway.store.models import Message, MessageState
from gateway.store.types import utcnow
from gateway.transport.xta.backend import (
    Content,
    ContentInfo,
    FetchedMessage,
    MessageMeta,
    MsgBoxSelection,
    PartyId,
    StatusListPage,
)
from gateway.transport.xta.errors import ErrorCode, InvalidMessageId

CONTENT_TYPES = {"xml": "application/xml", "zip": "application/zip"}


class MsgBoxPort:
    """A reader's box: what the pipeline delivered to it and it has not closed yet."""

    def __init__(self, ctx: PipelineContext) -> None:
        self.ctx = ctx
        self.party_type = ctx.settings.xta_client.party_type

    def _meta(self, entry: box.BoxEntry) -> MessageMeta:
        message = entry.message
        stored = message.xta_meta or (entry.source.xta_meta if entry.source is not None else None)
        return message_meta(
            message,
            stored,
            message_id=entry.xta_id,
            party_type=self.party_type,
            size=payload_size(self.ctx.payloads, message),
            delivered=entry.entered,
        )

    def _status_page(self, session: Session, account: str, cursor: box.Cursor, limit: int | None) -> StatusListPage:
        entries, pending, rest = box.page(session, account, cursor, limit)
        return StatusListPage(rest.encode(), tuple(self._meta(e) for e in entries), pending)

    def status_list(self, reader: PartyId, selection: MsgBoxSelection, max_items: int | None) -> StatusListPage:
        with self.ctx.session() as session:
            account = authorise.account(session, reader).xoev_id
            cursor = box.Cursor(account, selection, limit=max_items)
            return self._status_page(session, account, cursor, max_items)

    def next_status_list(self, reader: PartyId, request_id: str) -> StatusListPage:
        with self.ctx.session() as session:
            account = authorise.account(session, reader).xoev_id
            cursor = box.Cursor.decode(request_id, account)
            return self._status_page(session, account, cursor, cursor.limit)

    def _fetch(self, session: Session, account: str, cursor: box.Cursor) -> FetchedMessage:
        entries, pending, rest = box.page(session, account, cursor, 1)
        if not entries:
            wanted = ", ".join(cursor.selection.message_ids) or "any further message"
            raise InvalidMessageId(ErrorCode.MESSAGE_ID_UNKNOWN, f"{wanted} is not open in this box")
        entry = entries[0]
        message = entry.message
        now = utcnow()
        first = session.exec(
            update(Message)
            .where(col(Message.id) == message.id, col(Message.xta_fetched_at).is_(None))
            .values(xta_fetched_at=now)
            .execution_options(synchronize_session=False)
        ).rowcount
        if first == 1:
            current = session.get(Message, message.id, populate_existing=True)
            lifecycle.note(
                session,
                message.id,
                current.state if current is not None else message.state,
                actor=f"xta:{account}",
                reason=f"fetched by {account} from its XTA MsgBox as {entry.xta_id}",
                now=now,
            )
            session.commit()
            session.refresh(message)
        name = message.filename or f"{message.id}.{message.content_kind}"
        content = Content(
            ContentInfo(CONTENT_TYPES.get(message.content_kind, "application/octet-stream"), filename=name),
            self.ctx.payloads.path_of(message.payload_ref),
            payload_size(self.ctx.payloads, message) or 0,
        )
        return FetchedMessage(rest.encode(), self._meta(entry), content, (), pending)

    def fetch_message(self, reader: PartyId, selection: MsgBoxSelection) -> FetchedMessage:
        with self.ctx.session() as session:
            account = authorise.account(session, reader).xoev_id
            return self._fetch(session, account, box.Cursor(account, selection))

    def fetch_next_message(self, reader: PartyId, request_id: str, received: Sequence[str]) -> FetchedMessage:
        with self.ctx.session() as session:
            account = authorise.account(session, reader).xoev_id
            return self._fetch(session, account, box.Cursor.decode(request_id, account))

    def close(self, reader: PartyId, request_id: str, received: Sequence[str]) -> None:
        """Confirm receipt: each message leaves the box; one nobody else needs to act on becomes ``confirmed``.

        Iterators hold no state, so ``request_id`` needs no ending (and a client's stale one does no harm).
        A delivered message the pipeline still has to answer (its Empfangsbestaetigung) keeps its state
        and is confirmed by the worker once the answer is made; the close is recorded either way.
        """
        now = utcnow()
        with self.ctx.session() as session:
            account = authorise.account(session, reader).xoev_id
            wanted = list(dict.fromkeys(received))
            found = box.entries_by_id(session, account, wanted)
            missing = [i for i in wanted if i not in found]
            if missing:
                raise InvalidMessageId(ErrorCode.MESSAGE_ID_UNKNOWN, f"{missing[0]} is not open in this box")
            for message_id in wanted:
                self._close_one(session, found[message_id], account, now)
            session.commit()

    def _close_one(self, session: Session, entry: box.BoxEntry, account: str, now: datetime) -> None:
        message = entry.message
        reason = f"receipt confirmed by {account} (XTA close of {entry.xta_id})"
        confirmed = lifecycle.change(
            session,
            message,
            MessageState.CONFIRMED,
            actor=f"xta:{account}",
            reason=reason,
            from_state=MessageState.DELIVERED,
            values={"xta_closed_at": now},
            where=[col(Message.xta_closed_at).is_(None), col(Message.next_attempt_at) >= NEVER],
            now=now,
        )
        if confirmed is not None:
            return
        closed = session.exec(
            update(Message)
            .where(col(Message.id) == message.id, col(Message.xta_closed_at).is_(None))
            .values(xta_closed_at=now)
            .execution_options(synchronize_session=False)
        ).rowcount
        if closed != 1:
            return  # closed by a concurrent request of the same reader
        current = session.get(Message, message.id, populate_existing=True)
        state = current.state if current is not None else message.state
        if state is MessageState.DELIVERED:
            reason += "; the pipeline confirms it once its answer is made"
        lifecycle.note(session, message.id, state, actor=f"xta:{account}", reason=reason, now=now)

"""A participant's XTA MsgBox as a query over the pipeline's inbound messages.

The box holds the inbound messages addressed to the participant that the pipeline has delivered
(states ``delivered`` and ``confirmed``) and that the participant has not closed yet, in the order they
entered it (the time of their ``delivered`` event, then their id). Nothing is copied into a separate
box: the box is what the message rows say, so a message shows up the moment a worker delivers it.

Iterators (the MsgBoxRequestID of getNextStatusList/getNextMessage) hold no server state: the id is
an opaque cursor naming the reader, the selection, the page size of a status list (getNextStatusList
carries no maxListItems of its own) and the last position handed out. A forged cursor
gains nothing, because every query is restricted to the caller's own box anyway, and any server
process can continue any iterator.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, func, select

from gateway.bridge.xta.meta import box_message_id, uuid_of_derived
from gateway.store.models import Direction, Message, MessageEvent, MessageState
from gateway.transport.xta.backend import MsgBoxSelection
from gateway.transport.xta.errors import ErrorCode, InvalidMessageId

CURSOR_PREFIX = "urn:xoev-gateway:msgbox:"
BOX_STATES = (MessageState.DELIVERED, MessageState.CONFIRMED)
MAX_CURSOR_CHARS = 64 * 1024

Source = aliased(Message, name="source")
entered_at = (
    select(func.min(MessageEvent.created_at))
    .where(col(MessageEvent.message_id) == col(Message.id), col(MessageEvent.to_state) == MessageState.DELIVERED)
    .correlate(Message)
    .scalar_subquery()
    .label("entered")
)


@dataclass(frozen=True, slots=True)
class BoxEntry:
    """One message of a box with what its metadata needs."""

    message: Message
    source: Message | None
    entered: datetime

    @property
    def xta_id(self) -> str:
        return box_message_id(self.message, self.source)


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where an iterator stands: whose box, which messages, the last (entered, id) handed out, the page size."""

    reader: str
    selection: MsgBoxSelection
    after: tuple[datetime, uuid.UUID] | None = None
    limit: int | None = None

    def encode(self) -> str:
        sel = self.selection
        data: dict[str, Any] = {
            "r": self.reader,
            "i": list(sel.message_ids),
            "n": sel.new_only,
            "f": sel.entry_from.isoformat() if sel.entry_from else None,
            "t": sel.entry_to.isoformat() if sel.entry_to else None,
            "a": [self.after[0].isoformat(), str(self.after[1])] if self.after else None,
            "m": self.limit,
        }
        raw = json.dumps(data, separators=(",", ":")).encode()
        return CURSOR_PREFIX + base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, request_id: str, reader: str) -> Cursor:
        """The cursor, or InvalidMessageId when it is not one of ours or belongs to another box."""
        unknown = InvalidMessageId(ErrorCode.MESSAGE_ID_UNKNOWN, f"no open request {request_id[:200]}")
        if not request_id.startswith(CURSOR_PREFIX) or len(request_id) > MAX_CURSOR_CHARS:
            raise unknown
        token = request_id[len(CURSOR_PREFIX) :]
        try:
            data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
            after = data["a"]
            limit = data.get("m")  # absent in cursors issued before the page size travelled with them
            if limit is not None and (type(limit) is not int or limit < 0):
                raise ValueError("bad page size")
            cursor = cls(
                reader=str(data["r"]),
                selection=MsgBoxSelection(
                    message_ids=tuple(str(i) for i in data["i"]),
                    new_only=None if data["n"] is None else bool(data["n"]),
                    entry_from=datetime.fromisoformat(data["f"]) if data["f"] else None,
                    entry_to=datetime.fromisoformat(data["t"]) if data["t"] else None,
                ),
                after=(datetime.fromisoformat(after[0]), uuid.UUID(after[1])) if after else None,
                limit=limit,
            )
        except (ValueError, KeyError, TypeError, IndexError, binascii.Error):
            raise unknown from None
        if cursor.reader != reader:
            raise unknown
        return cursor


def _by_ids(message_ids: Sequence[str]) -> sa.ColumnElement[bool]:
    """Rows whose box MessageID (see :func:`box_message_id`) is one of ``message_ids``, as SQL."""
    derived = [u for u in (uuid_of_derived(i) for i in message_ids) if u is not None]
    own = col(Message.xta_message_id)
    original = col(Source.xta_message_id)
    conditions = [own.in_(message_ids), sa.and_(own.is_(None), original.in_(message_ids))]
    if derived:
        conditions.append(
            sa.and_(
                own.is_(None),
                original.is_(None),
                sa.or_(
                    col(Message.source_id).in_(derived),
                    sa.and_(col(Message.source_id).is_(None), col(Message.id).in_(derived)),
                ),
            )
        )
    return sa.or_(*conditions)


def _query(reader: str, cursor: Cursor) -> Any:
    selection = cursor.selection
    conditions: list[sa.ColumnElement[bool]] = [
        col(Message.direction) == Direction.INBOUND,
        col(Message.recipient_id) == reader,
        col(Message.state).in_(BOX_STATES),
        col(Message.xta_closed_at).is_(None),
        entered_at.is_not(None),
    ]
    if selection.message_ids:
        conditions.append(_by_ids(selection.message_ids))
    if selection.new_only:
        conditions.append(col(Message.xta_fetched_at).is_(None))
    if selection.entry_from is not None:
        conditions.append(entered_at >= selection.entry_from)
    if selection.entry_to is not None:
        conditions.append(entered_at <= selection.entry_to)
    if cursor.after is not None:
        at, last = cursor.after
        conditions.append(sa.or_(entered_at > at, sa.and_(entered_at == at, col(Message.id) > last)))
    return (
        select(Message, Source, entered_at)
        .outerjoin(Source, col(Message.source_id) == col(Source.id))
        .where(*conditions)
    )


def page(session: Session, reader: str, cursor: Cursor, limit: int | None) -> tuple[list[BoxEntry], int, Cursor]:
    """Up to ``limit`` entries after the cursor's position, how many more match, and the cursor after them."""
    query = _query(reader, cursor).order_by(entered_at, col(Message.id))
    if limit is not None:
        query = query.limit(limit)
    entries = [BoxEntry(message, source, entered) for message, source, entered in session.exec(query)]
    if not entries:
        return [], 0, cursor
    last = entries[-1]
    rest = Cursor(reader, cursor.selection, (last.entered, last.message.id), cursor.limit)
    return entries, count(session, reader, rest), rest


def count(session: Session, reader: str, cursor: Cursor) -> int:
    """How many entries match the cursor after its position."""
    query = _query(reader, cursor).with_only_columns(func.count()).order_by(None)
    return int(session.exec(query).one()[0])


def entries_by_id(session: Session, reader: str, message_ids: Sequence[str]) -> dict[str, BoxEntry]:
    """The open entries of ``reader``'s box among ``message_ids``, by their MessageID."""
    if not message_ids:
        return {}
    cursor = Cursor(reader, MsgBoxSelection(message_ids=tuple(message_ids)))
    found: dict[str, BoxEntry] = {}
    for message, source, entered in session.exec(_query(reader, cursor)):
        entry = BoxEntry(message, source, entered)
        if entry.xta_id in message_ids:
            found[entry.xta_id] = entry
    return found

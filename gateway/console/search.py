"""Message search for the console: filters, sort by arrival, keyset pagination (index ``ix_message_created_id``).

A page is fetched by ``created_at, id`` after the last row shown, never by OFFSET, so the thousandth page
costs what the first does. The free text is matched against ``message.search_text`` (Betreff and
Aktenzeichen, casefolded at intake) and the ProzessID.
"""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from gateway.store.models import Direction, Message, MessageState

PAGE = 50
#: a date and time without zone, as the form's datetime-local field sends it, is the console's local time
LOCAL_ZONE = ZoneInfo("Europe/Berlin")


class BadFilter(ValueError):
    """A filter value the user can correct; the message names it."""


@dataclass(frozen=True, slots=True)
class Filters:
    process: str | None = None
    message_type: str | None = None
    participant: str | None = None
    state: MessageState | None = None
    direction: Direction | None = None
    since: datetime | None = None
    until: datetime | None = None
    text: str | None = None
    oldest_first: bool = False


def _time(name: str, value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise BadFilter(f"{name}: not a date and time like 2026-11-25T14:00") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=LOCAL_ZONE)


def parse_filters(params: dict[str, str]) -> Filters:
    def text(key: str, limit: int) -> str | None:
        value = (params.get(key) or "").strip()
        if len(value) > limit:
            raise BadFilter(f"{key}: at most {limit} characters")
        return value or None

    state = text("state", 32)
    direction = text("direction", 8)
    message_type = text("type", 4)
    if message_type and not message_type.isdigit():
        raise BadFilter("type: a Nachrichtentyp code of four digits, e.g. 0503")
    try:
        return Filters(
            process=text("process", 64),
            message_type=message_type,
            participant=text("participant", 128),
            state=MessageState(state) if state else None,
            direction=Direction(direction) if direction else None,
            since=_time("since", text("since", 40)),
            until=_time("until", text("until", 40)),
            text=text("q", 200),
            oldest_first=params.get("sort") == "oldest",
        )
    except ValueError as exc:
        if isinstance(exc, BadFilter):
            raise
        raise BadFilter(f"unknown state or direction: {exc}") from None


def encode_cursor(message: Message) -> str:
    raw = f"{message.created_at.isoformat()}|{message.id}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(token: str) -> tuple[datetime, uuid.UUID]:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        when, ident = raw.split("|")
        return datetime.fromisoformat(when), uuid.UUID(ident)
    except (ValueError, UnicodeDecodeError):
        raise BadFilter("the page link is damaged; start the search again") from None


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def query(
    filters: Filters, scope: sa.ColumnElement[bool], after: str | None, limit: int = PAGE
) -> SelectOfScalar[Message]:
    q = select(Message).where(scope)
    if filters.process:
        q = q.where(col(Message.process_id) == filters.process)
    if filters.message_type:
        q = q.where(col(Message.message_type) == filters.message_type)
    if filters.participant:
        q = q.where(
            sa.or_(col(Message.sender_id) == filters.participant, col(Message.recipient_id) == filters.participant)
        )
    if filters.state:
        q = q.where(col(Message.state) == filters.state)
    if filters.direction:
        q = q.where(col(Message.direction) == filters.direction)
    if filters.since:
        q = q.where(col(Message.created_at) >= filters.since)
    if filters.until:
        q = q.where(col(Message.created_at) < filters.until)
    if filters.text:
        pattern = f"%{_escape_like(filters.text.casefold())}%"
        q = q.where(
            sa.or_(
                col(Message.search_text).like(pattern, escape="\\"),
                col(Message.process_id).like(pattern, escape="\\"),
            )
        )
    created, ident = col(Message.created_at), col(Message.id)
    if after:
        when, last = decode_cursor(after)
        if filters.oldest_first:
            q = q.where(sa.or_(created > when, sa.and_(created == when, ident > last)))
        else:
            q = q.where(sa.or_(created < when, sa.and_(created == when, ident < last)))
    order = (created.asc(), ident.asc()) if filters.oldest_first else (created.desc(), ident.desc())
    return q.order_by(*order).limit(limit + 1)


def search(
    session: Session, filters: Filters, scope: sa.ColumnElement[bool], after: str | None, limit: int = PAGE
) -> tuple[list[Message], str | None]:
    rows = list(session.exec(query(filters, scope, after, limit)).all())
    page = rows[:limit]
    return page, encode_cursor(page[-1]) if len(rows) > limit else None

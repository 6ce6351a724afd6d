"""XTA MessageIDs as a durable ledger: handed out once, used once, across accounts and restarts.

createMessageId inserts the id for its account. sendMessage *claims* an id before the message enters
the pipeline, in one statement each: an id reserved for the author and not yet used is marked used
(an UPDATE that only one request can win), any other id is inserted as used (the primary key lets only
one request win); everything else -- used before, or reserved for another account -- is 9024. If the
pipeline refuses the message the claim is undone, so a refused request leaves the ledger as it found
it. Once stored, the id is linked to the message (and the message to the id it arrived under).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, delete, update

from gateway.bridge.xta.meta import MESSAGE_ID_PREFIX
from gateway.store.models import XTA_MESSAGE_ID_LENGTH, Message, XtaMessageId
from gateway.store.types import utcnow
from gateway.transport.xta.errors import ErrorCode, ParameterInvalid


@dataclass(frozen=True, slots=True)
class Claim:
    """A MessageID taken for one sendMessage; ``reserved`` when createMessageId had handed it out."""

    message_id: str
    account: str
    reserved: bool


def check_message_id(message_id: str) -> None:
    if not message_id or len(message_id) > XTA_MESSAGE_ID_LENGTH:
        raise ParameterInvalid(ErrorCode.INVALID_URI, f"a MessageID must have 1 to {XTA_MESSAGE_ID_LENGTH} characters")


def reserve(session: Session, account: str) -> str:
    """A fresh id for ``account``. Commits."""
    message_id = f"{MESSAGE_ID_PREFIX}{uuid.uuid4()}"
    session.add(XtaMessageId(id=message_id, account=account, created_at=utcnow()))
    session.commit()
    return message_id


def claim(session: Session, message_id: str, account: str) -> Claim:
    """Take ``message_id`` for a message of ``account``, or ParameterInvalid 9024. Commits."""
    check_message_id(message_id)
    now = utcnow()
    taken = session.exec(
        update(XtaMessageId)
        .where(
            col(XtaMessageId.id) == message_id,
            col(XtaMessageId.account) == account,
            col(XtaMessageId.used_at).is_(None),
        )
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    if taken == 1:
        session.commit()
        return Claim(message_id, account, reserved=True)
    session.rollback()
    try:
        session.add(XtaMessageId(id=message_id, account=account, created_at=now, used_at=now))
        session.commit()
    except sa.exc.IntegrityError:
        session.rollback()
        raise ParameterInvalid(ErrorCode.MESSAGE_ID_ALREADY_USED, message_id) from None
    return Claim(message_id, account, reserved=False)


def release(session: Session, taken: Claim) -> None:
    """Undo a claim whose message was refused: a reserved id is reserved again, a new one forgotten."""
    match = (col(XtaMessageId.id) == taken.message_id, col(XtaMessageId.message_id).is_(None))
    if taken.reserved:
        statement: Any = update(XtaMessageId).where(*match).values(used_at=None)
    else:
        statement = delete(XtaMessageId).where(*match)
    session.exec(statement.execution_options(synchronize_session=False))
    session.commit()


def link(session: Session, taken: Claim, message_id: uuid.UUID, meta: dict[str, Any]) -> None:
    """Record which message the id carries; a new message also keeps the id and the transport order."""
    session.exec(
        update(XtaMessageId)
        .where(col(XtaMessageId.id) == taken.message_id)
        .values(message_id=message_id)
        .execution_options(synchronize_session=False)
    )
    session.exec(
        update(Message)
        .where(col(Message.id) == message_id, col(Message.xta_message_id).is_(None))
        .values(xta_message_id=taken.message_id, xta_meta=meta)
        .execution_options(synchronize_session=False)
    )
    session.commit()


def message_of(session: Session, message_id: str, account: str) -> uuid.UUID | None:
    """The message ``account`` sent under ``message_id`` (None for another account's id)."""
    row = session.get(XtaMessageId, message_id)
    if row is None or row.account != account:
        return None
    return row.message_id

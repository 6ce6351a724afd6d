"""XTA MessageIDs as a durable ledger: handed out once, used once, across accounts and restarts.

createMessageId inserts the id for its account. sendMessage asks first whether the id is still free for
its author (:func:`check_available`, a read: a used id, or one reserved for another account, is 9024
before anything is stored) and then *takes* it inside intake's own transaction (:func:`take`), so that
the message, its first events and the ledger entry are one commit -- one fsync before the XTA reply
instead of three (issue 11). Taking is one statement each way: an id reserved for the author and not yet
used is marked used (an UPDATE that only one request can win), any other id is inserted as used (the
primary key lets only one request win); the loser of a race between the check and the commit gets 9024
and its whole transaction is rolled back, so a refused request leaves the ledger as it found it and no
message row. The id names the message it carries (and a new message keeps the id and the transport
order).
"""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, insert, update

from gateway.bridge.xta.meta import MESSAGE_ID_PREFIX
from gateway.store.models import XTA_MESSAGE_ID_LENGTH, Message, XtaMessageId
from gateway.store.types import utcnow
from gateway.transport.xta.errors import ErrorCode, ParameterInvalid


def check_message_id(message_id: str) -> None:
    if not message_id or len(message_id) > XTA_MESSAGE_ID_LENGTH:
        raise ParameterInvalid(ErrorCode.INVALID_URI, f"a MessageID must have 1 to {XTA_MESSAGE_ID_LENGTH} characters")


def reserve(session: Session, account: str) -> str:
    """A fresh id for ``account``. Commits."""
    message_id = f"{MESSAGE_ID_PREFIX}{uuid.uuid4()}"
    session.add(XtaMessageId(id=message_id, account=account, created_at=utcnow()))
    session.commit()
    return message_id


_LEDGER = XtaMessageId.__table__  # type: ignore[attr-defined]
_STATE = sa.select(_LEDGER.c.account, _LEDGER.c.used_at).where(_LEDGER.c.id == sa.bindparam("id"))


def check_available(session: Session, message_id: str, account: str) -> None:
    """ParameterInvalid 9024 unless ``account`` may still send under ``message_id`` (new, or reserved for it).

    A read only: the id is taken by :func:`take` in the transaction that stores the message.
    """
    check_message_id(message_id)
    row = session.connection().execute(_STATE, {"id": message_id}).first()
    if row is not None and (row.account != account or row.used_at is not None):
        raise ParameterInvalid(ErrorCode.MESSAGE_ID_ALREADY_USED, message_id)


def take(session: Session, message_id: str, account: str, message: uuid.UUID) -> None:
    """Mark ``message_id`` used by ``account`` for ``message``, in the caller's transaction (no commit).

    ParameterInvalid 9024 when the id is used or reserved for another account; the transaction is then
    unusable (on PostgreSQL a failed INSERT aborts it) and must be rolled back, which the caller's
    session does when the error leaves it.
    """
    now = utcnow()
    taken = session.exec(
        update(XtaMessageId)
        .where(
            col(XtaMessageId.id) == message_id,
            col(XtaMessageId.account) == account,
            col(XtaMessageId.used_at).is_(None),
        )
        .values(used_at=now, message_id=message)
        .execution_options(synchronize_session=False)
    ).rowcount
    if taken == 1:
        return
    try:
        session.exec(
            insert(XtaMessageId).values(id=message_id, account=account, created_at=now, used_at=now, message_id=message)
        )
    except sa.exc.IntegrityError:
        raise ParameterInvalid(ErrorCode.MESSAGE_ID_ALREADY_USED, message_id) from None


def name_message(session: Session, message: uuid.UUID, message_id: str, meta: dict[str, Any]) -> None:
    """A message stored before (an identical resend under a new id) keeps the id it first arrived under."""
    session.exec(
        update(Message)
        .where(col(Message.id) == message, col(Message.xta_message_id).is_(None))
        .values(xta_message_id=message_id, xta_meta=meta)
        .execution_options(synchronize_session=False)
    )


def message_of(session: Session, message_id: str, account: str) -> uuid.UUID | None:
    """The message ``account`` sent under ``message_id`` (None for another account's id)."""
    row = session.get(XtaMessageId, message_id)
    if row is None or row.account != account:
        return None
    return row.message_id

"""What a console user may see: a participant admin only the messages its authority sent or received.

The narrowing is a WHERE clause added to every message query, so a message of another authority is a
404 exactly like one that does not exist, whether reached by a link or by a typed URL.
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlmodel import Session, col, select

from gateway.console.users import ConsoleAccount
from gateway.store.models import ConsoleRole, Message


def visible_to(user: ConsoleAccount) -> sa.ColumnElement[bool]:
    if user.role is ConsoleRole.PARTICIPANT_ADMIN:
        return sa.or_(col(Message.sender_id) == user.participant, col(Message.recipient_id) == user.participant)
    return sa.true()


def visible_message(session: Session, user: ConsoleAccount, message_id: uuid.UUID) -> Message | None:
    return session.exec(select(Message).where(col(Message.id) == message_id, visible_to(user))).first()


def can_see_participant(user: ConsoleAccount, xoev_id: str) -> bool:
    return user.role is not ConsoleRole.PARTICIPANT_ADMIN or user.participant == xoev_id

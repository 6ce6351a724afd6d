"""What a console user may see: a participant admin only its authority's messages (gateway.pipeline.visibility).

The narrowing is a WHERE clause added to every message query, so a message of another authority is a
404 exactly like one that does not exist, whether reached by a link or by a typed URL.
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlmodel import Session, col, select

from gateway.console.users import ConsoleAccount
from gateway.pipeline.visibility import visible_to_participant
from gateway.store.models import ConsoleRole, Message


def visible_to(user: ConsoleAccount) -> sa.ColumnElement[bool]:
    if user.role is ConsoleRole.PARTICIPANT_ADMIN:
        return visible_to_participant(user.participant or "")
    return sa.true()


def visible_message(session: Session, user: ConsoleAccount, message_id: uuid.UUID) -> Message | None:
    return session.exec(select(Message).where(col(Message.id) == message_id, visible_to(user))).first()


def can_see_participant(user: ConsoleAccount, xoev_id: str) -> bool:
    return user.role is not ConsoleRole.PARTICIPANT_ADMIN or user.participant == xoev_id

"""Who sees which message: a participant's token sees the messages it sent or that were sent to it.

Every query for messages goes through :func:`visible_to`, and a message outside it is answered with
404 exactly like one that does not exist, so that nobody can find out which message ids exist at
another authority. Admin tokens (the operator's) see every message.
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlmodel import Session, col, select

from gateway.api.problems import NOT_FOUND, ApiProblem
from gateway.participants.tokens import Principal
from gateway.store.models import Message, MessageEvent


def visible_to(principal: Principal) -> sa.ColumnElement[bool]:
    if principal.is_admin:
        return sa.true()
    return sa.or_(col(Message.sender_id) == principal.participant, col(Message.recipient_id) == principal.participant)


def visible_message(session: Session, principal: Principal, message_id: uuid.UUID) -> Message:
    message = session.exec(select(Message).where(col(Message.id) == message_id, visible_to(principal))).first()
    if message is None:
        raise ApiProblem(NOT_FOUND, f"no message {message_id} visible to this token")
    return message


def events_of(session: Session, message: Message) -> list[MessageEvent]:
    return list(
        session.exec(
            select(MessageEvent).where(MessageEvent.message_id == message.id).order_by(col(MessageEvent.id))
        ).all()
    )

"""Who sees which message through the API: the rule of :mod:`gateway.pipeline.visibility` for tokens.

A participant's token sees the messages it owns (sent by it, or arrived for it) and the other party's
messages once they were handed over (an outbound message to it once sent); it never sees the other
party's internal history or errors. Every query for messages goes through :func:`visible_to`, and a
message outside it is answered with 404 exactly like one that does not exist, so that nobody can find
out which message ids exist at another authority, or that one was submitted to it and withdrawn. Admin
tokens (the operator's) see every message with its history.
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlmodel import Session, col, select

from gateway.api.problems import NOT_FOUND, ApiProblem
from gateway.participants.tokens import Principal
from gateway.pipeline.visibility import owns, visible_to_participant
from gateway.store.models import Message, MessageEvent


def visible_to(principal: Principal) -> sa.ColumnElement[bool]:
    if principal.is_admin:
        return sa.true()
    return visible_to_participant(principal.participant)


def sees_internals(principal: Principal, message: Message) -> bool:
    """Whether the token may see the message's history and error (its owner's, or an operator's)."""
    return principal.is_admin or owns(message, principal.participant)


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


def history_for(session: Session, principal: Principal, message: Message) -> list[MessageEvent]:
    """The message's events if the token may see them, else none (the other party's internals)."""
    return events_of(session, message) if sees_internals(principal, message) else []

"""Which messages a participant may see, and whose internals they are: one rule for every face.

A message row has an owner: the sender for an outbound row (it submitted it here), the recipient for an
inbound row (it arrived here for it). The owner sees the row from its first moment, with its whole
history. The other party sees it only once it was handed over: an outbound row once it was ``sent``
(or ``acknowledged``), an inbound row always (it exists only because it was sent). A message cancelled
or failed before it left is therefore never seen by its recipient, and the other party never sees the
owner's internal history (events with token labels, errors): the REST API, the console and anything
else that shows messages to a participant use :func:`visible_to_participant` and :func:`owns`.

The rule is a state check, not a history check: a sent message an operator requeues disappears from
the recipient's view until it is sent again (cheap to query, and the recipient's delivered copy stays).
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import col

from gateway.store.models import Direction, Message, MessageState

HANDED_OVER = (MessageState.SENT, MessageState.ACKNOWLEDGED)
"""States of an outbound row in which it has left the sender and its recipient may see it."""


def owned_by(participant: str) -> sa.ColumnElement[bool]:
    """Rows whose owner is ``participant`` (the sender of an outbound, the recipient of an inbound row)."""
    return sa.or_(
        sa.and_(col(Message.direction) == Direction.OUTBOUND, col(Message.sender_id) == participant),
        sa.and_(col(Message.direction) == Direction.INBOUND, col(Message.recipient_id) == participant),
    )


def visible_to_participant(participant: str) -> sa.ColumnElement[bool]:
    """Rows ``participant`` may see: its own, and the other party's once they were handed over."""
    return sa.or_(
        owned_by(participant),
        sa.and_(
            col(Message.direction) == Direction.OUTBOUND,
            col(Message.recipient_id) == participant,
            col(Message.state).in_(HANDED_OVER),
        ),
        sa.and_(col(Message.direction) == Direction.INBOUND, col(Message.sender_id) == participant),
    )


def owns(message: Message, participant: str | None) -> bool:
    """Whether ``participant`` may see the row's internals (its history and its error)."""
    if participant is None:
        return False
    if message.direction is Direction.OUTBOUND:
        return message.sender_id == participant
    return message.recipient_id == participant

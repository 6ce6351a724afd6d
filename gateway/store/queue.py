"""The work queue's primitives: claim a due message under a lease, renew the lease, and the fenced UPDATE.

A worker owns a message while ``Message.lease_owner`` is its id. Every write a worker makes is fenced
by that condition inside the same UPDATE, so a worker whose lease expired and was taken over cannot
overwrite the new owner's work: it gets :class:`LeaseLost` instead. Worker ids must therefore be unique
per running worker (host, pid and a random part).

Claiming is one ``UPDATE ... WHERE id = (SELECT ... LIMIT 1) RETURNING``. On PostgreSQL the inner
SELECT takes ``FOR UPDATE SKIP LOCKED``, so concurrent workers pass each other instead of queueing on
the same row; on SQLite the statement is atomic because SQLite runs one writer at a time. A message
whose lease has expired is due again, so a worker killed at any point delays its message by at most
one lease; ``attempts`` counts the claims so that the pipeline can dead-letter a message that keeps
killing workers.

Every change of a message's state, and every history entry, is written by
:mod:`gateway.pipeline.lifecycle` with :func:`fenced_update` from here; this module writes no history.
Each function here that writes commits its own transaction. Times come from the caller's clock
(``now``), in UTC; workers on several machines need synchronised clocks, and leases should be much
longer than the clock skew.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session, col, select, update

from gateway.store.models import Message, MessageState
from gateway.store.types import utcnow


class QueueError(RuntimeError):
    """Base class of the conflicts a worker must expect."""


class LeaseLost(QueueError):
    """The worker no longer holds the message's lease (it expired and another worker took the message)."""

    def __init__(self, message_id: uuid.UUID, worker_id: str) -> None:
        super().__init__(f"worker {worker_id} no longer holds the lease on message {message_id}")
        self.message_id = message_id
        self.worker_id = worker_id

    def __reduce__(self) -> tuple[type[LeaseLost], tuple[uuid.UUID, str]]:
        return (type(self), (self.message_id, self.worker_id))  # picklable across worker processes


class StateConflict(QueueError):
    """The message is no longer in the state the caller saw; someone else changed it meanwhile."""

    def __init__(self, message_id: uuid.UUID, expected: MessageState) -> None:
        super().__init__(f"message {message_id} is no longer in state {expected.value}")
        self.message_id = message_id
        self.expected = expected

    def __reduce__(self) -> tuple[type[StateConflict], tuple[uuid.UUID, MessageState]]:
        return (type(self), (self.message_id, self.expected))


def lease_free(now: datetime) -> sa.ColumnElement[bool]:
    expires = col(Message.lease_expires_at)
    return sa.or_(expires.is_(None), expires <= now)


def claim_next(
    session: Session,
    worker_id: str,
    states: Collection[MessageState],
    lease_seconds: float,
    *,
    now: datetime | None = None,
) -> Message | None:
    """Lease the longest-due message in one of ``states`` to ``worker_id``, or return None if none is due.

    Commits. The returned message carries the new lease and its incremented ``attempts``.
    """
    if lease_seconds <= 0:
        raise ValueError("lease_seconds must be positive")
    if not states:
        raise ValueError("states must not be empty")
    now = now or utcnow()
    due = (
        select(Message.id)
        .where(
            col(Message.state).in_(list(states)),
            col(Message.next_attempt_at) <= now,
            lease_free(now),
        )
        .order_by(col(Message.next_attempt_at), col(Message.created_at))
        .limit(1)
        .with_for_update(skip_locked=True)  # PostgreSQL only; SQLite serialises the UPDATE instead
    )
    claim = (
        update(Message)
        .where(col(Message.id) == due.scalar_subquery())
        .values(
            lease_owner=worker_id,
            lease_expires_at=now + timedelta(seconds=lease_seconds),
            attempts=col(Message.attempts) + 1,
            updated_at=now,
        )
        .returning(Message)
        .execution_options(populate_existing=True, synchronize_session=False)
    )
    try:
        claimed = session.exec(claim).scalars().first()
        session.commit()
    except BaseException:
        session.rollback()
        raise
    if claimed is None:
        return None
    if not isinstance(claimed, Message):
        raise TypeError(f"claim returned {type(claimed).__name__}, not Message")
    return claimed


def fenced_update(
    session: Session,
    message: Message,
    values: dict[str, Any],
    *,
    worker_id: str | None,
    expected_state: MessageState | None,
) -> None:
    """UPDATE the message only if the caller still holds its lease / sees its state; else roll back and raise."""
    conditions: list[sa.ColumnElement[bool]] = [col(Message.id) == message.id]
    if worker_id is not None:
        conditions.append(col(Message.lease_owner) == worker_id)
    if expected_state is not None:
        conditions.append(col(Message.state) == expected_state)
    statement = update(Message).where(*conditions).values(**values).execution_options(synchronize_session=False)
    try:
        matched = session.exec(statement).rowcount
    except BaseException:
        session.rollback()
        raise
    if matched == 1:
        return
    session.rollback()
    if worker_id is not None:
        owner = session.exec(select(Message.lease_owner).where(col(Message.id) == message.id)).first()
        session.rollback()
        if owner != worker_id:
            raise LeaseLost(message.id, worker_id)
    raise StateConflict(message.id, expected_state or message.state)


def apply_values(message: Message, values: dict[str, Any]) -> None:
    """Mirror what was written into the Python object without marking it dirty (no second UPDATE)."""
    for key, value in values.items():
        set_committed_value(message, key, value)


def renew_lease(
    session: Session, message: Message, worker_id: str, lease_seconds: float, *, now: datetime | None = None
) -> datetime:
    """Extend the lease of a message the worker still owns; raises :class:`LeaseLost` otherwise. Commits."""
    if lease_seconds <= 0:
        raise ValueError("lease_seconds must be positive")
    now = now or utcnow()
    expires = now + timedelta(seconds=lease_seconds)
    values: dict[str, Any] = {"lease_expires_at": expires}
    fenced_update(session, message, values, worker_id=worker_id, expected_state=None)
    session.commit()
    apply_values(message, values)
    return expires

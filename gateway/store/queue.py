"""The work queue's primitives: claim a due message under a lease, change its state, renew or give up the lease.

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

Each function here commits its own transaction (``transition`` can leave the commit to the caller, to
add rows of its own). Times come from the caller's clock (``now``), in UTC; workers on several machines
need synchronised clocks, and leases should be much longer than the clock skew.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session, col, select, update

from gateway.store.models import Message, MessageEvent, MessageState
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


def _lease_free_or_expired(now: datetime) -> sa.ColumnElement[bool]:
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
            _lease_free_or_expired(now),
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


def _fenced_update(
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


def _apply(message: Message, values: dict[str, Any]) -> None:
    """Mirror what was written into the Python object without marking it dirty (no second UPDATE)."""
    for key, value in values.items():
        set_committed_value(message, key, value)


def transition(
    session: Session,
    message: Message,
    to_state: MessageState,
    actor: str,
    reason: str,
    error: str | None = None,
    *,
    worker_id: str | None = None,
    release: bool = True,
    next_attempt_at: datetime | None = None,
    now: datetime | None = None,
    commit: bool = True,
    values: Mapping[str, Any] | None = None,
) -> MessageEvent:
    """Move ``message`` from the state it has now to ``to_state`` and record the event, in one transaction.

    The UPDATE only matches if the message is still in ``message.state`` (and, with ``worker_id``, still
    leased to that worker), so two actors can never both win the same step: the loser gets
    :class:`StateConflict` or :class:`LeaseLost`, and the session's transaction is rolled back.
    ``release`` clears the lease; ``next_attempt_at`` schedules when the message is due next. ``error``
    is stored on the message (cleared when None) and in the event. With ``commit=False`` the caller
    commits, e.g. together with a delivery attempt row; the event and the state change still share that
    one transaction. ``values`` are further columns written by the same UPDATE (a step's result, such as
    the signed payload's reference), so that the state and what justifies it can never disagree.
    """
    now = now or utcnow()
    from_state = message.state
    written: dict[str, Any] = dict(values or {})
    written.update(state=to_state, updated_at=now, error=error)
    if release:
        written.update(lease_owner=None, lease_expires_at=None)
    if next_attempt_at is not None:
        written["next_attempt_at"] = next_attempt_at
    _fenced_update(session, message, written, worker_id=worker_id, expected_state=from_state)
    event = MessageEvent(
        message_id=message.id,
        from_state=from_state,
        to_state=to_state,
        actor=actor,
        reason=reason,
        error=error,
        created_at=now,
    )
    session.add(event)
    if commit:
        try:
            session.commit()
        except BaseException:
            session.rollback()
            raise
    _apply(message, written)
    return event


def renew_lease(
    session: Session, message: Message, worker_id: str, lease_seconds: float, *, now: datetime | None = None
) -> datetime:
    """Extend the lease of a message the worker still owns; raises :class:`LeaseLost` otherwise. Commits."""
    if lease_seconds <= 0:
        raise ValueError("lease_seconds must be positive")
    now = now or utcnow()
    expires = now + timedelta(seconds=lease_seconds)
    values: dict[str, Any] = {"lease_expires_at": expires}
    _fenced_update(session, message, values, worker_id=worker_id, expected_state=None)
    session.commit()
    _apply(message, values)
    return expires


def release_lease(
    session: Session,
    message: Message,
    worker_id: str,
    reason: str,
    *,
    error: str | None = None,
    retry_at: datetime | None = None,
    now: datetime | None = None,
) -> MessageEvent:
    """Give the message back without changing its state, e.g. after a failed try; records why. Commits.

    ``retry_at`` postpones the next claim (back-off); without it the message is due again at once.
    """
    now = now or utcnow()
    values: dict[str, Any] = {
        "lease_owner": None,
        "lease_expires_at": None,
        "updated_at": now,
        "next_attempt_at": retry_at or now,
        "error": error,
    }
    _fenced_update(session, message, values, worker_id=worker_id, expected_state=None)
    event = MessageEvent(
        message_id=message.id,
        from_state=message.state,
        to_state=message.state,
        actor=worker_id,
        reason=reason,
        error=error,
        created_at=now,
    )
    session.add(event)
    try:
        session.commit()
    except BaseException:
        session.rollback()
        raise
    _apply(message, values)
    return event


def recover_expired_leases(
    session: Session, *, actor: str = "lease-recovery", now: datetime | None = None
) -> list[uuid.UUID]:
    """Free every message whose lease has expired and record which worker lost it. Commits.

    Claiming already takes over expired leases; running this periodically makes the loss visible in
    each message's history and frees messages whose state no worker claims any more.
    """
    now = now or utcnow()
    expired = (
        select(Message.id, Message.lease_owner, Message.lease_expires_at, Message.state)
        .where(col(Message.lease_owner).is_not(None), col(Message.lease_expires_at) <= now)
        .with_for_update(skip_locked=True)
    )
    try:
        rows = session.exec(expired).all()
        recovered: list[uuid.UUID] = []
        for message_id, owner, expires_at, state in rows:
            freed = session.exec(
                update(Message)
                .where(
                    col(Message.id) == message_id,
                    col(Message.lease_owner) == owner,
                    col(Message.lease_expires_at) <= now,  # not renewed meanwhile
                )
                .values(lease_owner=None, lease_expires_at=None, updated_at=now)
                .execution_options(synchronize_session=False)
            ).rowcount
            if freed != 1:
                continue
            session.add(
                MessageEvent(
                    message_id=message_id,
                    from_state=MessageState(state),
                    to_state=MessageState(state),
                    actor=actor,
                    reason=f"lease of worker {owner} expired at {expires_at.isoformat() if expires_at else '?'}",
                    created_at=now,
                )
            )
            recovered.append(message_id)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return recovered

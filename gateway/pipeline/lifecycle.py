"""The one owner of message state: every state change and every history entry of a message is written here.

A message's ``state`` column and its ``message_event`` rows must never disagree, and two actors (workers,
an operator in the console or the API, an XTA reader closing its MsgBox, a receipt arriving) must never
both win the same step. Both promises are kept in one place, so that no caller writes "update the row,
add an event" by hand:

- :func:`transition` -- a worker's step under its lease: the UPDATE matches only while the worker holds
  the lease and the message is still in the state the worker saw (:class:`LeaseLost` /
  :class:`StateConflict` otherwise); the move must be one the lifecycle table allows
  (:mod:`gateway.pipeline.states`).
- :func:`change` -- everybody else (operator actions, receipts, XTA cancel/close): a conditional UPDATE
  that matches only while the message is in ``from_state``, nobody holds a live lease on it (unless told
  otherwise) and any further conditions hold; returns None instead of raising when it did not match, so
  the caller decides whether that is a refusal or a benign race (two answers acknowledging one message).
- :func:`note` -- a history entry that changes no state (a lease lost, a fetch by the reader, a remark).
- :func:`arrive` -- a new message with its first events, in the caller's transaction, so a message is
  never visible without its history.
- :func:`release` and :func:`recover_expired_leases` -- giving a lease back with the reason recorded.

A worker's chain makes several transitions in a row (signed, queued, sent); it describes each as a
:class:`Move`, checked against the lifecycle table when it is made (:func:`check_move`), and writes the
moves it has collected with :func:`write_moves`: one fenced UPDATE carrying the columns of all of them
(:func:`moved_columns` computes a move's columns, in one place) and one INSERT of their history rows.
The history reads exactly as if each move had been written on its own.

Claiming work and renewing a lease write no history and stay in :mod:`gateway.store.queue`, which also
supplies the fenced UPDATE used here. Nothing else in the code base builds a ``MessageEvent`` or writes
``Message.state``; ``tests/pipeline/test_state_owner.py`` checks that.

Commits: :func:`transition`, :func:`release` and :func:`recover_expired_leases` commit unless told not to;
:func:`change`, :func:`note` and :func:`arrive` never commit (they are parts of a caller's transaction).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select, update

from gateway.pipeline.states import allowed
from gateway.store.models import Direction, Message, MessageEvent, MessageState
from gateway.store.queue import LeaseLost, StateConflict, apply_values, fenced_update, lease_free
from gateway.store.types import utcnow

__all__ = [
    "IllegalTransition",
    "LeaseLost",
    "Move",
    "StateConflict",
    "arrive",
    "change",
    "check_move",
    "moved_columns",
    "note",
    "recover_expired_leases",
    "release",
    "transition",
    "write_moves",
]


class IllegalTransition(ValueError):
    """A worker asked for a move the lifecycle table does not allow: a bug, never a race."""

    def __init__(self, message: Message, to_state: MessageState, from_state: MessageState | None = None) -> None:
        before = from_state or message.state
        super().__init__(
            f"{message.direction.value} message {message.id}: {before.value} -> {to_state.value} is not a "
            "step of the lifecycle"
        )


@dataclass(frozen=True, slots=True)
class Move:
    """One transition of a worker's chain under its lease, described before it is written.

    ``release`` clears the lease; otherwise the lease is extended by ``lease_seconds`` from ``now`` in the
    same UPDATE (the chain goes on). ``values`` are further columns the step justifies the move with
    (the signed payload's reference, a validation report).
    """

    from_state: MessageState
    to_state: MessageState
    actor: str
    reason: str
    error: str | None = None
    release: bool = True
    next_attempt_at: datetime | None = None
    values: Mapping[str, Any] = field(default_factory=dict)
    lease_seconds: float | None = None
    now: datetime = field(default_factory=utcnow)


def check_move(message: Message, move: Move) -> None:
    """Refuse a move the lifecycle table does not allow (:class:`IllegalTransition`)."""
    direction = message.direction if isinstance(message.direction, Direction) else Direction(message.direction)
    if not allowed(direction, move.from_state, move.to_state):
        raise IllegalTransition(message, move.to_state, move.from_state)


def moved_columns(move: Move) -> dict[str, Any]:
    """The message columns ``move`` writes: its values, the state, the time, the error, the lease."""
    written: dict[str, Any] = dict(move.values)
    written.update(state=move.to_state, updated_at=move.now, error=move.error)
    if move.release:
        written.update(lease_owner=None, lease_expires_at=None)
    elif move.lease_seconds is not None:
        written["lease_expires_at"] = move.now + timedelta(seconds=move.lease_seconds)
    if move.next_attempt_at is not None:
        written["next_attempt_at"] = move.next_attempt_at
    return written


def write_moves(session: Session, message: Message, moves: Sequence[Move], *, worker_id: str) -> dict[str, Any]:
    """Write ``moves`` (in order, each checked) as one fenced UPDATE and one INSERT of their history rows.

    The UPDATE matches only while ``worker_id`` holds the lease and the row is still in the first move's
    ``from_state`` (:class:`LeaseLost` / :class:`StateConflict` otherwise, the session rolled back); it
    writes the columns of every move, a later move's winning. Does not commit and does not change
    ``message``; returns the columns written so that the caller can mirror them.
    """
    if not moves:
        return {}
    written: dict[str, Any] = {}
    expected = moves[0].from_state
    for move in moves:
        if move.from_state is not expected:
            raise ValueError(f"moves do not chain: {expected.value} then a move from {move.from_state.value}")
        check_move(message, move)
        written.update(moved_columns(move))
        expected = move.to_state
    fenced_update(session, message, written, worker_id=worker_id, expected_state=moves[0].from_state)
    _insert_events(
        session,
        [
            {
                "message_id": message.id,
                "from_state": move.from_state,
                "to_state": move.to_state,
                "actor": move.actor,
                "reason": move.reason,
                "error": move.error,
                "created_at": move.now,
            }
            for move in moves
        ],
    )
    return written


def _insert_events(session: Session, rows: list[dict[str, Any]]) -> None:
    """History rows in one statement (an executemany), not one INSERT each."""
    if rows:
        session.execute(sa.insert(MessageEvent.__table__), rows)  # type: ignore[attr-defined]


def _commit(session: Session) -> None:
    try:
        session.commit()
    except BaseException:
        session.rollback()
        raise


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
    move = Move(
        message.state,
        to_state,
        actor,
        reason,
        error,
        release=release,
        next_attempt_at=next_attempt_at,
        values=dict(values or {}),
        now=now or utcnow(),
    )
    check_move(message, move)
    written = moved_columns(move)
    fenced_update(session, message, written, worker_id=worker_id, expected_state=move.from_state)
    event = MessageEvent(
        message_id=message.id,
        from_state=move.from_state,
        to_state=to_state,
        actor=actor,
        reason=reason,
        error=error,
        created_at=move.now,
    )
    session.add(event)
    if commit:
        _commit(session)
    apply_values(message, written)
    return event


def change(
    session: Session,
    message: Message,
    to_state: MessageState,
    *,
    actor: str,
    reason: str,
    from_state: MessageState | None = None,
    values: Mapping[str, Any] | None = None,
    error: str | None = None,
    event_error: str | None = None,
    where: Iterable[sa.ColumnElement[bool]] = (),
    respect_lease: bool = True,
    now: datetime | None = None,
) -> MessageEvent | None:
    """Move ``message`` to ``to_state`` outside a worker's lease; None when the row did not match.

    It matches only while the message is in ``from_state`` (default: the state the caller saw), no live
    lease is held on it (``respect_lease``; an expired one is taken over and cleared) and every condition
    in ``where`` holds. ``values`` are further columns of the same UPDATE; ``error`` is written to the
    message's ``error`` column only when given. ``event_error`` goes into the history row (e.g. the error
    a message is dead-lettered with). Does not commit and does not roll back: on None the caller's
    transaction is untouched, and the caller decides whether that is a refusal or a lost race. Operator
    actions may move a message backwards (retry, requeue), which is why the lifecycle table is not
    consulted here: the callers state their own rules (:mod:`gateway.pipeline.operations`).
    """
    now = now or utcnow()
    before = from_state or message.state
    written: dict[str, Any] = dict(values or {})
    written.update(state=to_state, updated_at=now)
    if error is not None:
        written["error"] = error
    conditions = [col(Message.id) == message.id, col(Message.state) == before, *where]
    if respect_lease:
        conditions.append(lease_free(now))
        written.update(lease_owner=None, lease_expires_at=None)
    matched = session.exec(
        update(Message).where(*conditions).values(**written).execution_options(synchronize_session=False)
    ).rowcount
    if matched != 1:
        return None
    event = MessageEvent(
        message_id=message.id,
        from_state=before,
        to_state=to_state,
        actor=actor,
        reason=reason,
        error=event_error,
        created_at=now,
    )
    session.add(event)
    apply_values(message, written)
    return event


def note(
    session: Session,
    message_id: uuid.UUID,
    state: MessageState,
    *,
    actor: str,
    reason: str,
    error: str | None = None,
    now: datetime | None = None,
) -> MessageEvent:
    """A history entry that changes nothing: ``state`` is the message's state at the time. Does not commit."""
    event = MessageEvent(
        message_id=message_id,
        from_state=state,
        to_state=state,
        actor=actor,
        reason=reason,
        error=error,
        created_at=now or utcnow(),
    )
    session.add(event)
    return event


def arrive(
    session: Session,
    message: Message,
    history: Sequence[tuple[MessageState, str]],
    *,
    actor: str,
    now: datetime | None = None,
) -> None:
    """Add the new ``message`` with its first events (state, reason) in order; does not commit.

    The events chain from nothing through each state to the last, which must be the state the message is
    created in: a message is never visible without the history that explains its state. The row is
    flushed at once (its id, and the unique identity checked now); the events are one INSERT.
    """
    if not history or history[-1][0] is not message.state:
        raise ValueError(f"the history of a new message must end in its state {message.state.value}")
    when = now or message.created_at or utcnow()
    session.add(message)
    session.flush()  # the id the events refer to, and the unique constraints checked now
    rows: list[dict[str, Any]] = []
    before: MessageState | None = None
    for state, reason in history:
        rows.append(
            {
                "message_id": message.id,
                "from_state": before,
                "to_state": state,
                "actor": actor,
                "reason": reason,
                "error": None,
                "created_at": when,
            }
        )
        before = state
    _insert_events(session, rows)


def release(
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
    fenced_update(session, message, values, worker_id=worker_id, expected_state=None)
    event = note(session, message.id, message.state, actor=worker_id, reason=reason, error=error, now=now)
    _commit(session)
    apply_values(message, values)
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
            expiry = expires_at.isoformat() if expires_at else "?"
            note(
                session,
                message_id,
                MessageState(state),
                actor=actor,
                reason=f"lease of worker {owner} expired at {expiry}",
                now=now,
            )
            recovered.append(message_id)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return recovered

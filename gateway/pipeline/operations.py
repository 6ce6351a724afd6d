"""Operator actions on one message: cancel, retry, requeue -- each one fenced UPDATE plus its event.

The pipeline's workers own messages while they hold a lease, so every action here only matches a
message that is (still) in the state the caller saw *and* is not leased right now; otherwise it is a
conflict the caller can retry. That keeps an action from racing a worker that is, say, halfway through
sending the message it was asked to cancel.

* cancel: stop an outbound message that has not left yet -> ``cancelled`` (where the pipeline's
  lifecycle table allows it: validated, signed, queued).
* retry: a ``failed`` or ``dead_lettered`` message goes back to the state it failed from, due now,
  with its attempt counter reset.
* requeue: a message waiting in a working state is made due now; a ``sent`` (unacknowledged) or
  ``delivered`` (unconfirmed) message is handed back to the step that produced that state, to be sent
  or delivered again -- an explicit operator decision, recorded in the history.
"""

from __future__ import annotations

import enum
from typing import Any

from sqlmodel import Session, col, select

from gateway.pipeline import lifecycle
from gateway.pipeline.states import WORK_STATES, allowed
from gateway.store.models import Message, MessageEvent, MessageState
from gateway.store.types import utcnow


class Action(enum.StrEnum):
    CANCEL = "cancel"
    RETRY = "retry"
    REQUEUE = "requeue"


class ActionRefused(Exception):
    """The message's state does not allow the action (now); the message says why."""


RETRYABLE = frozenset({MessageState.FAILED, MessageState.DEAD_LETTERED})
WORKING = WORK_STATES - {MessageState.DELIVERED}
REDO = frozenset({MessageState.SENT, MessageState.DELIVERED})


def _entered_from(session: Session, message: Message) -> MessageState | None:
    """The state the message was in before it entered its current one (from its history)."""
    event = session.exec(
        select(MessageEvent)
        .where(
            col(MessageEvent.message_id) == message.id,
            col(MessageEvent.to_state) == message.state,
            col(MessageEvent.from_state).is_not(None),
            col(MessageEvent.from_state) != message.state,
        )
        .order_by(col(MessageEvent.id).desc())
        .limit(1)
    ).first()
    return event.from_state if event is not None else None


def _plan(session: Session, message: Message, action: Action) -> tuple[MessageState, dict[str, Any], str]:
    state = message.state
    if action is Action.CANCEL:
        if not allowed(message.direction, state, MessageState.CANCELLED):
            raise ActionRefused(f"a message in state {state.value} cannot be cancelled (any more)")
        return MessageState.CANCELLED, {}, "cancelled"
    if action is Action.RETRY:
        if state not in RETRYABLE:
            raise ActionRefused(f"only failed or dead-lettered messages are retried, not {state.value}")
        target = _entered_from(session, message)
        if target is None or target not in WORKING:
            raise ActionRefused(f"the history does not say which step the {state.value} message failed in")
        return target, {"attempts": 0}, f"retry from {target.value}"
    if state in WORKING:
        return state, {}, "requeued: due now"
    if state in REDO:
        target = _entered_from(session, message)
        if target is None or target not in WORKING:
            raise ActionRefused(f"the history does not say which step made the message {state.value}")
        return target, {"attempts": 0}, f"requeued from {state.value} to {target.value}: do it again"
    raise ActionRefused(f"a message in state {state.value} cannot be requeued")


def apply(session: Session, message: Message, action: Action, actor: str, note: str | None = None) -> Message:
    """Carry out ``action`` on ``message`` in one transaction, or raise :class:`ActionRefused`."""
    target, values, what = _plan(session, message, action)
    now = utcnow()
    reason = f"{what} by {actor}" + (f": {note}" if note else "")
    changed = lifecycle.change(
        session,
        message,
        target,
        actor=actor,
        reason=reason,
        values={**values, "next_attempt_at": now, "error": message.error if action is Action.CANCEL else None},
        now=now,
    )
    if changed is None:
        session.rollback()
        raise ActionRefused("a worker is processing the message or its state just changed; try again")
    session.commit()
    refreshed = session.get(Message, message.id, populate_existing=True)
    assert refreshed is not None
    return refreshed

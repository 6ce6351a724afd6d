"""The console's message actions: retry, requeue and cancel through :mod:`gateway.pipeline.operations` (the REST
API's fenced transitions), plus moving a message to the dead letter, fenced the same way.

Whatever the outcome, the action goes to the audit log with the admin's name; the message's own
history gets the transition (actor ``console:<name>``).
"""

from __future__ import annotations

import enum

from sqlmodel import Session

from gateway.console import audit
from gateway.console.users import ConsoleAccount
from gateway.pipeline import lifecycle
from gateway.pipeline.operations import Action, ActionRefused, apply
from gateway.pipeline.states import NEVER, allowed
from gateway.store.models import Message, MessageState


class ConsoleAction(enum.StrEnum):
    RETRY = "retry"
    REQUEUE = "requeue"
    CANCEL = "cancel"
    DEAD_LETTER = "dead_letter"


def possible(message: Message) -> list[ConsoleAction]:
    """The actions worth offering for the message's state (the transition is checked again when done)."""
    state = message.state
    out = []
    if state in (MessageState.FAILED, MessageState.DEAD_LETTERED):
        out.append(ConsoleAction.RETRY)
    if state not in (
        MessageState.FAILED,
        MessageState.DEAD_LETTERED,
        MessageState.CANCELLED,
        MessageState.ACKNOWLEDGED,
        MessageState.CONFIRMED,
        MessageState.RECEIVED,
    ):
        out.append(ConsoleAction.REQUEUE)
    if allowed(message.direction, state, MessageState.CANCELLED):
        out.append(ConsoleAction.CANCEL)
    if allowed(message.direction, state, MessageState.DEAD_LETTERED) or state is MessageState.FAILED:
        out.append(ConsoleAction.DEAD_LETTER)
    return out


def _dead_letter(session: Session, message: Message, actor: str, note: str | None) -> Message:
    if not (
        allowed(message.direction, message.state, MessageState.DEAD_LETTERED) or message.state is MessageState.FAILED
    ):
        raise ActionRefused(f"a message in state {message.state.value} cannot be moved to the dead letter")
    changed = lifecycle.change(
        session,
        message,
        MessageState.DEAD_LETTERED,
        actor=actor,
        reason=f"moved to the dead letter by {actor}" + (f": {note}" if note else ""),
        values={"next_attempt_at": NEVER},
        event_error=message.error,
    )
    if changed is None:
        session.rollback()
        raise ActionRefused("a worker is processing the message or its state just changed; try again")
    session.commit()
    refreshed = session.get(Message, message.id, populate_existing=True)
    assert refreshed is not None
    return refreshed


def perform(
    session: Session,
    message: Message,
    action: ConsoleAction,
    user: ConsoleAccount,
    note: str | None = None,
    client: str | None = None,
) -> Message:
    """Carry out ``action`` as ``user``; raises :class:`ActionRefused` (audited as refused)."""
    actor = f"console:{user.name}"
    engine = session.get_bind()
    target = str(message.id)
    before = message.state.value
    try:
        if not user.can_act:
            raise ActionRefused("a read-only user cannot act on messages")
        if action is ConsoleAction.DEAD_LETTER:
            done = _dead_letter(session, message, actor, note)
        else:
            done = apply(session, message, Action(action.value), actor, note)
    except ActionRefused as refused:
        audit.record(
            engine,  # type: ignore[arg-type]
            user.name,
            action.value,
            target=target,
            result=audit.REFUSED,
            detail=f"{before}: {refused}",
            client=client,
        )
        raise
    audit.record(
        engine,  # type: ignore[arg-type]
        user.name,
        action.value,
        target=target,
        detail=f"{before} -> {done.state.value}" + (f"; note: {note}" if note else ""),
        client=client,
    )
    return done

"""The lifecycle as data: which transitions the pipeline makes, and which states workers pick up.

Outbound: received -> validated -> signed -> queued -> sent -> acknowledged, with failed and
dead_lettered as the ends of the unhappy paths (a message that need not be signed goes validated ->
queued). Inbound: received -> verified -> validated -> delivered -> confirmed. Intake records
received (and verified) and validated in its own transaction, so workers start at ``validated``
(outbound) or ``received`` (inbound copies made by the local mailbox).
"""

from __future__ import annotations

from datetime import UTC, datetime

from gateway.store.models import Direction, MessageState

S = MessageState

ALLOWED: dict[Direction, dict[MessageState, frozenset[MessageState]]] = {
    Direction.OUTBOUND: {
        S.RECEIVED: frozenset({S.VALIDATED}),
        S.VALIDATED: frozenset({S.SIGNED, S.QUEUED, S.FAILED, S.DEAD_LETTERED, S.CANCELLED}),
        S.SIGNED: frozenset({S.QUEUED, S.FAILED, S.DEAD_LETTERED, S.CANCELLED}),
        S.QUEUED: frozenset({S.SENT, S.FAILED, S.DEAD_LETTERED, S.CANCELLED}),
        S.SENT: frozenset({S.ACKNOWLEDGED}),
    },
    Direction.INBOUND: {
        S.RECEIVED: frozenset({S.VERIFIED, S.FAILED, S.DEAD_LETTERED}),
        S.VERIFIED: frozenset({S.VALIDATED, S.FAILED, S.DEAD_LETTERED}),
        S.VALIDATED: frozenset({S.DELIVERED, S.FAILED, S.DEAD_LETTERED}),
        S.DELIVERED: frozenset({S.CONFIRMED, S.FAILED, S.DEAD_LETTERED}),
    },
}

#: states in which a message waits for a worker (the queue's claim filter)
WORK_STATES = frozenset({S.RECEIVED, S.VERIFIED, S.VALIDATED, S.SIGNED, S.QUEUED, S.DELIVERED})

FINAL = frozenset({S.ACKNOWLEDGED, S.CONFIRMED, S.FAILED, S.DEAD_LETTERED, S.CANCELLED})

NEVER = datetime(9999, 1, 1, tzinfo=UTC)
"""``next_attempt_at`` of a message no worker needs to look at again (delivered without a receipt to send,
sent and waiting for the peer's answer): it stays in its state but is never due."""


def allowed(direction: Direction, from_state: MessageState, to_state: MessageState) -> bool:
    return to_state in ALLOWED[direction].get(from_state, frozenset())

"""The queues at a glance: count, oldest message, throughput of the last hour, failures by rule or fault.

Shared by the dashboard, ``xgw stats`` and the Prometheus collector, so the three always agree. Each
figure is a query an index answers (``ix_message_state_direction_created``, ``ix_message_event_to_state_created``):
the dashboard stays cheap with 100,000 messages.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlmodel import col

from gateway.store.models import Direction, Message, MessageEvent, MessageState
from gateway.store.types import utcnow

S = MessageState


@dataclass(frozen=True, slots=True)
class QueueSpec:
    """A queue is a set of (direction, state) pairs; ``exits`` are the states whose events count as throughput."""

    name: str
    members: tuple[tuple[Direction, MessageState], ...]
    exits: tuple[MessageState, ...]


QUEUES = (
    QueueSpec(
        "inbound",
        ((Direction.INBOUND, S.RECEIVED), (Direction.INBOUND, S.VERIFIED), (Direction.INBOUND, S.VALIDATED)),
        (S.DELIVERED,),
    ),
    QueueSpec(
        "outbound",
        ((Direction.OUTBOUND, S.VALIDATED), (Direction.OUTBOUND, S.SIGNED), (Direction.OUTBOUND, S.QUEUED)),
        (S.SENT,),
    ),
    QueueSpec(
        "waiting_for_receipt",
        ((Direction.OUTBOUND, S.SENT), (Direction.INBOUND, S.DELIVERED)),
        (S.ACKNOWLEDGED, S.CONFIRMED),
    ),
    QueueSpec(
        "dead_letter",
        tuple((d, s) for d in Direction for s in (S.FAILED, S.DEAD_LETTERED)),
        (S.FAILED, S.DEAD_LETTERED),
    ),
)

_RULE = re.compile(r"XGW-[A-Z]+-\d{3}")
FAULT_CHARS = 60


@dataclass(slots=True)
class QueueStats:
    name: str
    count: int = 0
    oldest: datetime | None = None
    last_hour: int = 0

    def oldest_seconds(self, now: datetime) -> float:
        return max((now - self.oldest).total_seconds(), 0.0) if self.oldest else 0.0


@dataclass(slots=True)
class Stats:
    at: datetime
    queues: list[QueueStats]
    failures: list[tuple[str, int]] = field(default_factory=list)
    by_state: dict[tuple[str, str], int] = field(default_factory=dict)

    def as_json(self) -> dict[str, object]:
        return {
            "at": self.at.isoformat(),
            "queues": {
                q.name: {
                    "count": q.count,
                    "oldest_age_seconds": round(q.oldest_seconds(self.at), 1),
                    "throughput_last_hour": q.last_hour,
                }
                for q in self.queues
            },
            "failures": dict(self.failures),
        }


def fault_of(error: str | None) -> str:
    """The rule id named in an error, else its leading phrase (up to the first colon): what groups failures."""
    if not error:
        return "(no error recorded)"
    rule = _RULE.search(error)
    if rule:
        return rule.group(0)
    head = error.split(":", 1)[0].strip()
    return head[:FAULT_CHARS] + ("…" if len(head) > FAULT_CHARS else "")


def collect(connection: Connection, scope: sa.ColumnElement[bool] | None = None) -> Stats:
    """Every figure of the dashboard; ``scope`` narrows it to what a participant admin may see."""
    now = utcnow()
    where = scope if scope is not None else sa.true()
    by_state = {
        (str(state), str(direction)): int(n)
        for state, direction, n in connection.execute(
            sa.select(col(Message.state), col(Message.direction), sa.func.count())
            .where(where)
            .group_by(col(Message.state), col(Message.direction))
        ).all()
    }
    queues = []
    hour_ago = now - timedelta(hours=1)
    for spec in QUEUES:
        stats = QueueStats(spec.name)
        for direction, state in spec.members:
            stats.count += by_state.get((state.value, direction.value), 0)
            if not by_state.get((state.value, direction.value)):
                continue
            first = connection.execute(
                sa.select(col(Message.created_at))
                .where(col(Message.state) == state, col(Message.direction) == direction, where)
                .order_by(col(Message.created_at))
                .limit(1)
            ).scalar()
            if first is not None and (stats.oldest is None or first < stats.oldest):
                stats.oldest = first
        events = sa.select(sa.func.count()).select_from(MessageEvent)
        events = events.where(col(MessageEvent.to_state).in_(spec.exits), col(MessageEvent.created_at) >= hour_ago)
        if scope is not None:
            events = events.join(Message, col(Message.id) == col(MessageEvent.message_id)).where(scope)
        stats.last_hour = int(connection.execute(events).scalar_one())
        queues.append(stats)
    failures: Counter[str] = Counter()
    for error, n in connection.execute(
        sa.select(col(Message.error), sa.func.count())
        .where(col(Message.state).in_([S.FAILED, S.DEAD_LETTERED]), where)
        .group_by(col(Message.error))
        .order_by(sa.func.count().desc())
        .limit(500)
    ).all():
        failures[fault_of(error)] += int(n)
    return Stats(now, queues, failures.most_common(20), by_state)

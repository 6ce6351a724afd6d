"""The queues at a glance: headline figures, per-queue count, oldest message, throughput, health, and the charts.

Shared by the dashboard, ``xgw stats`` and the Prometheus collector, so the three always agree. Nothing
here counts the message table: counts, throughput, failures, retries and overdue processes come from the
rollup tables (:mod:`gateway.pipeline.rollups`, a few hundred rows whatever the number of messages), and
the age of each queue's oldest message is one lookup per (state, direction) in
``ix_message_state_direction_created``. Callers run :func:`gateway.pipeline.rollups.refresh` first.

``participant`` narrows every figure to what a participant admin may see, by the rule of
:mod:`gateway.pipeline.visibility` applied to the rollups' (direction, sender, recipient[, state]) keys.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from gateway.config import Settings
from gateway.pipeline.processes import NEXT_STEP
from gateway.pipeline.receipts import RECEIPT_FOR
from gateway.pipeline.rollups import (
    ALL,
    FAILED_STATES,
    HOUR,
    MINUTE,
    QUEUES,
    WAITING_QUEUES,
    QueueSpec,
    bucket_of,
    fault_of,
    oldest_created,
)
from gateway.pipeline.visibility import HANDED_OVER, visible_to_participant
from gateway.store.models import (
    Direction,
    MessageState,
    RollupFailure,
    RollupProcessWait,
    RollupQueueAge,
    RollupRetrying,
    RollupStateCount,
    RollupTraffic,
)
from gateway.store.types import utcnow

__all__ = ["QUEUES", "QueueSpec", "QueueStats", "Stats", "collect", "fault_of", "series"]

S = MessageState
_STATE = RollupStateCount.__table__  # type: ignore[attr-defined]
_TRAFFIC = RollupTraffic.__table__  # type: ignore[attr-defined]
_FAILURE = RollupFailure.__table__  # type: ignore[attr-defined]
_RETRYING = RollupRetrying.__table__  # type: ignore[attr-defined]
_AGE = RollupQueueAge.__table__  # type: ignore[attr-defined]
_WAIT = RollupProcessWait.__table__  # type: ignore[attr-defined]

FAILURE_WINDOW = timedelta(days=7)
"""Failures by cause are those of the last week (a failure retried long ago is no longer news)."""

#: queue -> (warn, bad) age of its oldest message in seconds
AGE_LIMITS = {
    "inbound": (300.0, 3600.0),
    "outbound": (300.0, 3600.0),
    "waiting_for_receipt": (3600.0, 86400.0),
}
STUCK_SECONDS = 900.0
"""A peer or adapter whose messages have been retrying this long is shown as down, not merely degraded."""

RANGES = {"hour": (MINUTE, 60), "day": (HOUR, 24), "week": (HOUR, 168)}
"""Chart range -> (bucket seconds, number of buckets)."""


class Level:
    OK = "ok"
    WARN = "warn"
    BAD = "bad"


@dataclass(slots=True)
class QueueStats:
    name: str
    count: int = 0
    oldest: datetime | None = None
    last_hour: int = 0
    retrying: int = 0
    level: str = Level.OK

    def oldest_seconds(self, now: datetime) -> float:
        return max((now - self.oldest).total_seconds(), 0.0) if self.oldest else 0.0


@dataclass(slots=True)
class Retrying:
    message_id: str
    direction: str
    state: str
    recipient_id: str
    since: datetime
    error: str | None


@dataclass(slots=True)
class Stats:
    at: datetime
    queues: list[QueueStats]
    failures: list[tuple[str, int]] = field(default_factory=list)
    by_state: dict[tuple[str, str], int] = field(default_factory=dict)
    in_flight: int = 0
    failed: int = 0
    dead_lettered: int = 0
    retrying: int = 0
    overdue: int = 0
    oldest_waiting: datetime | None = None
    stuck: list[Retrying] = field(default_factory=list)

    def queue(self, name: str) -> QueueStats:
        return next(q for q in self.queues if q.name == name)

    def oldest_waiting_seconds(self) -> float:
        return max((self.at - self.oldest_waiting).total_seconds(), 0.0) if self.oldest_waiting else 0.0

    def as_json(self) -> dict[str, object]:
        return {
            "at": self.at.isoformat(),
            "headline": {
                "in_flight": self.in_flight,
                "failed": self.failed,
                "dead_lettered": self.dead_lettered,
                "retrying": self.retrying,
                "overdue_processes": self.overdue,
                "oldest_waiting_seconds": round(self.oldest_waiting_seconds(), 1),
            },
            "queues": {
                q.name: {
                    "count": q.count,
                    "oldest_age_seconds": round(q.oldest_seconds(self.at), 1),
                    "throughput_last_hour": q.last_hour,
                    "retrying": q.retrying,
                    "health": q.level,
                }
                for q in self.queues
            },
            "failures": dict(self.failures),
        }


# -- scope ---------------------------------------------------------------------------------------------------


def _owner(table: sa.Table, participant: str) -> sa.ColumnElement[bool]:
    c = table.c
    return sa.or_(
        sa.and_(c.direction == Direction.OUTBOUND.value, c.sender_id == participant),
        sa.and_(c.direction == Direction.INBOUND.value, c.recipient_id == participant),
    )


def _scope(table: sa.Table, participant: str | None, handed_over: sa.ColumnElement[bool]) -> sa.ColumnElement[bool]:
    """Visibility of rollup rows: the owner's, an inbound row's sender's, an outbound row's recipient's once
    ``handed_over`` (a state or traffic kind past sending)."""
    if participant is None:
        return sa.true()
    c = table.c
    return sa.or_(
        _owner(table, participant),
        sa.and_(c.direction == Direction.INBOUND.value, c.sender_id == participant),
        sa.and_(c.direction == Direction.OUTBOUND.value, c.recipient_id == participant, handed_over),
    )


def _state_scope(table: sa.Table, participant: str | None) -> sa.ColumnElement[bool]:
    return _scope(table, participant, table.c.state.in_([s.value for s in HANDED_OVER]))


def _traffic_scope(participant: str | None) -> sa.ColumnElement[bool]:
    """Traffic rows a user sees; the whole gateway reads its own rows (parties :data:`ALL`), not every pair."""
    if participant is None:
        return sa.and_(_TRAFFIC.c.sender_id == ALL, _TRAFFIC.c.recipient_id == ALL)
    return _scope(_TRAFFIC, participant, _TRAFFIC.c.kind.in_(["sent", "done"]))


def _failure_scope(participant: str | None) -> sa.ColumnElement[bool]:
    if participant is None:
        return sa.and_(_FAILURE.c.sender_id == ALL, _FAILURE.c.recipient_id == ALL)
    return _scope(_FAILURE, participant, sa.false())


# -- the figures ---------------------------------------------------------------------------------------------


def _level(spec: QueueSpec, stats: QueueStats, now: datetime) -> str:
    if spec.name == "dead_letter":
        return Level.BAD if stats.count else Level.OK
    warn, bad = AGE_LIMITS[spec.name]
    age = stats.oldest_seconds(now)
    if age >= bad:
        return Level.BAD
    if age >= warn or stats.retrying:
        return Level.WARN
    return Level.OK


def overdue_processes(connection: Connection, settings: Settings, now: datetime, participant: str | None = None) -> int:
    """Processes with an awaited answer past its deadline (``pipeline.step_deadline_hours`` per answer code)."""
    table = settings.pipeline.step_deadline_hours
    codes = sorted(set(NEXT_STEP.values()) | set(RECEIPT_FOR.values()))
    late = sa.or_(
        *(
            sa.and_(
                _WAIT.c.code == code,
                _WAIT.c.since < now - timedelta(hours=table.get(code, table.get("default", 720.0))),
            )
            for code in codes
        )
    )
    query = sa.select(sa.func.count(sa.distinct(_WAIT.c.process_id))).where(late)
    if participant is not None:
        query = query.where(sa.or_(_WAIT.c.sender_id == participant, _WAIT.c.recipient_id == participant))
    return int(connection.execute(query).scalar_one())


def collect(connection: Connection, participant: str | None = None, settings: Settings | None = None) -> Stats:
    """Every figure of the dashboard; ``participant`` narrows it to what that participant's admin may see."""
    now = utcnow()
    settings = settings or Settings()
    by_state: dict[tuple[str, str], int] = Counter()
    for state, direction, n in connection.execute(
        sa.select(_STATE.c.state, _STATE.c.direction, sa.func.sum(_STATE.c.count))
        .where(_state_scope(_STATE, participant))
        .group_by(_STATE.c.state, _STATE.c.direction)
    ).all():
        by_state[(str(state), str(direction))] += int(n or 0)
    retrying_by: dict[tuple[str, str], int] = Counter()
    for state, direction, n in connection.execute(
        sa.select(_RETRYING.c.state, _RETRYING.c.direction, sa.func.count())
        .where(_state_scope(_RETRYING, participant))
        .group_by(_RETRYING.c.state, _RETRYING.c.direction)
    ).all():
        retrying_by[(str(state), str(direction))] += int(n)
    hour_ago = bucket_of(now - timedelta(hours=1), MINUTE)
    exits: dict[tuple[str, str], int] = Counter()
    for kind, direction, n in connection.execute(
        sa.select(_TRAFFIC.c.kind, _TRAFFIC.c.direction, sa.func.sum(_TRAFFIC.c.count))
        .where(_TRAFFIC.c.grain == MINUTE, _TRAFFIC.c.bucket > hour_ago, _traffic_scope(participant))
        .group_by(_TRAFFIC.c.kind, _TRAFFIC.c.direction)
    ).all():
        exits[(str(kind), str(direction))] += int(n or 0)
    where = visible_to_participant(participant) if participant is not None else None
    queues = []
    for spec in QUEUES:
        stats = QueueStats(spec.name)
        present = [(d, s) for d, s in spec.members if by_state.get((s.value, d.value))]
        stats.count = sum(by_state.get((s.value, d.value), 0) for d, s in spec.members)
        stats.retrying = sum(retrying_by.get((s.value, d.value), 0) for d, s in spec.members)
        stats.oldest = oldest_created(connection, present, where) if present else None
        stats.last_hour = sum(
            n for (kind, d), n in exits.items() if kind == spec.exit_kind and spec.exit_direction in (None, d)
        )
        stats.level = _level(spec, stats, now)
        queues.append(stats)
    failures: Counter[str] = Counter()
    for fault, n in connection.execute(
        sa.select(_FAILURE.c.fault, sa.func.sum(_FAILURE.c.count))
        .where(
            _FAILURE.c.bucket >= bucket_of(now - FAILURE_WINDOW, HOUR),
            _failure_scope(participant),
        )
        .group_by(_FAILURE.c.fault)
    ).all():
        failures[str(fault)] += int(n or 0)
    result = Stats(now, queues, failures.most_common(20), dict(by_state))
    waiting = [q for q in queues if q.name in WAITING_QUEUES]
    result.in_flight = sum(q.count for q in waiting)
    result.failed = sum(n for (state, _), n in by_state.items() if state == S.FAILED.value)
    result.dead_lettered = sum(n for (state, _), n in by_state.items() if state == S.DEAD_LETTERED.value)
    result.retrying = sum(retrying_by.values())
    result.oldest_waiting = min((q.oldest for q in waiting if q.oldest), default=None)
    result.overdue = overdue_processes(connection, settings, now, participant)
    result.stuck = [
        Retrying(str(r.message_id), str(r.direction), str(r.state), str(r.recipient_id), r.since, r.error)
        for r in connection.execute(
            sa.select(_RETRYING).where(_state_scope(_RETRYING, participant)).order_by(_RETRYING.c.since).limit(10)
        ).all()
    ]
    return result


@dataclass(frozen=True, slots=True)
class PartyFigures:
    """Last hour's traffic to one participant (as recipient) in one direction, and its messages retrying now."""

    sent: int = 0
    failed: int = 0
    retries: int = 0
    retrying: int = 0
    retrying_since: datetime | None = None

    def level(self, now: datetime) -> str:
        stuck = self.retrying_since is not None and (now - self.retrying_since).total_seconds() >= STUCK_SECONDS
        if stuck or (self.failed and not self.sent):
            return Level.BAD
        if self.retrying or self.retries or self.failed:
            return Level.WARN
        return Level.OK


def party_figures(connection: Connection, direction: Direction, now: datetime) -> dict[str, PartyFigures]:
    """Per recipient: what the gateway handed it in the last hour, what failed, what waits for a retry."""
    counts: dict[str, Counter[str]] = {}
    for recipient, kind, n in connection.execute(
        sa.select(_TRAFFIC.c.recipient_id, _TRAFFIC.c.kind, sa.func.sum(_TRAFFIC.c.count))
        .where(
            _TRAFFIC.c.grain == MINUTE,
            _TRAFFIC.c.bucket > bucket_of(now - timedelta(hours=1), MINUTE),
            _TRAFFIC.c.direction == direction.value,
            _TRAFFIC.c.kind.in_(["sent", "failed", "retry"]),
            _TRAFFIC.c.recipient_id != ALL,
        )
        .group_by(_TRAFFIC.c.recipient_id, _TRAFFIC.c.kind)
    ).all():
        counts.setdefault(str(recipient), Counter())[str(kind)] += int(n or 0)
    retrying: dict[str, tuple[int, datetime]] = {}
    for recipient, n, since in connection.execute(
        sa.select(_RETRYING.c.recipient_id, sa.func.count(), sa.func.min(_RETRYING.c.since))
        .where(_RETRYING.c.direction == direction.value)
        .group_by(_RETRYING.c.recipient_id)
    ).all():
        retrying[str(recipient)] = (int(n), since)
    out = {}
    for recipient in set(counts) | set(retrying):
        c = counts.get(recipient, Counter())
        n, since = retrying.get(recipient, (0, None))
        out[recipient] = PartyFigures(c["sent"], c["failed"], c["retry"], n, since)
    return out


def series(connection: Connection, span: str, participant: str | None = None) -> dict[str, Any]:
    """The charts' data for ``span`` (hour: per minute; day, week: per hour), oldest bucket first.

    ``t`` are the buckets' starts (Unix seconds); ``received``, ``sent``, ``failed`` and ``retry`` count per
    bucket; ``age`` holds each waiting queue's largest sampled oldest-message age (seconds; null where no
    sample was taken), only for users who see every participant."""
    grain, buckets = RANGES[span]
    now = utcnow()
    last = bucket_of(now, grain)
    first = last - timedelta(seconds=grain * (buckets - 1))
    starts = [first + timedelta(seconds=grain * i) for i in range(buckets)]
    index = {int(b.timestamp()): i for i, b in enumerate(starts)}
    kinds = ("received", "sent", "failed", "retry")
    values: dict[str, list[Any]] = {k: [0] * buckets for k in kinds}
    for bucket, kind, n in connection.execute(
        sa.select(_TRAFFIC.c.bucket, _TRAFFIC.c.kind, sa.func.sum(_TRAFFIC.c.count))
        .where(
            _TRAFFIC.c.grain == grain,
            _TRAFFIC.c.bucket >= first,
            _TRAFFIC.c.kind.in_(kinds),
            _traffic_scope(participant),
        )
        .group_by(_TRAFFIC.c.bucket, _TRAFFIC.c.kind)
    ).all():
        at = index.get(int(bucket.timestamp()))
        if at is not None:
            values[str(kind)][at] += int(n or 0)
    result: dict[str, Any] = {"span": span, "grain": grain, "t": [int(b.timestamp()) for b in starts], **values}
    if participant is None:
        ages: dict[str, list[float | None]] = {q: [None] * buckets for q in WAITING_QUEUES}
        for bucket, queue, age in connection.execute(
            sa.select(_AGE.c.bucket, _AGE.c.queue, _AGE.c.age_seconds).where(
                _AGE.c.grain == grain, _AGE.c.bucket >= first
            )
        ).all():
            at = index.get(int(bucket.timestamp()))
            if at is not None and queue in ages:
                ages[str(queue)][at] = round(float(age), 1)
        result["age"] = ages
    return result


__all__ += ["FAILED_STATES", "Level", "PartyFigures", "Retrying", "overdue_processes", "party_figures"]

"""Dashboard figures kept as messages move: rolled up from ``message_event``, read in a few hundred rows.

The console's dashboard, ``xgw stats`` and the Prometheus gauges must cost the same with a million messages
as with ten thousand, so they never count the message table. Every state change in the gateway writes one
``message_event`` row (``from_state`` -> ``to_state``); a *rollup step* reads the events after a cursor
(``rollup_cursor``), joins each to its message (by primary key) for direction, sender and recipient, and
applies them to small tables (see revision 0008):

* ``rollup_state_count`` -- messages per (state, direction, sender, recipient): -1 for ``from_state``,
  +1 for ``to_state`` (a message's first event has no ``from_state``). Messages are never deleted, so the
  sums are exact.
* ``rollup_traffic`` -- per minute (kept :data:`KEEP` [60]) and per hour (kept :data:`KEEP` [3600]) bucket:
  ``received`` (a message's first event), ``sent`` (to sent, or delivered to a DMS or mailbox), ``done``
  (acknowledged or confirmed), ``failed`` (to failed or dead-lettered, from a live state) and ``retry`` (a
  try that failed and left the state as it was: an event with an error and ``from_state == to_state``).
* ``rollup_failure`` -- failures per hour by rule id or fault (:func:`fault_of`).
  Both also keep gateway-wide rows (sender and recipient :data:`ALL`), so that the whole gateway's charts
  read a few rows per bucket, not one per pair of parties.
* ``rollup_retrying`` -- messages whose last try failed and which wait for the next (removed by their
  next state change): a message stuck in delivery retries shows as such, not as a neutral state.
* ``rollup_process_wait`` -- the answers processes wait for (the same protocol tables as
  :mod:`gateway.pipeline.processes`), so overdue processes are an indexed range per answer code.
* ``rollup_queue_age`` -- not from events: each step at most every :data:`SAMPLE_SECONDS` samples the age of
  each queue's oldest message (index-backed MIN per state and direction, ``ix_message_state_direction_created``)
  into minute and hour buckets, keeping the largest age seen in each.

**Exactly once, with several nodes.** A step is one transaction. It first locks the cursor row (PostgreSQL
``FOR UPDATE SKIP LOCKED``: a node that finds it locked skips its step, the other node is doing the work;
SQLite ``BEGIN IMMEDIATE``: the write lock), applies a batch of events and moves the cursor with a
conditional UPDATE (``WHERE last_event_id = <what it read>``) in the same transaction. Either all of it
commits or none; no event is applied twice.

**No event is skipped.** On PostgreSQL event ids come from a sequence and are not committed in id order: a
transaction that took id 41 may commit after the one that took 42, so "everything after the cursor" read
at the wrong moment would jump over 41 for good. A step therefore advances only through *contiguous* ids.
At a gap it asks PostgreSQL whether any other transaction is still in progress (``pg_snapshot_xip``): if
none is, the gap's owner has finished and a fresh read sees all that will ever exist there (a rolled-back
insert leaves a permanent gap). Otherwise it stops before the gap, unless the event after it is older than
:data:`GAP_GRACE_SECONDS` (no transaction of the pipeline lives that long). SQLite has one writer and hands
out ids at commit order, so it has no such gaps.

**When steps run (the choice).** Both: the worker loop runs one every :data:`WORKER_STEP_SECONDS` (so
queue-age samples are taken and figures stay fresh while nobody watches), and the dashboard, ``xgw stats``
and the metrics collector call :func:`refresh` before reading: a cheap "anything new?" check (the maximum
event id, read from the primary key), then steps until caught up or :data:`REFRESH_BUDGET_SECONDS` has
passed (bounded work per request; a backlog after a long pause is worked off by the following requests
and the workers). Every node reads the same tables, so every node shows the same figures.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from gateway.pipeline.processes import NEXT_STEP
from gateway.pipeline.receipts import RECEIPT_FOR
from gateway.store.db import SQLITE_BEGIN
from gateway.store.models import (
    Direction,
    Message,
    MessageEvent,
    MessageState,
    RollupCursor,
    RollupFailure,
    RollupProcessWait,
    RollupQueueAge,
    RollupRetrying,
    RollupStateCount,
    RollupTraffic,
)
from gateway.store.types import utcnow

log = logging.getLogger(__name__)

S = MessageState
CURSOR = "events"
BATCH = 5000
GAP_GRACE_SECONDS = 60.0
SAMPLE_SECONDS = 15.0
PRUNE_SECONDS = 3600.0
WORKER_STEP_SECONDS = 5.0
REFRESH_BUDGET_SECONDS = 0.5
MINUTE, HOUR = 60, 3600
GRAINS = (MINUTE, HOUR)
KEEP = {MINUTE: timedelta(days=2), HOUR: timedelta(days=35)}
"""How long the buckets of each grain are kept (the charts show at most an hour of minutes, a week of hours)."""

KINDS = ("received", "sent", "done", "failed", "retry")
ALL = ""
"""Sender and recipient of the gateway-wide rows of ``rollup_traffic`` and ``rollup_failure``: every count is
written once per (direction, sender, recipient) and once per direction with both ``ALL``, so a view of the
whole gateway reads a few rows per bucket however many parties there are."""
SENT_STATES = (S.SENT, S.DELIVERED)
DONE_STATES = (S.ACKNOWLEDGED, S.CONFIRMED)
FAILED_STATES = (S.FAILED, S.DEAD_LETTERED)

_RULE = re.compile(r"XGW-[A-Z]+-\d{3}")
FAULT_CHARS = 60


def fault_of(error: str | None) -> str:
    """The rule id named in an error, else its leading phrase (up to the first colon): what groups failures."""
    if not error:
        return "(no error recorded)"
    rule = _RULE.search(error)
    if rule:
        return rule.group(0)
    head = error.split(":", 1)[0].strip()
    return head[:FAULT_CHARS] + ("…" if len(head) > FAULT_CHARS else "")


@dataclass(frozen=True, slots=True)
class QueueSpec:
    """A queue is a set of (direction, state) pairs; ``exits`` is the traffic kind that counts as throughput."""

    name: str
    members: tuple[tuple[Direction, MessageState], ...]
    exit_kind: str
    exit_direction: Direction | None


QUEUES = (
    QueueSpec(
        "inbound",
        ((Direction.INBOUND, S.RECEIVED), (Direction.INBOUND, S.VERIFIED), (Direction.INBOUND, S.VALIDATED)),
        "sent",
        Direction.INBOUND,
    ),
    QueueSpec(
        "outbound",
        (
            (Direction.OUTBOUND, S.RECEIVED),
            (Direction.OUTBOUND, S.VALIDATED),
            (Direction.OUTBOUND, S.SIGNED),
            (Direction.OUTBOUND, S.QUEUED),
        ),
        "sent",
        Direction.OUTBOUND,
    ),
    QueueSpec(
        "waiting_for_receipt",
        ((Direction.OUTBOUND, S.SENT), (Direction.INBOUND, S.DELIVERED)),
        "done",
        None,
    ),
    QueueSpec(
        "dead_letter",
        tuple((d, s) for d in Direction for s in FAILED_STATES),
        "failed",
        None,
    ),
)
WAITING_QUEUES = ("inbound", "outbound", "waiting_for_receipt")


def bucket_of(when: datetime, grain: int) -> datetime:
    """The start of ``when``'s bucket of ``grain`` seconds, in UTC."""
    seconds = int(when.timestamp()) // grain * grain
    return datetime.fromtimestamp(seconds, UTC)


def kind_of(from_state: MessageState | None, to_state: MessageState, error: str | None) -> str | None:
    """What an event counts as in the traffic figures (None: nothing)."""
    if from_state is None:
        return "received"
    if from_state == to_state:
        return "retry" if error else None
    if to_state in SENT_STATES:
        return "sent"
    if to_state in DONE_STATES:
        return "done"
    if to_state in FAILED_STATES and from_state not in FAILED_STATES:
        return "failed"
    return None


# -- the step ------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StepResult:
    applied: int
    cursor: int
    skipped: bool = False  # another node held the cursor
    caught_up: bool = True


@dataclass(slots=True)
class _Event:
    id: int
    message_id: uuid.UUID
    from_state: MessageState | None
    to_state: MessageState
    error: str | None
    created_at: datetime
    direction: Direction
    sender_id: str
    recipient_id: str
    process_id: str
    message_type: str
    receipt_requested: bool
    source_id: uuid.UUID | None
    message_created_at: datetime


_E = MessageEvent.__table__  # type: ignore[attr-defined]
_M = Message.__table__  # type: ignore[attr-defined]
_CURSOR = RollupCursor.__table__  # type: ignore[attr-defined]
_STATE = RollupStateCount.__table__  # type: ignore[attr-defined]
_TRAFFIC = RollupTraffic.__table__  # type: ignore[attr-defined]
_FAILURE = RollupFailure.__table__  # type: ignore[attr-defined]
_RETRYING = RollupRetrying.__table__  # type: ignore[attr-defined]
_AGE = RollupQueueAge.__table__  # type: ignore[attr-defined]
_WAIT = RollupProcessWait.__table__  # type: ignore[attr-defined]

_EVENTS = (
    sa.select(
        _E.c.id,
        _E.c.message_id,
        _E.c.from_state,
        _E.c.to_state,
        _E.c.error,
        _E.c.created_at,
        _M.c.direction,
        _M.c.sender_id,
        _M.c.recipient_id,
        _M.c.process_id,
        _M.c.message_type,
        _M.c.receipt_requested,
        _M.c.source_id,
        _M.c.created_at.label("message_created_at"),
    )
    .select_from(_E.join(_M, _M.c.id == _E.c.message_id))
    .order_by(_E.c.id)
)


class _Memo:
    """Per process and database: when this process last sampled ages and pruned (the tables agree anyway)."""

    def __init__(self) -> None:
        self.sampled: dict[str, float] = {}
        self.pruned: dict[str, float] = {}
        self.ensured: set[str] = set()


_memo = _Memo()


def _key(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=True)


def _insert(connection: Connection, table: sa.Table) -> Any:
    if connection.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def _ensure_cursor(engine: Engine) -> None:
    key = _key(engine)
    if key in _memo.ensured:
        return
    with engine.begin() as connection:
        statement = _insert(connection, _CURSOR).values(name=CURSOR, last_event_id=0, updated_at=utcnow())
        connection.execute(statement.on_conflict_do_nothing(index_elements=["name"]))
    _memo.ensured.add(key)


def _lock_cursor(connection: Connection) -> int | None:
    query = sa.select(_CURSOR.c.last_event_id).where(_CURSOR.c.name == CURSOR)
    if connection.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    value = connection.execute(query).scalar()
    return None if value is None else int(value)


def _read(connection: Connection, after: int, limit: int) -> list[_Event]:
    rows = connection.execute(_EVENTS.where(_E.c.id > after).limit(limit)).all()
    return [
        _Event(
            int(r.id),
            r.message_id,
            MessageState(r.from_state) if r.from_state is not None else None,
            MessageState(r.to_state),
            r.error,
            r.created_at,
            Direction(r.direction),
            r.sender_id,
            r.recipient_id,
            r.process_id,
            r.message_type,
            bool(r.receipt_requested),
            r.source_id,
            r.message_created_at,
        )
        for r in rows
    ]


def _others_in_progress(connection: Connection) -> bool:
    return bool(
        connection.exec_driver_sql(
            "SELECT count(*) FROM pg_snapshot_xip(pg_current_snapshot()) AS x "
            "WHERE pg_current_xact_id_if_assigned() IS NULL OR x <> pg_current_xact_id_if_assigned()"
        ).scalar()
    )


def _contiguous(connection: Connection, events: list[_Event], after: int, limit: int, now: datetime) -> list[_Event]:
    """The events a step may apply: through contiguous ids, across gaps only once they cannot fill any more."""
    if connection.dialect.name != "postgresql":
        return events
    expected = after + 1
    for index, event in enumerate(events):
        if event.id != expected:
            if not _others_in_progress(connection):
                # every owner of an id up to the last one read had started before that read and has finished
                # now: a second read is final up to there (not beyond: later ids may have new owners)
                last = events[-1].id
                return [e for e in _read(connection, after, limit) if e.id <= last]
            if (now - event.created_at).total_seconds() < GAP_GRACE_SECONDS:
                return events[:index]
        expected = event.id + 1
    return events


def step(engine: Engine, *, batch: int = BATCH, now: datetime | None = None) -> StepResult:
    """Apply the next batch of events to the rollups in one transaction; see the module docstring."""
    _ensure_cursor(engine)
    now = now or utcnow()
    with engine.connect() as plain:
        connection = plain.execution_options(**{SQLITE_BEGIN: "IMMEDIATE"})
        with connection.begin():
            after = _lock_cursor(connection)
            if after is None:
                return StepResult(0, -1, skipped=True, caught_up=False)
            fetched = _read(connection, after, batch)
            events = _contiguous(connection, fetched, after, batch, now)
            if events:
                _apply(connection, events, now)
                moved = connection.execute(
                    sa.update(_CURSOR)
                    .where(_CURSOR.c.name == CURSOR, _CURSOR.c.last_event_id == after)
                    .values(last_event_id=events[-1].id, updated_at=now)
                ).rowcount
                if moved != 1:  # cannot happen under the lock; refuse rather than apply twice
                    raise RuntimeError("rollup cursor moved under a held lock")
            _sample_if_due(engine, connection, now)
            _prune_if_due(engine, connection, now)
    cursor = events[-1].id if events else after
    return StepResult(len(events), cursor, caught_up=len(fetched) < batch and len(events) == len(fetched))


def refresh(engine: Engine, *, budget_seconds: float = REFRESH_BUDGET_SECONDS) -> None:
    """Before reading the figures: apply what is new, within a time budget (cheap when nothing is)."""
    started = time.monotonic()
    try:
        while True:
            if not _behind(engine) and not _sample_due(engine):
                return
            result = step(engine)
            if result.skipped or result.caught_up or time.monotonic() - started > budget_seconds:
                return
    except sa.exc.OperationalError as exc:  # busy database: the figures are a step older, nothing is lost
        log.warning("rollup step skipped: %s", exc.__class__.__name__)


def _behind(engine: Engine) -> bool:
    with engine.connect() as connection:
        newest = connection.execute(sa.select(sa.func.max(_E.c.id))).scalar() or 0
        done = connection.execute(sa.select(_CURSOR.c.last_event_id).where(_CURSOR.c.name == CURSOR)).scalar()
    return int(newest) > int(done or 0)


# -- applying events -----------------------------------------------------------------------------------------


def _array_type(column: sa.Column[Any]) -> str:
    kind = column.type
    if isinstance(kind, sa.TypeDecorator):
        kind = kind.impl_instance
    if isinstance(kind, sa.Uuid):
        return "uuid[]"
    if isinstance(kind, sa.DateTime):
        return "timestamptz[]"
    if isinstance(kind, sa.Float):
        return "float8[]"
    if isinstance(kind, sa.Integer):
        return "int8[]"
    return "text[]"


def _upsert(
    connection: Connection, table: sa.Table, rows: list[dict[str, Any]], conflict: Sequence[str], add: Sequence[str]
) -> None:
    """INSERT the rows; on a conflict over ``conflict`` add the new values of ``add`` (``count``), or take the
    new values of every other column (``add`` empty and ``replace`` style, see below), or keep the old row.

    On PostgreSQL one statement over ``unnest`` of one array per column: a round trip per batch rather than
    per row (a pipelined executemany spent its time in 30,000 single-row upserts). On SQLite an executemany,
    a loop in C already. Table and column names come from the models, never from input."""
    if not rows:
        return
    names = list(rows[0])
    replace = [n for n in names if n not in conflict and not add]
    if connection.dialect.name == "postgresql":
        if add:
            action = "DO UPDATE SET " + ", ".join(f"{n} = {table.name}.{n} + excluded.{n}" for n in add)
        elif replace and table is _RETRYING:
            action = "DO UPDATE SET error = excluded.error, state = excluded.state"
        else:
            action = "DO NOTHING"
        arrays = ", ".join(f"CAST(:{n} AS {_array_type(table.c[n])})" for n in names)
        sql = (
            f"INSERT INTO {table.name} ({', '.join(names)}) SELECT * FROM unnest({arrays}) "  # noqa: S608
            f"ON CONFLICT ({', '.join(conflict)}) {action}"
        )
        connection.execute(sa.text(sql), {n: [row[n] for row in rows] for n in names})
        return
    statement = sqlite.insert(table)
    if add:
        statement = statement.on_conflict_do_update(
            index_elements=list(conflict), set_={n: table.c[n] + statement.excluded[n] for n in add}
        )
    elif replace and table is _RETRYING:
        statement = statement.on_conflict_do_update(
            index_elements=list(conflict), set_={"error": statement.excluded.error, "state": statement.excluded.state}
        )
    else:
        statement = statement.on_conflict_do_nothing(index_elements=list(conflict))
    connection.execute(statement, rows)


def _add(connection: Connection, table: sa.Table, keys: Sequence[str], counts: dict[tuple[Any, ...], int]) -> None:
    rows = [{**dict(zip(keys, key, strict=True)), "count": n} for key, n in counts.items() if n]
    _upsert(connection, table, rows, keys, ["count"])


def _apply(connection: Connection, events: list[_Event], now: datetime) -> None:
    states: dict[tuple[Any, ...], int] = defaultdict(int)
    traffic: dict[tuple[Any, ...], int] = defaultdict(int)
    failures: dict[tuple[Any, ...], int] = defaultdict(int)
    retrying: dict[uuid.UUID, _Event | None] = {}
    cleared: set[uuid.UUID] = set()
    oldest = {grain: bucket_of(now - KEEP[grain], grain) for grain in GRAINS}
    for e in events:
        parties = (e.direction.value, e.sender_id, e.recipient_id)
        if e.from_state != e.to_state:
            if e.from_state is not None:
                states[(e.from_state.value, *parties)] -= 1
            states[(e.to_state.value, *parties)] += 1
            if e.from_state is not None:  # moved on: no longer waiting for a retry
                cleared.add(e.message_id)
                retrying[e.message_id] = None
        elif e.error and retrying.get(e.message_id) is None:
            retrying[e.message_id] = e  # the first failed try of this batch says since when
        kind = kind_of(e.from_state, e.to_state, e.error)
        if kind is None:
            continue
        total = (e.direction.value, ALL, ALL)
        for grain in GRAINS:
            bucket = bucket_of(e.created_at, grain)
            if bucket >= oldest[grain]:
                traffic[(grain, bucket, kind, *parties)] += 1
                traffic[(grain, bucket, kind, *total)] += 1
        if kind == "failed" and bucket_of(e.created_at, HOUR) >= oldest[HOUR]:
            fault = fault_of(e.error)[:80]
            failures[(bucket_of(e.created_at, HOUR), fault, *parties)] += 1
            failures[(bucket_of(e.created_at, HOUR), fault, *total)] += 1
    _add(connection, _STATE, ("state", "direction", "sender_id", "recipient_id"), states)
    _add(connection, _TRAFFIC, ("grain", "bucket", "kind", "direction", "sender_id", "recipient_id"), traffic)
    _add(connection, _FAILURE, ("bucket", "fault", "direction", "sender_id", "recipient_id"), failures)
    _apply_retrying(connection, retrying, cleared)
    _apply_waits(connection, [e for e in events if e.from_state is None])


def _apply_retrying(connection: Connection, retrying: dict[uuid.UUID, _Event | None], cleared: set[uuid.UUID]) -> None:
    if cleared:  # only what is there: the table holds the messages retrying now, a few
        present = {r for (r,) in connection.execute(sa.select(_RETRYING.c.message_id)).all()}
        cleared = cleared & present
    gone = sorted(cleared)
    for start in range(0, len(gone), 500):
        connection.execute(sa.delete(_RETRYING).where(_RETRYING.c.message_id.in_(gone[start : start + 500])))
    rows = [
        {
            "message_id": e.message_id,
            "direction": e.direction.value,
            "sender_id": e.sender_id,
            "recipient_id": e.recipient_id,
            "state": e.to_state.value,
            "since": e.created_at,
            "error": e.error,
        }
        for e in retrying.values()
        if e is not None
    ]
    _upsert(connection, _RETRYING, rows, ["message_id"], [])  # a later failed try: its error and state


def expected_answers(message_type: str, receipt_requested: bool) -> list[str]:
    """The codes a message of ``message_type`` makes its process wait for (as :mod:`gateway.pipeline.processes`)."""
    codes = [NEXT_STEP.get(message_type)]
    if receipt_requested:
        codes.append(RECEIPT_FOR.get(message_type))
    return [c for c in codes if c is not None]


def _apply_waits(connection: Connection, created: list[_Event]) -> None:
    shown = [e for e in created if not (e.direction is Direction.INBOUND and e.source_id is not None)]
    if not shown:
        return
    processes = sorted({e.process_id for e in shown})
    present: set[tuple[str, str]] = set()
    for start in range(0, len(processes), 500):
        chunk = processes[start : start + 500]
        present.update(
            (p, t)
            for p, t in connection.execute(
                sa.select(_M.c.process_id, _M.c.message_type).where(_M.c.process_id.in_(chunk)).distinct()
            ).all()
        )
    closed: set[tuple[str, str]] = set()
    opened: dict[tuple[str, str], dict[str, Any]] = {}
    for e in shown:
        closed.add((e.process_id, e.message_type))
        opened.pop((e.process_id, e.message_type), None)
        for code in expected_answers(e.message_type, e.receipt_requested):
            key = (e.process_id, code)
            if key in present or key in closed or key in opened:
                continue
            opened[key] = {
                "process_id": e.process_id,
                "code": code,
                "since": e.message_created_at,
                "sender_id": e.sender_id,
                "recipient_id": e.recipient_id,
            }
    by_code: dict[str, list[str]] = defaultdict(list)
    for process_id, code in sorted(closed):
        by_code[code].append(process_id)
    for code, ids in by_code.items():
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            connection.execute(sa.delete(_WAIT).where(_WAIT.c.code == code, _WAIT.c.process_id.in_(chunk)))
    _upsert(connection, _WAIT, list(opened.values()), ["process_id", "code"], [])  # the first opener stays


# -- queue ages ----------------------------------------------------------------------------------------------


def oldest_query(
    direction: Direction, state: MessageState, where: sa.ColumnElement[bool] | None = None, *, dialect: str = ""
) -> sa.Select[Any]:
    """The oldest ``created_at`` of one (direction, state): the first entry of its range in the index.

    Ordered by the index's own columns. PostgreSQL drops constants from an ORDER BY, and with plain
    equalities it took ``ix_message_created_at`` and filtered (cheaper by its estimate when the state looks
    common; a walk through the whole history when those messages are the newest). There the pair is
    bounded as a row comparison, which only ``ix_message_state_direction_created`` answers in order."""
    pair = sa.tuple_(_M.c.state, _M.c.direction)
    value = sa.tuple_(sa.literal(state.value), sa.literal(direction.value))
    if dialect == "postgresql":
        query = sa.select(_M.c.created_at).where(pair >= value, pair <= value)
    else:
        query = sa.select(_M.c.created_at).where(_M.c.state == state.value, _M.c.direction == direction.value)
    if where is not None:
        query = query.where(where)
    return query.order_by(_M.c.state, _M.c.direction, _M.c.created_at).limit(1)


def oldest_created(
    connection: Connection,
    members: Iterable[tuple[Direction, MessageState]],
    where: sa.ColumnElement[bool] | None = None,
) -> datetime | None:
    """The oldest ``created_at`` over (direction, state) pairs: one index-backed lookup per pair.

    ``ix_message_state_direction_created`` answers each as the first entry of a range (both databases'
    plans are checked in the tests); ``where`` narrows it further (a participant's scope)."""
    oldest: datetime | None = None
    for direction, state in members:
        first = connection.execute(oldest_query(direction, state, where, dialect=connection.dialect.name)).scalar()
        if first is not None and (oldest is None or first < oldest):
            oldest = first
    return oldest


def _sample_due(engine: Engine) -> bool:
    return time.monotonic() - _memo.sampled.get(_key(engine), -1e9) >= SAMPLE_SECONDS


def _sample_if_due(engine: Engine, connection: Connection, now: datetime) -> None:
    if not _sample_due(engine):
        return
    _memo.sampled[_key(engine)] = time.monotonic()
    rows: list[dict[str, Any]] = []
    for spec in QUEUES:
        if spec.name not in WAITING_QUEUES:
            continue
        first = oldest_created(connection, spec.members)
        age = max((now - first).total_seconds(), 0.0) if first else 0.0
        rows.extend({"grain": g, "bucket": bucket_of(now, g), "queue": spec.name, "age_seconds": age} for g in GRAINS)
    statement = _insert(connection, _AGE)
    larger = sa.func.greatest if connection.dialect.name == "postgresql" else sa.func.max
    statement = statement.on_conflict_do_update(
        index_elements=["grain", "bucket", "queue"],
        set_={"age_seconds": larger(_AGE.c.age_seconds, statement.excluded.age_seconds)},
    )
    connection.execute(statement, rows)


def _prune_if_due(engine: Engine, connection: Connection, now: datetime) -> None:
    key = _key(engine)
    if time.monotonic() - _memo.pruned.get(key, -1e9) < PRUNE_SECONDS:
        return
    _memo.pruned[key] = time.monotonic()
    for grain in GRAINS:
        horizon = bucket_of(now - KEEP[grain], grain)
        connection.execute(sa.delete(_TRAFFIC).where(_TRAFFIC.c.grain == grain, _TRAFFIC.c.bucket < horizon))
        connection.execute(sa.delete(_AGE).where(_AGE.c.grain == grain, _AGE.c.bucket < horizon))
    connection.execute(sa.delete(_FAILURE).where(_FAILURE.c.bucket < bucket_of(now - KEEP[HOUR], HOUR)))


class WorkerRollups:
    """The worker loop's share: a step every :data:`WORKER_STEP_SECONDS` (errors are logged, never fatal)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._last = 0.0

    def run_due(self) -> None:
        now = time.monotonic()
        if now - self._last < WORKER_STEP_SECONDS:
            return
        self._last = now
        try:
            step(self.engine)
        except sa.exc.SQLAlchemyError as exc:
            log.warning("rollup step failed: %s", exc)

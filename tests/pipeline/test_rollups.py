"""The dashboard's rollups against straightforward counts over the message table (SQLite and PostgreSQL).

A realistic mix -- outbound and inbound messages of several parties walking their lifecycles, delivery
retries, failures and dead letters, processes of 0501/0502/0503 with and without receipts, local copies --
is written the way the pipeline writes it (one UPDATE of the state and one ``message_event`` row per change,
in one transaction), with rollup steps of odd batch sizes interleaved at random points. Afterwards every
rolled-up figure must equal what COUNT over the messages and events says, the overdue processes what
:func:`gateway.pipeline.processes.overdue` finds by loading every thread. Two concurrent steppers must apply
each event exactly once, and on PostgreSQL an event whose transaction commits after a later id must not be
skipped.
"""

from __future__ import annotations

import random
import threading
import uuid
from collections import Counter
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session, col, select

from gateway.config import Settings
from gateway.console.stats import QUEUES, collect
from gateway.pipeline import rollups
from gateway.pipeline.processes import overdue
from gateway.pipeline.visibility import visible_to_participant
from gateway.store.models import Direction, Message, MessageEvent, MessageState, RollupStateCount
from gateway.store.types import utcnow

S = MessageState
PARTIES = ["psw:16077000", "psw:16067000", "psw:16075000", "lth:16000100"]
OUT_PATH = [S.VALIDATED, S.SIGNED, S.QUEUED, S.SENT, S.ACKNOWLEDGED]
IN_PATH = [S.VERIFIED, S.VALIDATED, S.DELIVERED, S.CONFIRMED]
FAULTS = ["XtaRefused: peer answered 503", "rule XGW-XSD-001 failed", "DmsDown: hotfolder not writable"]
_M = Message.__table__  # type: ignore[attr-defined]
_E = MessageEvent.__table__  # type: ignore[attr-defined]


def _create(connection: Connection, rng: random.Random, **fields: Any) -> uuid.UUID:
    now = utcnow()
    ident = uuid.uuid4()
    connection.execute(
        sa.insert(_M).values(
            id=ident,
            xdomea_version="3.0.0",
            state=S.RECEIVED.value,
            size=100,
            sha256="0" * 64,
            payload_ref="0" * 64,
            content_hash=f"{rng.getrandbits(128):064x}",
            updated_at=now,
            next_attempt_at=now,
            **fields,
        )
    )
    connection.execute(
        sa.insert(_E).values(
            message_id=ident, from_state=None, to_state=S.RECEIVED.value, actor="t", reason="in", created_at=now
        )
    )
    return ident


def _move(connection: Connection, ident: uuid.UUID, to: MessageState, error: str | None = None) -> None:
    """One state change as the pipeline writes it: the UPDATE and its event in one transaction."""
    now = utcnow()
    before = connection.execute(sa.select(_M.c.state).where(_M.c.id == ident)).scalar_one()
    connection.execute(sa.update(_M).where(_M.c.id == ident).values(state=to.value, error=error, updated_at=now))
    connection.execute(
        sa.insert(_E).values(
            message_id=ident, from_state=before, to_state=to.value, actor="t", reason="r", error=error, created_at=now
        )
    )


def _mix(engine: Engine, seed: int, processes: int, *, step_batches: bool = True) -> None:
    rng = random.Random(seed)
    now = utcnow()
    for p in range(processes):
        process_id = str(uuid.UUID(int=rng.getrandbits(128)))
        sender, recipient = rng.sample(PARTIES, 2)
        age = timedelta(days=rng.choice([1, 10, 40, 80]))
        codes = ["0501", "0502", "0503"][: rng.randint(1, 3)]
        for n, code in enumerate(codes):
            direction = Direction.OUTBOUND if n % 2 == 0 else Direction.INBOUND
            a, b = (sender, recipient) if n % 2 == 0 else (recipient, sender)
            fields = {
                "direction": direction.value,
                "process_id": process_id,
                "message_type": code,
                "sender_id": a,
                "recipient_id": b,
                "created_at": now - age + timedelta(hours=n),
                "receipt_requested": rng.random() < 0.5,
            }
            with engine.begin() as connection:
                ident = _create(connection, rng, **fields)
            path = OUT_PATH if direction is Direction.OUTBOUND else IN_PATH
            stop = rng.randint(0, len(path))
            for state in path[:stop]:
                with engine.begin() as connection:
                    if state in (S.SENT, S.DELIVERED) and rng.random() < 0.4:
                        for _ in range(rng.randint(1, 3)):  # a delivery retry: same state, an error
                            _move(connection, ident, _state(connection, ident), rng.choice(FAULTS))
                    _move(connection, ident, state)
                if step_batches and rng.random() < 0.2:
                    rollups.step(engine, batch=rng.choice([1, 3, 7, 50]))
            roll = rng.random()
            with engine.begin() as connection:
                if roll < 0.15 and stop < len(path):
                    _move(connection, ident, S.FAILED, rng.choice(FAULTS))
                    if rng.random() < 0.5:
                        _move(connection, ident, S.DEAD_LETTERED, "given up")
                elif roll < 0.25 and stop < len(path):  # left retrying
                    _move(connection, ident, _state(connection, ident), rng.choice(FAULTS))
                elif roll < 0.3 and direction is Direction.OUTBOUND and stop <= 2:
                    _move(connection, ident, S.CANCELLED)
            if direction is Direction.OUTBOUND and p % 5 == 0:  # delivered on this gateway: an inbound copy
                with engine.begin() as connection:
                    _create(connection, rng, **{**fields, "direction": "in", "source_id": ident})


def _state(connection: Connection, ident: uuid.UUID) -> MessageState:
    return MessageState(connection.execute(sa.select(_M.c.state).where(_M.c.id == ident)).scalar_one())


def _catch_up(engine: Engine) -> None:
    for _ in range(1000):
        if rollups.step(engine, batch=97).caught_up:
            return
    raise AssertionError("the rollups never caught up")


def _expected_retrying(engine: Engine) -> set[uuid.UUID]:
    retrying: set[uuid.UUID] = set()
    with engine.connect() as connection:
        for message_id, before, after, error in connection.execute(
            sa.select(_E.c.message_id, _E.c.from_state, _E.c.to_state, _E.c.error).order_by(_E.c.id)
        ).all():
            if before != after and before is not None:
                retrying.discard(message_id)
            elif before == after and error:
                retrying.add(message_id)
    return retrying


def test_rollups_equal_counts_over_a_realistic_mix(engine: Engine) -> None:
    _mix(engine, seed=12, processes=90)
    _catch_up(engine)
    settings = Settings()
    with engine.connect() as connection:
        truth = {
            (s, d, a, b): n
            for s, d, a, b, n in connection.execute(
                sa.select(_M.c.state, _M.c.direction, _M.c.sender_id, _M.c.recipient_id, sa.func.count()).group_by(
                    _M.c.state, _M.c.direction, _M.c.sender_id, _M.c.recipient_id
                )
            ).all()
        }
        table = RollupStateCount.__table__  # type: ignore[attr-defined]
        rolled = {
            (r.state, r.direction, r.sender_id, r.recipient_id): r.count
            for r in connection.execute(sa.select(table)).all()
            if r.count
        }
        assert rolled == truth
        assert len(truth) > 20  # the mix really is mixed

        def events(*where: sa.ColumnElement[bool]) -> int:
            return int(connection.execute(sa.select(sa.func.count()).select_from(_E).where(*where)).scalar_one())

        failed = [S.FAILED.value, S.DEAD_LETTERED.value]
        expected = {
            "received": events(_E.c.from_state.is_(None)),
            "sent": events(_E.c.to_state.in_([S.SENT.value, S.DELIVERED.value]), _E.c.from_state != _E.c.to_state),
            "done": events(
                _E.c.to_state.in_([S.ACKNOWLEDGED.value, S.CONFIRMED.value]), _E.c.from_state != _E.c.to_state
            ),
            "failed": events(_E.c.to_state.in_(failed), _E.c.from_state.not_in(failed)),
            "retry": events(_E.c.from_state == _E.c.to_state, _E.c.error.is_not(None)),
        }
        assert all(expected.values()), expected
        traffic = rollups.RollupTraffic.__table__  # type: ignore[attr-defined]
        for grain in rollups.GRAINS:
            for rows in (traffic.c.sender_id != rollups.ALL, traffic.c.sender_id == rollups.ALL):
                got = dict(
                    connection.execute(
                        sa.select(traffic.c.kind, sa.func.sum(traffic.c.count))
                        .where(traffic.c.grain == grain, rows)
                        .group_by(traffic.c.kind)
                    ).all()
                )
                assert {k: int(v) for k, v in got.items()} == expected, (grain, rows)
        stats = collect(connection, settings=settings)
        assert sum(n for _, n in stats.failures) == expected["failed"]
        retrying_table = rollups.RollupRetrying.__table__  # type: ignore[attr-defined]
        retrying = {r for (r,) in connection.execute(sa.select(retrying_table.c.message_id)).all()}
        assert retrying == _expected_retrying(engine) and retrying
        assert stats.retrying == len(retrying)
        counts = Counter(truth_state for (truth_state, _d, _a, _b) in truth)
        assert stats.failed == sum(n for (s, *_), n in truth.items() if s == S.FAILED.value) and counts
        for spec in QUEUES:
            members = sa.or_(*(sa.and_(_M.c.direction == d.value, _M.c.state == s.value) for d, s in spec.members))
            want = connection.execute(sa.select(sa.func.count()).select_from(_M).where(members)).scalar_one()
            oldest = connection.execute(sa.select(sa.func.min(_M.c.created_at)).where(members)).scalar()
            assert (stats.queue(spec.name).count, stats.queue(spec.name).oldest) == (want, oldest), spec.name
    with Session(engine) as session:
        late = overdue(session, settings, now=stats.at, limit=10_000)
        assert stats.overdue == len(late) > 0
        for party in PARTIES:
            with engine.connect() as connection:
                mine = collect(connection, party, settings)
                for spec in QUEUES:
                    members = sa.or_(
                        *(sa.and_(col(Message.direction) == d, col(Message.state) == s) for d, s in spec.members)
                    )
                    visible = session.exec(
                        select(sa.func.count()).select_from(Message).where(members, visible_to_participant(party))
                    ).one()
                    assert mine.queue(spec.name).count == visible, (party, spec.name)
            assert mine.overdue == len(overdue(session, settings, now=mine.at, participant=party, limit=10_000))


def test_two_concurrent_steppers_apply_every_event_exactly_once(engine: Engine) -> None:
    _mix(engine, seed=7, processes=60, step_batches=False)
    with engine.connect() as connection:
        total = int(connection.execute(sa.select(sa.func.count()).select_from(_E)).scalar_one())
    applied: list[int] = []
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def stepper() -> None:
        try:
            start.wait()
            for _ in range(5000):
                result = rollups.step(engine, batch=13)
                applied.append(result.applied)
                if result.caught_up:
                    return
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=stepper) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not errors, errors
    _catch_up(engine)
    assert sum(applied) + 0 <= total
    with engine.connect() as connection:
        cursor = connection.execute(sa.text("SELECT last_event_id FROM rollup_cursor")).scalar_one()
        assert cursor == connection.execute(sa.select(sa.func.max(_E.c.id))).scalar_one()
        table = RollupStateCount.__table__  # type: ignore[attr-defined]
        assert (
            connection.execute(sa.select(sa.func.sum(table.c.count))).scalar_one()
            == connection.execute(sa.select(sa.func.count()).select_from(_M)).scalar_one()
        )
        per_state = dict(
            connection.execute(sa.select(table.c.state, sa.func.sum(table.c.count)).group_by(table.c.state)).all()
        )
        truth = dict(connection.execute(sa.select(_M.c.state, sa.func.count()).group_by(_M.c.state)).all())
        assert {k: int(v) for k, v in per_state.items() if v} == truth


def test_an_event_committed_late_is_not_skipped(engine: Engine) -> None:
    """PostgreSQL hands out ids before commit: id n+1 may be visible while n is not yet (SQLite: no-op)."""
    rng = random.Random(3)
    with engine.begin() as connection:
        first = _create(
            connection,
            rng,
            direction="out",
            process_id="p1",
            message_type="0501",
            sender_id="a:1",
            recipient_id="b:1",
            created_at=utcnow(),
        )
        second = _create(
            connection,
            rng,
            direction="out",
            process_id="p2",
            message_type="0501",
            sender_id="a:1",
            recipient_id="b:1",
            created_at=utcnow(),
        )
    _catch_up(engine)
    if engine.dialect.name == "postgresql":  # SQLite has one writer: the second would wait for the first
        slow = engine.connect()
        try:
            slow.begin()
            _move(slow, first, S.VALIDATED)  # takes the lower id, commits later
            with engine.begin() as connection:
                _move(connection, second, S.VALIDATED)
            rollups.step(engine)
            with engine.connect() as connection:
                assert _validated(connection) == 0  # not past the open transaction's id
            slow.commit()
        finally:
            slow.close()
    else:
        with engine.begin() as connection:
            _move(connection, first, S.VALIDATED)
            _move(connection, second, S.VALIDATED)
    _catch_up(engine)
    with engine.connect() as connection:
        assert _validated(connection) == 2
    # a rolled-back insert leaves a gap for good: the step passes it once nobody can fill it
    aborted = engine.connect()
    try:
        aborted.begin()
        _move(aborted, first, S.SIGNED)
        aborted.rollback()
    finally:
        aborted.close()
    with engine.begin() as connection:
        _move(connection, second, S.SIGNED)
    _catch_up(engine)
    with engine.connect() as connection:
        assert _validated(connection) == 1


def _validated(connection: Connection) -> int:
    table = RollupStateCount.__table__  # type: ignore[attr-defined]
    return int(
        connection.execute(
            sa.select(sa.func.coalesce(sa.func.sum(table.c.count), 0)).where(table.c.state == S.VALIDATED.value)
        ).scalar_one()
    )


def test_oldest_waiting_is_answered_by_the_index(engine: Engine) -> None:
    now = utcnow()
    rows = [
        {
            "id": uuid.uuid4(),
            "direction": "out" if i % 2 else "in",
            "process_id": f"p{i}",
            "message_type": "0501",
            "xdomea_version": "3.0.0",
            "sender_id": PARTIES[i % 4],
            "recipient_id": PARTIES[(i + 1) % 4],
            "state": [S.QUEUED, S.ACKNOWLEDGED, S.CONFIRMED, S.SENT][i // 2 % 4].value,
            "size": 1,
            "sha256": "0" * 64,
            "payload_ref": "0" * 64,
            "content_hash": f"{i:064x}",
            "created_at": now - timedelta(seconds=i),
            "updated_at": now,
            "next_attempt_at": now,
        }
        for i in range(20_000)
    ]
    with engine.begin() as connection:
        connection.execute(sa.insert(_M), rows)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.exec_driver_sql("ANALYZE")
    query = rollups.oldest_query(Direction.OUTBOUND, S.QUEUED, dialect=engine.dialect.name)
    with engine.connect() as connection:
        sql = str(query.compile(connection, compile_kwargs={"literal_binds": True}))
        prefix = "EXPLAIN QUERY PLAN " if engine.dialect.name == "sqlite" else "EXPLAIN "
        plan = " ".join(str(row[-1]) for row in connection.exec_driver_sql(prefix + sql).all())
        truth = connection.execute(
            sa.select(sa.func.min(_M.c.created_at)).where(_M.c.state == S.QUEUED.value, _M.c.direction == "out")
        ).scalar()
        assert truth is not None
        assert rollups.oldest_created(connection, [(Direction.OUTBOUND, S.QUEUED)]) == truth
    assert "ix_message_state_direction_created" in plan, plan
    assert "TEMP B-TREE" not in plan.upper() and "Sort" not in plan, plan

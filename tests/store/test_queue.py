"""Queue primitives on real databases: claiming, fencing by lease, transitions with their events, recovery."""

from __future__ import annotations

import multiprocessing
import pickle
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from gateway.pipeline.lifecycle import recover_expired_leases, transition
from gateway.pipeline.lifecycle import release as release_lease
from gateway.store.db import make_session
from gateway.store.models import Message, MessageEvent, MessageState
from gateway.store.queue import LeaseLost, StateConflict, claim_next, renew_lease
from gateway.store.types import utcnow
from tests.store import factories
from tests.store.claimers import drain

QUEUED = [MessageState.QUEUED]


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with make_session(engine) as session:
        yield session


def add(session: Session, *messages: Message) -> list[Message]:
    session.add_all(messages)
    session.commit()
    return list(messages)


def events_of(engine: Engine, message: Message) -> list[MessageEvent]:
    with make_session(engine) as other:
        return list(
            other.exec(
                select(MessageEvent).where(col(MessageEvent.message_id) == message.id).order_by(col(MessageEvent.id))
            ).all()
        )


def fresh(engine: Engine, message: Message) -> Message:
    with make_session(engine) as other:
        loaded = other.get(Message, message.id)
        assert loaded is not None
        return loaded


def test_claims_only_due_messages_in_the_given_states_oldest_first(session: Session) -> None:
    t0 = utcnow()
    later, received, first, second = add(
        session,
        factories.message(1, next_attempt_at=t0 + timedelta(minutes=5)),
        factories.message(2, state=MessageState.RECEIVED, next_attempt_at=t0 - timedelta(minutes=9)),
        factories.message(3, next_attempt_at=t0 - timedelta(minutes=2)),
        factories.message(4, next_attempt_at=t0 - timedelta(minutes=1)),
    )
    got = [claim_next(session, "w", QUEUED, 3600, now=t0) for _ in range(3)]
    assert [m.id if m else None for m in got] == [first.id, second.id, None]
    claimed = got[0]
    assert claimed is not None
    assert claimed.lease_owner == "w"
    assert claimed.lease_expires_at == t0 + timedelta(seconds=3600)
    assert claimed.attempts == 1
    assert fresh(session.get_bind(), first).lease_owner == "w"  # committed, visible to others
    assert fresh(session.get_bind(), later).lease_owner is None
    assert fresh(session.get_bind(), received).lease_owner is None
    later_claim = claim_next(session, "w", QUEUED, 60, now=t0 + timedelta(minutes=6))
    assert later_claim is not None
    assert later_claim.id == later.id


def test_expired_lease_is_taken_over_and_fences_the_old_worker(engine: Engine, session: Session) -> None:
    t0 = utcnow()
    (msg,) = add(session, factories.message(1, next_attempt_at=t0))
    with make_session(engine) as slow_session, make_session(engine) as fast_session:
        slow = claim_next(slow_session, "slow", QUEUED, 30, now=t0)
        assert slow is not None
        assert claim_next(fast_session, "fast", QUEUED, 30, now=t0 + timedelta(seconds=29)) is None
        fast = claim_next(fast_session, "fast", QUEUED, 30, now=t0 + timedelta(seconds=31))
        assert fast is not None
        assert fast.id == msg.id
        assert fast.attempts == 2

        with pytest.raises(LeaseLost):
            transition(slow_session, slow, MessageState.SENT, "slow", "too late", worker_id="slow")
        with pytest.raises(LeaseLost):
            renew_lease(slow_session, slow, "slow", 30)
        with pytest.raises(LeaseLost):
            release_lease(slow_session, slow, "slow", "giving up")

        transition(fast_session, fast, MessageState.SENT, "fast", "handed over", worker_id="fast")
    final = fresh(engine, msg)
    assert final.state is MessageState.SENT
    assert final.lease_owner is None
    assert [(e.actor, e.to_state) for e in events_of(engine, msg)] == [("fast", MessageState.SENT)]


def test_transition_writes_state_and_event_together(engine: Engine, session: Session) -> None:
    (msg,) = add(session, factories.message(1, state=MessageState.RECEIVED))
    msg.error = None
    event = transition(session, msg, MessageState.VALIDATED, "api", "schema valid")
    assert msg.state is MessageState.VALIDATED
    failed = transition(session, msg, MessageState.FAILED, "worker-1", "signing failed", "key expired")
    assert failed.id is not None
    assert event.id is not None
    assert failed.id > event.id
    stored = fresh(engine, msg)
    assert stored.state is MessageState.FAILED
    assert stored.error == "key expired"
    history = events_of(engine, msg)
    assert [(e.from_state, e.to_state, e.actor, e.reason, e.error) for e in history] == [
        (MessageState.RECEIVED, MessageState.VALIDATED, "api", "schema valid", None),
        (MessageState.VALIDATED, MessageState.FAILED, "worker-1", "signing failed", "key expired"),
    ]


def test_transition_loses_against_a_concurrent_change(engine: Engine, session: Session) -> None:
    (msg,) = add(session, factories.message(1, state=MessageState.QUEUED))
    with make_session(engine) as other:
        twin = other.get(Message, msg.id)
        assert twin is not None
        transition(other, twin, MessageState.CANCELLED, "admin", "cancelled by operator")
    with pytest.raises(StateConflict):
        transition(session, msg, MessageState.SENT, "worker", "sent")
    assert fresh(engine, msg).state is MessageState.CANCELLED
    assert [e.to_state for e in events_of(engine, msg)] == [MessageState.CANCELLED]


def test_uncommitted_transition_rolls_back_as_a_whole(engine: Engine, session: Session) -> None:
    (msg,) = add(session, factories.message(1))
    transition(session, msg, MessageState.SENT, "worker", "sent", commit=False)
    session.rollback()
    assert fresh(engine, msg).state is MessageState.QUEUED
    assert events_of(engine, msg) == []


def test_renew_and_release_with_back_off(engine: Engine, session: Session) -> None:
    t0 = utcnow()
    (msg,) = add(session, factories.message(1, next_attempt_at=t0))
    claimed = claim_next(session, "w1", QUEUED, 30, now=t0)
    assert claimed is not None
    assert renew_lease(session, claimed, "w1", 30, now=t0 + timedelta(seconds=20)) == t0 + timedelta(seconds=50)
    with make_session(engine) as other:
        assert claim_next(other, "w2", QUEUED, 30, now=t0 + timedelta(seconds=40)) is None  # renewed

        retry_at = t0 + timedelta(minutes=10)
        release_lease(session, claimed, "w1", "peer unreachable", error="connect timeout", retry_at=retry_at)
        assert claim_next(other, "w2", QUEUED, 30, now=retry_at - timedelta(seconds=1)) is None
        again = claim_next(other, "w2", QUEUED, 30, now=retry_at)
        assert again is not None
        assert again.attempts == 2
        assert again.error == "connect timeout"
    [event] = events_of(engine, msg)
    assert (event.from_state, event.to_state, event.actor, event.error) == (
        MessageState.QUEUED,
        MessageState.QUEUED,
        "w1",
        "connect timeout",
    )


def test_recovery_frees_only_expired_leases_and_records_them(engine: Engine, session: Session) -> None:
    t0 = utcnow()
    short, long_, free = add(
        session,
        factories.message(1, next_attempt_at=t0 - timedelta(seconds=3)),
        factories.message(2, next_attempt_at=t0 - timedelta(seconds=2)),
        factories.message(3, next_attempt_at=t0 + timedelta(hours=1)),
    )
    assert claim_next(session, "crashed", QUEUED, 10, now=t0) is not None
    assert claim_next(session, "alive", QUEUED, 600, now=t0) is not None

    assert recover_expired_leases(session, now=t0 + timedelta(seconds=5)) == []
    assert recover_expired_leases(session, now=t0 + timedelta(seconds=11)) == [short.id]
    assert recover_expired_leases(session, now=t0 + timedelta(seconds=12)) == []

    assert fresh(engine, short).lease_owner is None
    assert fresh(engine, long_).lease_owner == "alive"
    assert fresh(engine, free).lease_owner is None
    [event] = events_of(engine, short)
    assert event.actor == "lease-recovery"
    assert "crashed" in event.reason
    assert event.to_state is MessageState.QUEUED


@pytest.mark.parametrize(
    "error",
    [LeaseLost(uuid.uuid4(), "w-1"), StateConflict(uuid.uuid4(), MessageState.QUEUED)],
    ids=["lease-lost", "state-conflict"],
)
def test_errors_survive_the_trip_between_processes(error: Exception) -> None:
    copy = pickle.loads(pickle.dumps(error))
    assert (type(copy), str(copy), vars(copy)) == (type(error), str(error), vars(error))


def test_claim_arguments_are_checked(session: Session) -> None:
    with pytest.raises(ValueError, match="lease_seconds"):
        claim_next(session, "w", QUEUED, 0)
    with pytest.raises(ValueError, match="states"):
        claim_next(session, "w", [], 10)


MESSAGES = 300


def fill_queue(engine: Engine) -> set[str]:
    with make_session(engine) as session:
        messages = [factories.message(i) for i in range(MESSAGES)]
        session.add_all(messages)
        session.commit()
        return {str(m.id) for m in messages}


def assert_each_claimed_once(engine: Engine, expected: set[str], claims: list[list[str]]) -> None:
    counts = Counter(i for worker in claims for i in worker)
    assert set(counts) == expected
    assert [i for i, n in counts.items() if n != 1] == []
    assert sum(1 for worker in claims if worker) >= 2, "the test needs at least two workers taking part"
    with engine.connect() as connection:
        rows = connection.execute(
            sa.text("SELECT state, attempts, lease_owner FROM message GROUP BY state, attempts, lease_owner")
        ).all()
        assert [tuple(r) for r in rows] == [("sent", 1, None)]
        per_message = connection.execute(
            sa.text("SELECT count(*) FROM message_event GROUP BY message_id HAVING count(*) <> 1")
        ).all()
        assert per_message == []
        assert connection.execute(sa.text("SELECT count(*) FROM message_event")).scalar() == MESSAGES


def test_threads_claim_every_message_exactly_once(engine: Engine, database_url: str) -> None:
    expected = fill_queue(engine)
    workers = 6
    claims: list[list[str]] = [[] for _ in range(workers)]
    start = threading.Barrier(workers)
    errors: list[BaseException] = []

    def run(n: int) -> None:
        start.wait()
        try:
            claims[n] = drain(database_url, f"thread-{n}")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert_each_claimed_once(engine, expected, claims)


def test_processes_claim_every_message_exactly_once(engine: Engine, database_url: str) -> None:
    expected = fill_queue(engine)
    workers = 4
    context = multiprocessing.get_context("spawn")  # no engine or lock state inherited through fork
    with context.Pool(workers) as pool:
        pending = pool.starmap_async(drain, [(database_url, f"process-{n}") for n in range(workers)])
        claims = pending.get(timeout=300)  # a hung pool fails the test instead of the whole run
    assert_each_claimed_once(engine, expected, claims)


def test_claims_use_the_callers_clock(session: Session) -> None:
    (msg,) = add(session, factories.message(1, next_attempt_at=datetime(2030, 1, 1, tzinfo=utcnow().tzinfo)))
    assert claim_next(session, "w", QUEUED, 10) is None
    assert claim_next(session, "w", QUEUED, 10, now=datetime(2030, 1, 1, tzinfo=utcnow().tzinfo)) is not None
    assert msg.id is not None

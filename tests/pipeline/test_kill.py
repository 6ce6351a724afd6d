"""Workers killed with SIGKILL at random points while hundreds of messages flow: the end state is exact.

Three ``xgw worker`` processes share one database (SQLite file or PostgreSQL) and payload store. The
test kills a random worker every fraction of a second and starts a new one, for a while, then lets the
rest finish. Every offer must end as exactly one acknowledged 0501, one confirmed mailbox copy, one sent
0504 receipt and one delivered receipt copy; each message's history must be one unbroken chain of
transitions (no step done twice), and no lease may be left.
"""

from __future__ import annotations

import itertools
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter, defaultdict
from pathlib import Path

from sqlmodel import col, select

from gateway.config import Settings
from gateway.pipeline.context import PipelineContext
from gateway.store.models import DeliveryAttempt, DeliveryOutcome, Direction, Message, MessageEvent, MessageState
from tests.pipeline import factories

S = MessageState
OFFERS = int(os.environ.get("XGW_KILL_TEST_MESSAGES", "200"))
WORKERS = 3
KILLS = 12
LEASE_SECONDS = 3
TIMEOUT_SECONDS = 600

FINAL = {
    (Direction.OUTBOUND, "0501"): S.ACKNOWLEDGED,
    (Direction.INBOUND, "0501"): S.CONFIRMED,
    (Direction.OUTBOUND, "0504"): S.SENT,
    (Direction.INBOUND, "0504"): S.DELIVERED,
}


def worker_env(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("XGW_")}
    env.update(
        XGW_DATA_DIR=str(settings.data_dir),
        XGW_DATABASE_URL=str(settings.database_url),
        XGW_SCHEMA_DIR=str(settings.schema_dir),
        XGW_SCHEMA_CACHE_DIR=str(settings.schema_cache_dir or ""),
        XGW_PIPELINE__LEASE_SECONDS=str(LEASE_SECONDS),
        XGW_PIPELINE__POLL_SECONDS="0.2",
        XGW_PIPELINE__MAX_ATTEMPTS="1000",  # kills count as tries; nothing may be dead-lettered here
        XGW_PIPELINE__RETRY_BASE_SECONDS="0",
    )
    return env


def start_worker(n: int, env: dict[str, str], cwd: Path, logs: Path) -> subprocess.Popen[bytes]:
    log = (logs / f"worker-{n}.log").open("wb")
    return subprocess.Popen(
        [sys.executable, "-c", "from gateway.cli.main import main; main()", "worker", "--id", f"kill-{n}"],
        env=env,
        cwd=cwd,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def in_loop(logs: Path, worker: subprocess.Popen[bytes]) -> bool:
    name = str(worker.args[-1])
    return b'"worker started"' in (logs / f"worker-{name.removeprefix('kill-')}.log").read_bytes()


def finished(ctx: PipelineContext) -> bool:
    with ctx.session() as session:
        rows = session.exec(select(Message.direction, Message.message_type, Message.state)).all()
    return len(rows) == 4 * OFFERS and all(FINAL[(d, t)] is s for d, t, s in rows)


def submit_offers(ctx: PipelineContext) -> None:
    name, data = factories.offer(seed=42)
    process_id = name.split("_", 1)[0]
    for _ in range(OFFERS):
        new_id = str(uuid.uuid4())
        result = factories.submit_bytes(
            ctx, data.replace(process_id.encode(), new_id.encode()), filename=name.replace(process_id, new_id)
        )
        assert result.created


def test_killed_workers_lose_and_duplicate_nothing(ctx: PipelineContext, tmp_path: Path) -> None:
    submit_offers(ctx)
    env = worker_env(ctx.settings)
    logs = tmp_path / "logs"
    logs.mkdir()
    rng = random.Random(20261125)
    started = 0
    workers = []
    for _ in range(WORKERS):
        workers.append(start_worker(started, env, tmp_path, logs))
        started += 1
    kills = 0
    deadline = time.monotonic() + TIMEOUT_SECONDS
    try:
        while kills < KILLS and not finished(ctx):
            time.sleep(rng.uniform(0.2, 1.2))
            working = [i for i, w in enumerate(workers) if in_loop(logs, w)]
            if not working:  # kill workers at work, not while they import and connect
                continue
            victim = rng.choice(working)
            workers[victim].send_signal(signal.SIGKILL)
            workers[victim].wait()
            kills += 1
            workers[victim] = start_worker(started, env, tmp_path, logs)
            started += 1
        while not finished(ctx):
            assert time.monotonic() < deadline, "the workers did not finish in time"
            assert all(w.poll() is None for w in workers), "a worker exited by itself"
            time.sleep(0.5)
    finally:
        for w in workers:
            if w.poll() is None:
                w.send_signal(signal.SIGTERM)
        codes = [w.wait(timeout=60) for w in workers]
    assert codes == [0] * WORKERS, "workers must stop cleanly on SIGTERM"
    assert kills == KILLS, "the messages finished before the kill schedule ran"
    check_end_state(ctx)


def check_end_state(ctx: PipelineContext) -> None:
    with ctx.session() as session:
        messages = session.exec(select(Message)).all()
        events = session.exec(select(MessageEvent).order_by(col(MessageEvent.id))).all()
        attempts = session.exec(select(DeliveryAttempt)).all()
    assert len(messages) == 4 * OFFERS
    per_process: dict[str, Counter[tuple[Direction, str, MessageState]]] = defaultdict(Counter)
    for m in messages:
        per_process[m.process_id][(m.direction, m.message_type, m.state)] += 1
        assert m.lease_owner is None and m.lease_expires_at is None, m.id
        assert ctx.payloads.exists(m.payload_ref)
    expected = Counter({(d, t, s): 1 for (d, t), s in FINAL.items()})
    assert any(m.attempts > 1 for m in messages), "no kill interrupted a message: the test proved nothing"
    assert len(per_process) == OFFERS
    assert all(counts == expected for counts in per_process.values())

    chains: dict[object, list[MessageEvent]] = defaultdict(list)
    for e in events:
        if e.from_state != e.to_state:  # lease releases and recoveries keep the state
            chains[e.message_id].append(e)
    for m in messages:
        chain = chains[m.id]
        assert chain[0].from_state is None, m.id
        for before, after in itertools.pairwise(chain):
            assert after.from_state == before.to_state, f"{m.id}: {before.to_state} then {after.from_state}"
        states = [e.to_state for e in chain]
        assert len(states) == len(set(states)), f"{m.id} repeated a transition: {states}"
        assert states[-1] == m.state

    succeeded = Counter(a.message_id for a in attempts if a.outcome is DeliveryOutcome.SUCCEEDED)
    outbound = [m.id for m in messages if m.direction is Direction.OUTBOUND]
    assert all(succeeded[i] == 1 for i in outbound)
    assert sum(succeeded.values()) == len(outbound)

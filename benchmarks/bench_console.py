"""Console benchmark for issue 6: the dashboard's figures and a filtered search with 100,000 messages, each as a
ratio to a bare ``SELECT COUNT(*) FROM message`` timed in the same run on the same database.

Rows are bulk-inserted (states, directions, senders, ages and Betreff texts spread like a busy gateway,
with one event per message), then each query runs ``--repeat`` times and the median counts. Measured:
``dashboard`` (:func:`gateway.console.stats.collect`, everything the panel shows), ``search`` (first page of
state=failed + participant + free text) and ``search_deep`` (a page 40 pages in, by keyset). SQLite
always; PostgreSQL too when ``XGW_TEST_POSTGRES_URL`` is set.

Run: ``.venv/bin/python benchmarks/bench_console.py [--messages 100000] [--json results.json]``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gateway.console.search import Filters, search
from gateway.console.stats import collect
from gateway.store.db import create_engine, normalise_url
from gateway.store.migrate import upgrade_database
from gateway.store.models import Message, MessageEvent, MessageState
from gateway.store.types import utcnow

STATES = list(MessageState)
SENDERS = [f"psw:1607{n:04d}" for n in range(5)]
WORDS = ["Schülerbeförderung", "Bauantrag", "Gewerbeanmeldung", "Ortsbegehung", "Förderfähigkeit", "Widerspruch"]


def seed(engine: sa.Engine, count: int) -> None:
    now = utcnow()
    batch = 5000
    for start in range(0, count, batch):
        rows: list[dict[str, Any]] = []
        events: list[dict[str, Any]] = []
        for i in range(start, min(start + batch, count)):
            ident = uuid.uuid4()
            state = STATES[i % len(STATES)]
            created = now - timedelta(seconds=i * 3)
            rows.append(
                {
                    "id": ident,
                    "direction": "out" if i % 3 else "in",
                    "process_id": str(uuid.uuid4()),
                    "message_type": "0501" if i % 2 else "0503",
                    "xdomea_version": "3.0.0",
                    "sender_id": SENDERS[i % len(SENDERS)],
                    "recipient_id": "psw:16000001",
                    "state": state.value,
                    "size": 4096,
                    "sha256": f"{i:064x}",
                    "payload_ref": f"{i:064x}",
                    "content_hash": f"{i:064x}",
                    "error": f"XtaRefused: peer {i % 7} answered 503" if state is MessageState.FAILED else None,
                    "created_at": created,
                    "updated_at": created,
                    "attempts": 0,
                    "next_attempt_at": created,
                    "channel": "rest",
                    "content_kind": "xml",
                    "receipt_requested": False,
                    "search_text": f"az 402.11-{i}/7 | {WORDS[i % len(WORDS)].casefold()} {i}",
                }
            )
            events.append(
                {
                    "message_id": ident,
                    "from_state": None,
                    "to_state": state.value,
                    "actor": "bench",
                    "reason": "seeded",
                    "created_at": created,
                }
            )
        with engine.begin() as connection:
            connection.execute(sa.insert(Message.__table__), rows)  # type: ignore[attr-defined]
            connection.execute(sa.insert(MessageEvent.__table__), events)  # type: ignore[attr-defined]
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("ANALYZE")
    else:
        with engine.begin() as connection:
            connection.exec_driver_sql("ANALYZE")


def median_seconds(work: Any, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def measure(engine: sa.Engine, repeat: int) -> dict[str, Any]:
    def bare_count() -> None:
        with engine.connect() as connection:
            connection.execute(sa.text("SELECT COUNT(*) FROM message")).scalar_one()

    def dashboard() -> None:
        with engine.connect() as connection:
            collect(connection)

    filters = Filters(state=MessageState.FAILED, participant=SENDERS[1], text="bauantrag")

    def first_page() -> None:
        with Session(engine) as session:
            search(session, filters, sa.true(), None)

    with Session(engine) as session:
        cursor = None
        for _ in range(40):
            _, cursor = search(session, Filters(), sa.true(), cursor)

    def deep_page() -> None:
        with Session(engine) as session:
            search(session, Filters(), sa.true(), cursor)

    base = median_seconds(bare_count, repeat)
    out: dict[str, Any] = {"count_seconds": round(base, 5)}
    for name, work in (("dashboard", dashboard), ("search", first_page), ("search_deep", deep_page)):
        seconds = median_seconds(work, repeat)
        out[name] = {"seconds": round(seconds, 5), "ratio_to_count": round(seconds / base, 2)}
    return out


def run(url: str, messages: int, repeat: int) -> dict[str, Any]:
    engine = create_engine(url)
    try:
        upgrade_database(engine)
        started = time.perf_counter()
        seed(engine, messages)
        result = measure(engine, repeat)
        result["seed_seconds"] = round(time.perf_counter() - started, 1)
        return result
    finally:
        engine.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="2,000 messages, 3 repeats (smoke test)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    messages, repeat = (2000, 3) if args.quick else (args.messages, args.repeat)
    results: dict[str, Any] = {"messages": messages}
    with tempfile.TemporaryDirectory() as scratch:
        results["sqlite"] = run(f"sqlite:///{scratch}/bench.db", messages, repeat)
    server = os.environ.get("XGW_TEST_POSTGRES_URL")
    if server:
        name = f"xgw_bench_{uuid.uuid4().hex[:12]}"
        admin = sa.create_engine(normalise_url(server), isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
        try:
            url = normalise_url(server).set(database=name).render_as_string(hide_password=False)
            results["postgresql"] = run(url, messages, repeat)
        finally:
            with admin.connect() as connection:
                connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.dispose()
    text = json.dumps(results, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

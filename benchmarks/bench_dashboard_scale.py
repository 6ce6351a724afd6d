"""Dashboard scale benchmark for issue 12: the dashboard, its charts and a filtered search with 1,000,000
messages against 10,000, on SQLite and PostgreSQL; the figure is the ratio of the two (target: within 2x).

Rows are bulk-inserted straight into ``message`` and ``message_event`` like bench_console.py: one message
every 3 seconds back from now (so both sizes have the same last hour and the large one a month of history),
six parties, states spread like a busy gateway, processes of 0501 -> 0502 -> 0503 -> 0506 (a few abandoned),
a first event per message and a second one to its state (with the error for failures), delivery retries.
The rollups (:mod:`gateway.pipeline.rollups`) then catch up from those events, timed as events per second.
Measured, median of ``--repeat`` runs, each on a fresh connection:

* ``dashboard`` -- what one refresh of the panel costs: the rollup refresh (nothing new), every figure
  (:func:`gateway.console.stats.collect`), peer and adapter figures, the panel template rendered;
* ``charts`` -- the chart data of the last hour, day and week (:func:`gateway.console.stats.series`);
* ``search`` -- the first page of state=failed + participant + free text (:func:`gateway.console.search.search`).

Each is reported in seconds and as ``ratio_large_to_small``. Run:
``.venv/bin/python benchmarks/bench_dashboard_scale.py [--small 10000] [--large 1000000] [--json results.json]``
(PostgreSQL when ``XGW_TEST_POSTGRES_URL`` is set; ``--quick`` runs 500 against 5,000 for the smoke test).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gateway.config import Settings
from gateway.console.i18n import translate
from gateway.console.routes_dashboard import age, number
from gateway.console.search import Filters, search
from gateway.console.stats import collect, party_figures, series
from gateway.console.web import make_environment
from gateway.pipeline import rollups
from gateway.store.db import create_engine, normalise_url
from gateway.store.migrate import upgrade_database
from gateway.store.models import Direction, Message, MessageEvent, MessageState
from gateway.store.types import utcnow

S = MessageState
PARTIES = ["psw:16077000", "psw:16067000", "psw:16075000", "psw:16071000", "psw:16055000", "lth:16000100"]
WORDS = ["Schülerbeförderung", "Bauantrag", "Gewerbeanmeldung", "Ortsbegehung", "Förderfähigkeit", "Widerspruch"]
CODES = ["0501", "0502", "0503", "0506"]
#: final state -> weight (most messages are done; some wait, fail or retry)
OUT_STATES = {S.ACKNOWLEDGED: 70, S.SENT: 8, S.QUEUED: 4, S.FAILED: 6, S.DEAD_LETTERED: 2, S.CANCELLED: 1}
IN_STATES = {S.CONFIRMED: 70, S.DELIVERED: 8, S.VALIDATED: 4, S.FAILED: 5, S.DEAD_LETTERED: 2}
LIVE = {S.QUEUED, S.VALIDATED, S.SENT, S.DELIVERED}
"""States a message leaves within the hour on a healthy gateway; older ones are settled (a few stay)."""
FAULTS = ["XtaRefused: peer answered 503", "XGW-XSD-001 schema violation", "DmsUnavailable: hotfolder not writable"]


def seed(engine: sa.Engine, count: int, rng: random.Random) -> int:
    """``count`` messages with their events; returns the number of events."""
    now = utcnow()
    batch = 5000
    out_states, out_weights = list(OUT_STATES), list(OUT_STATES.values())
    in_states, in_weights = list(IN_STATES), list(IN_STATES.values())
    events_total = 0
    process = str(uuid.uuid4())
    for start in range(0, count, batch):
        rows: list[dict[str, Any]] = []
        events: list[dict[str, Any]] = []
        for i in range(start, min(start + batch, count)):
            ident = uuid.uuid4()
            step = i % 4
            if step == 0 or rng.random() < 0.002:  # a new process (a few are abandoned after their first step)
                process, step = str(uuid.uuid4()), 0
            outbound = rng.random() < 0.6
            states, weights = (out_states, out_weights) if outbound else (in_states, in_weights)
            state = rng.choices(states, weights)[0]
            if i * 3 > 3600 and state in LIVE and rng.random() > 0.01:  # older messages have settled
                state = S.ACKNOWLEDGED if outbound else S.CONFIRMED
            sender, recipient = rng.sample(PARTIES, 2)
            created = now - timedelta(seconds=i * 3 + rng.random())
            error = rng.choice(FAULTS) if state in (S.FAILED, S.DEAD_LETTERED) else None
            rows.append(
                {
                    "id": ident,
                    "direction": "out" if outbound else "in",
                    "process_id": process,
                    "message_type": CODES[step],
                    "xdomea_version": "3.0.0",
                    "sender_id": sender,
                    "recipient_id": recipient,
                    "state": state.value,
                    "size": 4096,
                    "sha256": f"{i:064x}",
                    "payload_ref": f"{i:064x}",
                    "content_hash": f"{i:064x}",
                    "error": error,
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
            first = S.RECEIVED
            base = {"message_id": ident, "actor": "bench", "reason": "seeded"}
            events.append({**base, "from_state": None, "to_state": first.value, "error": None, "created_at": created})
            later = created + timedelta(seconds=1)
            if state in (S.QUEUED, S.VALIDATED) and rng.random() < 0.3:  # waits for its next try
                events.append(
                    {**base, "from_state": first.value, "to_state": state.value, "error": None, "created_at": later}
                )
                first = state
                events.append(
                    {
                        **base,
                        "from_state": state.value,
                        "to_state": state.value,
                        "error": rng.choice(FAULTS),
                        "created_at": later,
                    }
                )
            elif state in (S.ACKNOWLEDGED, S.CONFIRMED) and i * 3 > 7200:  # settled long ago: one event, as
                events[-1]["to_state"] = state.value  # the rollups' catch-up would take minutes otherwise
            elif state is not first:
                events.append(
                    {**base, "from_state": first.value, "to_state": state.value, "error": error, "created_at": later}
                )
        with engine.begin() as connection:
            connection.execute(sa.insert(Message.__table__), rows)  # type: ignore[attr-defined]
            connection.execute(sa.insert(MessageEvent.__table__), events)  # type: ignore[attr-defined]
        events_total += len(events)
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("VACUUM ANALYZE")
    else:
        with engine.begin() as connection:
            connection.exec_driver_sql("ANALYZE")
    return events_total


def median_seconds(work: Any, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def measure(engine: sa.Engine, repeat: int) -> dict[str, float]:
    settings = Settings()
    template = make_environment().get_template("_panel.html")
    user = SimpleNamespace(is_gateway_admin=True)

    def dashboard() -> None:
        rollups.refresh(engine)
        with engine.connect() as connection:
            stats = collect(connection, None, settings)
            peers = party_figures(connection, Direction.OUTBOUND, stats.at)
            adapters = party_figures(connection, Direction.INBOUND, stats.at)
        template.render(
            t=lambda key: translate("de", key),
            num=lambda v: number(v, "de"),
            ago=lambda s: age(s, "de"),
            stats=stats,
            user=user,
            prefix="/console",
            peers=[],
            adapters=[],
            extra=(peers, adapters),
        )

    def charts() -> None:
        rollups.refresh(engine)
        with engine.connect() as connection:
            for span in ("hour", "day", "week"):
                series(connection, span)

    filters = Filters(state=S.FAILED, participant=PARTIES[1], text="bauantrag")

    def first_page() -> None:
        with Session(engine) as session:
            search(session, filters, sa.true(), None)

    dashboard()  # warm: caches, statements
    out = {}
    for name, work in (("dashboard", dashboard), ("charts", charts), ("search", first_page)):
        out[name] = round(median_seconds(work, repeat), 5)
    return out


def run_one(url: str, messages: int, repeat: int) -> dict[str, Any]:
    engine = create_engine(url)
    try:
        upgrade_database(engine)
        started = time.perf_counter()
        events = seed(engine, messages, random.Random(12))
        seeded = time.perf_counter() - started
        started = time.perf_counter()
        while not rollups.step(engine, batch=20_000).caught_up:
            pass
        rolled = time.perf_counter() - started
        result: dict[str, Any] = {
            "messages": messages,
            "events": events,
            "seed_seconds": round(seeded, 1),
            "rollup_catch_up_seconds": round(rolled, 1),
            "rollup_events_per_second": round(events / rolled) if rolled else None,
        }
        result.update(measure(engine, repeat))
        return result
    finally:
        engine.dispose()


def compare(small: dict[str, Any], large: dict[str, Any]) -> dict[str, Any]:
    return {
        "small": small,
        "large": large,
        "ratio_large_to_small": {
            name: round(large[name] / small[name], 2) for name in ("dashboard", "charts", "search") if small[name]
        },
    }


def postgres_database(server: str) -> tuple[str, Any]:
    name = f"xgw_bench_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(normalise_url(server), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()

    return normalise_url(server).set(database=name).render_as_string(hide_password=False), drop


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--large", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--quick", action="store_true", help="500 against 5,000 messages, 3 repeats (smoke test)")
    parser.add_argument("--only", choices=["sqlite", "postgresql"])
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    small, large, repeat = (500, 5000, 3) if args.quick else (args.small, args.large, args.repeat)
    results: dict[str, Any] = {"small": small, "large": large}
    if args.only in (None, "sqlite"):
        runs = []
        for size in (small, large):
            with tempfile.TemporaryDirectory() as scratch:
                runs.append(run_one(f"sqlite:///{scratch}/bench.db", size, repeat))
        results["sqlite"] = compare(*runs)
        print(json.dumps(results["sqlite"]["ratio_large_to_small"]), file=sys.stderr)
    server = os.environ.get("XGW_TEST_POSTGRES_URL")
    if server and args.only in (None, "postgresql"):
        runs = []
        for size in (small, large):
            url, drop = postgres_database(server)
            try:
                runs.append(run_one(url, size, repeat))
            finally:
                drop()
        results["postgresql"] = compare(*runs)
    text = json.dumps(results, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

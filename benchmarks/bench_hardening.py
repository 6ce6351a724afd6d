"""What the data-level hardening of issue 10 costs, each as a ratio to a baseline timed in the same run.

- ``visibility``: the first page of ``GET /api/v1/messages`` (the API's query, 51 rows by created_at) for
  the recipient and for a sender, with the new rule (:func:`gateway.pipeline.visibility.visible_to_participant`)
  against the old one (``sender = p OR recipient = p``), on ``--messages`` bulk-inserted rows. SQLite
  always; PostgreSQL too when ``XGW_TEST_POSTGRES_URL`` is set.
- ``stage``: staging and committing a 1 KiB upload (:meth:`PayloadStore.stage`, with its lock file and
  folder rename) against the same steps without the lock (mkdtemp, write, fsync, rename into place).
- ``cleanup``: one stale-stage sweep over ``--stages`` live stages (each probed with a non-blocking flock)
  against listing the same directory.
- ``spool``: writing 64 MiB in 64 KiB chunks to an XTA spool file bounded per item against a plain
  buffered file.

Run: ``.venv/bin/python benchmarks/bench_hardening.py [--json results.json] [--quick]``.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from gateway.pipeline.visibility import visible_to_participant
from gateway.store.db import create_engine, normalise_url
from gateway.store.migrate import upgrade_database
from gateway.store.models import Message, MessageState
from gateway.store.payloads import PayloadStore
from gateway.store.types import utcnow
from gateway.transport.xta.spool import Spool

SENDERS = [f"psw:1607{n:04d}" for n in range(5)]
ARCHIVE = "psw:16000001"
STATES = list(MessageState)


def median_seconds(work: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def seed(engine: sa.Engine, count: int) -> None:
    now = utcnow()
    for start in range(0, count, 5000):
        rows = []
        for i in range(start, min(start + 5000, count)):
            created = now - timedelta(seconds=i * 3)
            rows.append(
                {
                    "id": uuid.uuid4(),
                    "direction": "out" if i % 3 else "in",
                    "process_id": str(uuid.uuid4()),
                    "message_type": "0501",
                    "xdomea_version": "3.0.0",
                    "sender_id": SENDERS[i % len(SENDERS)],
                    "recipient_id": ARCHIVE,
                    "state": STATES[i % len(STATES)].value,
                    "size": 4096,
                    "sha256": f"{i:064x}",
                    "payload_ref": f"{i:064x}",
                    "content_hash": f"{i:064x}",
                    "created_at": created,
                    "updated_at": created,
                    "attempts": 0,
                    "next_attempt_at": created,
                    "channel": "rest",
                    "content_kind": "xml",
                    "receipt_requested": False,
                }
            )
        with engine.begin() as connection:
            connection.execute(sa.insert(Message.__table__), rows)  # type: ignore[attr-defined]
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.exec_driver_sql("ANALYZE")


def old_rule(participant: str) -> sa.ColumnElement[bool]:
    return sa.or_(col(Message.sender_id) == participant, col(Message.recipient_id) == participant)


def visibility(url: str, messages: int, repeat: int) -> dict[str, Any]:
    engine = create_engine(url)
    try:
        upgrade_database(engine)
        seed(engine, messages)
        out: dict[str, Any] = {}
        for who, participant in (("recipient", ARCHIVE), ("sender", SENDERS[1])):
            for name, rule in (("old", old_rule), ("new", visible_to_participant)):
                query = (
                    select(Message)
                    .where(rule(participant))
                    .order_by(col(Message.created_at).desc(), col(Message.id).desc())
                    .limit(51)
                )

                def page(query: Any = query) -> None:
                    with Session(engine) as session:
                        session.exec(query).all()

                out[f"{who}_{name}_ms"] = round(median_seconds(page, repeat) * 1000, 3)
            out[f"{who}_ratio"] = round(out[f"{who}_new_ms"] / out[f"{who}_old_ms"], 2)
        return out
    finally:
        engine.dispose()


def stage(folder: Path, count: int) -> dict[str, Any]:
    store = PayloadStore(folder / "payloads")
    data = os.urandom(1024)

    def with_lock() -> None:
        for i in range(count):
            with store.stage([data, i.to_bytes(8, "big")], max_bytes=4096, name="m.xml") as staged:
                staged.commit()

    plain_root = folder / "plain"
    (plain_root / "tmp").mkdir(parents=True)

    def without_lock() -> None:  # the steps of the stage before issue 10, item 7
        for i in range(count):
            tmp = Path(tempfile.mkdtemp(prefix="stage-", dir=plain_root / "tmp"))
            path = tmp / "m.xml"
            digest = hashlib.sha256()
            with path.open("xb") as out:
                for chunk in (data, i.to_bytes(8, "big")):
                    digest.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            sha = digest.hexdigest()
            final = plain_root / sha[:2] / sha[2:4] / sha
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(path, final)
            tmp.rmdir()

    base = median_seconds(without_lock, 3) / count
    new = median_seconds(with_lock, 3) / count
    return {"baseline_us": round(base * 1e6, 1), "locked_us": round(new * 1e6, 1), "ratio": round(new / base, 2)}


def cleanup(folder: Path, stages: int) -> dict[str, Any]:
    store = PayloadStore(folder / "cleanup")
    with contextlib.ExitStack() as stack:
        for _ in range(stages):
            stack.enter_context(store.stage([b"live"], max_bytes=10))
        tmp = store.root / "tmp"
        base = median_seconds(lambda: [e.stat() for e in tmp.iterdir()], 5)
        sweep = median_seconds(lambda: store.remove_stale_temp_files(0, now=time.time() + 86400), 5)
        assert store.remove_stale_temp_files(0) == 0
    return {
        "stages": stages,
        "listing_ms": round(base * 1000, 3),
        "sweep_ms": round(sweep * 1000, 3),
        "ratio": round(sweep / base, 2),
    }


def spool(folder: Path, mib: int) -> dict[str, Any]:
    chunk = os.urandom(64 * 1024)
    count = mib * 16

    def plain() -> None:
        path = folder / "plain.part"
        with path.open("xb") as out:
            for _ in range(count):
                out.write(chunk)
        path.unlink()

    def bounded() -> None:
        with Spool(folder / "spool", max_bytes=2 * mib * 1024 * 1024, max_file_bytes=mib * 1024 * 1024) as s:
            _, out = s.new_file()
            with out:
                for _ in range(count):
                    out.write(chunk)

    base = median_seconds(plain, 5)
    new = median_seconds(bounded, 5)
    return {
        "mib": mib,
        "plain_ms": round(base * 1000, 1),
        "bounded_ms": round(new * 1000, 1),
        "ratio": round(new / base, 2),
    }


@contextlib.contextmanager
def postgres_database() -> Iterator[str | None]:
    server = os.environ.get("XGW_TEST_POSTGRES_URL")
    if not server:
        yield None
        return
    name = f"xgw_bench_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(normalise_url(server), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield normalise_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--stages", type=int, default=200)
    parser.add_argument("--quick", action="store_true", help="small sizes (smoke test)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    messages, stages, repeat, uploads, mib = (
        (2000, 20, 3, 50, 4) if args.quick else (args.messages, args.stages, 15, 500, 64)
    )
    results: dict[str, Any] = {"messages": messages}
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        results["visibility"] = {"sqlite": visibility(f"sqlite:///{folder}/bench.db", messages, repeat)}
        with postgres_database() as url:
            if url is not None:
                results["visibility"]["postgresql"] = visibility(url, messages, repeat)
        results["stage"] = stage(folder, uploads)
        results["cleanup"] = cleanup(folder, stages)
        results["spool"] = spool(folder, mib)
    text = json.dumps(results, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

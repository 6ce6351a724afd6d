"""Pipeline benchmarks for issue 3, each measured as a ratio to a baseline in the same run.

1. ``ingest``: N generated messages (half 0501 offers as XML, which the pipeline signs with the sender's
   RSA key; half small 0503 packages, which travel unsigned) go through intake (``submit``, one process)
   and are then processed by 1 and by 2 worker processes sharing the queue until every one of them is
   signed (XML), queued and handed to the archive's mailbox (``sent``). Figures on SQLite and on
   PostgreSQL (``XGW_TEST_POSTGRES_URL``, or a throw-away cluster started with ``scripts/postgres`` when
   ``initdb`` is there). Baseline: ``Validator.validate_path`` over the same files in one process, measured
   right before each run. The run goes on until the whole exchange has come to rest (the archive's inbound
   copies verified, validated, delivered, and the Empfangsbestaetigungen made, signed and delivered back);
   that time is reported too but is not the ingest figure.
2. ``upload``: a 1 GiB 0503 package (1,000 documents) submitted over HTTP (streamed, with Content-Length)
   to a real ``xgw serve --no-worker`` on SQLite; the server's peak RSS (``VmHWM``) and the upload time as
   a ratio to SHA-256-hashing the same file once (hashlib, 1 MiB chunks, warm page cache). Target: peak
   RSS < 300 MiB.

Run: ``.venv/bin/python benchmarks/bench_pipeline.py [--quick] [--json results.json] [--only ingest]``.
``--quick`` shrinks every size (and uses PostgreSQL only when ``XGW_TEST_POSTGRES_URL`` is set) so the
script can be smoke-tested; its numbers mean nothing.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from sqlmodel import col, func, select

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import limits as machine_limits  # noqa: E402
from pipeline_setup import (  # noqa: E402
    POSTGRES_ENV,
    SENDER_ID,
    fresh_database,
    make_corpus,
    postgres_server,
    register_parties,
    remove_tree,
    submit_token,
    worker_process,
)

from gateway.config import Settings  # noqa: E402
from gateway.pipeline.intake import submit  # noqa: E402
from gateway.pipeline.states import WORK_STATES  # noqa: E402
from gateway.samples.generate import generate_to  # noqa: E402
from gateway.store.models import Direction, Message, MessageState  # noqa: E402
from gateway.store.types import utcnow  # noqa: E402
from gateway.wiring import build_context  # noqa: E402
from gateway.xoev.validation.validate import Validator  # noqa: E402

XGW = Path(sys.executable).with_name("xgw")
POLL = 0.02  # seconds between two looks at the queue; small against every measured time
TIMEOUT = 1800.0
DONE_OUTBOUND = (MessageState.SENT, MessageState.ACKNOWLEDGED)
BROKEN = (MessageState.FAILED, MessageState.DEAD_LETTERED)


# -- ingest ------------------------------------------------------------------------------------------------


def _validate_all(settings: Settings, files: list[Path], warm: list[Path]) -> float:
    """Seconds for ``Validator.validate_path`` over ``files`` in this process, schemas already compiled."""
    validator = Validator(settings=settings)
    for path in warm:
        validator.validate_path(path)
    start = time.perf_counter()
    for path in files:
        result = validator.validate_path(path)
        assert result.report.valid, result.report.to_text()
    return time.perf_counter() - start


def _queue_view(engine: sa.Engine) -> tuple[int, int, int]:
    """(submitted messages sent or beyond, messages refused by a worker, rows a worker still has to take)."""
    submitted = (col(Message.direction) == Direction.OUTBOUND) & (col(Message.channel) == "rest")
    with engine.connect() as connection:
        done = connection.execute(
            select(func.count()).select_from(Message).where(submitted, col(Message.state).in_(DONE_OUTBOUND))
        ).scalar_one()
        broken = connection.execute(
            select(func.count()).select_from(Message).where(col(Message.state).in_(BROKEN))
        ).scalar_one()
        due = connection.execute(
            select(func.count())
            .select_from(Message)
            .where(col(Message.state).in_(list(WORK_STATES)), col(Message.next_attempt_at) <= utcnow())
        ).scalar_one()
    return int(done), int(broken), int(due)


def _states(engine: sa.Engine) -> dict[str, int]:
    with engine.connect() as connection:
        rows = connection.execute(
            select(Message.direction, Message.channel, Message.state, func.count()).group_by(
                Message.direction, Message.channel, Message.state
            )
        ).all()
    return {f"{Direction(d).value}/{c}/{MessageState(s).value}": int(n) for d, c, s, n in sorted(rows, key=str)}


def _broken_reasons(engine: sa.Engine) -> list[str]:
    with engine.connect() as connection:
        rows = connection.execute(
            select(Message.state, Message.error).where(col(Message.state).in_(BROKEN)).limit(3)
        ).all()
    return [f"{s.value}: {e}" for s, e in rows]


def ingest_run(
    base: Settings,
    backend: str,
    workers: int,
    files: list[Path],
    warm: list[Path],
    postgres_url: str | None,
    tmp: Path,
) -> dict[str, Any]:
    data_dir = tmp / f"ingest-{backend}-{workers}"
    with fresh_database(backend, data_dir, postgres_url) as url:
        settings = base.model_copy(
            update={
                "data_dir": data_dir,
                "database_url": url,
                "pipeline": base.pipeline.model_copy(update={"poll_seconds": 0.05, "retry_base_seconds": 0.0}),
            }
        )
        ctx = build_context(settings)
        register_parties(ctx)
        spawn = multiprocessing.get_context("spawn")
        ready: Any = spawn.Queue()
        done: Any = spawn.Queue()
        go = spawn.Event()
        procs = [
            spawn.Process(target=worker_process, args=(settings, warm, ready, go, done), daemon=True)
            for _ in range(workers)
        ]
        for proc in procs:
            proc.start()
        try:
            for _ in procs:
                ready.get(timeout=300)
            validate_seconds = _validate_all(settings, files, warm)
            for path in warm:  # the intake process warms up like the workers did
                ctx.validator.validate_path(path)
            start = time.perf_counter()
            for path in files:
                with path.open("rb") as fh:
                    result = submit(ctx, fh, sender=SENDER_ID, filename=path.name, channel="rest")
                assert result.created, path
            intake_seconds = time.perf_counter() - start
            go.set()
            start = time.perf_counter()
            sent_seconds: float | None = None
            settled_seconds: float | None = None
            quiet = 0
            while settled_seconds is None:
                time.sleep(POLL)
                elapsed = time.perf_counter() - start
                sent, broken, due = _queue_view(ctx.engine)
                if broken:
                    raise RuntimeError(f"messages failed in the pipeline: {_broken_reasons(ctx.engine)}")
                if elapsed > TIMEOUT:
                    raise RuntimeError(f"not done after {TIMEOUT:.0f} s: {_states(ctx.engine)}")
                if sent_seconds is None and sent == len(files):
                    sent_seconds = elapsed
                quiet = quiet + 1 if sent_seconds is not None and due == 0 else 0
                if quiet >= 3:  # nothing due three looks in a row: the exchange is at rest
                    settled_seconds = elapsed - 2 * POLL
        finally:
            for proc in procs:
                if proc.is_alive():
                    proc.terminate()
            for proc in procs:
                proc.join(timeout=60)
        per_worker = sorted((done.get(timeout=10) for _ in procs), reverse=True)
        states = _states(ctx.engine)
        with ctx.session() as session:
            signed = session.exec(
                select(func.count())
                .select_from(Message)
                .where(col(Message.channel) == "rest", col(Message.signature_status) == "signed")
            ).one()
        ctx.engine.dispose()
    remove_tree(data_dir)
    assert sent_seconds is not None
    assert settled_seconds is not None
    count = len(files)
    ingest_seconds = intake_seconds + sent_seconds
    return {
        "backend": backend,
        "workers": workers,
        "messages": count,
        "signed": int(signed),
        "validate_seconds": round(validate_seconds, 3),
        "validate_per_second": round(count / validate_seconds, 1),
        "intake_seconds": round(intake_seconds, 3),
        "intake_per_second": round(count / intake_seconds, 1),
        "workers_seconds": round(sent_seconds, 3),
        "workers_per_second": round(count / sent_seconds, 1),
        "ingest_seconds": round(ingest_seconds, 3),
        "ingest_per_second": round(count / ingest_seconds, 1),
        "ratio": round(ingest_seconds / validate_seconds, 2),
        "intake_ratio": round(intake_seconds / validate_seconds, 2),
        "workers_ratio": round(sent_seconds / validate_seconds, 2),
        "settled_seconds": round(settled_seconds, 3),
        "steps_per_worker": per_worker,
        "states": states,
    }


def bench_ingest(settings: Settings, quick: bool, tmp: Path) -> list[dict[str, Any]]:
    count = 12 if quick else 200
    files = make_corpus(tmp / "corpus", count, package_bytes=(16 << 10) if quick else (256 << 10))
    warm = make_corpus(tmp / "warm", 6, package_bytes=16 << 10)  # every kind and version once
    results = []
    use_postgres = os.environ.get(POSTGRES_ENV) is not None or not quick
    with postgres_server() if use_postgres else _no_server() as postgres_url:
        backends = ["sqlite"] + (["postgresql"] if postgres_url else [])
        if postgres_url:  # the grouped-commit limit on the same PostgreSQL server, in the same run
            EXTRA_LIMITS["commit_postgresql"] = machine_limits.grouped_commit(postgres_url, quick=quick)
        for backend in backends:
            for workers in (1, 2):
                results.append(ingest_run(settings, backend, workers, files, warm, postgres_url, tmp))
                print(json.dumps(results[-1]), file=sys.stderr)
    return results


EXTRA_LIMITS: dict[str, Any] = {}


class _no_server:  # noqa: N801 - used like the context manager it stands in for
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


# -- upload ------------------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _vm_hwm_kib(pid: int) -> int:
    """The process's peak resident set since it started (the kernel's high-water mark)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc (not Linux?)")


def _sha256_seconds(path: Path) -> float:
    start = time.perf_counter()
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return time.perf_counter() - start


def _chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as fh:
        yield from iter(lambda: fh.read(1 << 20), b"")


def bench_upload(settings: Settings, quick: bool, tmp: Path, size_mib: int | None = None) -> dict[str, Any]:
    size = (size_mib << 20) if size_mib else (8 << 20) if quick else (1 << 30)
    documents = max(20, size >> 20) if quick or size_mib else 1000
    start = time.perf_counter()
    package = generate_to(tmp / "big", version="3.0.0", message_type="0503", documents=documents, size=size)
    generated_seconds = time.perf_counter() - start
    data_dir = tmp / "serve"
    data_dir.mkdir(mode=0o700)
    limits = settings.limits.model_copy(update={"max_compression_ratio": 1000.0})
    server_settings = settings.model_copy(update={"data_dir": data_dir, "database_url": None, "limits": limits})
    ctx = build_context(server_settings)
    register_parties(ctx, keys=False)
    token = submit_token(ctx.engine)
    ctx.engine.dispose()
    env = {
        **os.environ,
        "XGW_DATA_DIR": str(data_dir),
        "XGW_SCHEMA_DIR": str(settings.schema_dir),
        "XDG_CACHE_HOME": str(tmp / "cache"),
        # the generated text files deflate far better than real scans; the 200x default is for hostile input
        "XGW_LIMITS__MAX_COMPRESSION_RATIO": "1000",
    }
    env.pop("XGW_DATABASE_URL", None)
    port = _free_port()
    log = (tmp / "serve.log").open("wb")
    server = subprocess.Popen(
        [str(XGW), "serve", "--no-worker", "--port", str(port), "--log-level", "warning"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{base_url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"xgw serve did not come up: {(tmp / 'serve.log').read_text()[-2000:]}")
            time.sleep(0.2)
        rss_ready = _vm_hwm_kib(server.pid)
        _sha256_seconds(package)  # warm the page cache once so both sides read from memory
        hash_before = _sha256_seconds(package)
        headers = {
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/zip",
            "Content-Length": str(package.stat().st_size),
            "X-Filename": package.name,
        }
        start = time.perf_counter()
        with httpx.Client(timeout=httpx.Timeout(600.0)) as client:
            response = client.post(f"{base_url}/api/v1/messages", content=_chunks(package), headers=headers)
        upload_seconds = time.perf_counter() - start
        rss_peak = _vm_hwm_kib(server.pid)
        assert response.status_code == 201, response.text[:2000]
        body = response.json()
        hash_after = _sha256_seconds(package)
        # the HTTP transport alone: the same file POSTed to a trivial endpoint that only counts the bytes
        trivial = machine_limits.trivial_upload(package)
    finally:
        server.terminate()
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()
    hash_seconds = min(hash_before, hash_after)
    stored = package.stat().st_size
    package.unlink()
    remove_tree(data_dir)
    return {
        "package_bytes": stored,
        "documents": documents,
        "generated_seconds": round(generated_seconds, 2),
        "state": body.get("state"),
        "sha256_seconds": round(hash_seconds, 3),
        "upload_seconds": round(upload_seconds, 3),
        "ratio": round(upload_seconds / hash_seconds, 2),
        "upload_mib_per_second": round(stored / (1 << 20) / upload_seconds, 1),
        "trivial_post_seconds": trivial["seconds"],
        "ratio_to_trivial_post": round(upload_seconds / trivial["seconds"], 2),
        "server_rss_ready_mib": round(rss_ready / 1024, 1),
        "server_peak_rss_mib": round(rss_peak / 1024, 1),
        "target_peak_rss_mib": 300,
    }


def _machine_allows(runs: list[dict[str, Any]], found: dict[str, Any]) -> None:
    """Add to each ingest run what this machine allows per message and the run's share of it (issue 11).

    Per message the machine cannot do less than: its validation (measured in the run), half an RSA-3072
    signature (half the messages are signed), one fsync of its payload, and its share of a grouped commit
    (a message's few rows among the group's), with the workers' cores working in parallel.
    """
    rsa_ms = found["rsa"]["sign_ms"] / 2
    fsync_ms = found["fsync"]["fsync_4k_ms"]
    for run in runs:
        commit = found.get(f"commit_{run['backend']}")
        commit_ms = commit["per_row_in_group_ms"] * 4 if commit else 0.0  # message + events + ledger rows
        validate_ms = run["validate_seconds"] / run["messages"] * 1000
        per_message_ms = validate_ms + (rsa_ms + fsync_ms + commit_ms) / min(run["workers"], os.cpu_count() or 1)
        allowed = 1000 / per_message_ms
        run["machine_allows_per_second"] = round(allowed, 1)
        run["share_of_machine"] = round(run["ingest_per_second"] / allowed, 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny sizes, for smoke tests only")
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    parser.add_argument("--only", choices=["ingest", "upload"], action="append")
    parser.add_argument("--upload-mib", type=int, help="size of the uploaded package (default 1024, --quick 8)")
    args = parser.parse_args()
    settings = Settings()
    only = set(args.only or ["ingest", "upload"])
    results: dict[str, Any] = {
        "python": sys.version.split()[0],
        "cores": os.cpu_count(),
        "load_average_at_start": [round(v, 2) for v in os.getloadavg()],
    }
    with tempfile.TemporaryDirectory(prefix="xgw-bench-pipeline-") as tmp_name:
        tmp = Path(tmp_name)
        results["limits"] = machine_limits.measure(
            tmp / "limits", quick=args.quick, postgres_url=os.environ.get(POSTGRES_ENV), commit_rows=50
        )
        if "ingest" in only:
            results["ingest"] = bench_ingest(settings, args.quick, tmp)
            results["limits"].update(EXTRA_LIMITS)
            _machine_allows(results["ingest"], results["limits"])
        if "upload" in only:
            results["upload"] = bench_upload(settings, args.quick, tmp, args.upload_mib)
    results["load_average_at_end"] = [round(v, 2) for v in os.getloadavg()]
    text = json.dumps(results, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()

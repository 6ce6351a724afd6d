"""Console security benchmark for issue 10: what the session check, the sign-in throttle and the form guard
cost, each as a ratio to a trivial request (a small static file through the same server and guard) timed
in the same run.

The gateway app runs under uvicorn on 127.0.0.1 in this process; the client is httpx with keep-alive.
Measured (median of ``--repeat`` rounds of ``--requests`` requests each):

- ``trivial``: GET of a small file under /console/static (guard + StaticFiles, no database): the baseline.
- ``page_view``: GET /console/participants signed in -- the session check (uid + generation against
  ``console_user``) plus the page's own query and template.
- ``session_check``: :func:`gateway.console.users.session_account` alone, in process, per call.
- ``sign_in``: POST /console/login with the right password (throttle count, Argon2id verify, audit row).
- ``throttle_count``: :func:`gateway.console.users.recent_failures` alone, with ``--audit-rows`` failed
  sign-ins spread over 500 addresses in the window.
- ``guard``: :class:`gateway.console.guard.ConsoleGuard` around a bare ASGI app vs the bare app, in
  process, for a 1 KiB urlencoded POST (buffering, replay, headers).
- ``refuse_multipart``: from sending the head of a 300 MiB multipart POST to /console/login to its 415.

SQLite always; PostgreSQL too when ``XGW_TEST_POSTGRES_URL`` is set.

Run: ``.venv/bin/python benchmarks/bench_console_auth.py [--quick] [--json results.json]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import socket
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
import uvicorn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gateway.config import Settings
from gateway.console.guard import ConsoleGuard
from gateway.console.users import add_user, recent_failures, session_account
from gateway.store.db import normalise_url
from gateway.store.models import AuditEntry, ConsoleRole
from gateway.store.types import utcnow
from gateway.wiring import build_context, create_app

PASSWORD = "correct horse battery staple"
STATIC = "/console/static/htmx-LICENSE.txt"


@contextmanager
def serve(app: Any) -> Iterator[str]:
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off", access_log=False)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(1000):
        if server.started:
            break
        time.sleep(0.01)
    if not server.started:
        raise RuntimeError("uvicorn did not start")
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def per_call(action: Callable[[], object], count: int, repeat: int) -> float:
    """Median seconds per call over ``repeat`` rounds of ``count`` calls (after one warm-up call)."""
    action()
    rounds = []
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(count):
            action()
        rounds.append((time.perf_counter() - start) / count)
    return statistics.median(rounds)


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    if not found:
        raise RuntimeError("no CSRF token in the page")
    return found.group(1)


def seed_failures(engine: sa.Engine, rows: int) -> None:
    now = utcnow()
    values = [
        {
            "at": now - timedelta(seconds=i % 600),
            "actor": f"guess{i % 97}",
            "action": "sign-in",
            "result": "failed",
            "client": f"10.0.{(i % 500) // 250}.{i % 250}",
        }
        for i in range(rows)
    ]
    with engine.begin() as connection:
        connection.execute(sa.insert(AuditEntry), values)


def refuse_multipart(url: str) -> float:
    port = httpx.URL(url).port
    head = (
        b"POST /console/login HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: multipart/form-data; boundary=xyz\r\nContent-Length: 314572800\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", port or 80), timeout=30) as sock:
        start = time.perf_counter()
        sock.sendall(head)
        answer = sock.recv(4096)
        elapsed = time.perf_counter() - start
    if not answer.startswith(b"HTTP/1.1 415"):
        raise RuntimeError(f"expected 415, got {answer[:40]!r}")
    return elapsed


def sign_in_seconds(base: str, count: int, repeat: int) -> float:
    """Median seconds of the sign-in POST alone: fresh clients fetch their form first, untimed."""
    rounds = []
    for _ in range(repeat):
        clients = [httpx.Client(base_url=base, timeout=60) for _ in range(count)]
        try:
            tokens = [csrf_of(c.get("/console/login").text) for c in clients]
            start = time.perf_counter()
            for c, token in zip(clients, tokens, strict=True):
                answer = c.post("/console/login", data={"csrf": token, "username": "bench", "password": PASSWORD})
                if answer.status_code != 303:
                    raise RuntimeError(f"sign-in failed: {answer.status_code}")
            rounds.append((time.perf_counter() - start) / count)
        finally:
            for c in clients:
                c.close()
    return statistics.median(rounds)


def guard_overhead(count: int, repeat: int) -> tuple[float, float]:
    async def bare(scope: Any, receive: Any, send: Any) -> None:
        while (await receive()).get("more_body"):
            pass
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    guarded = ConsoleGuard(bare, prefix="/console", max_form_bytes=64 * 1024)
    body = b"csrf=" + b"x" * 1019
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/console/x",
        "scheme": "http",
        "headers": [(b"content-type", b"application/x-www-form-urlencoded"), (b"content-length", b"1024")],
    }

    async def call(app: Any) -> None:
        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(_: Any) -> None:
            return None

        await app(scope, receive, send)

    def timed(app: Any) -> float:
        async def loop() -> float:
            rounds = []
            for _ in range(repeat):
                start = time.perf_counter()
                for _ in range(count):
                    await call(app)
                rounds.append((time.perf_counter() - start) / count)
            return statistics.median(rounds)

        return asyncio.run(loop())

    return timed(bare), timed(guarded)


def run(url: str, scratch: Path, requests: int, repeat: int, audit_rows: int) -> dict[str, Any]:
    settings = Settings(data_dir=scratch / "data", database_url=url)
    ctx = build_context(settings)
    try:
        user = add_user(ctx.engine, "bench", PASSWORD, ConsoleRole.GATEWAY_ADMIN)
        seed_failures(ctx.engine, audit_rows)
        app = create_app(ctx)
        with serve(app) as base, httpx.Client(base_url=base, timeout=60) as client:
            trivial = per_call(lambda: client.get(STATIC).raise_for_status(), requests, repeat)
            form = client.get("/console/login")
            signed = client.post(
                "/console/login", data={"csrf": csrf_of(form.text), "username": "bench", "password": PASSWORD}
            )
            if signed.status_code != 303:
                raise RuntimeError(f"sign-in failed: {signed.status_code}")
            page = per_call(lambda: client.get("/console/participants").raise_for_status(), requests, repeat)

            sign_in_post = sign_in_seconds(base, max(2, requests // 10), repeat)
            refused = statistics.median(refuse_multipart(base) for _ in range(repeat))
        assert user.uid is not None
        uid = user.uid
        check = per_call(lambda: session_account(ctx.engine, uid, user.generation), requests * 5, repeat)
        count = per_call(lambda: recent_failures(ctx.engine, "root", "10.0.0.7"), requests * 5, repeat)
        bare, guarded = guard_overhead(requests * 20, repeat)
        return {
            "trivial_ms": round(trivial * 1000, 3),
            "page_view_ms": round(page * 1000, 3),
            "page_view_ratio_to_trivial": round(page / trivial, 2),
            "session_check_ms": round(check * 1000, 3),
            "session_check_share_of_page_view": round(check / page, 3),
            "session_check_ratio_to_trivial": round(check / trivial, 2),
            "sign_in_ms": round(sign_in_post * 1000, 1),
            "sign_in_ratio_to_trivial": round(sign_in_post / trivial, 1),
            "throttle_count_ms": round(count * 1000, 3),
            "throttle_count_audit_rows": audit_rows,
            "throttle_count_share_of_sign_in": round(count / sign_in_post, 4),
            "guard_us_per_request": round((guarded - bare) * 1e6, 2),
            "guard_ratio_to_trivial": round((guarded - bare) / trivial, 4),
            "refuse_300mib_multipart_ms": round(refused * 1000, 2),
        }
    finally:
        ctx.engine.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--audit-rows", type=int, default=10_000)
    parser.add_argument("--quick", action="store_true", help="tiny sizes (smoke test; the numbers mean nothing)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    requests, repeat, rows = (10, 2, 200) if args.quick else (args.requests, args.repeat, args.audit_rows)
    results: dict[str, Any] = {"requests": requests, "repeat": repeat}
    with tempfile.TemporaryDirectory() as scratch:
        results["sqlite"] = run(f"sqlite:///{scratch}/bench.db", Path(scratch), requests, repeat, rows)
    server = os.environ.get("XGW_TEST_POSTGRES_URL")
    if server:
        name = f"xgw_bench_{uuid.uuid4().hex[:12]}"
        admin = sa.create_engine(normalise_url(server), isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
        try:
            url = normalise_url(server).set(database=name).render_as_string(hide_password=False)
            with tempfile.TemporaryDirectory() as scratch:
                results["postgresql"] = run(url, Path(scratch), requests, repeat, rows)
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

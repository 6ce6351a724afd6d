"""Issue 10, item 8: a hundred concurrent identical submits store one message and every one gets 200 or 201.

Real concurrency against the real server: a pool of threads posts the same bytes at once to uvicorn on
127.0.0.1 (SQLite, and PostgreSQL when available), for an XML message and for a ZIP package. Exactly
one answer is 201 and the others 200 with the same message; none is a 500 from the dedupe race.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from gateway.participants.tokens import Scope
from tests.api.support import GOTHA, Gateway, offer, package

SUBMITS = 100
THREADS = 32


def _storm(gateway: Gateway, name: str, data: bytes) -> list[httpx.Response]:
    token = gateway.token(GOTHA, Scope.SUBMIT, Scope.READ)
    limits = httpx.Limits(max_connections=THREADS, max_keepalive_connections=THREADS)
    with gateway.client(token, limits=limits) as client, ThreadPoolExecutor(THREADS) as pool:
        futures = [
            pool.submit(client.post, "/api/v1/messages", content=data, headers={"X-Filename": name})
            for _ in range(SUBMITS)
        ]
        return [f.result(timeout=300) for f in futures]


@pytest.mark.parametrize("kind", ["xml", "zip"])
def test_concurrent_identical_submits_store_one_message_and_never_fail(
    fresh_gateway: Gateway, tmp_path: Path, kind: str
) -> None:
    if kind == "xml":
        name, data = offer(800)
    else:
        path = package(tmp_path, 801, registry=fresh_gateway.ctx.registry)
        name, data = path.name, path.read_bytes()
    # this test is about the dedupe race, not the upload bound (tests/api/test_server_limits.py): room for all
    server = fresh_gateway.ctx.settings.server
    server.max_uploads = server.max_uploads_per_token = THREADS
    responses = _storm(fresh_gateway, name, data)
    statuses = sorted(r.status_code for r in responses)
    assert set(statuses) <= {200, 201}, [(r.status_code, r.text[:300]) for r in responses if r.status_code >= 300]
    assert statuses.count(201) == 1
    assert len({r.json()["id"] for r in responses}) == 1
    assert fresh_gateway.counts()[0] == 1
    # every stage is gone and the payload is stored once
    assert {p.rsplit("/", 1)[-1] for p in fresh_gateway.stored_files()} == {responses[0].json()["sha256"]}

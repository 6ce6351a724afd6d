"""Issue 10, item 7 end to end: an upload slower than the grace period is stored, not answered with a 500.

A real gateway on 127.0.0.1 with a grace period of a fraction of a second; a client trickles a package
in over several times that, while the payload garbage collection runs as often as a busy worker's
housekeeping could. Before the stage lock, the clean-up deleted the staging folder mid-upload and the
submit failed with 500.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.config import Settings
from gateway.participants.tokens import Scope
from gateway.pipeline.gc import collect_garbage
from gateway.xoev.schemas.registry import SchemaRegistry
from tests.api.support import GOTHA, package, running_gateway
from tests.store.conftest import available_backends

GRACE = 0.2
PIECES = 12
PAUSE = 0.1  # the upload takes PIECES * PAUSE = 1.2 s, six grace periods


@pytest.mark.parametrize("backend", available_backends())
def test_a_slow_upload_survives_the_stale_stage_cleanup(
    backend: str, tmp_path: Path, settings: Settings, registry: SchemaRegistry
) -> None:
    base = settings.model_copy(
        update={"pipeline": settings.pipeline.model_copy(update={"payload_grace_seconds": GRACE})}
    )
    with running_gateway(backend, tmp_path, base, registry) as gateway:
        data_path = package(tmp_path / "pkg", 900, registry=registry)
        data = data_path.read_bytes()
        step = -(-len(data) // PIECES)

        def trickle() -> Iterator[bytes]:
            for start in range(0, len(data), step):
                time.sleep(PAUSE)
                yield data[start : start + step]

        stop = threading.Event()
        sweeps = [0]

        def housekeeping() -> None:
            while not stop.is_set():
                collect_garbage(gateway.ctx)
                sweeps[0] += 1
                stop.wait(0.02)

        sweeper = threading.Thread(target=housekeeping, daemon=True)
        sweeper.start()
        try:
            with gateway.client(gateway.token(GOTHA, Scope.SUBMIT, Scope.READ)) as client:
                response = client.post("/api/v1/messages", content=trickle(), headers={"X-Filename": data_path.name})
        finally:
            stop.set()
            sweeper.join(timeout=30)
        assert response.status_code == 201, response.text
        assert sweeps[0] > 10  # the clean-up really ran during the upload
        assert gateway.ctx.payloads.path_of(response.json()["sha256"]).read_bytes() == data

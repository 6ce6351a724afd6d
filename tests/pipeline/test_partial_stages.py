"""Issue 10, item 7: a worker's start removes the partial uploads a killed process left, and nothing live."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from gateway.pipeline.context import PipelineContext
from gateway.pipeline.worker import Worker

CHILD = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from gateway.store.payloads import PayloadStore

    def body():
        yield b"<half an upload"
        print("staging", flush=True)
        time.sleep(120)  # killed long before
        yield b"/>"

    with PayloadStore(Path(sys.argv[1])).stage(body(), max_bytes=1024, name="m.xml"):
        pass
    """
)


def test_a_worker_start_removes_a_killed_servers_partial_upload_but_not_a_live_one(ctx: PipelineContext) -> None:
    tmp = ctx.payloads.root / "tmp"
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(ctx.payloads.root)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "staging"
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        [dead] = list(tmp.iterdir())
        with ctx.payloads.stage([b"in progress"], max_bytes=100) as live:
            Worker(ctx, "w").run(once=True)  # the grace period (an hour) has not passed: start-up ignores it
            assert not dead.exists()
            assert live.path.read_bytes() == b"in progress"
        assert list(tmp.iterdir()) == []
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=30)

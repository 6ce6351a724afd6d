"""Issue 10, item 7: the stale-stage clean-up never takes the staging file of an upload in progress.

A stage is locked by its process for as long as it lives, so the clean-up skips it however old it is;
a stage left by a killed process (a real child, SIGKILLed mid-upload) is removed, at once at start-up.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.store.payloads import PayloadStore

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


@pytest.fixture
def store(tmp_path: Path) -> PayloadStore:
    return PayloadStore(tmp_path / "payloads")


def _stages(store: PayloadStore) -> list[Path]:
    tmp = store.root / "tmp"
    return sorted(tmp.iterdir()) if tmp.exists() else []


def test_a_slow_upload_keeps_its_stage_past_the_grace_period(store: PayloadStore) -> None:
    chunks_seen: list[int] = []

    def slow_body() -> Iterator[bytes]:
        for _ in range(5):
            # between chunks the clean-up runs as a worker's housekeeping would, with the stage long "stale"
            removed = store.remove_stale_temp_files(grace_seconds=0, now=time.time() + 86400)
            chunks_seen.append(removed)
            yield b"x" * 10

    with store.stage(slow_body(), max_bytes=100, name="big.zip") as staged:
        assert store.remove_stale_temp_files(grace_seconds=0, now=time.time() + 86400) == 0
        assert staged.path.read_bytes() == b"x" * 50
        ref = staged.commit()
    assert chunks_seen == [0] * 5
    assert store.path_of(ref.sha256).read_bytes() == b"x" * 50
    assert _stages(store) == []


def test_the_stage_of_a_killed_process_is_removed_and_a_live_one_kept(store: PayloadStore) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(store.root)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "staging"
        [stage] = _stages(store)
        # another process's upload in progress: kept, even when the clean-up is told everything is stale
        assert store.remove_stale_temp_files(grace_seconds=0, now=time.time() + 86400) == 0
        assert (stage / "data" / "m.xml").is_file()
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        assert _stages(store) == [stage]  # a killed process never cleans up after itself
        # periodic clean-up honours the grace period, start-up (grace 0) takes it at once
        assert store.remove_stale_temp_files(grace_seconds=3600) == 0
        assert store.remove_stale_temp_files(grace_seconds=0) == 1
        assert _stages(store) == []
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=30)


def test_a_payload_committed_after_a_long_upload_gets_its_full_grace_period(store: PayloadStore) -> None:
    with store.stage([b"written an hour ago"], max_bytes=100) as staged:
        os.utime(staged.path, (time.time() - 3600, time.time() - 3600))  # the last byte arrived long ago
        ref = staged.commit()
    # its row is not committed yet: the collector must not take it for an old orphan
    assert store.collect_garbage(set(), grace_seconds=600) == []
    assert store.exists(ref.sha256)

"""The payload store against a real directory: layout, durability rules, limits, memory use."""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import stat
import subprocess
import sys
import textwrap
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.store.payloads import (
    InvalidPayloadId,
    PayloadNotFound,
    PayloadRef,
    PayloadStore,
    PayloadTooLarge,
)

MIB = 1024 * 1024


@pytest.fixture
def store(tmp_path: Path) -> PayloadStore:
    return PayloadStore(tmp_path / "payloads")


def leftovers(store: PayloadStore) -> list[Path]:
    tmp = store.root / "tmp"
    return sorted(tmp.iterdir()) if tmp.exists() else []


def test_put_stores_under_content_address(store: PayloadStore) -> None:
    data = b"<xdomea:Aussonderung.Anbieteverzeichnis.0501/>"
    ref = store.put_stream([data[:10], data[10:]], max_bytes=1000)
    sha = hashlib.sha256(data).hexdigest()
    assert ref == PayloadRef(sha256=sha, size=len(data))
    assert store.root / sha[:2] / sha[2:4] / sha == store.path_of(sha)
    assert store.path_of(sha).read_bytes() == data
    with store.open(sha) as f:
        assert f.read() == data
    assert list(store.stored()) == [sha]
    assert leftovers(store) == []


def test_files_and_directories_are_owner_only(store: PayloadStore) -> None:
    old = os.umask(0)  # even a permissive umask must not widen the modes
    try:
        ref = store.put_bytes(b"secret record")
    finally:
        os.umask(old)
    path = store.path_of(ref.sha256)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    for directory in (store.root, store.root / "tmp", path.parent, path.parent.parent):
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700, directory


def test_same_content_twice_is_one_file(store: PayloadStore) -> None:
    first = store.put_bytes(b"same bytes")
    second = store.put_stream(io.BytesIO(b"same bytes"), max_bytes=100)
    assert first == second
    assert list(store.stored()) == [first.sha256]
    assert leftovers(store) == []


def test_damaged_copy_is_replaced_by_a_new_put(store: PayloadStore) -> None:
    ref = store.put_bytes(b"original content")
    store.path_of(ref.sha256).write_bytes(b"trunc")
    assert not store.verify(ref.sha256)
    store.put_bytes(b"original content")
    assert store.verify(ref.sha256)


def test_limit_is_inclusive_and_excess_leaves_nothing(store: PayloadStore) -> None:
    assert store.put_stream([b"a" * 10], max_bytes=10).size == 10
    with pytest.raises(PayloadTooLarge) as excinfo:
        store.put_stream([b"b" * 6, b"b" * 5], max_bytes=10)
    assert excinfo.value.max_bytes == 10
    assert "10 bytes" in str(excinfo.value)
    assert list(store.stored()) == [hashlib.sha256(b"a" * 10).hexdigest()]
    assert leftovers(store) == []


def test_broken_source_leaves_no_temp_file(store: PayloadStore) -> None:
    def upload() -> Iterator[bytes]:
        yield b"first chunk"
        raise ConnectionResetError("client went away")

    with pytest.raises(ConnectionResetError):
        store.put_stream(upload(), max_bytes=MIB)
    assert leftovers(store) == []
    assert list(store.stored()) == []


def test_verify_detects_tampering(store: PayloadStore) -> None:
    ref = store.put_bytes(b"x" * 5000)
    assert store.verify(ref.sha256)
    path = store.path_of(ref.sha256)
    raw = bytearray(path.read_bytes())
    raw[4000] ^= 1
    path.write_bytes(bytes(raw))
    assert not store.verify(ref.sha256)


@pytest.mark.parametrize("error", [PayloadTooLarge(10), PayloadNotFound("0" * 64), InvalidPayloadId("x")])
def test_errors_pickle(error: Exception) -> None:
    copy = pickle.loads(pickle.dumps(error))
    assert (type(copy), str(copy), vars(copy)) == (type(error), str(error), vars(error))


def test_missing_and_invalid_ids(store: PayloadStore) -> None:
    missing = "0" * 64
    with pytest.raises(PayloadNotFound):
        store.open(missing)
    with pytest.raises(PayloadNotFound):
        store.verify(missing)
    assert not store.delete(missing)
    for bad in ("../../etc/passwd", "A" * 64, "0" * 63, "0" * 64 + "/x", ""):
        with pytest.raises(InvalidPayloadId):
            store.open(bad)


def test_delete_and_garbage_collection_respect_references_and_grace(store: PayloadStore) -> None:
    kept = store.put_bytes(b"referenced")
    orphan = store.put_bytes(b"orphan")
    fresh = store.put_bytes(b"fresh orphan")
    written = store.path_of(orphan.sha256).stat().st_mtime
    os.utime(store.path_of(kept.sha256), (written - 3600, written - 3600))
    os.utime(store.path_of(orphan.sha256), (written - 3600, written - 3600))

    deleted = store.collect_garbage({kept.sha256}, grace_seconds=600, now=written)
    assert deleted == [orphan.sha256]
    assert sorted(store.stored()) == sorted([kept.sha256, fresh.sha256])
    assert store.delete(fresh.sha256)
    assert list(store.stored()) == [kept.sha256]


def test_rewriting_existing_content_renews_its_grace_period(store: PayloadStore) -> None:
    ref = store.put_bytes(b"old but about to be referenced again")
    path = store.path_of(ref.sha256)
    os.utime(path, (1_000_000, 1_000_000))
    store.put_bytes(b"old but about to be referenced again")
    assert path.stat().st_mtime > 1_000_000
    assert store.collect_garbage(set(), grace_seconds=600, now=path.stat().st_mtime) == []


def test_stale_temp_files_are_removed(store: PayloadStore) -> None:
    store.put_bytes(b"creates the tmp dir")
    crashed = store.root / "tmp" / "put-crashed"
    crashed.write_bytes(b"half written")
    os.utime(crashed, (1_000_000, 1_000_000))
    assert store.remove_stale_temp_files(grace_seconds=60, now=1_000_100) == 1
    assert leftovers(store) == []


def test_streaming_256_mib_keeps_python_memory_flat(store: PayloadStore) -> None:
    total = 256 * MIB
    block = bytes(range(256)) * (MIB // 256)
    expected = hashlib.sha256()

    def upload() -> Iterator[bytes]:
        for i in range(total // MIB):
            chunk = block[i % 256 :] + block[: i % 256]  # a new object each time, like a socket read
            expected.update(chunk)
            yield chunk

    tracemalloc.start()
    try:
        ref = store.put_stream(upload(), max_bytes=total)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert ref == PayloadRef(sha256=expected.hexdigest(), size=total)
    assert peak < 8 * MIB, f"peak Python allocations {peak} bytes while storing {total} bytes"
    assert store.verify(ref.sha256)


RSS_CHILD = textwrap.dedent(
    """
    import resource, sys
    from pathlib import Path
    from gateway.store.payloads import PayloadStore

    class Zeros:
        def __init__(self, n: int) -> None:
            self.left = n
        def read(self, size: int = -1) -> bytes:
            size = self.left if size < 0 else min(size, self.left)
            self.left -= size
            return bytes(size)

    total = int(sys.argv[2])
    store = PayloadStore(Path(sys.argv[1]))
    store.put_bytes(b"warm up")
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    ref = store.put_stream(Zeros(total), max_bytes=total)
    assert store.verify(ref.sha256)
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(ref.size, before * 1024, after * 1024)
    """
)


def test_peak_rss_does_not_grow_with_a_512_mib_file_object(tmp_path: Path) -> None:
    total = 512 * MIB
    out = subprocess.run(
        [sys.executable, "-c", RSS_CHILD, str(tmp_path / "payloads"), str(total)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    size, rss_before, rss_after = (int(v) for v in out)
    assert size == total
    assert rss_after - rss_before < 32 * MIB, f"peak RSS grew by {rss_after - rss_before} bytes"


def test_staged_upload_is_named_and_invisible_until_committed(store: PayloadStore) -> None:
    data = b"<xdomea/>" * 1000
    digest = hashlib.sha256(data).hexdigest()
    with store.stage(io.BytesIO(data), max_bytes=len(data), name="a_0501.xml") as staged:
        assert staged.path.name == "a_0501.xml"
        assert staged.path.read_bytes() == data
        assert (staged.sha256, staged.size) == (digest, len(data))
        assert not store.exists(digest)
        assert list(store.stored()) == []
        staged.commit()
        assert store.exists(digest)
    assert leftovers(store) == []
    assert store.open(digest).read() == data


def test_staged_upload_not_committed_leaves_nothing(store: PayloadStore) -> None:
    def refuse() -> None:
        with store.stage([b"refused"], max_bytes=100, name="x.zip") as staged:
            assert staged.path.exists()
            raise RuntimeError("validation failed")

    with pytest.raises(RuntimeError):
        refuse()
    with store.stage([b"dropped"], max_bytes=100):
        pass
    assert list(store.stored()) == []
    assert leftovers(store) == []


def test_a_stage_with_more_in_it_than_its_own_file_is_removed_whole(store: PayloadStore) -> None:
    """The stage is removed by its known layout (a few calls, issue 11); whatever else a caller put in it
    -- a renamed file, a folder, a file beside the lock -- still goes with it."""
    with store.stage([b"<xdomea/>"], max_bytes=100, name="m.xml") as staged:
        staged.rename("renamed.xml")
        (staged.path.parent / "unpacked" / "deeper").mkdir(parents=True)
        (staged.path.parent / "unpacked" / "deeper" / "doc.pdf").write_bytes(b"%PDF")
        (staged.path.parent.parent / "note").write_bytes(b"beside the lock")
    with store.stage([b"<xdomea/>"], max_bytes=100, name="m.xml") as staged:
        staged.commit()  # the data folder is empty when the stage ends
    assert leftovers(store) == []


def test_staged_upload_over_the_limit_leaves_nothing(store: PayloadStore) -> None:
    with pytest.raises(PayloadTooLarge), store.stage([b"x" * 10, b"y" * 10], max_bytes=15):
        pytest.fail("the block must not run")
    assert leftovers(store) == []


@pytest.mark.parametrize("name", ["", ".", "..", "a/b.xml", "..\\b.xml", "a\0b"])
def test_stage_refuses_names_that_are_not_plain(store: PayloadStore, name: str) -> None:
    with pytest.raises(ValueError, match="plain file name"), store.stage([b"x"], max_bytes=10, name=name):
        pytest.fail("the block must not run")


def test_a_live_stage_is_never_removed_however_old(store: PayloadStore) -> None:
    # (a stage of a killed process is removed: tests/store/test_stage_cleanup.py kills a real one)
    with store.stage([b"slow"], max_bytes=10, name="m.xml") as staged:
        assert store.remove_stale_temp_files(grace_seconds=60) == 0
        assert store.remove_stale_temp_files(grace_seconds=0, now=staged.path.stat().st_mtime + 3600) == 0
        assert staged.path.read_bytes() == b"slow"
    assert leftovers(store) == []

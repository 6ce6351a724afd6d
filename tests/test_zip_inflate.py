"""The content check of packages after the switch from zlib to python-isal for inflating and CRC-32 (issue 11).

ISA-L buffers input inside its decompressor (``unconsumed_tail`` may be empty while output is still due) and
raises its own error type for bad data; these tests pin that the streamed content check, the one an upload
runs, still reads every byte, and still refuses a bad CRC, a cut entry and a zip bomb with the same reasons
and within the same bounds as with zlib.
"""

from __future__ import annotations

import io
import os
import random
import zlib
from pathlib import Path
from typing import Any, BinaryIO

import pytest

from gateway.xoev.limits import Limits
from gateway.xoev.validation import zipcheck
from gateway.xoev.validation.package import scan_package
from gateway.xoev.validation.package_validate import verify_contents
from tests.hostile_zips import MESSAGE, MiB, Raw, deflated, honest, stored, zeros_deflated


def _text(size: int) -> bytes:
    """Compressible but not trivial content, like the text documents of the benchmark packages."""
    rng = random.Random(size)
    words = [bytes(rng.choices(b"abcdefghijklmnopqrstuvwxyz", k=rng.randint(2, 9))) for _ in range(500)]
    out = bytearray()
    while len(out) < size:
        out += b" ".join(rng.choices(words, k=12)) + b"\n"
    return bytes(out[:size])


def _check(tmp_path: Path, *entries: Raw, ratio: float = 200.0) -> list[tuple[str, str | None, str]]:
    scan = scan_package(honest(tmp_path, *entries), Limits(max_compression_ratio=ratio))
    assert scan.findings == []
    found = verify_contents(scan, MESSAGE, {}, 10 * MiB)
    return [(f.rule, f.location.entry, f.message) for f in found]


class _CountingFile(io.RawIOBase):
    """A file that counts the bytes read from it."""

    def __init__(self, data: bytes) -> None:
        super().__init__()
        self._inner = io.BytesIO(data)
        self.read_bytes = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._inner.seek(offset, whence)

    def readinto(self, buffer: Any) -> int:
        n = self._inner.readinto(buffer)
        self.read_bytes += n
        return n


def _stream(data: bytes, *, size: int, crc: int, method: int = zipcheck.METHOD_DEFLATED) -> zipcheck.EntryStream:
    def error(reason: str) -> Exception:
        return ValueError(reason)

    f: BinaryIO = _CountingFile(data)  # type: ignore[assignment]
    return zipcheck.EntryStream(
        f, data_offset=0, compressed_size=len(data), size=size, crc=crc, method=method, error=error
    )


def _read_all(stream: zipcheck.EntryStream, read_size: int = MiB) -> bytes:
    out = bytearray()
    while chunk := stream.read(read_size):
        out += chunk
    return bytes(out)


@pytest.mark.parametrize("read_size", [1, 7, 4096, 65536, 65537, MiB])
def test_every_byte_comes_out_whatever_the_read_size(read_size: int) -> None:
    plain = _text(3 * MiB if read_size >= 4096 else 300_000)
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    packed = c.compress(plain) + c.flush()
    stream = _stream(packed, size=len(plain), crc=zlib.crc32(plain))
    assert _read_all(stream, read_size) == plain


def test_good_entries_pass_the_content_check(tmp_path: Path) -> None:
    assert _check(tmp_path, deflated("a.txt", _text(2 * MiB)), stored("b.pdf", os.urandom(100_000))) == []


def _reason_of(tmp_path: Path, entry: Raw) -> str:
    """The one finding of the content check of a package holding ``entry`` (besides the message)."""
    found = _check(tmp_path, entry, ratio=2000)
    assert len(found) == 1
    rule, where, reason = found[0]
    assert (rule, where) == ("XGW-ZIP-012", entry.name)
    return reason


def test_bad_crc_of_a_deflated_entry_is_found(tmp_path: Path) -> None:
    plain = _text(MiB)
    good, bad = zlib.crc32(plain), zlib.crc32(plain) ^ 1
    found = _check(tmp_path, deflated("ok.txt", plain), deflated("a.txt", plain, crc=bad))
    assert [(rule, where) for rule, where, _ in found] == [("XGW-ZIP-012", "a.txt")]
    assert f"CRC-32 is {good:08x}, the directory says {bad:08x}" in found[0][2]


def test_truncated_deflate_entry_is_found(tmp_path: Path) -> None:
    plain = _text(MiB)
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    packed = c.compress(plain) + c.flush()
    cut = Raw("a.txt", packed[: len(packed) // 2], method=8, file_size=len(plain), crc=zlib.crc32(plain))
    assert "its deflate data ends before the end of the stream" in _reason_of(tmp_path, cut)


def test_data_ending_early_keeps_its_reason(tmp_path: Path) -> None:
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    short = Raw("a.txt", c.compress(b"x" * 1000) + c.flush(), method=8, file_size=2000, crc=0)
    assert "ends after 1000 of the declared 2000 bytes" in _reason_of(tmp_path, short)


def test_garbage_instead_of_deflate_keeps_its_reason(tmp_path: Path) -> None:
    garbage = Raw("b.txt", b"\xff" * 64, method=8, file_size=64, crc=0)
    assert "its deflate data is invalid" in _reason_of(tmp_path, garbage)


def test_zip_bomb_stops_after_reading_little_of_it() -> None:
    bomb = zeros_deflated(64 * MiB)  # about 64 KiB of deflate that inflates to 64 MiB
    stream = _stream(bomb, size=1000, crc=0)
    with pytest.raises(ValueError, match="its data is longer than the declared 1000 bytes"):
        _read_all(stream)
    counted = stream._f
    assert isinstance(counted, _CountingFile)
    # one compressed read (64 KiB) inflates far beyond 1,001 bytes: the bomb is refused after it
    assert counted.read_bytes <= 2 * 64 * 1024


def test_zip_bomb_in_a_package_is_refused_by_the_content_check(tmp_path: Path) -> None:
    bomb = Raw("small.pdf", zeros_deflated(16 * MiB), method=8, file_size=1000, crc=0)
    reason = _reason_of(tmp_path, bomb)
    assert "its data is longer than the declared 1000 bytes" in reason

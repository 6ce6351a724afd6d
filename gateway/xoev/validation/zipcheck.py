"""A small, strict reader of the ZIP file structure (APPNOTE 6.3.x) for packages we do not trust.

Why not :mod:`zipfile`? It reads the whole central directory into memory before anything can be checked,
aborts the whole archive on one entry whose name is flagged UTF-8 but is not, silently accepts data
prepended to the archive, and (in CPython 3.11.7, the runtime we deploy) does not detect overlapping
entries at all (gh-109858). Here every structure is read with a size known in advance, the central
directory is streamed record by record, and every failure is an exception carrying a reason that a
person can act on. Policy (what is allowed) lives in :mod:`gateway.xoev.validation.package`; this module only says
what the bytes are.

Entry data is inflated and CRC-checked with python-isal (Intel ISA-L) rather than :mod:`zlib`: for the
deflate streams of real packages it inflates about 2.4x and computes CRC-32 about 5x faster than zlib on
this hardware, and like zlib it releases the GIL, so the content check of a large upload (issue 11) costs
far less than it did. Its decompressor takes the same ``max_length`` cap, which keeps the zip-bomb bound
below exactly as it was; it only buffers input internally, so ``unconsumed_tail`` may be empty while
output is still pending.
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO, cast

from isal import isal_zlib

# Record layouts, little endian, as in APPNOTE.TXT section 4.3.
_EOCD = struct.Struct("<4s4H2LH")  # end of central directory record, 22 bytes
_EOCD_SIG = b"PK\x05\x06"
_Z64_LOCATOR = struct.Struct("<4sLQL")  # ZIP64 end of central directory locator, 20 bytes
_Z64_LOCATOR_SIG = b"PK\x06\x07"
_Z64_EOCD = struct.Struct("<4sQ2H2L4Q")  # ZIP64 end of central directory record, 56 bytes
_Z64_EOCD_SIG = b"PK\x06\x06"
_CENTRAL = struct.Struct("<4s4B4HL2L5HLL")  # central directory file header, 46 bytes
_CENTRAL_SIG = b"PK\x01\x02"
_LOCAL = struct.Struct("<4s5HL2L2H")  # local file header, 30 bytes
_LOCAL_SIG = b"PK\x03\x04"
_DESCRIPTOR_SIG = b"PK\x07\x08"
_MAX_COMMENT = 0xFFFF
_ZIP64_EXTRA_ID = 0x0001

FLAG_ENCRYPTED = 0x0001
FLAG_DATA_DESCRIPTOR = 0x0008
FLAG_PATCHED = 0x0020
FLAG_STRONG_ENCRYPTION = 0x0040
FLAG_UTF8 = 0x0800
FLAG_MASKED_HEADERS = 0x2000

METHOD_STORED = 0
METHOD_DEFLATED = 8

#: Names of the compression methods one meets in practice, for messages that say what was found.
METHOD_NAMES = {
    0: "stored",
    1: "shrunk",
    6: "imploded",
    8: "deflate",
    9: "deflate64",
    12: "bzip2",
    14: "lzma",
    93: "zstandard",
    95: "xz",
    98: "ppmd",
    99: "AES encrypted",
}

_CHUNK = 64 * 1024

#: what the inflaters raise for invalid deflate data (the stub types isal's error as an instance)
_INFLATE_ERRORS: tuple[type[Exception], ...] = (zlib.error, cast("type[Exception]", isal_zlib.error))


class ZipFormatError(Exception):
    """The bytes are not a ZIP archive we can read; ``reason`` says what was found instead."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class EndRecord:
    """Where the central directory is and how many records it claims to hold."""

    entries: int
    cd_offset: int
    cd_size: int
    zip64: bool


@dataclass(frozen=True, slots=True)
class CentralRecord:
    """One central directory file header, ZIP64 sizes already applied; the name is left undecoded."""

    index: int
    raw_name: bytes
    create_system: int
    flags: int
    method: int
    crc: int
    compressed_size: int
    file_size: int
    disk_start: int
    external_attr: int
    header_offset: int


@dataclass(frozen=True, slots=True)
class LocalHeader:
    """The parts of a local file header that decide where an entry's data really lies."""

    raw_name: bytes
    flags: int
    method: int
    data_offset: int
    zip64: bool


def _read_exact(f: BinaryIO, offset: int, size: int) -> bytes:
    f.seek(offset)
    data = f.read(size)
    if len(data) != size:
        raise ZipFormatError(f"the file ends at byte {offset + len(data)}, expected {size} bytes at {offset}")
    return data


def read_end_record(f: BinaryIO, file_size: int) -> EndRecord:
    """Find the end of central directory record (and its ZIP64 twin) and check it against the file.

    The record must end the file exactly (after its comment): trailing or prepended bytes are refused,
    because tools disagree about where such archives start, and that disagreement is how content is
    smuggled past a checker.
    """
    if file_size < _EOCD.size:
        raise ZipFormatError(f"the file has only {file_size} bytes, too short for a ZIP end record")
    tail_len = min(file_size, _EOCD.size + _MAX_COMMENT)
    tail = _read_exact(f, file_size - tail_len, tail_len)
    pos = tail.rfind(_EOCD_SIG)
    while pos >= 0:
        if pos + _EOCD.size <= len(tail):
            fields = _EOCD.unpack_from(tail, pos)
            if pos + _EOCD.size + fields[7] == len(tail):
                break
        pos = tail.rfind(_EOCD_SIG, 0, pos)
    if pos < 0:
        raise ZipFormatError("no end of central directory record (not a ZIP file, or cut off)")
    eocd_offset = file_size - tail_len + pos
    _, disk, cd_disk, disk_entries, entries, cd_size, cd_offset, _comment = _EOCD.unpack_from(tail, pos)
    record_end = eocd_offset  # the central directory must end where its end record(s) begin
    zip64 = False
    if eocd_offset >= _Z64_LOCATOR.size:
        loc = _read_exact(f, eocd_offset - _Z64_LOCATOR.size, _Z64_LOCATOR.size)
        sig, z64_disk, z64_offset, total_disks = _Z64_LOCATOR.unpack(loc)
        if sig == _Z64_LOCATOR_SIG:
            if z64_disk != 0 or total_disks > 1:
                raise ZipFormatError("split (multi-disk) archives are not supported")
            if z64_offset + _Z64_EOCD.size > eocd_offset - _Z64_LOCATOR.size:
                raise ZipFormatError("the ZIP64 end record lies outside the file")
            rec = _Z64_EOCD.unpack(_read_exact(f, z64_offset, _Z64_EOCD.size))
            if rec[0] != _Z64_EOCD_SIG:
                raise ZipFormatError("the ZIP64 end record is missing or damaged")
            _, rec_size, _, _, disk, cd_disk, disk_entries, entries, cd_size, cd_offset = rec
            if z64_offset + 12 + rec_size != eocd_offset - _Z64_LOCATOR.size:
                raise ZipFormatError("the ZIP64 end record has a wrong length")
            record_end = z64_offset
            zip64 = True
    if disk != 0 or cd_disk != 0 or disk_entries != entries:
        raise ZipFormatError("split (multi-disk) archives are not supported")
    if cd_offset + cd_size != record_end:
        raise ZipFormatError(
            f"the central directory should end at byte {cd_offset + cd_size} but the end record is at "
            f"byte {record_end} (data prepended or appended, or the archive is damaged)"
        )
    return EndRecord(entries=entries, cd_offset=cd_offset, cd_size=cd_size, zip64=zip64)


def _zip64_values(extra: bytes, wanted: list[str], where: str) -> dict[str, int]:
    """Read the ZIP64 extended information field: 8-byte values for each field that overflowed."""
    pos = 0
    while pos + 4 <= len(extra):
        tag, size = struct.unpack_from("<2H", extra, pos)
        if pos + 4 + size > len(extra):
            raise ZipFormatError(f"{where} has a damaged extra field")
        if tag == _ZIP64_EXTRA_ID:
            values: dict[str, int] = {}
            field_pos = pos + 4
            for name in wanted:
                width = 4 if name == "disk" else 8
                if field_pos + width > pos + 4 + size:
                    raise ZipFormatError(f"{where} has a ZIP64 field that is too short")
                values[name] = int.from_bytes(extra[field_pos : field_pos + width], "little")
                field_pos += width
            return values
        pos += 4 + size
    if wanted:
        raise ZipFormatError(f"{where} needs a ZIP64 extra field but has none")
    return {}


def iter_central_directory(f: BinaryIO, end: EndRecord) -> Iterator[CentralRecord]:
    """Yield the central directory records one by one, reading only as much as each one needs.

    Memory stays proportional to one record, whatever the directory claims; the caller decides what to
    keep and may move the file position between records. The number of records must match the end
    record exactly.
    """
    consumed = 0
    for index in range(end.entries):
        where = f"central directory entry {index + 1}"
        if consumed + _CENTRAL.size > end.cd_size:
            raise ZipFormatError(f"the central directory ends before entry {index + 1} of {end.entries}")
        f.seek(end.cd_offset + consumed)  # the consumer may have moved the file position meanwhile
        head = f.read(_CENTRAL.size)
        if len(head) != _CENTRAL.size:
            raise ZipFormatError(f"the file ends inside {where}")
        (
            sig,
            _made_version,
            create_system,
            _need_version,
            _need_system,
            flags,
            method,
            _time,
            _date,
            crc,
            csize,
            usize,
            name_len,
            extra_len,
            comment_len,
            disk,
            _int_attr,
            ext_attr,
            offset,
        ) = _CENTRAL.unpack(head)
        if sig != _CENTRAL_SIG:
            raise ZipFormatError(f"{where} is damaged (bad signature)")
        var_len = name_len + extra_len + comment_len
        consumed += _CENTRAL.size + var_len
        if consumed > end.cd_size:
            raise ZipFormatError(f"{where} runs past the end of the central directory")
        raw_name = f.read(name_len)
        extra = f.read(extra_len)
        if len(raw_name) != name_len or len(extra) != extra_len:
            raise ZipFormatError(f"the file ends inside {where}")
        wanted = [
            name
            for name, value, marker in (
                ("usize", usize, 0xFFFFFFFF),
                ("csize", csize, 0xFFFFFFFF),
                ("offset", offset, 0xFFFFFFFF),
                ("disk", disk, 0xFFFF),
            )
            if value == marker
        ]
        big = _zip64_values(extra, wanted, where)
        yield CentralRecord(
            index=index,
            raw_name=raw_name,
            create_system=create_system,
            flags=flags,
            method=method,
            crc=crc,
            compressed_size=big.get("csize", csize),
            file_size=big.get("usize", usize),
            disk_start=big.get("disk", disk),
            external_attr=ext_attr,
            header_offset=big.get("offset", offset),
        )
    if consumed != end.cd_size:
        raise ZipFormatError(
            f"the central directory has {end.cd_size - consumed} bytes after its last entry "
            f"(the end record says {end.entries} entries)"
        )


def read_local_header(f: BinaryIO, offset: int, limit: int) -> LocalHeader:
    """Read the local file header at ``offset``; it must lie wholly before ``limit`` (the directory)."""
    if offset + _LOCAL.size > limit:
        raise ZipFormatError(f"its local header at byte {offset} lies outside the entry data area")
    sig, _version, flags, method, _time, _date, _crc, _csize, _usize, name_len, extra_len = _LOCAL.unpack(
        _read_exact(f, offset, _LOCAL.size)
    )
    if sig != _LOCAL_SIG:
        raise ZipFormatError(f"there is no local header at byte {offset}")
    data_offset = offset + _LOCAL.size + name_len + extra_len
    if data_offset > limit:
        raise ZipFormatError(f"its local header at byte {offset} runs into the central directory")
    raw_name = _read_exact(f, offset + _LOCAL.size, name_len)
    extra = f.read(extra_len)
    return LocalHeader(raw_name=raw_name, flags=flags, method=method, data_offset=data_offset, zip64=_has_zip64(extra))


def _has_zip64(extra: bytes) -> bool:
    pos = 0
    while pos + 4 <= len(extra):
        tag, size = struct.unpack_from("<2H", extra, pos)
        if tag == _ZIP64_EXTRA_ID:
            return True
        pos += 4 + size
    return False


def descriptor_length(f: BinaryIO, data_end: int, local: LocalHeader, limit: int) -> int:
    """Bytes of the data descriptor that follows an entry written in streaming mode (flag bit 3).

    It counts towards the entry's byte range so that nothing else may hide in it; the optional signature
    is detected by peeking, the 4- or 8-byte sizes by whether the local header used ZIP64.
    """
    if not local.flags & FLAG_DATA_DESCRIPTOR:
        return 0
    f.seek(data_end)
    has_sig = f.read(4) == _DESCRIPTOR_SIG
    length = (4 if has_sig else 0) + (20 if local.zip64 else 12)
    return min(length, max(limit - data_end, 0))


class EntryStream(io.RawIOBase):
    """The uncompressed bytes of one entry, never more than ``size`` and checked against ``crc`` at the end.

    The declared size is a hard cap: decompression is asked for at most one byte beyond what is still
    allowed, so a lying header costs at most one read buffer, never the amount the data would inflate to.
    Any problem raises the exception that ``error(reason)`` builds, so the caller decides its type.
    """

    def __init__(
        self,
        f: BinaryIO,
        *,
        data_offset: int,
        compressed_size: int,
        size: int,
        crc: int,
        method: int,
        error: Callable[[str], Exception],
    ) -> None:
        super().__init__()
        if method not in (METHOD_STORED, METHOD_DEFLATED):
            raise error(f"compression method {method} is not supported")
        self._f = f
        self._f.seek(data_offset)
        self._compressed_left = compressed_size
        self._left = size
        self._size = size
        self._expected_crc = crc
        self._crc = 0
        self._error = error
        self._inflater = isal_zlib.decompressobj(-15) if method == METHOD_DEFLATED else None
        self._done = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        if self._done or len(buffer) == 0:
            return 0
        while True:
            data = self._next_chunk(len(buffer))
            if data is None:
                self._finish()
                return 0
            if not data:
                continue
            if len(data) > self._left:
                raise self._error(f"its data is longer than the declared {self._size} bytes")
            self._left -= len(data)
            self._crc = isal_zlib.crc32(data, self._crc)
            buffer[: len(data)] = data
            return len(data)

    def _read_compressed(self, want: int) -> bytes:
        if self._compressed_left <= 0:
            return b""
        data = self._f.read(min(want, self._compressed_left))
        if not data:
            raise self._error("the file ends inside its data")
        self._compressed_left -= len(data)
        return data

    def _next_chunk(self, want: int) -> bytes | None:
        """Some output (possibly empty while input is consumed), or None at the end of the entry."""
        limit = min(want, self._left + 1)
        if self._inflater is None:
            data = self._read_compressed(limit)
            return data or None
        if self._inflater.eof:
            if self._compressed_left > 0 or self._inflater.unused_data:
                raise self._error("compressed data continues after the end of its deflate stream")
            return None
        source = self._inflater.unconsumed_tail or self._read_compressed(_CHUNK)
        try:
            out = self._inflater.decompress(source, limit)
        except _INFLATE_ERRORS as exc:
            raise self._error(f"its deflate data is invalid ({exc})") from None
        if not out and not source and not self._inflater.eof:
            raise self._error("its deflate data ends before the end of the stream")
        return out

    def _finish(self) -> None:
        self._done = True
        if self._left:
            raise self._error(f"its data ends after {self._size - self._left} of the declared {self._size} bytes")
        if self._crc != self._expected_crc:
            raise self._error(f"CRC-32 is {self._crc:08x}, the directory says {self._expected_crc:08x}")

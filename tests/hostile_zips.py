"""Builders for hostile (and a few honest) ZIP packages, written byte by byte so they can lie.

:mod:`zipfile` refuses to write most of what an attacker sends, so the archives here are assembled from
the record layouts of APPNOTE.TXT. ``CASES`` is the corpus: each case names a builder, the limits it is
checked with and the rule ids the scan must report. Adding a hostile package is adding a function and a
line. Nothing is committed as binary; every file is generated into pytest's ``tmp_path``.
"""

from __future__ import annotations

import stat
import struct
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gateway.xoev.limits import Limits

MiB = 1024 * 1024
GiB = 1024 * MiB

UUID = "9fde4e7a-b41b-11ec-9225-005056871b7c"
MESSAGE = f"{UUID}_Aussonderung.Aussonderung.0503.xml"
PACKAGE = f"{UUID}_Aussonderung.Aussonderung.0503.zip"
_XML = b'<?xml version="1.0" encoding="UTF-8"?><xdomea:Aussonderung.Aussonderung.0503/>'


@dataclass
class Raw:
    """One entry as it will be written; every field the scan checks can be set to a lie."""

    name: bytes | str
    payload: bytes = b""  # the bytes written as the entry's data (already compressed for method 8)
    method: int = 0
    file_size: int | None = None  # declared uncompressed size; default: len(plain)
    compressed_size: int | None = None  # declared; default: len(payload)
    crc: int | None = None  # default: CRC-32 of plain
    plain: bytes | None = None  # uncompressed content for the defaults; default: payload
    flags: int = 0
    external_attr: int = 0o100644 << 16
    create_system: int = 3
    local_name: bytes | None = None  # what the local header says; default: name
    header_offset: int | None = None  # where the central directory says the local header is
    zip64: bool = False  # write sizes in a ZIP64 extra field (local and central)
    descriptor: bool = False  # zero the local sizes and append a data descriptor (streaming writers)
    local_offset: int = field(default=0, init=False)

    @property
    def raw_name(self) -> bytes:
        return self.name.encode("utf-8") if isinstance(self.name, str) else self.name


def stored(name: bytes | str, data: bytes, **kw: Any) -> Raw:
    return Raw(name, data, **kw)


def deflated(name: bytes | str, data: bytes, **kw: Any) -> Raw:
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    return Raw(name, c.compress(data) + c.flush(), method=8, plain=data, **kw)


def zeros_deflated(size: int) -> bytes:
    """A raw deflate stream of ``size`` zero bytes (a multiple of 1 MiB), built without compressing them.

    After a full flush the compressor's output for the same input repeats exactly, so one compressed MiB
    is repeated: 1 GiB of zeros costs about 1 MiB and no CPU.
    """
    assert size % MiB == 0
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = c.compress(bytes(MiB)) + c.flush(zlib.Z_FULL_FLUSH)
    assert c.compress(bytes(MiB)) + c.flush(zlib.Z_FULL_FLUSH) == block
    return block * (size // MiB) + c.flush()


def crc_of_zeros(size: int, crc: int = 0) -> int:
    chunk = bytes(MiB)
    for _ in range(size // MiB):
        crc = zlib.crc32(chunk, crc)
    return crc


def _local(e: Raw) -> bytes:
    plain = e.payload if e.plain is None else e.plain
    csize = len(e.payload) if e.compressed_size is None else e.compressed_size
    usize = len(plain) if e.file_size is None else e.file_size
    crc = zlib.crc32(plain) if e.crc is None else e.crc
    flags = e.flags | (0x08 if e.descriptor else 0)
    extra = b""
    if e.zip64:
        extra = struct.pack("<HHQQ", 1, 16, usize, csize)
        csize = usize = 0xFFFFFFFF
    if e.descriptor:
        crc = csize = usize = 0
    name = e.raw_name if e.local_name is None else e.local_name
    version = 45 if e.zip64 else 20
    head = struct.pack(
        "<4s5HL2L2H", b"PK\x03\x04", version, flags, e.method, 0, 0x21, crc, csize, usize, len(name), len(extra)
    )
    return head + name + extra


def _descriptor(e: Raw) -> bytes:
    plain = e.payload if e.plain is None else e.plain
    csize = len(e.payload) if e.compressed_size is None else e.compressed_size
    usize = len(plain) if e.file_size is None else e.file_size
    crc = zlib.crc32(plain) if e.crc is None else e.crc
    fmt = "<4sLQQ" if e.zip64 else "<4sLLL"
    return struct.pack(fmt, b"PK\x07\x08", crc, csize, usize)


def _central(e: Raw) -> bytes:
    plain = e.payload if e.plain is None else e.plain
    csize = len(e.payload) if e.compressed_size is None else e.compressed_size
    usize = len(plain) if e.file_size is None else e.file_size
    crc = zlib.crc32(plain) if e.crc is None else e.crc
    offset = e.local_offset if e.header_offset is None else e.header_offset
    extra = b""
    if e.zip64 or max(csize, usize, offset) >= 0xFFFFFFFF:
        extra = struct.pack("<HHQQQ", 1, 24, usize, csize, offset)
        csize = usize = offset = 0xFFFFFFFF
    flags = e.flags | (0x08 if e.descriptor else 0)
    name = e.raw_name
    return (
        struct.pack(
            "<4s4B4HL2L5HLL",
            b"PK\x01\x02",
            45,
            e.create_system,
            20,
            0,
            flags,
            e.method,
            0,
            0x21,
            crc,
            csize,
            usize,
            len(name),
            len(extra),
            0,
            0,
            0,
            e.external_attr,
            offset,
        )
        + name
        + extra
    )


def build(
    entries: list[Raw],
    *,
    body: bytes | None = None,
    comment: bytes = b"",
    zip64_end: bool = False,
    declared_entries: int | None = None,
) -> bytes:
    """Assemble an archive. ``body`` replaces the generated local headers and data (for overlaps)."""
    if body is None:
        parts = []
        pos = 0
        for e in entries:
            e.local_offset = pos
            chunk = _local(e) + e.payload + (_descriptor(e) if e.descriptor else b"")
            parts.append(chunk)
            pos += len(chunk)
        body = b"".join(parts)
    cd = b"".join(_central(e) for e in entries)
    count = len(entries) if declared_entries is None else declared_entries
    end = b""
    if zip64_end:
        z64_offset = len(body) + len(cd)
        end += struct.pack("<4sQ2H2L4Q", b"PK\x06\x06", 44, 45, 45, 0, 0, count, count, len(cd), len(body))
        end += struct.pack("<4sLQL", b"PK\x06\x07", 0, z64_offset, 1)
        end += struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, len(comment))
    else:
        end += struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, count, count, len(cd), len(body), len(comment))
    return body + cd + end + comment


def write(tmp_path: Path, data: bytes, name: str = PACKAGE) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def honest(tmp_path: Path, *extra: Raw) -> Path:
    return write(tmp_path, build([deflated(MESSAGE, _XML), *extra]))


# --- overlap bombs (D. Fifield, "A better zip bomb", WOOT 2019) ------------------------------------------


def full_overlap(tmp_path: Path, copies: int = 20) -> Path:
    """Many central directory entries share one local header and one compressed kernel."""
    kernel = zeros_deflated(4 * MiB)
    crc = crc_of_zeros(4 * MiB)
    local = Raw("kernel", kernel, method=8, file_size=4 * MiB, crc=crc)
    body = _local(local) + kernel
    entries = [
        Raw(f"{i:04d}.pdf", kernel, method=8, file_size=4 * MiB, crc=crc, header_offset=0) for i in range(copies)
    ]
    return write(tmp_path, build(entries, body=body))


def quoted_overlap(tmp_path: Path, files: int = 8, kernel_size: int = 2 * MiB) -> tuple[Path, list[Raw]]:
    """Each entry's data starts with a stored deflate block that "quotes" the next entry's local header.

    Every entry then inflates to all following local headers plus the shared kernel, although each local
    header differs and matches its central directory name: only a byte range check can see it. The body
    is ``LH0 Q0 LH1 Q1 ... LH(n-1) kernel``; it is built back to front because each local header states
    the size and CRC of everything after it. Returns the entries, so a test can show the bomb is real.
    """
    kernel = zeros_deflated(kernel_size)
    entries = [Raw(f"{i:04d}.pdf", method=8) for i in range(files)]
    headers: list[bytes] = [b""] * files
    data, quoted_plain = kernel, b""
    for i in reversed(range(files)):
        if i + 1 < files:
            nxt = headers[i + 1]
            data = struct.pack("<BHH", 0, len(nxt), len(nxt) ^ 0xFFFF) + nxt + data
            quoted_plain = nxt + quoted_plain
        e = entries[i]
        e.payload = data
        e.file_size = len(quoted_plain) + kernel_size
        e.crc = crc_of_zeros(kernel_size, zlib.crc32(quoted_plain))
        headers[i] = _local(e)
    offset = 0
    for e, head in zip(entries, headers, strict=True):
        e.header_offset = offset
        offset += len(head) + 5
    return write(tmp_path, build(entries, body=headers[0] + entries[0].payload)), entries


# --- the corpus ------------------------------------------------------------------------------------------


def _cut(fraction: float) -> Callable[[Path], Path]:
    def builder(tmp_path: Path) -> Path:
        data = build([deflated(MESSAGE, _XML * 50), stored("a.pdf", b"%PDF-1.7 " * 200)])
        return write(tmp_path, data[: int(len(data) * fraction)])

    return builder


def _cut_in_central_directory(tmp_path: Path) -> Path:
    entries = [deflated(MESSAGE, _XML), stored("a.pdf", b"%PDF" * 10)]
    data = build(entries)
    cd_start = data.rfind(b"PK\x01\x02")
    return write(tmp_path, data[: cd_start + 20])


def _symlink(tmp_path: Path) -> Path:
    return honest(tmp_path, stored("link.pdf", b"/etc/passwd", external_attr=(stat.S_IFLNK | 0o777) << 16))


def _fifo(tmp_path: Path) -> Path:
    return honest(tmp_path, stored("pipe.pdf", b"", external_attr=(stat.S_IFIFO | 0o644) << 16))


def _windows_link(tmp_path: Path) -> Path:
    return honest(tmp_path, stored("link.pdf", b"x", create_system=0, external_attr=0x400 | 0x20))


def _bzip2(tmp_path: Path) -> Path:
    path = tmp_path / PACKAGE
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(MESSAGE, _XML)
        zf.writestr("doc.pdf", b"%PDF" * 100, compress_type=zipfile.ZIP_BZIP2)
    return path


def _lzma(tmp_path: Path) -> Path:
    path = tmp_path / PACKAGE
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(MESSAGE, _XML)
        zf.writestr("doc.pdf", b"%PDF" * 100, compress_type=zipfile.ZIP_LZMA)
    return path


def _encrypted(tmp_path: Path) -> Path:
    # Traditional PKWARE encryption: a 12-byte header before the data; the flag is what matters here.
    return honest(tmp_path, stored("secret.pdf", bytes(12) + b"%PDF", flags=0x1, plain=b"%PDF"))


def _ratio_bomb(tmp_path: Path) -> Path:
    size = 1 * GiB
    return honest(tmp_path, Raw("bomb.tif", zeros_deflated(size), method=8, file_size=size, crc=0))


def _declared_entry_too_big(tmp_path: Path) -> Path:
    return honest(tmp_path, Raw("big.tif", zeros_deflated(4 * MiB), method=8, file_size=4 * MiB, crc=0))


def _many_entries(tmp_path: Path) -> Path:
    return honest(tmp_path, *(stored(f"{i}.txt", b"x") for i in range(20)))


def _too_much_in_all(tmp_path: Path) -> Path:
    return honest(tmp_path, *(stored(f"{i}.txt", bytes(600)) for i in range(4)))


def _central_directory_claims_more(tmp_path: Path) -> Path:
    return write(tmp_path, build([deflated(MESSAGE, _XML)], declared_entries=3))


def _prepended(tmp_path: Path) -> Path:
    # What `cat stub.exe package.zip` gives: the offsets inside no longer count from the file's start.
    return write(tmp_path, b"MZ" + bytes(100) + build([deflated(MESSAGE, _XML)]))


def _local_name_differs(tmp_path: Path) -> Path:
    return honest(tmp_path, stored("harmless.pdf", b"%PDF", local_name=b"../evil.sh\x00\x00"))


def _stored_size_lie(tmp_path: Path) -> Path:
    return honest(tmp_path, stored("a.pdf", b"%PDF" * 10, file_size=4))


def _header_offset_outside(tmp_path: Path) -> Path:
    return honest(tmp_path, stored("a.pdf", b"%PDF", header_offset=10**6))


def _data_into_central_directory(tmp_path: Path) -> Path:
    return honest(tmp_path, stored("a.pdf", b"%PDF", compressed_size=400, file_size=400))


def _file_and_folder(tmp_path: Path) -> Path:
    return honest(tmp_path, stored("docs", b"x"), stored("docs/a.pdf", b"y"))


def _unicode_twins(tmp_path: Path) -> Path:
    # "Ä" precomposed and as A + combining diaeresis: one file on macOS, two names in the ZIP.
    return honest(
        tmp_path,
        stored("\u00c4rger.pdf", b"a", flags=0x800),
        stored("A\u0308rger.pdf", b"b", flags=0x800),
    )


@dataclass(frozen=True)
class Case:
    build: Callable[[Path], Path]
    rules: frozenset[str]
    limits: Limits = field(default_factory=Limits)


def _case(builder: Callable[[Path], Path], *rules: str, **limits: Any) -> Case:
    return Case(builder, frozenset(rules), Limits(**limits))


CASES: dict[str, Case] = {
    "slip-dotdot": _case(lambda p: honest(p, stored("../../etc/x", b"x")), "XGW-ZIP-002"),
    "slip-inner-dotdot": _case(lambda p: honest(p, stored("docs/../../x", b"x")), "XGW-ZIP-002"),
    "slip-absolute": _case(lambda p: honest(p, stored("/abs/x.pdf", b"x")), "XGW-ZIP-002"),
    "slip-drive": _case(lambda p: honest(p, stored("C:x.pdf", b"x")), "XGW-ZIP-002"),
    "slip-drive-backslash": _case(lambda p: honest(p, stored("C:\\x\\y.pdf", b"x")), "XGW-ZIP-002"),
    "slip-backslash": _case(lambda p: honest(p, stored("..\\..\\x.pdf", b"x")), "XGW-ZIP-002"),
    "name-nul": _case(lambda p: honest(p, stored(b"a.pdf\x00.txt", b"x")), "XGW-ZIP-002"),
    "name-control": _case(lambda p: honest(p, stored("a\r\nb.pdf", b"x")), "XGW-ZIP-002"),
    "name-empty": _case(lambda p: honest(p, stored(b"", b"x")), "XGW-ZIP-002"),
    "name-dot-segment": _case(lambda p: honest(p, stored("./a.pdf", b"x")), "XGW-ZIP-002"),
    "name-bad-utf8": _case(lambda p: honest(p, stored(b"\xff\xfe.pdf", b"x", flags=0x800)), "XGW-ZIP-002"),
    "name-segment-too-long": _case(lambda p: honest(p, stored("a" * 300 + ".pdf", b"x")), "XGW-ZIP-002"),
    "duplicate": _case(lambda p: honest(p, stored("a.pdf", b"1"), stored("a.pdf", b"2")), "XGW-ZIP-003"),
    "duplicate-case": _case(lambda p: honest(p, stored("A.pdf", b"1"), stored("a.PDF", b"2")), "XGW-ZIP-003"),
    "duplicate-unicode-form": _case(_unicode_twins, "XGW-ZIP-003"),
    "duplicate-file-and-folder": _case(_file_and_folder, "XGW-ZIP-003"),
    "symlink": _case(_symlink, "XGW-ZIP-004"),
    "fifo": _case(_fifo, "XGW-ZIP-004"),
    "windows-reparse-point": _case(_windows_link, "XGW-ZIP-004"),
    "too-many-entries": _case(_many_entries, "XGW-ZIP-005", max_package_entries=10),
    "package-too-big": _case(_many_entries, "XGW-ZIP-005", max_package_bytes=1000),
    "entry-too-big": _case(_declared_entry_too_big, "XGW-ZIP-005", max_entry_bytes=MiB, max_compression_ratio=1e6),
    "unpacked-too-big": _case(_too_much_in_all, "XGW-ZIP-005", max_unpacked_bytes=2000),
    "bomb-ratio-1gib": _case(_ratio_bomb, "XGW-ZIP-006"),
    # The overlap bombs are checked with the ratio limit off: overlap detection must not depend on it.
    "overlap-full": _case(full_overlap, "XGW-ZIP-007", "XGW-ZIP-012", max_compression_ratio=1e6),
    "overlap-quoted": _case(lambda p: quoted_overlap(p)[0], "XGW-ZIP-007", max_compression_ratio=1e6),
    "overlap-central-directory": _case(_data_into_central_directory, "XGW-ZIP-007"),
    "local-name-differs": _case(_local_name_differs, "XGW-ZIP-012"),
    "stored-size-lie": _case(_stored_size_lie, "XGW-ZIP-012"),
    "header-offset-outside": _case(_header_offset_outside, "XGW-ZIP-012"),
    "encrypted": _case(_encrypted, "XGW-ZIP-013"),
    "bzip2": _case(_bzip2, "XGW-ZIP-013"),
    "lzma": _case(_lzma, "XGW-ZIP-013"),
    "truncated-middle": _case(_cut(0.5), "XGW-ZIP-001"),
    "truncated-end-record": _case(_cut(0.99), "XGW-ZIP-001"),
    "truncated-central-directory": _case(_cut_in_central_directory, "XGW-ZIP-001"),
    "central-directory-count-lie": _case(_central_directory_claims_more, "XGW-ZIP-001"),
    "prepended-data": _case(_prepended, "XGW-ZIP-001"),
    "appended-data": _case(lambda p: write(p, build([deflated(MESSAGE, _XML)]) + b"trailing bytes"), "XGW-ZIP-001"),
    "comment-length-lie": _case(lambda p: write(p, build([deflated(MESSAGE, _XML)], comment=b"x")[:-1]), "XGW-ZIP-001"),
    "garbage": _case(lambda p: write(p, bytes(range(256)) * 64), "XGW-ZIP-001"),
    "xml-not-zip": _case(lambda p: write(p, _XML), "XGW-ZIP-001"),
    "tiny": _case(lambda p: write(p, b"PK\x05\x06"), "XGW-ZIP-001"),
    "empty-file": _case(lambda p: write(p, b""), "XGW-IN-002"),
}

"""xdomea ZIP packages: check them from the central directory before a single byte is extracted.

A package is ``<ProzessID>_<Nachrichtentyp>.zip`` (or ``.xdomea``) holding the message XML of the same
name and the primary documents it references. Packages arrive from other authorities and can be
gigabytes, so everything an archive can lie about (names, sizes, where entries lie, what they are) is
checked first, with memory bounded by the number of entries and never by their sizes. The validator uses
it in this order::

    scan = scan_package(path, limits)
    message, found = check_package_layout(scan, path.name)
    xml = read_entry(scan, message, limits.max_xml_bytes)
    ... parse and validate xml, collect the Primaerdokument/Dateiname values ...
    found += check_references(scan, message, dateinamen, locations)

Reading or extracting an entry refuses entries that the scan found unsafe, caps every stream at its
declared size and verifies its CRC-32.
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
import tempfile
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from io import BufferedReader
from pathlib import Path
from typing import BinaryIO

from gateway.xoev.limits import Limits
from gateway.xoev.report import Finding, Location, Severity, finding
from gateway.xoev.validation import zipcheck
from gateway.xoev.validation.naming import PACKAGE_SUFFIXES, parse_name

#: Entries above this uncompressed size are checked against ``Limits.max_compression_ratio``; small files
#: such as XML full of repeated whitespace legitimately compress very well.
RATIO_CHECK_FROM = 1024 * 1024
#: Longest entry name accepted, in bytes (Linux PATH_MAX); also bounds the memory a directory can claim.
MAX_NAME_BYTES = 4096
#: Longest path segment accepted, in bytes (NAME_MAX of common file systems: it could not be extracted).
MAX_SEGMENT_BYTES = 255
#: A hostile package could produce one finding per entry and rule; the report keeps the first ones.
MAX_FINDINGS_PER_RULE = 100

_DRIVE = re.compile(r"^[A-Za-z]:")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")  # Unicode category Cc
_COPY_CHUNK = 1024 * 1024
_STREAM_BUFFER = 64 * 1024


class PackageError(Exception):
    """Reading an entry failed; ``finding`` is what to report (the rule says why)."""

    def __init__(self, item: Finding) -> None:
        super().__init__(item.message)
        self.finding = item


@dataclass(frozen=True, slots=True)
class PackageEntry:
    """One central directory entry as the scan understood it.

    ``data_offset`` is None when the local header could not be read; such an entry always has an error.
    """

    name: str
    file_size: int
    compressed_size: int
    method: int
    crc: int
    header_offset: int
    data_offset: int | None
    is_dir: bool

    @property
    def data_end(self) -> int | None:
        return None if self.data_offset is None else self.data_offset + self.compressed_size


@dataclass(slots=True)
class PackageScan:
    """The verdict on a package's structure, and what later reads need to find the entries again."""

    path: Path
    display_name: str
    file_size: int
    entries: list[PackageEntry] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    #: entry name -> the first error about it; such entries are never read or extracted.
    refused: dict[str, Finding] = field(default_factory=dict)
    _files: dict[str, PackageEntry] = field(default_factory=dict, repr=False, compare=False)
    _files_of: list[PackageEntry] | None = field(default=None, repr=False, compare=False)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity is Severity.ERROR]

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def files(self) -> list[PackageEntry]:
        """The entries that are files; directories are allowed in a package but carry nothing."""
        return [e for e in self.entries if not e.is_dir]

    def location(self, entry: str | None = None) -> Location:
        return Location(file=self.display_name, entry=entry)

    def file(self, name: str) -> PackageEntry:
        """The file entry called ``name``; KeyError if there is none (directories do not count)."""
        if self._files_of is not self.entries:  # built once per entry list; scans are not edited later
            self._files = {e.name: e for e in reversed(self.entries) if not e.is_dir}
            self._files_of = self.entries
        return self._files[name]


# --- scanning ------------------------------------------------------------------------------------------


class _Collector:
    """Gathers findings for one scan, remembering which entries they make unreadable."""

    def __init__(self, scan: PackageScan) -> None:
        self.scan = scan
        self.counts: Counter[str] = Counter()

    def add(self, rule_id: str, entry: str | None = None, /, **params: object) -> None:
        item = finding(rule_id, self.scan.location(entry), **params)
        if entry is not None and item.severity is Severity.ERROR:
            self.scan.refused.setdefault(entry, item)
        self.counts[rule_id] += 1
        if self.counts[rule_id] <= MAX_FINDINGS_PER_RULE:
            self.scan.findings.append(item)


def scan_package(path: Path, limits: Limits, *, display_name: str | None = None) -> PackageScan:
    """Check a ZIP package's structure without extracting anything.

    Returns every problem found as findings (rules XGW-IN-001/002, XGW-ZIP-001..007, 012, 013) rather than
    raising, so that one report can list them all. ``display_name`` is the name findings carry (the
    name the sender used, when ``path`` is a spool file).
    """
    scan = PackageScan(path=path, display_name=display_name or path.name, file_size=0)
    out = _Collector(scan)
    try:
        f = path.open("rb")
    except OSError as exc:
        out.add("XGW-IN-001", reason=exc.strerror or str(exc))
        return scan
    with f:
        scan.file_size = os.fstat(f.fileno()).st_size
        if scan.file_size == 0:
            out.add("XGW-IN-002")
            return scan
        if scan.file_size > limits.max_package_bytes:
            out.add(
                "XGW-ZIP-005",
                reason=f"the file has {scan.file_size} bytes, max_package_bytes is {limits.max_package_bytes}",
            )
            return scan
        try:
            end = zipcheck.read_end_record(f, scan.file_size)
        except zipcheck.ZipFormatError as exc:
            out.add("XGW-ZIP-001", reason=exc.reason)
            return scan
        if end.entries > limits.max_package_entries:
            out.add(
                "XGW-ZIP-005",
                reason=f"it has {end.entries} entries, max_package_entries is {limits.max_package_entries}",
            )
            return scan
        try:
            records = [_check_record(f, rec, end, limits, out) for rec in zipcheck.iter_central_directory(f, end)]
        except zipcheck.ZipFormatError as exc:
            scan.findings.clear()
            scan.refused.clear()
            out.counts.clear()
            out.add("XGW-ZIP-001", reason=exc.reason)
            return scan
    scan.entries = [entry for entry, _ in records]
    _check_totals(scan, limits, out)
    _check_duplicates(scan, out)
    _check_overlaps(records, end.cd_offset, out)
    return scan


def _decode_name(rec: zipcheck.CentralRecord) -> tuple[str, str | None]:
    """The entry name and, if it cannot be trusted as text, why.

    A name flagged UTF-8 must be UTF-8. Without the flag APPNOTE says CP437, which Windows' built-in ZIP
    writes; but Info-ZIP ``zip`` on Linux writes UTF-8 names without setting the flag. German names in
    CP437 (umlauts 0x81-0x9A without a lead byte before them) are never valid UTF-8, so a name that
    decodes as UTF-8 is taken as UTF-8 and anything else as CP437.
    """
    if rec.flags & zipcheck.FLAG_UTF8:
        try:
            return rec.raw_name.decode("utf-8"), None
        except UnicodeDecodeError:
            return rec.raw_name.decode("utf-8", "backslashreplace"), "it is marked UTF-8 but is not valid UTF-8"
    try:
        return rec.raw_name.decode("utf-8"), None
    except UnicodeDecodeError:
        return rec.raw_name.decode("cp437"), None


def printable(name: str, limit: int = 200) -> str:
    """An entry name fit for a report: control characters escaped, very long names shortened."""
    if len(name) <= limit and name.isprintable():
        return name
    shown = "".join(c if c.isprintable() else ascii(c)[1:-1] for c in name[:limit])
    return shown + ("…" if len(name) > limit else "")


def unsafe_name_reason(name: str) -> str | None:
    """Why extracting an entry of this name could write outside the target or be misread, or None."""
    if not name:
        return "it is empty"
    if _CONTROL.search(name):
        return "it contains control characters"
    if "\\" in name:
        return "it contains a backslash (a path separator on Windows)"
    if name.startswith("/"):
        return "it is an absolute path"
    if _DRIVE.match(name):
        return "it starts with a drive letter"
    segments = name.removesuffix("/").split("/")
    if ".." in segments:
        return "it contains a '..' segment"
    if any(s in ("", ".") for s in segments):
        return "it contains an empty or '.' segment"
    if len(name.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES:
        return f"it is longer than {MAX_NAME_BYTES} bytes"
    if any(len(s.encode("utf-8", "surrogatepass")) > MAX_SEGMENT_BYTES for s in segments):
        return f"a path segment is longer than {MAX_SEGMENT_BYTES} bytes"
    return None


def _special_kind(rec: zipcheck.CentralRecord) -> bool:
    """True for symbolic links, devices, FIFOs and sockets (Unix mode bits, or a Windows reparse point)."""
    mode = rec.external_attr >> 16
    if mode and stat.S_IFMT(mode) not in (0, stat.S_IFREG, stat.S_IFDIR):
        return True
    return bool(rec.external_attr & 0x400)  # FILE_ATTRIBUTE_REPARSE_POINT: a Windows link


def _is_dir(name: str, rec: zipcheck.CentralRecord) -> bool:
    return name.endswith("/") or stat.S_ISDIR(rec.external_attr >> 16) or bool(rec.external_attr & 0x10)


def _check_record(
    f: BinaryIO, rec: zipcheck.CentralRecord, end: zipcheck.EndRecord, limits: Limits, out: _Collector
) -> tuple[PackageEntry, int]:
    """Check one central directory record; returns the entry and the end of its byte range in the file."""
    name, bad_text = _decode_name(rec)
    shown = printable(name)
    if bad_text:
        out.add("XGW-ZIP-002", name, name=shown, reason=bad_text)
    elif reason := unsafe_name_reason(name):
        out.add("XGW-ZIP-002", name, name=shown, reason=reason)
    if len(rec.raw_name) > MAX_NAME_BYTES:
        name = name[:MAX_NAME_BYTES] + f"…#{rec.index}"  # keep memory bounded and the name distinct
    is_dir = _is_dir(name, rec)
    if _special_kind(rec):
        out.add("XGW-ZIP-004", name, name=shown)
    encrypted = rec.flags & (zipcheck.FLAG_ENCRYPTED | zipcheck.FLAG_STRONG_ENCRYPTION | zipcheck.FLAG_MASKED_HEADERS)
    if encrypted:
        out.add("XGW-ZIP-013", name, name=shown, reason="it is encrypted; packages must not be encrypted")
    elif rec.method not in (zipcheck.METHOD_STORED, zipcheck.METHOD_DEFLATED):
        method = zipcheck.METHOD_NAMES.get(rec.method, "unknown")
        out.add(
            "XGW-ZIP-013",
            name,
            name=shown,
            reason=f"it uses compression method {rec.method} ({method}); only stored (0) and deflate (8) are accepted",
        )
    elif rec.flags & zipcheck.FLAG_PATCHED:
        out.add("XGW-ZIP-013", name, name=shown, reason="it uses compressed patched data")
    if rec.disk_start != 0:
        out.add("XGW-ZIP-013", name, name=shown, reason="it lies on another disk of a split archive")
    if is_dir and rec.file_size:
        out.add("XGW-ZIP-012", name, name=shown, reason=f"it is a directory but declares {rec.file_size} bytes")
    if rec.file_size > limits.max_entry_bytes:
        out.add(
            "XGW-ZIP-005",
            name,
            reason=f"entry '{shown}' declares {rec.file_size} bytes, max_entry_bytes is {limits.max_entry_bytes}",
        )
    if rec.file_size > RATIO_CHECK_FROM:
        ratio = rec.file_size / max(rec.compressed_size, 1)
        if ratio > limits.max_compression_ratio:
            out.add(
                "XGW-ZIP-006",
                name,
                name=shown,
                reason=(
                    f"expands {rec.compressed_size} bytes to {rec.file_size} bytes "
                    f"(ratio {ratio:.0f}:1, max_compression_ratio is {limits.max_compression_ratio:g}:1)"
                ),
            )
    if rec.method == zipcheck.METHOD_STORED and rec.compressed_size != rec.file_size and not encrypted:
        out.add(
            "XGW-ZIP-012",
            name,
            name=shown,
            reason=f"it is stored but declares {rec.compressed_size} bytes stored for {rec.file_size} bytes of data",
        )
    data_offset: int | None = None
    range_end = rec.header_offset
    try:
        local = zipcheck.read_local_header(f, rec.header_offset, end.cd_offset)
    except zipcheck.ZipFormatError as exc:
        out.add("XGW-ZIP-012", name, name=shown, reason=exc.reason)
    else:
        data_offset = local.data_offset
        if local.raw_name != rec.raw_name:
            other = printable(
                local.raw_name.decode("utf-8" if local.flags & zipcheck.FLAG_UTF8 else "cp437", "replace")
            )
            out.add("XGW-ZIP-012", name, name=shown, reason=f"its local header names it '{other}'")
        elif local.method != rec.method or (local.flags ^ rec.flags) & zipcheck.FLAG_ENCRYPTED:
            out.add("XGW-ZIP-012", name, name=shown, reason="its local header disagrees on method or encryption")
        data_end = data_offset + rec.compressed_size
        range_end = data_end + zipcheck.descriptor_length(f, data_end, local, end.cd_offset)
    entry = PackageEntry(
        name=name,
        file_size=rec.file_size,
        compressed_size=rec.compressed_size,
        method=rec.method,
        crc=rec.crc,
        header_offset=rec.header_offset,
        data_offset=data_offset,
        is_dir=is_dir,
    )
    return entry, range_end


def _check_totals(scan: PackageScan, limits: Limits, out: _Collector) -> None:
    total = sum(e.file_size for e in scan.entries)
    if total > limits.max_unpacked_bytes:
        out.add(
            "XGW-ZIP-005",
            reason=f"its entries declare {total} bytes in all, max_unpacked_bytes is {limits.max_unpacked_bytes}",
        )


def collision_key(name: str) -> str:
    """What a name becomes on a case-insensitive, normalising file system (Windows, macOS)."""
    parts = unicodedata.normalize("NFC", name).casefold().removesuffix("/").split("/")
    return "/".join(p.rstrip(" .") for p in parts)


def _check_duplicates(scan: PackageScan, out: _Collector) -> None:
    """Refuse names that occur twice, or would collide when extracted (case, Unicode form, file vs folder)."""
    seen: dict[str, PackageEntry] = {}
    folders: set[str] = set()
    for entry in scan.entries:
        key = collision_key(entry.name)
        if not entry.is_dir:
            parts = key.split("/")
            folders.update("/".join(parts[:i]) for i in range(1, len(parts)))
        first = seen.get(key)
        if first is None:
            seen[key] = entry
        elif not (first.is_dir and entry.is_dir):
            out.add("XGW-ZIP-003", entry.name, name=printable(entry.name))
            scan.refused.setdefault(first.name, scan.refused[entry.name])
    for key, entry in seen.items():
        if not entry.is_dir and key in folders:
            out.add("XGW-ZIP-003", entry.name, name=printable(entry.name))


def _check_overlaps(records: Sequence[tuple[PackageEntry, int]], cd_offset: int, out: _Collector) -> None:
    """Refuse entries whose bytes overlap another entry or the central directory.

    Overlap is how the small-but-huge zip bombs work (all entries share one compressed kernel, or each
    "quotes" the next one's local header, D. Fifield 2019); no honest writer produces it.
    """
    spans = sorted(
        ((entry.header_offset, end, entry) for entry, end in records if entry.data_offset is not None),
        key=lambda s: (s[0], s[1]),
    )
    reach, owner = -1, None
    for start, end, entry in spans:
        if owner is not None and start < reach:
            out.add("XGW-ZIP-007", entry.name, name=printable(entry.name), other=printable(owner.name))
            out.scan.refused.setdefault(owner.name, out.scan.refused[entry.name])
        if end > cd_offset:
            out.add("XGW-ZIP-007", entry.name, name=printable(entry.name), other="(central directory)")
        if end > reach:
            reach, owner = end, entry


# --- reading ---------------------------------------------------------------------------------------------


def _readable(scan: PackageScan, name: str) -> PackageEntry:
    entry = scan.file(name)
    if name in scan.refused:
        raise PackageError(scan.refused[name])
    if entry.data_offset is None:  # pragma: no cover - such entries always carry a finding
        raise PackageError(finding("XGW-ZIP-012", scan.location(name), name=name, reason="its data cannot be found"))
    return entry


@contextlib.contextmanager
def open_entry(scan: PackageScan, name: str, max_bytes: int) -> Iterator[BinaryIO]:
    """Stream one entry's uncompressed bytes, capped at its declared size and CRC-checked at the end.

    Raises PackageError (XGW-IN-003 if the entry declares more than ``max_bytes``, XGW-ZIP-012 if the data
    is corrupt or larger than declared, or the scan's finding for a refused entry) and KeyError for a
    name that is not a file in the package. The package file is opened again and must be unchanged.
    """
    entry = _readable(scan, name)
    where = scan.location(name)
    if entry.file_size > max_bytes:
        raise PackageError(finding("XGW-IN-003", where, size=entry.file_size, limit=max_bytes))

    def corrupt(reason: str) -> PackageError:
        return PackageError(finding("XGW-ZIP-012", where, name=printable(name), reason=reason))

    with scan.path.open("rb") as f:
        if os.fstat(f.fileno()).st_size != scan.file_size:
            raise corrupt("the package file changed after it was checked")
        try:
            local = zipcheck.read_local_header(f, entry.header_offset, scan.file_size)
        except zipcheck.ZipFormatError as exc:
            raise corrupt(f"the package file changed after it was checked ({exc.reason})") from None
        if local.data_offset != entry.data_offset:
            raise corrupt("the package file changed after it was checked")
        raw = zipcheck.EntryStream(
            f,
            data_offset=local.data_offset,
            compressed_size=entry.compressed_size,
            size=entry.file_size,
            crc=entry.crc,
            method=entry.method,
            error=corrupt,
        )
        with BufferedReader(raw, buffer_size=_STREAM_BUFFER) as stream:
            yield stream


def read_entry(scan: PackageScan, name: str, max_bytes: int) -> bytes:
    """The whole entry, for the message XML; never more than ``max_bytes`` nor than it declares."""
    with open_entry(scan, name, max_bytes) as stream:
        return stream.read()


def extract_to(scan: PackageScan, dest_dir: Path) -> dict[str, Path]:
    """Extract every file of a package that passed the scan; returns entry name -> extracted path.

    Each file is written under a temporary name in its final folder and renamed when complete and
    CRC-checked, so a crash never leaves a half-written file under a real name. Nothing is written
    outside ``dest_dir`` (existing symbolic links inside it are not followed out of it) and existing
    files are never replaced. On error, files already extracted stay; the caller owns ``dest_dir``.
    """
    if scan.errors:
        raise PackageError(scan.errors[0])
    root = dest_dir.resolve()
    extracted: dict[str, Path] = {}
    for entry in scan.files:
        parts = entry.name.split("/")
        if unsafe_name_reason(entry.name):  # pragma: no cover - the scan refused it already
            raise PackageError(scan.refused[entry.name])
        target = root.joinpath(*parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.parent.resolve().is_relative_to(root):
            raise PackageError(
                finding(
                    "XGW-ZIP-002", scan.location(entry.name), name=printable(entry.name), reason="it leaves the target"
                )
            )
        if target.exists() or target.is_symlink():
            raise FileExistsError(str(target))
        fd, temp = tempfile.mkstemp(dir=target.parent, prefix=".xgw-", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as sink, open_entry(scan, entry.name, entry.file_size) as source:
                while chunk := source.read(_COPY_CHUNK):
                    sink.write(chunk)
            os.replace(temp, target)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
        extracted[entry.name] = target
    return extracted


# --- package content rules -------------------------------------------------------------------------------


def expected_message_name(package_name: str) -> str:
    """``X.zip`` and ``X.xdomea`` carry ``X.xml``; other names keep their full name."""
    base = Path(package_name).name
    for suffix in PACKAGE_SUFFIXES:
        if base.lower().endswith(suffix):
            return base[: -len(suffix)] + ".xml"
    return base + ".xml"


def is_message_name(name: str) -> bool:
    """A top-level XML named like an xdomea message (``<uuid>_<Nachrichtentyp>.xml``, any version).

    Primary documents are named ``<uuid>_<name>`` too, but their names do not end in a message type code.
    """
    return name.lower().endswith(".xml") and parse_name(name) is not None


def check_package_layout(scan: PackageScan, package_name: str) -> tuple[str | None, list[Finding]]:
    """Find the message XML: top level, named after the package (XGW-ZIP-008), and only one (XGW-ZIP-014).

    Returns the entry to read as the message. When the expected name is missing but exactly one other
    top-level XML is named like an xdomea message, that one is returned (with the XGW-ZIP-008 error) so
    the report can still say what else is wrong with it.
    """
    expected = expected_message_name(package_name)
    top_level = [e.name for e in scan.files if "/" not in e.name]
    candidates = [n for n in top_level if is_message_name(n)]
    findings: list[Finding] = []
    message: str | None = expected if expected in top_level else None
    if message is None:
        findings.append(finding("XGW-ZIP-008", scan.location(), expected=expected))
        if len(candidates) == 1:
            message = candidates[0]
    others = sorted(set(candidates) | ({message} if message else set()))
    if len(others) > 1:
        findings.append(finding("XGW-ZIP-014", scan.location(), names=", ".join(printable(n) for n in others)))
    return message, findings


def normalise_reference(name: str) -> str:
    """A Dateiname as a package path: NFC, forward slashes, no leading './' and no surrounding blanks."""
    ref = unicodedata.normalize("NFC", name.strip()).replace("\\", "/")
    while ref.startswith("./"):
        ref = ref[2:]
    return ref


def check_references(
    scan: PackageScan,
    message_entry: str,
    referenced: Sequence[str],
    location_of: Mapping[str, Location] | Callable[[str], Location | None] | None = None,
) -> list[Finding]:
    """Compare the Primaerdokument/Dateiname values of the message with the package's files.

    Each referenced name must be a file of the package (XGW-ZIP-009) and be referenced only once
    (XGW-ZIP-010); files that are neither the message nor referenced get a warning (XGW-ZIP-011).
    A bare file name also matches a file in a folder when exactly one file has that name. ``location_of``
    maps a Dateiname (as given) to where it is in the message, e.g. its line and XPath.
    """

    def where(ref: str) -> Location:
        loc = location_of.get(ref) if isinstance(location_of, Mapping) else location_of(ref) if location_of else None
        loc = loc or Location()
        return replace(loc, file=loc.file or scan.display_name, entry=loc.entry or message_entry)

    by_path = {unicodedata.normalize("NFC", e.name): e.name for e in scan.files}
    by_base: dict[str, list[str]] = {}
    for norm, entry_name in by_path.items():
        by_base.setdefault(norm.rsplit("/", 1)[-1], []).append(entry_name)

    findings: list[Finding] = []
    hits: Counter[str] = Counter()
    first_ref: dict[str, str] = {}
    for ref in referenced:
        norm = normalise_reference(ref)
        real = by_path.get(norm)
        if real is None and "/" not in norm and len(by_base.get(norm, ())) == 1:
            real = by_base[norm][0]
        if real is None:
            findings.append(finding("XGW-ZIP-009", where(ref), name=printable(ref)))
            continue
        hits[real] += 1
        first_ref.setdefault(real, ref)
    for real, count in hits.items():
        if count > 1:
            findings.append(
                finding("XGW-ZIP-010", where(first_ref[real]), name=printable(first_ref[real]), count=count)
            )
    for entry in scan.files:
        if entry.name != message_entry and entry.name not in hits:
            findings.append(finding("XGW-ZIP-011", scan.location(entry.name), name=printable(entry.name)))
    return findings

"""Write a message with its primary files as an xdomea ZIP package (0503 Aussonderung, 0401 Abgabe ...).

The package is ``<stem>.zip`` holding ``<stem>.xml`` and exactly the files the message's
``Primaerdokument/Dateiname`` elements name, flat, nothing else (the naming rule gives the stem). The
files are streamed entry by entry from their sources, so a package of many gigabytes is written with a
constant, small amount of memory; the ZIP is written under a temporary name and renamed when complete,
so a reader never sees half a package.
"""

from __future__ import annotations

import hashlib
import os
import zipfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from gateway.config import Settings
from gateway.xoev.build.common import BuildError
from gateway.xoev.build.messages import BuiltMessage, build_message, serialize
from gateway.xoev.build.naming import message_stem
from gateway.xoev.model import Message
from gateway.xoev.report import Report
from gateway.xoev.schemas.registry import SchemaRegistry, default_registry

CHUNK = 1 << 20
#: Formats that are already compressed (or random test data) gain nothing from deflate but CPU time.
TEXT_SUFFIXES = (".xml", ".txt", ".csv", ".htm", ".html", ".json", ".eml", ".rtf")


@dataclass(frozen=True, slots=True)
class ChunkSource:
    """Content produced on demand: ``size`` bytes delivered by ``chunks()`` (called once)."""

    size: int
    chunks: Callable[[], Iterable[bytes]]


PrimarySource = Path | bytes | ChunkSource


@dataclass(frozen=True, slots=True)
class BuiltPackage:
    path: Path
    built: BuiltMessage
    #: the full package validation, when it ran (``verify=True``)
    report: Report | None = None


def default_compression(name: str) -> int:
    return zipfile.ZIP_DEFLATED if name.lower().endswith(TEXT_SUFFIXES) else zipfile.ZIP_STORED


def _entry_time(msg: Message) -> tuple[int, int, int, int, int, int]:
    """The message's creation time (deterministic packages for equal input), clamped to ZIP's 1980 epoch."""
    created = msg.kopf.created_at or datetime(1980, 1, 1)
    if created.year < 1980:
        return (1980, 1, 1, 0, 0, 0)
    return (created.year, created.month, created.day, created.hour, created.minute, created.second)


def _check_contents(msg: Message, stem: str, files: Mapping[str, PrimarySource]) -> list[str]:
    names = [p.filename for p in msg.primary_documents()]
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise BuildError(f"Primaerdokument '{name}' is referenced twice; each file belongs to one Format")
        seen.add(name)
        if "/" in name or "\\" in name or name.startswith(".") or name == stem + ".xml":
            raise BuildError(f"Primaerdokument '{name}' cannot be a package entry (flat file names only)")
    missing = [n for n in names if n not in files]
    extra = sorted(set(files) - seen)
    if missing or extra:
        parts = []
        if missing:
            parts.append("no content for " + ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else ""))
        if extra:
            parts.append("unreferenced " + ", ".join(extra[:5]) + (" ..." if len(extra) > 5 else ""))
        raise BuildError("the package files do not match the message's Primaerdokumente: " + "; ".join(parts))
    return names


def _size_of(source: PrimarySource) -> int:
    if isinstance(source, bytes):
        return len(source)
    if isinstance(source, ChunkSource):
        return source.size
    return source.stat().st_size


def _chunks(source: PrimarySource) -> Iterable[bytes]:
    if isinstance(source, bytes):
        yield source
    elif isinstance(source, ChunkSource):
        yield from source.chunks()
    else:
        with source.open("rb") as fh:
            while chunk := fh.read(CHUNK):
                yield chunk


def write_package(
    msg: Message,
    out_dir: Path,
    files: Mapping[str, PrimarySource],
    *,
    registry: SchemaRegistry | None = None,
    compression: Callable[[str], int] = default_compression,
    verify: bool = True,
    settings: Settings | None = None,
    compresslevel: int | None = None,
) -> BuiltPackage:
    """Build ``msg`` (validated) and write it with ``files`` (Dateiname -> content) as a ZIP package.

    ``verify`` re-reads the finished package with the gateway's package validator; a benchmark generating
    gigabytes may skip that (the message itself is always validated, the contents are checked by name
    and size while writing). ``compresslevel`` is zlib's level for deflated entries (default 6).
    """
    registry = registry or default_registry(settings)
    stem = message_stem(msg)
    names = _check_contents(msg, stem, files)
    tree = build_message(msg, registry=registry, name=stem + ".xml")
    built = BuiltMessage(msg, tree)
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"{stem}.zip"
    partial = out_dir / f".{stem}.zip.part"
    when = _entry_time(msg)
    hashes = {
        p.filename: p.hash_value.strip().lower()
        for p in msg.primary_documents()
        if p.hash_value and (p.hash_algorithm or "SHA-256").upper() == "SHA-256"
    }
    try:
        with zipfile.ZipFile(partial, "w", allowZip64=True, compresslevel=compresslevel) as zf:
            info = zipfile.ZipInfo(f"{stem}.xml", date_time=when)
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, serialize(tree))
            for name in names:
                _write_entry(zf, name, files[name], when, compression(name), hashes.get(name), compresslevel)
        os.replace(partial, target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    report = None
    if verify:
        from gateway.xoev.validation.validate import Validator

        report = Validator(registry, settings).validate_path(target).report
        if not report.valid:
            target.unlink()
            raise BuildError(f"the written package {target.name} is not valid", report.errors)
    return BuiltPackage(target, built, report)


def _write_entry(
    zf: zipfile.ZipFile,
    name: str,
    source: PrimarySource,
    when: tuple[int, ...],
    method: int,
    sha256: str | None,
    level: int | None,
) -> None:
    """Stream one file into the package, checking its size and (when the message declares one) its hash."""
    declared = _size_of(source)
    digest = hashlib.sha256() if sha256 else None
    info = zipfile.ZipInfo(name, date_time=when)  # type: ignore[arg-type]
    info.compress_type = method
    # ZipFile(compresslevel=) reaches only entries written by name, not ZipInfo objects (Python <= 3.12)
    info._compresslevel = level  # type: ignore[attr-defined]
    info.file_size = declared  # lets zipfile decide on ZIP64 before the data arrives
    written = 0
    with zf.open(info, "w") as dst:
        for chunk in _chunks(source):
            written += len(chunk)
            if written > declared:
                raise BuildError(f"'{name}' delivered more than its declared {declared} bytes")
            dst.write(chunk)
            if digest is not None:
                digest.update(chunk)
    if written != declared:
        raise BuildError(f"'{name}' delivered {written} bytes, {declared} declared")
    if digest is not None and digest.hexdigest() != sha256:
        raise BuildError(f"'{name}' does not match the SHA-256 its Primaerdokument declares")

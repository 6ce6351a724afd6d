"""Validating a ZIP package: the package is checked as a whole before its message is read.

Order matters for safety: the central directory is checked (names, links, sizes, ratios, overlaps)
before a single byte is decompressed, the message XML is read with a hard cap, and only then are its
Primaerdokument references compared with the package's files. Findings inside the message carry the
package as ``file`` and the message XML as ``entry``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from lxml import etree

from gateway.config import Settings
from gateway.xoev.limits import Limits
from gateway.xoev.parsing.safe_xml import source_line
from gateway.xoev.report import Finding, Location, Report, ValidationResult, finding
from gateway.xoev.validation.naming import check_name, stem_of
from gateway.xoev.validation.package import (
    PackageError,
    PackageScan,
    check_package_layout,
    check_references,
    open_entry,
    read_entry,
    scan_package,
)


class MessageValidator(Protocol):
    """What a package's validation needs of the message validator (:class:`~.validate.Validator` is one).

    A protocol rather than the class, so that the message validator may call the package validator without an
    import circle.
    """

    @property
    def settings(self) -> Settings: ...

    @property
    def limits(self) -> Limits: ...

    def validate_xml_bytes(
        self, data: bytes, *, name: str | None = None, source: str | None = None
    ) -> ValidationResult: ...


_CHUNK = 1024 * 1024


def _inside(item: Finding, package: str, entry: str) -> Finding:
    loc = dataclasses.replace(item.location, file=package, entry=item.location.entry or entry)
    return dataclasses.replace(item, location=loc)


#: xdomea 4.0.0 names hash algorithms by the XTA service profile's code list (e.g. ``SHA-256``)
_HASHES = {
    "SHA-256": "sha256",
    "SHA-384": "sha384",
    "SHA-512": "sha512",
    "SHA3-256": "sha3_256",
    "SHA3-384": "sha3_384",
    "SHA3-512": "sha3_512",
}


@dataclass(frozen=True, slots=True)
class DeclaredHash:
    algorithm: str
    value: str
    location: Location


def declared_hashes(tree: etree._ElementTree) -> dict[str, DeclaredHash]:
    """Primaerdokument/Dateiname -> its declared Hash (4.0.0 only; earlier versions have none)."""
    root = tree.getroot()
    ns = etree.QName(root).namespace or ""
    out: dict[str, DeclaredHash] = {}
    for primary in root.iter(f"{{{ns}}}Primaerdokument"):
        name = primary.findtext(f"{{{ns}}}Dateiname")
        value = primary.findtext(f"{{{ns}}}Hash/{{{ns}}}Wert")
        algorithm = primary.findtext(f"{{{ns}}}Hash/{{{ns}}}Algorithmus/code")
        hash_el = primary.find(f"{{{ns}}}Hash")
        if name and value and algorithm and hash_el is not None:
            where = Location(line=source_line(hash_el), xpath=tree.getpath(hash_el))
            out[name.strip()] = DeclaredHash(algorithm.strip(), value.strip().lower(), where)
    return out


def verify_contents(
    scan: PackageScan, message_entry: str, hashes: dict[str, DeclaredHash], max_entry_bytes: int
) -> list[Finding]:
    """Read every file of the package once: the CRC of each entry, and the declared hash where there is one.

    A package is accepted for storage only when all of it is readable; finding a broken TIFF the day the
    archive imports it is what this gateway exists to prevent. Memory stays at one read buffer per thread.
    The entries are read by :data:`VERIFY_THREADS` threads: inflating, CRC-32 and hashing run in C without
    the GIL, so on two cores the check takes about half the time (issue 11); findings keep entry order.
    """
    entries = [e for e in scan.files if e.name != message_entry and e.name not in scan.refused]
    if len(entries) < 2 or VERIFY_THREADS < 2:
        return [f for e in entries for f in _verify_entry(scan, e.name, message_entry, hashes, max_entry_bytes)]
    with ThreadPoolExecutor(max_workers=VERIFY_THREADS, thread_name_prefix="xgw-verify") as pool:
        results = pool.map(lambda e: _verify_entry(scan, e.name, message_entry, hashes, max_entry_bytes), entries)
        return [f for found in results for f in found]


VERIFY_THREADS = min(2, os.cpu_count() or 1)
"""Threads that read a package's entries at once (see :func:`verify_contents`)."""


def _verify_entry(
    scan: PackageScan, name: str, message_entry: str, hashes: dict[str, DeclaredHash], max_entry_bytes: int
) -> list[Finding]:
    findings: list[Finding] = []
    declared = hashes.get(name)
    digest = None
    if declared is not None:
        algorithm = _HASHES.get(declared.algorithm.upper())
        if algorithm is None:
            findings.append(finding("XGW-ZIP-016", scan.location(name), algorithm=declared.algorithm, name=name))
        else:
            digest = hashlib.new(algorithm)
    try:
        with open_entry(scan, name, max_entry_bytes) as stream:
            for chunk in iter(lambda: stream.read(_CHUNK), b""):
                if digest is not None:
                    digest.update(chunk)
    except PackageError as exc:
        findings.append(exc.finding)
        return findings
    if digest is not None and declared is not None and digest.hexdigest() != declared.value:
        loc = dataclasses.replace(declared.location, file=scan.display_name, entry=message_entry)
        findings.append(
            finding(
                "XGW-ZIP-015",
                loc,
                name=name,
                algorithm=declared.algorithm,
                actual=digest.hexdigest(),
                declared=declared.value,
            )
        )
    return findings


def primary_references(tree: etree._ElementTree) -> tuple[list[str], dict[str, Location]]:
    """Every Primaerdokument/Dateiname in document order, with where each one stands."""
    root = tree.getroot()
    ns = etree.QName(root).namespace or ""
    names: list[str] = []
    where: dict[str, Location] = {}
    for el in root.iter(f"{{{ns}}}Dateiname"):
        parent = el.getparent()
        if parent is None or etree.QName(parent).localname != "Primaerdokument":
            continue
        value = (el.text or "").strip()
        names.append(value)
        where.setdefault(value, Location(line=source_line(el), xpath=tree.getpath(el)))
    return names, where


def validate_package(validator: MessageValidator, path: Path) -> ValidationResult:
    shown = str(path)
    report = Report(path=shown)
    scan = scan_package(path, validator.limits, display_name=shown)
    report.extend(scan.findings)
    if not scan.entries and scan.errors:
        return ValidationResult(report)
    message_entry, layout = check_package_layout(scan, path.name)
    report.extend(layout)
    if message_entry is None or message_entry in scan.refused:
        return ValidationResult(report)
    try:
        data = read_entry(scan, message_entry, validator.limits.max_xml_bytes)
    except PackageError as exc:
        report.add(exc.finding)
        return ValidationResult(report)
    inner = validator.validate_xml_bytes(data, source=shown)
    report.version = inner.report.version
    report.message_type = inner.report.message_type
    report.process_id = inner.report.process_id
    report.extend([_inside(f, shown, message_entry) for f in inner.report.findings])
    tree = inner.tree
    if tree is None or report.version is None or report.message_type is None:
        return ValidationResult(report, tree)
    element = etree.QName(tree.getroot()).localname
    names = [path.name]
    if stem_of(message_entry) != stem_of(path.name):
        names.append(message_entry)
    for name in names:
        report.extend(
            check_name(
                name,
                version=report.version,
                element=element,
                process_id=report.process_id,
                location=Location(file=shown, entry=None if name == path.name else name),
            )
        )
    referenced, where = primary_references(tree)
    report.extend(check_references(scan, message_entry, referenced, where))
    if validator.settings.verify_package_contents:
        hashes = declared_hashes(tree)
        report.extend(verify_contents(scan, message_entry, hashes, validator.limits.max_entry_bytes))
    return ValidationResult(report, tree)

"""Validating a ZIP package: the package is checked as a whole before its message is read.

Order matters for safety: the central directory is checked (names, links, sizes, ratios, overlaps)
before a single byte is decompressed, the message XML is read with a hard cap, and only then are its
Primaerdokument references compared with the package's files. Findings inside the message carry the
package as ``file`` and the message XML as ``entry``.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING

from lxml import etree

from gateway.xoev.naming import check_name, stem_of
from gateway.xoev.package import (
    PackageError,
    check_package_layout,
    check_references,
    read_entry,
    scan_package,
)
from gateway.xoev.report import Finding, Location, Report
from gateway.xoev.safe_xml import source_line

if TYPE_CHECKING:
    from gateway.xoev.validate import ValidationResult, Validator


def _inside(item: Finding, package: str, entry: str) -> Finding:
    loc = dataclasses.replace(item.location, file=package, entry=item.location.entry or entry)
    return dataclasses.replace(item, location=loc)


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


def validate_package(validator: Validator, path: Path) -> ValidationResult:
    from gateway.xoev.validate import ValidationResult

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
    return ValidationResult(report, tree)

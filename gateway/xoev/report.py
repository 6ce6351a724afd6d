"""Findings and validation reports: the values every check returns instead of raising.

A finding always names the rule (a stable id from :mod:`gateway.xoev.rules`), where it happened and what
is wrong, in English and German, so that the authority that sent the message can act on it without asking
us. The JSON form is a stable, documented interface (docs/validation-report.md).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from lxml import etree

from gateway.xoev.rules import RULES, Rule


class Severity(enum.StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, slots=True)
class Location:
    """Where a finding applies; every part is optional because not every check knows every part."""

    file: str | None = None
    entry: str | None = None  # ZIP member name, when the finding is inside a package
    line: int | None = None
    xpath: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"file": self.file, "entry": self.entry, "line": self.line, "xpath": self.xpath}

    def __str__(self) -> str:
        parts = []
        if self.file:
            parts.append(self.file)
        if self.entry:
            parts.append(f"[{self.entry}]")
        if self.line is not None:
            parts.append(f"line {self.line}")
        if self.xpath:
            parts.append(self.xpath)
        return " ".join(parts) or "-"


@dataclass(frozen=True, slots=True)
class Finding:
    rule: str
    message: str
    message_de: str
    severity: Severity
    location: Location = field(default_factory=Location)

    def to_json(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "severity": self.severity.value,
            "message": self.message,
            "message_de": self.message_de,
            "location": self.location.to_json(),
        }


def finding(rule_id: str, location: Location | None = None, /, **params: object) -> Finding:
    """Build a finding from the rule table, filling the rule's message templates with ``params``."""
    rule: Rule = RULES[rule_id]
    return Finding(
        rule=rule.id,
        message=rule.message_en.format(**params),
        message_de=rule.message_de.format(**params),
        severity=Severity(rule.severity),
        location=location or Location(),
    )


@dataclass(slots=True)
class Report:
    """The verdict for one input (an XML file, a ZIP package, or bytes submitted through the API)."""

    path: str
    version: str | None = None
    message_type: str | None = None
    process_id: str | None = None
    findings: list[Finding] = field(default_factory=list)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity is Severity.ERROR]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity is Severity.WARNING]

    @property
    def valid(self) -> bool:
        return not self.errors

    def add(self, item: Finding) -> None:
        self.findings.append(item)

    def extend(self, items: list[Finding]) -> None:
        self.findings.extend(items)

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "valid": self.valid,
            "version": self.version,
            "message_type": self.message_type,
            "process_id": self.process_id,
            "errors": [f.to_json() for f in self.errors],
            "warnings": [f.to_json() for f in self.warnings],
        }

    def to_text(self) -> str:
        head = "VALID" if self.valid else "INVALID"
        meta = ", ".join(
            f"{k} {v}"
            for k, v in (
                ("xdomea", self.version),
                ("type", self.message_type),
                ("ProzessID", self.process_id),
            )
            if v
        )
        lines = [f"{head}  {self.path}" + (f"  ({meta})" if meta else "")]
        for f in self.findings:
            lines.append(f"  {f.severity.value.upper():7} {f.rule}  {f.location}: {f.message}")
        return "\n".join(lines)


@dataclass(slots=True)
class ValidationResult:
    """The report, plus the parsed message tree when there was one (for inspect and the pipeline).

    It lives here, below both validators, so that the message validator (:mod:`gateway.xoev.validation.validate`)
    and the package validator (:mod:`gateway.xoev.validation.package_validate`) share it without importing each
    other.
    """

    report: Report
    tree: etree._ElementTree | None = None

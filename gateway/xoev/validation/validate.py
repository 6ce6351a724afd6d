"""One call, one report: validate an xdomea message file, ZIP package or bytes.

The order of the steps is the order in which a person would want to hear about problems: can the input
be read safely at all, which message and version is it, is it schema-valid, and does it keep the rules
that the schema cannot express (names, Kopf, code lists, structure, package contents). Every step adds
findings to one :class:`~gateway.xoev.report.Report`; nothing raises for bad input.
"""

from __future__ import annotations

from pathlib import Path

from lxml import etree

from gateway.config import Settings, get_settings
from gateway.xoev.limits import Limits
from gateway.xoev.parsing.safe_xml import XmlRejected, parse_xml
from gateway.xoev.report import Location, Report, Severity, ValidationResult, finding
from gateway.xoev.schemas.catalogue import NAMESPACE_PREFIX
from gateway.xoev.schemas.registry import SchemaBundleError, SchemaRegistry, default_registry
from gateway.xoev.validation import checks
from gateway.xoev.validation.naming import check_name
from gateway.xoev.validation.package_validate import validate_package
from gateway.xoev.validation.xsd import validate_xsd

ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")


class Validator:
    """Validates with one registry and one set of limits; cheap to create, safe to share between threads."""

    def __init__(self, registry: SchemaRegistry | None = None, settings: Settings | None = None) -> None:
        self.settings = settings or get_settings()
        self.registry = registry or default_registry(self.settings)

    @property
    def limits(self) -> Limits:
        return self.settings.limits

    # -- trees ---------------------------------------------------------------------------------------

    def validate_tree(
        self,
        tree: etree._ElementTree,
        report: Report | None = None,
        *,
        source: str | None = None,
        name: str | None = None,
    ) -> Report:
        """Validate an already parsed message; the entry point for built messages and the benchmark.

        ``name`` is the message's file name when it has one; it is then checked against the naming rule.
        """
        report = report if report is not None else Report(path=source or name or "-")
        self._validate_content(tree, report, source=source or name)
        if name is not None and report.version is not None and report.message_type is not None:
            report.extend(
                check_name(
                    name,
                    version=report.version,
                    element=etree.QName(tree.getroot()).localname,
                    process_id=report.process_id,
                    location=Location(file=source or name),
                )
            )
        return report

    def _validate_content(self, tree: etree._ElementTree, report: Report, *, source: str | None) -> Report:
        root = tree.getroot()
        tag = root.tag if isinstance(root.tag, str) else ""
        ns, _, element = tag[1:].partition("}") if tag.startswith("{") else ("", "", tag)
        if not ns.startswith(NAMESPACE_PREFIX):
            report.add(finding("XGW-NS-001", Location(file=source, line=1), element=tag or "?"))
            return report
        entry = self.registry.version_for_namespace(ns)
        version = ns[len(NAMESPACE_PREFIX) :]
        if entry is None:
            supported = ", ".join(self.registry.versions)
            report.add(finding("XGW-NS-002", Location(file=source, line=1), version=version, supported=supported))
            return report
        report.version = version
        try:
            compiled = self.registry.schema_for(version, element)
        except SchemaBundleError as exc:
            report.add(finding("XGW-SETUP-001", Location(file=source), reason=str(exc)))
            return report
        if compiled is None:
            report.add(finding("XGW-NS-003", Location(file=source, line=1), element=element, version=version))
            return report
        report.message_type = element.rsplit(".", 1)[-1]
        if root.prefix != "xdomea":
            report.add(finding("XGW-NS-004", Location(file=source, line=1), prefix=root.prefix or ""))
        header = checks.find_header(root, ns, version)
        if header.process_id is not None and header.process_id.text:
            report.process_id = header.process_id.text.strip()
        schema_findings = validate_xsd(tree, compiled, source=source)
        report.extend(schema_findings)
        rule_findings = [
            *checks.check_header(header, element, version, self.registry, source=source),
            *checks.check_content(
                root,
                ns,
                version,
                entry.open_code_elements,
                self.registry,
                self.limits.max_record_depth,
                source=source,
            ),
        ]
        # One finding per place: where the schema already refused a value (a ProzessID pattern, an
        # enumerated code), a second error from our own rule would only repeat it.
        refused = {f.location.xpath for f in schema_findings if f.location.xpath}
        report.extend([f for f in rule_findings if f.severity is Severity.WARNING or f.location.xpath not in refused])
        return report

    # -- XML bytes -----------------------------------------------------------------------------------

    def validate_xml_bytes(
        self, data: bytes, *, name: str | None = None, source: str | None = None
    ) -> ValidationResult:
        """Validate one message XML. ``name`` is its file name, checked against the naming rule when given."""
        report = Report(path=source or name or "-")
        try:
            tree = parse_xml(data, self.limits, source=source or name)
        except XmlRejected as rejected:
            report.add(rejected.finding)
            return ValidationResult(report)
        self.validate_tree(tree, report, source=source or name, name=name)
        return ValidationResult(report, tree)

    # -- files ---------------------------------------------------------------------------------------

    def validate_path(self, path: Path) -> ValidationResult:
        """Validate a message XML or a ZIP package on disk, deciding by content, not by extension."""
        shown = str(path)
        try:
            size = path.stat().st_size
            with path.open("rb") as fh:
                head = fh.read(4)
        except OSError as exc:
            report = Report(path=shown)
            report.add(finding("XGW-IN-001", Location(file=shown), reason=exc.strerror or str(exc)))
            return ValidationResult(report)
        if head.startswith(ZIP_MAGIC):
            return validate_package(self, path)
        if size > self.limits.max_xml_bytes:
            report = Report(path=shown)
            report.add(finding("XGW-IN-003", Location(file=shown), size=size, limit=self.limits.max_xml_bytes))
            return ValidationResult(report)
        data = path.read_bytes()
        if data.strip() and not _looks_like_xml(data):
            report = Report(path=shown)
            report.add(finding("XGW-IN-004", Location(file=shown)))
            return ValidationResult(report)
        return self.validate_xml_bytes(data, name=path.name, source=shown)


def _looks_like_xml(data: bytes) -> bool:
    """XML starts with '<' after an optional BOM and white space (UTF-8, or UTF-16 with its BOM)."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return True
    return data.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<")


def validate_path(
    path: Path, *, registry: SchemaRegistry | None = None, settings: Settings | None = None
) -> ValidationResult:
    return Validator(registry, settings).validate_path(path)

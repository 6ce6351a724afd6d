"""The gate every built message passes: the gateway's own validator, errors raise, warnings pass.

A builder that could emit an invalid message would make the gateway the sender of broken messages,
which is the very thing it exists to stop. So nothing leaves the builder without the same full check an
incoming message gets (XSD plus the rules beyond it) and, when the caller names the file, the naming rule.
"""

from __future__ import annotations

from lxml import etree

from gateway.config import Settings
from gateway.xoev.build.common import BuildError
from gateway.xoev.report import Report
from gateway.xoev.schemas.registry import SchemaRegistry
from gateway.xoev.validation.validate import Validator


def ensure_valid(
    tree: etree._ElementTree,
    registry: SchemaRegistry,
    *,
    name: str | None = None,
    settings: Settings | None = None,
) -> Report:
    """Validate a built tree; return the report (possibly with warnings) or raise :class:`BuildError`."""
    validator = Validator(registry, settings)
    report = validator.validate_tree(tree, source=name or "built message", name=name)
    if not report.valid:
        root = etree.QName(tree.getroot()).localname
        raise BuildError(f"the built {root} is not valid", report.errors)
    return report

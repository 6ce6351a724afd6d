"""The one-pass content check (issue 11) gives exactly the findings of the precise checks it stands for.

``check_content`` only decides whether a message needs a closer look; the findings come from
``check_codes`` and ``check_records``. Each edit below makes one of its shortcuts matter: white space
around a code, a code element whose first child is not ``code``, an unknown list, an ID outside
``Identifikation`` equal to a record's, equal IDs that differ only in white space.
"""

from __future__ import annotations

import pytest
from lxml import etree

from gateway.config import Settings
from gateway.xoev.parsing.safe_xml import parse_xml
from gateway.xoev.schemas.registry import SchemaRegistry
from gateway.xoev.validation import checks

from .conftest import SAMPLES

SAMPLE = SAMPLES / "3.0.0" / "9fde4e7a-b41b-11ec-9225-005056871b7c_Aussonderung.Aussonderung.0503.xml"
FORMAT = b'<xdomea:Name listURI="urn:xoev-de:xdomea:codeliste:dateiformat" listVersionID="2.0">'
FIRST_ID = b"<xdomea:ID>67e456ea-b420-11ec-b503-005056871b7c</xdomea:ID>"
SECOND_ID = b"<xdomea:ID>7bf9473a-b4a7-11ec-a407-005056871b7c</xdomea:ID>"

EDITS: dict[str, tuple[bytes, bytes]] = {
    "as shipped": (b"", b""),
    "code not in its list": (FORMAT + b"\n", FORMAT + b"<code>999</code>"),
    "code with white space": (FORMAT + b"\n", FORMAT + b"<code> 018 </code>"),
    "first child is not code": (FORMAT + b"\n", FORMAT + b"<name>x</name>"),
    "unknown list version": (FORMAT, FORMAT.replace(b'"2.0"', b'"9.9"')),
    "unknown list without version": (FORMAT, FORMAT.replace(b' listVersionID="2.0"', b"")),
    "duplicate identifier": (SECOND_ID, FIRST_ID),
    "duplicate identifier with white space": (SECOND_ID, FIRST_ID.replace(b"<xdomea:ID>", b"<xdomea:ID> ")),
}


@pytest.mark.parametrize("edit", EDITS)
def test_check_content_equals_the_precise_checks(edit: str) -> None:
    old, new = EDITS[edit]
    data = SAMPLE.read_bytes()
    if old:
        assert old in data, "precondition: the sample carries the text to edit"
        data = data.replace(old, new, 1)
    settings = Settings()
    registry = SchemaRegistry.from_settings(settings)
    root = parse_xml(data, settings.limits).getroot()
    ns = etree.QName(root).namespace
    assert ns is not None
    entry = registry.version("3.0.0")
    depth = settings.limits.max_record_depth
    expected = [
        *checks.check_codes(root, entry.open_code_elements, "3.0.0", registry, source="m.xml"),
        *checks.check_records(root, ns, depth, source="m.xml"),
    ]
    found = checks.check_content(root, ns, "3.0.0", entry.open_code_elements, registry, depth, source="m.xml")
    assert found == expected
    if edit in ("code not in its list", "duplicate identifier", "duplicate identifier with white space"):
        assert found, "the edit must produce a finding, or the comparison proves little"

"""Every shared sample message gets the verdict tests/data/sample_verdicts.toml records for it."""

from __future__ import annotations

import json
import shutil
import tomllib
from pathlib import Path
from typing import Any

import pytest

from gateway.xoev.validation.validate import Validator

from .conftest import SAMPLES

VERDICTS: dict[str, dict[str, Any]] = tomllib.loads(
    (Path(__file__).parent / "data" / "sample_verdicts.toml").read_text(encoding="utf-8")
)
SAMPLE_FILES = sorted(str(p.relative_to(SAMPLES)) for p in SAMPLES.rglob("*") if p.suffix in (".xml", ".zip"))


def test_every_sample_has_a_recorded_verdict() -> None:
    assert sorted(VERDICTS) == SAMPLE_FILES


@pytest.mark.parametrize("rel", SAMPLE_FILES)
def test_sample_verdict(rel: str, validator: Validator) -> None:
    expected = VERDICTS[rel]
    report = validator.validate_path(SAMPLES / rel).report
    assert sorted({f.rule for f in report.errors}) == sorted(expected["errors"]), report.to_text()
    assert report.valid is expected["valid"]
    assert report.version == rel.split("/")[0]
    code = rel.rsplit(".", 2)[-2][-4:] if rel.startswith(("2.", "3.")) or "xx_" in rel else "0503"
    assert report.message_type == code
    # Schema-level problems would be a regression: the MANIFEST says all samples are XSD-valid.
    assert not [f for f in report.findings if f.rule.startswith("XGW-XSD")]


@pytest.mark.parametrize("rel", [r for r in SAMPLE_FILES if "renamed_valid" in VERDICTS[r]])
def test_template_content_under_a_rule_abiding_name(rel: str, validator: Validator, tmp_path: Path) -> None:
    expected = VERDICTS[rel]
    source = SAMPLES / rel
    first = validator.validate_path(source).report
    assert first.process_id is not None
    version = rel.split("/")[0]
    code = source.stem[-4:]
    suffix = f"_{code}_1" if version.startswith("4.") else "_" + source.stem.removeprefix("xx_")
    renamed = tmp_path / f"{first.process_id}{suffix}.xml"
    shutil.copyfile(source, renamed)
    report = validator.validate_path(renamed).report
    assert sorted({f.rule for f in report.errors}) == sorted(expected["renamed_errors"]), report.to_text()
    assert report.valid is expected["renamed_valid"]


def test_report_json_shape(validator: Validator) -> None:
    rel = "4.0.0/518c7c31-d1a0-11ef-accb-005056871b7c_0503_1.zip"
    data = validator.validate_path(SAMPLES / rel).report.to_json()
    assert set(data) == {"path", "valid", "version", "message_type", "process_id", "errors", "warnings"}
    assert data["process_id"] == "518c7c31-d1a0-11ef-accb-005056871b7c"
    for item in data["warnings"]:
        assert set(item) == {"rule", "severity", "message", "message_de", "location"}
        assert set(item["location"]) == {"file", "entry", "line", "xpath"}
        assert item["location"]["entry"] == "518c7c31-d1a0-11ef-accb-005056871b7c_0503_1.xml"
    json.dumps(data)

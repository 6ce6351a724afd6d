"""`xgw validate` as a user runs it: exit codes, JSON output, directories, parallel workers."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from gateway.cli.main import cli

from .conftest import SAMPLES, SHARED

VALID_XML = SAMPLES / "3.0.0" / "9fde4e7a-b41b-11ec-9225-005056871b7c_Aussonderung.Aussonderung.0503.xml"
VALID_ZIP = SAMPLES / "4.0.0" / "518c7c31-d1a0-11ef-accb-005056871b7c_0503_1.zip"
INVALID_XML = SAMPLES / "3.0.0" / "xx_Aussonderung.Bewertungsverzeichnis.0502.xml"
XGW = Path(sys.executable).with_name("xgw")


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("XGW_")}
    env.update({"XGW_SCHEMA_DIR": str(SHARED), "XDG_CACHE_HOME": str(tmp_path / "cache")})
    env.update(extra)
    return env


def test_valid_inputs_exit_0_and_json_lists_each(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli, ["validate", "--json", str(VALID_XML), str(VALID_ZIP)], env=_env(tmp_path), catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    reports = json.loads(result.stdout)
    assert [r["path"] for r in reports] == [str(VALID_XML), str(VALID_ZIP)]
    assert [r["valid"] for r in reports] == [True, True]
    assert [r["message_type"] for r in reports] == ["0503", "0503"]
    assert reports[1]["version"] == "4.0.0"
    assert reports[1]["process_id"] == "518c7c31-d1a0-11ef-accb-005056871b7c"
    assert reports[0]["errors"] == []


def test_any_invalid_exits_1_with_rule_and_location(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["validate", str(VALID_XML), str(INVALID_XML)], env=_env(tmp_path))
    assert result.exit_code == 1
    assert "INVALID" in result.stdout
    assert "XGW-HDR-001  line 11 /xdomea:Aussonderung.Bewertungsverzeichnis.0502/xdomea:Kopf" in result.stdout
    assert "2 checked: 1 valid, 1 invalid" in result.stderr


def test_missing_schema_bundle_exits_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["validate", str(VALID_XML)], env=_env(tmp_path, XGW_SCHEMA_DIR=str(tmp_path)))
    assert result.exit_code == 2
    assert "no XÖV schema bundle" in result.stderr


def test_missing_path_exits_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["validate", str(tmp_path / "nope.xml")], env=_env(tmp_path))
    assert result.exit_code == 2


def test_directory_without_messages_exits_2(tmp_path: Path) -> None:
    (tmp_path / "readme.txt").write_text("nothing here")
    result = CliRunner().invoke(cli, ["validate", str(tmp_path)], env=_env(tmp_path))
    assert result.exit_code == 2
    assert "no message files" in result.stderr


def test_directory_recursively_in_parallel_subprocess(tmp_path: Path) -> None:
    """The installed console script, with two worker processes, over a tree of copies."""
    tree = tmp_path / "in"
    for i in range(6):
        sub = tree / f"batch{i % 3}"
        sub.mkdir(parents=True, exist_ok=True)
        shutil.copy(VALID_ZIP, sub / VALID_ZIP.name)
        shutil.copy(VALID_XML, sub / VALID_XML.name)
    shutil.copy(INVALID_XML, tree / INVALID_XML.name)
    (tree / ".hidden").mkdir()
    shutil.copy(INVALID_XML, tree / ".hidden" / INVALID_XML.name)
    proc = subprocess.run(
        [str(XGW), "validate", "--json", "--jobs", "2", str(tree)],
        capture_output=True,
        text=True,
        env=_env(tmp_path),
        timeout=300,
        check=False,
    )
    assert proc.returncode == 1, proc.stderr
    reports = json.loads(proc.stdout)
    assert len(reports) == 7  # the hidden folder is skipped
    assert sum(not r["valid"] for r in reports) == 1
    assert [r["path"] for r in reports] == sorted(r["path"] for r in reports)


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_hostile_zip_in_a_batch_does_not_stop_the_others(tmp_path: Path, jobs: str) -> None:
    bad = tmp_path / "0b1e6c55-6f43-4c84-b8a3-7e0d8a1b2c3d_0503_1.zip"
    bad.write_bytes(b"PK\x03\x04" + b"\x00" * 100)
    result = CliRunner().invoke(
        cli, ["validate", "--json", "--jobs", jobs, str(bad), str(VALID_XML)], env=_env(tmp_path)
    )
    assert result.exit_code == 1
    reports = json.loads(result.stdout)
    assert reports[0]["errors"][0]["rule"] == "XGW-ZIP-001"
    assert reports[1]["valid"] is True


def test_json_output_follows_the_published_schema(tmp_path: Path) -> None:
    """Every report of a varied batch (valid, invalid, hostile, packages) matches schemas/validation-report."""
    import jsonschema

    from gateway.config import PACKAGE_ROOT

    report_schema = PACKAGE_ROOT / "xoev" / "report.schema.json"
    schema = json.loads(report_schema.read_text(encoding="utf-8"))
    garbage = tmp_path / "garbage.xml"
    garbage.write_bytes(b"\x00\x01binary")
    result = CliRunner().invoke(
        cli, ["validate", "--json", "--jobs", "1", str(SAMPLES), str(garbage)], env=_env(tmp_path)
    )
    reports = json.loads(result.stdout)
    assert len(reports) == 13
    for report in reports:
        jsonschema.validate(report, schema)


def test_progress_goes_to_stderr_and_leaves_stdout_as_it_was(tmp_path: Path) -> None:
    plain = CliRunner().invoke(cli, ["validate", "-j", "1", str(VALID_XML)], env=_env(tmp_path))
    shown = CliRunner().invoke(cli, ["validate", "-j", "1", "--progress", str(VALID_XML)], env=_env(tmp_path))
    assert shown.exit_code == plain.exit_code == 0
    assert shown.stdout == plain.stdout
    assert "validating" not in plain.stderr  # not a terminal and not asked for
    assert f"validating {VALID_XML.name} (" in shown.stderr
    many = CliRunner().invoke(
        cli, ["validate", "--json", "--progress", str(VALID_XML), str(VALID_ZIP)], env=_env(tmp_path)
    )
    assert [r["valid"] for r in json.loads(many.stdout)] == [True, True]
    assert "validating  2 of 2 (100%)" in many.stderr


def test_a_long_step_keeps_the_status_line_moving() -> None:
    """One large package validates for seconds: the ticker redraws the elapsed time meanwhile."""
    import io
    import time

    from gateway.cli.progress import Progress

    stream = io.StringIO()
    with Progress("validating big.zip (1.0 GiB)", enabled=True, stream=stream):
        time.sleep(2.3)
    lines = stream.getvalue().splitlines()
    assert len(lines) >= 3, lines
    assert lines[-1].startswith("validating big.zip (1.0 GiB)  ")
    assert lines[-1].endswith(" s")

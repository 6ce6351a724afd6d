"""``xgw inspect`` through click's runner on the real command, and once as a real process."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from gateway.cli.main import cli

from .conftest import SAMPLES, SHARED

MESSAGES = Path(__file__).parent / "data" / "messages"
ZIP_0503_400 = SAMPLES / "4.0.0" / "518c7c31-d1a0-11ef-accb-005056871b7c_0503_1.zip"
XML_0503_300 = SAMPLES / "3.0.0" / "9fde4e7a-b41b-11ec-9225-005056871b7c_Aussonderung.Aussonderung.0503.xml"


def run(*args: str, schema_dir: Path = SHARED) -> Result:
    return CliRunner().invoke(cli, ["inspect", *args], env={"XGW_SCHEMA_DIR": str(schema_dir)})


def test_xml_file_as_text() -> None:
    result = run(str(XML_0503_300))
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"VALID  {XML_0503_300}  (xdomea 3.0.0, type 0503, ProzessID 9fde4e7a-")
    assert "xdomea 3.0.0  Aussonderung.Aussonderung.0503" in lines
    assert "Empfaenger           Landesarchiv NRW" in lines
    assert "    Dokument  7bf9473a-b4a7-11ec-a407-005056871b7c  [[Dokumentkennzeichen]]  “[Dokumentbetreff]”" in lines
    assert "      file f4bcaaf7-d7cb-11ef-a278-005056871b7c.txt  (format 045, version 1)" in lines
    # The verdict comes before the model.
    assert lines.index("xdomea 3.0.0  Aussonderung.Aussonderung.0503") > 0


def test_zip_package_as_json() -> None:
    result = run("--json", str(ZIP_0503_400))
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert set(data) == {"path", "validation", "message"}
    assert data["path"] == str(ZIP_0503_400)
    assert data["validation"]["valid"] is True
    assert data["validation"]["process_id"] == "518c7c31-d1a0-11ef-accb-005056871b7c"
    message = data["message"]
    assert message["version"] == "4.0.0"
    assert message["message_type"] == "0503"
    assert message["kopf"]["message_uuid"] == "95b80307-d19c-11ef-a43a-005056871b7c"
    assert message["kopf"]["created_at"] == "2025-01-15T12:00:00+00:00"
    assert message["primary_files"] == ["8bcadd35-d27b-11ef-ab6c-005056871b7c.txt"]
    assert message["object_counts"] == {"Akte": 1, "Teilakte": 0, "Vorgang": 1, "Teilvorgang": 0, "Dokument": 1}
    assert message["objects"][0]["children"][0]["laufzeit_end"] == "2025-01-14"


def test_invalid_but_readable_message_is_shown_with_its_errors() -> None:
    path = MESSAGES / "tolerant" / "broken_3.0.0_0503.xml"
    result = run(str(path))
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"INVALID  {path}")
    assert any("XGW-XSD-001" in line for line in lines)
    assert "ProzessID            (missing)" in lines
    assert "  Akte  (no id)  [K-1]  ? – 2021-02-03" in lines

    data = json.loads(run("--json", str(path)).stdout)
    assert data["validation"]["valid"] is False
    assert data["message"]["kopf"]["process_id"] == ""
    assert data["message"]["objects"][0]["children"][0]["id"] == "not-a-uuid"


def test_non_xdomea_xml_exits_1_with_the_report() -> None:
    path = MESSAGES / "tolerant" / "not_xdomea.xml"
    result = run(str(path))
    assert result.exit_code == 1
    assert result.stdout.startswith(f"INVALID  {path}")
    assert "XGW-NS-001" in result.stdout
    assert "is not an xdomea message" in result.stderr

    data = json.loads(run("--json", str(path)).stdout)
    assert data["message"] is None
    assert [e["rule"] for e in data["validation"]["errors"]] == ["XGW-NS-001"]


@pytest.mark.parametrize(
    ("content", "rule"),
    [
        (b"\x00\x01binary garbage\xff", "XGW-IN-004"),
        (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "e">]><x>&e;</x>', "XGW-XML-002"),
        (b"<unclosed>", "XGW-XML-001"),
    ],
)
def test_unreadable_input_exits_1_with_the_rule(content: bytes, rule: str, tmp_path: Path) -> None:
    path = tmp_path / "input.xml"
    path.write_bytes(content)
    result = run("--json", str(path))
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["message"] is None
    assert rule in [e["rule"] for e in data["validation"]["errors"]]
    assert "could not be read" in result.stderr


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    assert run(str(tmp_path / "missing.xml")).exit_code == 2
    assert run(str(tmp_path)).exit_code == 2  # a directory: inspect shows one message
    assert CliRunner().invoke(cli, ["inspect"]).exit_code == 2


def test_missing_schema_bundle_exits_2(tmp_path: Path) -> None:
    result = run(str(XML_0503_300), schema_dir=tmp_path)
    assert result.exit_code == 2
    assert result.stderr.startswith("xgw: ")


def test_real_process(tmp_path: Path) -> None:
    """The installed ``xgw`` console script, started from an unrelated directory."""
    xgw = shutil.which("xgw", path=str(Path(sys.executable).parent))
    assert xgw is not None, "the xgw console script is not installed in this environment"
    package = tmp_path / ZIP_0503_400.name
    shutil.copyfile(ZIP_0503_400, package)
    env = {**os.environ, "XGW_SCHEMA_DIR": str(SHARED)}
    done = subprocess.run(
        [xgw, "inspect", "--json", str(package)], cwd=tmp_path, env=env, capture_output=True, timeout=120
    )
    assert done.returncode == 0, done.stderr.decode()
    data = json.loads(done.stdout)
    assert data["message"]["kopf"]["process_id"] == "518c7c31-d1a0-11ef-accb-005056871b7c"
    assert data["message"]["objects"][0]["kind"] == "Akte"

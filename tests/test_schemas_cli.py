"""`xgw schemas check`, `xgw schemas catalogue` and `xgw rules`."""

from __future__ import annotations

import shutil
from pathlib import Path

from click.testing import CliRunner

from gateway.cli.main import cli
from gateway.config import PACKAGE_ROOT, REPO_ROOT

from .conftest import SHARED


def test_check_passes_on_the_shared_bundle() -> None:
    result = CliRunner().invoke(cli, ["schemas", "check"], env={"XGW_SCHEMA_DIR": str(SHARED)})
    assert result.exit_code == 0, result.output
    assert result.output.count("OK    xdomea") == 5


def test_check_fails_on_a_tampered_bundle(tmp_path: Path) -> None:
    shutil.copytree(SHARED / "xdomea", tmp_path / "xdomea")
    victim = tmp_path / "xdomea" / "2.4.0" / "code_lists" / "Nachrichtentyp_1.0.xml"
    victim.write_text(victim.read_text(encoding="utf-8").replace("0503", "0599"), encoding="utf-8")
    result = CliRunner().invoke(cli, ["schemas", "check"], env={"XGW_SCHEMA_DIR": str(tmp_path)})
    assert result.exit_code == 2
    assert "FAIL  xdomea 2.4.0" in result.output
    assert "Nachrichtentyp_1.0.xml differs from the catalogue" in result.output
    assert "OK    xdomea 3.0.0" in result.output


def test_catalogue_output_is_the_committed_catalogue() -> None:
    result = CliRunner().invoke(cli, ["schemas", "catalogue"], env={"XGW_SCHEMA_DIR": str(SHARED)})
    assert result.exit_code == 0
    assert result.output == (PACKAGE_ROOT / "xoev" / "schemas" / "catalogue.json").read_text(encoding="utf-8")


def test_rules_doc_is_up_to_date() -> None:
    result = CliRunner().invoke(cli, ["rules", "--markdown"])
    assert result.output == (REPO_ROOT / "docs" / "rules.md").read_text(encoding="utf-8"), (
        "regenerate with: xgw rules --markdown > docs/rules.md"
    )


def test_configuration_doc_is_up_to_date() -> None:
    result = CliRunner().invoke(cli, ["config", "--markdown"])
    assert result.output == (REPO_ROOT / "docs" / "configuration.md").read_text(encoding="utf-8"), (
        "regenerate with: xgw config --markdown > docs/configuration.md"
    )


def test_config_show_masks_database_password() -> None:
    result = CliRunner().invoke(cli, ["config"], env={"XGW_DATABASE_URL": "postgresql://gw:s3cret@db.local/xgw"})
    assert result.exit_code == 0
    assert "s3cret" not in result.output
    assert "database_url = postgresql://gw:********@db.local/xgw" in result.output

"""The command group: every registered command loads, and `xgw validate` does not import the world."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from gateway.cli.main import COMMANDS, cli


def test_every_command_loads_and_has_help() -> None:
    ctx = click.Context(cli)
    for name in COMMANDS:
        command = cli.get_command(ctx, name)
        assert isinstance(command, click.Command), name
        result = CliRunner().invoke(cli, [name, "--help"])
        assert result.exit_code == 0, (name, result.output)
    listing = CliRunner().invoke(cli, ["--help"])
    for name in COMMANDS:
        assert name in listing.output


def test_validate_does_not_import_heavy_modules() -> None:
    code = (
        "import sys; from gateway.cli.main import cli; "
        "cli.get_command(None, 'validate'); "
        "heavy = [m for m in ('cryptography', 'sqlalchemy', 'alembic', 'fastapi', 'signxml') if m in sys.modules]; "
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "", f"xgw validate imports {out}"


def test_every_subcommand_at_every_level_explains_itself() -> None:
    ctx = click.Context(cli)
    missing: list[str] = []

    def walk(command: click.Command, path: str) -> None:
        if not (command.help or command.short_help):
            missing.append(path)
        if isinstance(command, click.Group):
            for name in command.list_commands(ctx):
                sub = command.get_command(ctx, name)
                assert sub is not None, f"{path} {name}"
                walk(sub, f"{path} {name}")

    walk(cli, "xgw")
    assert missing == []


def test_config_says_where_a_relative_data_directory_is(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    monkeypatch.chdir(tmp_path)
    env = {"XGW_DATA_DIR": "state", "XGW_DATABASE_URL": "postgresql://xgw:pw-4711@db.example/xgw"}
    shown = CliRunner().invoke(cli, ["config"], env=env)
    assert shown.exit_code == 0, shown.output
    assert f"data_dir = state  ({tmp_path / 'state'})" in shown.stdout
    assert "pw-4711" not in shown.stdout
    settings = json.loads(CliRunner().invoke(cli, ["config", "--json"], env=env).stdout)
    assert settings["data_dir"] == str(tmp_path / "state")
    assert settings["database_url"] == "postgresql://xgw:********@db.example/xgw"


def test_rules_listing_has_a_header() -> None:
    lines = CliRunner().invoke(cli, ["rules"]).stdout.splitlines()
    assert lines[0].split() == ["ID", "SEVERITY", "RULE"]
    assert lines[1].startswith("XGW-")

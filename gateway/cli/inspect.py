"""``xgw inspect``: what a message says, readable for people (or as JSON), with the validation verdict on top.

The input is read exactly as ``xgw validate`` reads it (same safe parser, same ZIP checks), so inspect never
opens something validate would refuse to open. A message that is readable but invalid is still shown (that is
when people need to see it most); exit code 1 is kept for input that could not be read as xdomea at all, and
2 for usage or setup errors, as in ``xgw validate``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from gateway.config import Settings
from gateway.xoev.parsing.model_json import message_to_json
from gateway.xoev.parsing.model_text import render_message
from gateway.xoev.parsing.parse import NotXdomea, parse_message
from gateway.xoev.schemas.registry import SchemaBundleError, SchemaRegistry
from gateway.xoev.validation.validate import validate_path


@click.command("inspect")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print JSON: {path, validation, message} (see docs/model.md).")
def inspect_command(path: Path, as_json: bool) -> None:
    """Show the content of one xdomea message (XML file or ZIP package) and its validation verdict."""
    settings = Settings()  # read afresh: a CLI call must see the environment it was started with
    try:
        registry = SchemaRegistry.from_settings(settings)
    except SchemaBundleError as exc:
        click.echo(f"xgw: {exc}", err=True)
        sys.exit(2)
    result = validate_path(path, registry=registry, settings=settings)
    report = result.report
    message = None
    problem = None
    if result.tree is None:
        problem = "the input could not be read as an XML message"
    else:
        try:
            message = parse_message(result.tree)
        except NotXdomea as exc:
            problem = str(exc)

    if as_json:
        out: dict[str, Any] = {
            "path": str(path),
            "validation": report.to_json(),
            "message": message_to_json(message) if message is not None else None,
        }
        click.echo(json.dumps(out, ensure_ascii=False, indent=2))
    else:
        click.echo(report.to_text())
        if message is not None:
            click.echo("")
            click.echo(render_message(message), nl=False)
    if problem is not None:
        click.echo(f"xgw: {path}: {problem}", err=True)
        sys.exit(1)

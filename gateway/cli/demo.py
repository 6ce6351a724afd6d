"""``xgw demo``: helpers for the demo's walkthrough, where the archive and the district answer by hand.

``xgw serve --demo`` runs the demo itself (gateway/demo/setup.py); this group only builds messages, so it
needs the schema bundle but no database and no running gateway.
"""

from __future__ import annotations

from pathlib import Path

import click

from gateway.config import Settings
from gateway.xoev.schemas.registry import SchemaBundleError, SchemaRegistry


@click.group("demo")
def demo_group() -> None:
    """Helpers for the demo's walkthrough (README.md): answer a received message by hand."""


@demo_group.command("answer")
@click.argument("path", metavar="FILE", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--type",
    "code",
    required=True,
    type=click.Choice(["0502", "0503", "0504", "0505", "0506", "0507"]),
    help="What to answer with: 0504/0505/0507 receipts, 0502 appraisal of a 0501, 0503 hand-over after a "
    "0501/0502, 0506 import confirmation of a 0503.",
)
@click.option(
    "--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("."), show_default=True
)
def answer_command(path: Path, code: str, out_dir: Path) -> None:
    """Write the message answering FILE (XML as received, signed or not, or a 0503 package) and print its path.

    The answer belongs to FILE's process: same ProzessID, sender and recipient swapped, in FILE's version.
    """
    from gateway.demo.answers import AnswerError, answer, read_message

    settings = Settings()
    try:
        registry = SchemaRegistry.from_settings(settings)
        written = answer(read_message(path, registry, settings), code, out_dir, registry)
    except (AnswerError, SchemaBundleError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(str(written))

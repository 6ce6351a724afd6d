"""``xgw generate``: write realistic test messages and packages for tests and benchmarks."""

from __future__ import annotations

from pathlib import Path

import click

from gateway.xoev.build import BUILD_VERSIONS, BuildError
from gateway.xoev.generate import ANSWERED_BY, PRIMARY_TYPES, generate_to, parse_size
from gateway.xoev.schemas.registry import SchemaBundleError

_TYPES = sorted(set(PRIMARY_TYPES) | (set(ANSWERED_BY) - {"0202"}))


def _size(ctx: click.Context, param: click.Parameter, value: str) -> int:
    try:
        return parse_size(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc


@click.command("generate")
@click.option("--version", "version", type=click.Choice(BUILD_VERSIONS), default="3.0.0", show_default=True)
@click.option("--type", "message_type", type=click.Choice(_TYPES), default="0503", show_default=True)
@click.option("--documents", type=click.IntRange(min=1), default=10, show_default=True, help="Dokumente per message.")
@click.option("--size", default="1MiB", callback=_size, show_default=True, help="Total size of primary files.")
@click.option("--count", type=click.IntRange(min=1), default=1, show_default=True, help="Messages (seeds seed...).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--verify/--no-verify", default=True, show_default=True, help="Re-validate each written package.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True)
def generate_command(
    version: str,
    message_type: str,
    documents: int,
    size: int,
    count: int,
    seed: int,
    verify: bool,
    out_dir: Path,
) -> None:
    """Generate xdomea messages (0101/0401/0501/0503, or a reply type) into OUT; deterministic per seed."""
    try:
        for n in range(count):
            path = generate_to(
                out_dir,
                version=version,
                message_type=message_type,
                documents=documents,
                size=size,
                seed=seed + n,
                verify=verify,
            )
            click.echo(str(path))
    except (BuildError, SchemaBundleError) as exc:
        raise click.ClickException(str(exc)) from exc

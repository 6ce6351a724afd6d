"""``xgw generate``: write realistic test messages and packages for tests, benchmarks and the demo.

The defaults make messages the demo gateway (``xgw serve --demo``) accepts as they are: from the demo
district to the demo archive, both named as in the demo directory, in xdomea 3.1.0, the newest version the
state archive's x-man reads (2.3.0 to 3.1.0). ``--sender`` and ``--recipient`` take any XÖV identifier
(``prefix:kennung``); a name comes from the demo directory when the identifier is there, or from
``--sender-name``/``--recipient-name``.
"""

from __future__ import annotations

import sys
import tomllib
from collections.abc import Callable
from pathlib import Path

import click

from gateway.cli.progress import Progress, human_bytes, progress_option
from gateway.config import Settings
from gateway.demo import DEMO_DIRECTORY
from gateway.samples.generate import ANSWERED_BY, WITH_FILES, generate_to, parse_size
from gateway.xoev.build import BUILD_VERSIONS, PRIMARY_TYPES, BuildError
from gateway.xoev.model import Party
from gateway.xoev.schemas.registry import SchemaBundleError, SchemaRegistry

_TYPES = sorted(set(PRIMARY_TYPES) | (set(ANSWERED_BY) - {"0202"}))
#: the demo directory's first district and the state archive
DEFAULT_SENDER = "psw:16077000"
DEFAULT_RECIPIENT = "lth:16000100"
DEFAULT_VERSION = "3.1.0"


def _size(ctx: click.Context, param: click.Parameter, value: str) -> int:
    try:
        return parse_size(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc


def demo_names(path: Path = DEMO_DIRECTORY) -> dict[str, str]:
    """XÖV identifier -> name of every entry of the demo directory (empty if it cannot be read)."""
    try:
        entries = tomllib.loads(path.read_text(encoding="utf-8")).get("participant", [])
    except (OSError, tomllib.TOMLDecodeError):
        return {}
    return {str(e["id"]): str(e["name"]) for e in entries if isinstance(e, dict) and "id" in e and "name" in e}


def party(identifier: str, name: str | None, option: str) -> Party:
    """The Absender or Empfaenger for ``prefix:kennung``: its Behördenkennung and, when known, its name."""
    prefix, colon, kennung = identifier.strip().partition(":")
    if not colon or not prefix or not kennung or any(c.isspace() for c in identifier.strip()):
        raise click.BadParameter(
            f"{identifier!r} is not an XÖV identifier like {DEFAULT_SENDER} (prefix:Kennung)", param_hint=option
        )
    return Party(
        institution=name or demo_names().get(identifier.strip()), authority_prefix=prefix, authority_id=kennung
    )


def _advancer(bar: Progress, verify_at: int | None, verifying: str) -> Callable[[int], None]:
    """Counts the content produced; once a package's content is all written, the label says it is being verified."""

    def advance(amount: int) -> None:
        bar.advance(amount)
        if verify_at is not None and bar.done >= verify_at and bar.label != verifying:
            bar.update(verifying)

    return advance


@click.command("generate")
@click.option(
    "--version",
    "version",
    type=click.Choice(BUILD_VERSIONS),
    default=DEFAULT_VERSION,
    show_default=True,
    help="xdomea version (x-man, the archive's system, reads 2.3.0 to 3.1.0).",
)
@click.option("--type", "message_type", type=click.Choice(_TYPES), default="0503", show_default=True)
@click.option("--sender", default=DEFAULT_SENDER, show_default=True, help="Absender's XÖV identifier.")
@click.option("--recipient", default=DEFAULT_RECIPIENT, show_default=True, help="Empfaenger's XÖV identifier.")
@click.option("--sender-name", help="Absender's name (default: from the demo directory, if the id is there).")
@click.option("--recipient-name", help="Empfaenger's name (default: from the demo directory, if the id is there).")
@click.option("--documents", type=click.IntRange(min=1), default=10, show_default=True, help="Dokumente per message.")
@click.option("--size", default="1MiB", callback=_size, show_default=True, help="Total size of primary files.")
@click.option("--count", type=click.IntRange(min=1), default=1, show_default=True, help="Messages (seeds seed...).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--verify/--no-verify", default=True, show_default=True, help="Re-validate each written package.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True)
@progress_option
def generate_command(
    version: str,
    message_type: str,
    sender: str,
    recipient: str,
    sender_name: str | None,
    recipient_name: str | None,
    documents: int,
    size: int,
    count: int,
    seed: int,
    verify: bool,
    out_dir: Path,
    progress: bool | None,
) -> None:
    """Generate realistic xdomea messages and packages into OUT (deterministic per seed).

    Types 0101, 0401, 0501 and 0503, or a reply to one of them. Prints the path of each file written.
    For reply types, --sender and --recipient are the parties of the message answered; the reply goes
    the way its protocol says.
    """
    absender = party(sender, sender_name, "--sender")
    empfaenger = party(recipient, recipient_name, "--recipient")
    with_files = message_type in WITH_FILES
    total = size * count if with_files else None
    try:
        # read afresh: a CLI call must see the environment it was started with (not a process-wide default)
        registry = SchemaRegistry.from_settings(Settings())
        with Progress("generating", total, enabled=progress, as_bytes=True) as bar:
            for n in range(count):
                step = f" {n + 1}/{count}" if count > 1 else ""
                bar.update(f"generating{step}")
                verify_at = bar.done + size if verify else None
                path = generate_to(
                    out_dir,
                    version=version,
                    message_type=message_type,
                    documents=documents,
                    size=size,
                    seed=seed + n,
                    verify=verify,
                    registry=registry,
                    sender=absender,
                    recipient=empfaenger,
                    progress=_advancer(bar, verify_at, f"verifying{step}") if with_files else None,
                )
                click.echo(str(path))
    except SchemaBundleError as exc:  # a setup error: exit 2, as in xgw validate and xgw inspect
        click.echo(f"xgw: {exc}", err=True)
        sys.exit(2)
    except BuildError as exc:
        raise click.ClickException(str(exc)) from exc
    if with_files and count > 1:
        click.echo(f"{count} packages, {human_bytes(size * count)} of content", err=True)

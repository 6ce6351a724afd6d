"""The ``xgw`` command: one click group; each subcommand lives in its own module and registers here."""

from __future__ import annotations

import click

from gateway import __version__
from gateway.cli.config_cmd import config_command
from gateway.cli.generate import generate_command
from gateway.cli.inspect import inspect_command
from gateway.cli.keys import keys_group
from gateway.cli.schemas import rules_command, schemas_group
from gateway.cli.validate import validate_command


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="xgw")
def cli() -> None:
    """xoev-gateway: validate, sign and transport XÖV (xdomea) messages."""


cli.add_command(validate_command)
cli.add_command(schemas_group)
cli.add_command(rules_command)
cli.add_command(generate_command)
cli.add_command(config_command)
cli.add_command(inspect_command)
cli.add_command(keys_group)


def main() -> None:
    cli()

"""The ``xgw`` command: one click group whose subcommands are imported only when they are used.

Each subcommand lives in its own module. Importing them all up front costs about a second (cryptography,
SQLAlchemy, Alembic, FastAPI ...), which every ``xgw validate`` in a script would pay; so the group knows
them by name and imports a module only when its command runs or ``--help`` lists it.
To add a command: one line in ``COMMANDS``.
"""

from __future__ import annotations

import importlib

import click

from gateway import __version__

#: command name -> "module:attribute" of its click command or group
COMMANDS: dict[str, str] = {
    "validate": "gateway.cli.validate:validate_command",
    "inspect": "gateway.cli.inspect:inspect_command",
    "schemas": "gateway.cli.schemas:schemas_group",
    "rules": "gateway.cli.schemas:rules_command",
    "config": "gateway.cli.config_cmd:config_command",
    "generate": "gateway.cli.generate:generate_command",
    "demo": "gateway.cli.demo:demo_group",
    "keys": "gateway.cli.keys:keys_group",
    "participants": "gateway.cli.participants:participants_group",
    "tokens": "gateway.cli.tokens:tokens_group",
    "serve": "gateway.cli.serve:serve_command",
    "worker": "gateway.cli.worker:worker_command",
    "xta": "gateway.cli.xta:xta_group",
    "adapter": "gateway.cli.adapter:adapter_group",
    "queue": "gateway.cli.queue:queue_group",
    "stats": "gateway.cli.queue:stats_command",
    "console-users": "gateway.cli.queue:console_users_group",
    "alerts": "gateway.cli.alerts:alerts_group",
}


class LazyGroup(click.Group):
    """A click group that imports each subcommand's module on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return super().get_command(ctx, cmd_name)
        module_name, _, attribute = target.partition(":")
        command = getattr(importlib.import_module(module_name), attribute)
        if not isinstance(command, click.Command):
            raise TypeError(f"{target} is not a click command")
        return command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(__version__, prog_name="xgw")
def cli() -> None:
    """xoev-gateway: validate, sign and transport XÖV (xdomea) messages."""


def main() -> None:
    cli()

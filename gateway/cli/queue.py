"""``xgw queue ls|show|retry|requeue|cancel`` and ``xgw stats``: the console's views and actions for scripts.

Output is a table for people or ``--json`` for scripts; actions go through the same fenced transitions
as the REST API and the console, and are written to the audit log with the operating-system user.
Exit codes: 0 done, 1 refused (the message's state does not allow it), 2 usage, 4 no such message.
"""

from __future__ import annotations

import getpass
import json
import uuid

import click
from sqlmodel import Session

from gateway.cli.participants import open_engine
from gateway.config import Settings

NOT_FOUND = 4


def _message_id(text: str) -> uuid.UUID:
    try:
        return uuid.UUID(text)
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a message id (a UUID)", param_hint="ID") from None


@click.group("queue")
def queue_group() -> None:
    """List, show and act on messages (retry, requeue, cancel)."""


@queue_group.command("ls")
@click.option("--state", help="Only this state, e.g. failed.")
@click.option("--participant", help="Sender or recipient is this XÖV identifier.")
@click.option("--type", "message_type", help="Nachrichtentyp code, e.g. 0503.")
@click.option("--text", help="Free text in Betreff or Aktenzeichen.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10000))
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def ls_command(
    state: str | None, participant: str | None, message_type: str | None, text: str | None, limit: int, as_json: bool
) -> None:
    """Messages, newest first."""
    import sqlalchemy as sa

    from gateway.console.search import BadFilter, parse_filters, search

    params = {
        k: v for k, v in {"state": state, "participant": participant, "type": message_type, "q": text}.items() if v
    }
    try:
        filters = parse_filters(params)
    except BadFilter as exc:
        raise click.UsageError(str(exc)) from None
    engine = open_engine(Settings())
    with Session(engine) as session:
        rows, _ = search(session, filters, sa.true(), None, limit)
    for m in rows:
        if as_json:
            click.echo(
                json.dumps(
                    {
                        "id": str(m.id),
                        "state": m.state.value,
                        "direction": m.direction.value,
                        "type": m.message_type,
                        "sender": m.sender_id,
                        "recipient": m.recipient_id,
                        "process_id": m.process_id,
                        "created_at": m.created_at.isoformat(),
                        "error": m.error,
                    }
                )
            )
        else:
            click.echo(
                f"{m.id}  {m.created_at:%Y-%m-%d %H:%M:%S}  {m.state.value:<13} {m.message_type} "
                f"{m.sender_id} -> {m.recipient_id}  {(m.error or '')[:60]}"
            )


@queue_group.command("show")
@click.argument("message_id")
@click.option("--json", "as_json", is_flag=True)
def show_command(message_id: str, as_json: bool) -> None:
    """One message with its history."""
    from gateway.api.views import detail_view
    from gateway.api.visibility import events_of
    from gateway.store.models import Message

    engine = open_engine(Settings())
    with Session(engine) as session:
        message = session.get(Message, _message_id(message_id))
        if message is None:
            click.echo(f"no message {message_id}", err=True)
            raise SystemExit(NOT_FOUND)
        detail = detail_view(message, events_of(session, message))
    if as_json:
        click.echo(detail.model_dump_json(indent=2))
        return
    click.echo(f"{detail.id}  {detail.state.value}  {detail.message_type} {detail.sender} -> {detail.recipient}")
    click.echo(f"ProzessID {detail.process_id}  attempts {detail.attempts}")
    if detail.error:
        click.echo(f"error: {detail.error}")
    for e in detail.events:
        frm = e.from_state.value if e.from_state else "-"
        click.echo(f"  {e.created_at:%Y-%m-%d %H:%M:%S}  {frm} -> {e.to_state.value}  {e.actor}: {e.reason}")
        if e.error:
            click.echo(f"      {e.error}")


def _act(message_id: str, action: str, note: str | None) -> None:
    from gateway.api.actions import ActionRefused
    from gateway.console import audit
    from gateway.console.actions import ConsoleAction, perform
    from gateway.console.users import ConsoleAccount
    from gateway.store.models import ConsoleRole, Message

    engine = open_engine(Settings())
    user = ConsoleAccount(0, f"cli:{getpass.getuser()}", ConsoleRole.GATEWAY_ADMIN, None)
    with Session(engine, expire_on_commit=False) as session:
        message = session.get(Message, _message_id(message_id))
        if message is None:
            audit.record(engine, user.name, action, target=message_id, result=audit.REFUSED, detail="no such message")
            click.echo(f"no message {message_id}", err=True)
            raise SystemExit(NOT_FOUND)
        try:
            done = perform(session, message, ConsoleAction(action), user, note)
        except ActionRefused as exc:
            raise click.ClickException(f"refused: {exc}") from None
    click.echo(f"{done.id}  {done.state.value}")


def _action_command(action: str, help_text: str) -> click.Command:
    @click.command(action, help=help_text)
    @click.argument("message_id")
    @click.option("--note", help="Why; recorded in the message's history.")
    def command(message_id: str, note: str | None) -> None:
        _act(message_id, action, note)

    return command


queue_group.add_command(_action_command("retry", "Retry a failed or dead-lettered message from the step it failed in."))
queue_group.add_command(_action_command("requeue", "Make a waiting message due now, or send/deliver a sent one again."))
queue_group.add_command(_action_command("cancel", "Cancel an outbound message that has not left yet."))


@click.command("stats")
@click.option("--json", "as_json", is_flag=True)
def stats_command(as_json: bool) -> None:
    """Per queue: messages, age of the oldest, throughput of the last hour; failures by rule or fault."""
    from gateway.console.stats import collect

    engine = open_engine(Settings())
    with engine.connect() as connection:
        stats = collect(connection)
    if as_json:
        click.echo(json.dumps(stats.as_json(), indent=2))
        return
    click.echo(f"{'queue':<22}{'messages':>10}{'oldest s':>12}{'last hour':>11}")
    for q in stats.queues:
        click.echo(f"{q.name:<22}{q.count:>10}{q.oldest_seconds(stats.at):>12.0f}{q.last_hour:>11}")
    for fault, n in stats.failures:
        click.echo(f"failures  {n:>6}  {fault}")


@click.group("console-users")
def console_users_group() -> None:
    """People who sign in to the admin console (/console)."""


@console_users_group.command("add")
@click.argument("name")
@click.option(
    "--role",
    type=click.Choice(["gateway-admin", "participant-admin", "read-only"]),
    default="read-only",
    show_default=True,
)
@click.option("--participant", help="The authority a participant admin acts for (XÖV identifier).")
@click.password_option(
    help="At least 12 characters; asked for when not given (or XGW_CONSOLE_PASSWORD).", envvar="XGW_CONSOLE_PASSWORD"
)
def users_add(name: str, role: str, participant: str | None, password: str) -> None:
    """Add a console user; the password is stored only as an Argon2id hash."""
    from gateway.console.users import UserError, add_user
    from gateway.store.models import ConsoleRole

    engine = open_engine(Settings())
    try:
        user = add_user(engine, name, password, ConsoleRole(role), participant)
    except (UserError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"added {user.name} ({user.role.value})")


@console_users_group.command("list")
def users_list() -> None:
    from gateway.console.users import list_users

    for user in list_users(open_engine(Settings())):
        click.echo(f"{user.name}\t{user.role.value}\t{user.participant or '-'}")


@console_users_group.command("remove")
@click.argument("name")
def users_remove(name: str) -> None:
    from gateway.console.users import UserError, remove_user

    try:
        remove_user(open_engine(Settings()), name)
    except UserError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"removed {name}")


@console_users_group.command("set-role")
@click.argument("name")
@click.option("--role", type=click.Choice(["gateway-admin", "participant-admin", "read-only"]), required=True)
@click.option("--participant", help="The authority a participant admin acts for (XÖV identifier).")
def users_set_role(name: str, role: str, participant: str | None) -> None:
    """Give a console user another role; the user's sessions end (the next page asks for a sign-in)."""
    from gateway.console.users import UserError, set_role
    from gateway.store.models import ConsoleRole

    try:
        user = set_role(open_engine(Settings()), name, ConsoleRole(role), participant)
    except UserError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{user.name} is now {user.role.value}; its sessions have ended")


@console_users_group.command("set-password")
@click.argument("name")
@click.password_option(
    help="At least 12 characters; asked for when not given (or XGW_CONSOLE_PASSWORD).", envvar="XGW_CONSOLE_PASSWORD"
)
def users_set_password(name: str, password: str) -> None:
    """Give a console user a new password; every session of the user ends."""
    from gateway.console.users import UserError, set_password

    try:
        set_password(open_engine(Settings()), name, password)
    except (UserError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"new password for {name}; its sessions have ended")


@console_users_group.command("sign-out")
@click.argument("name")
def users_sign_out(name: str) -> None:
    """End every console session of a user (a lost laptop, a cookie that may have leaked)."""
    from gateway.console.users import UserError, end_sessions

    try:
        end_sessions(open_engine(Settings()), name)
    except UserError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"every session of {name} has ended")

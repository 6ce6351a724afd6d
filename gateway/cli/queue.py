"""``xgw queue ls|show|payload|retry|requeue|cancel`` and ``xgw stats``: the console's views and actions for scripts.

Output is a table for people or, with ``--json``, one JSON document (a list for lists, an object for one
thing), the same shape as every other ``xgw ... --json``. A message is named by its id or any unambiguous
prefix of it (as git names commits); an ambiguous prefix is refused with the candidates, never guessed.
Actions go through the same fenced transitions as the REST API and the console, and are written to the
audit log with the operating-system user. Every command here reads existing state: with no gateway
database where the settings point it refuses (see gateway/cli/state.py) instead of creating one.
Exit codes: 0 done, 1 refused (the message's state does not allow it), 2 usage or no gateway data,
4 no such message.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import os
import sys
import tempfile
import textwrap
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import click
import sqlalchemy as sa
from sqlmodel import Session, col, select

from gateway.cli.state import describe_location, open_engine
from gateway.config import Settings

if TYPE_CHECKING:
    from gateway.store.models import Message

NOT_FOUND = 4
#: shortest id prefix accepted: shorter ones would match most of a busy gateway's messages
MIN_PREFIX = 4
#: how many candidates an ambiguous prefix lists
_CANDIDATES = 5


def shorten(text: str | None, width: int) -> str:
    """``text`` on one line, cut at a word boundary with an ellipsis (never mid-word, unless one word is longer)."""
    flat = " ".join((text or "").split())
    if len(flat) <= width:
        return flat
    cut = textwrap.shorten(flat, width=width, placeholder=" …")
    return flat[: width - 1] + "…" if cut == "…" else cut  # "…" alone: the first word is longer than the width


def _prefix_range(text: str) -> tuple[uuid.UUID, uuid.UUID]:
    """The smallest and largest UUID starting with ``text`` (dashes ignored), or a usage error."""
    digits = text.strip().lower().replace("-", "")
    if len(digits) < MIN_PREFIX or len(digits) > 32 or any(c not in "0123456789abcdef" for c in digits):
        raise click.BadParameter(
            f"{text!r} is not a message id or an id prefix of at least {MIN_PREFIX} hex digits", param_hint="ID"
        )
    return uuid.UUID(digits.ljust(32, "0")), uuid.UUID(digits.ljust(32, "f"))


def find_message(session: Session, text: str) -> Message | None:
    """The message whose id is ``text`` or starts with it; ``None`` if none; a usage error if several do.

    The prefix becomes an id range, which both SQLite (ids stored as hex text) and PostgreSQL (uuid) order
    the same way, so the lookup uses the primary key's index on either.
    """
    from gateway.store.models import Message

    low, high = _prefix_range(text)
    rows = list(
        session.exec(
            select(Message)
            .where(col(Message.id) >= low, col(Message.id) <= high)
            .order_by(col(Message.id))
            .limit(_CANDIDATES + 1)
        ).all()
    )
    if len(rows) > 1:
        more = " ..." if len(rows) > _CANDIDATES else ""
        listed = ", ".join(str(m.id) for m in rows[:_CANDIDATES])
        raise click.UsageError(f"the id prefix {text!r} is ambiguous: it matches {listed}{more}; give more digits")
    return rows[0] if rows else None


def _not_found(text: str, settings: Settings) -> SystemExit:
    click.echo(f"xgw: no message {text} in {describe_location(settings)}", err=True)
    return SystemExit(NOT_FOUND)


def _summary_json(m: Message) -> dict[str, object]:
    return {
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


@click.group("queue")
def queue_group() -> None:
    """List, show, download and act on messages (retry, requeue, cancel)."""


@queue_group.command("ls")
@click.option("--state", help="Only this state, e.g. failed.")
@click.option("--participant", help="Sender or recipient is this XÖV identifier.")
@click.option("--type", "message_type", help="Nachrichtentyp code, e.g. 0503.")
@click.option("--text", help="Free text in Betreff or Aktenzeichen.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10000))
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list with one object per message.")
def ls_command(
    state: str | None, participant: str | None, message_type: str | None, text: str | None, limit: int, as_json: bool
) -> None:
    """Messages, newest first."""
    from gateway.console.search import BadFilter, parse_filters, search

    params = {
        k: v for k, v in {"state": state, "participant": participant, "type": message_type, "q": text}.items() if v
    }
    try:
        filters = parse_filters(params)
    except BadFilter as exc:
        raise click.UsageError(str(exc)) from None
    settings = Settings()
    engine = open_engine(settings, create=False)
    try:
        with Session(engine) as session:
            rows, more = search(session, filters, sa.true(), None, limit)
    finally:
        engine.dispose()
    if as_json:
        click.echo(json.dumps([_summary_json(m) for m in rows], indent=2, ensure_ascii=False))
        return
    where = describe_location(settings)
    if not rows:
        matching = " matching " + ", ".join(f"{k}={v}" for k, v in params.items()) if params else ""
        click.echo(f"no messages{matching} in {where}")
        return
    click.echo(f"{'ID':<36}  {'CREATED (UTC)':<19}  {'STATE':<13} {'TYPE':<4}  {'SENDER -> RECIPIENT':<33} ERROR")
    for m in rows:
        parties = f"{m.sender_id} -> {m.recipient_id}"
        click.echo(
            f"{m.id}  {m.created_at:%Y-%m-%d %H:%M:%S}  {m.state.value:<13} {m.message_type:<4}  {parties:<33} "
            f"{shorten(m.error, 60)}".rstrip()
        )
    shown = f"the newest {len(rows)} (--limit)" if more else str(len(rows))
    click.echo(f"{shown} message(s) in {where}", err=True)


@queue_group.command("show")
@click.argument("message_id", metavar="ID")
@click.option("--json", "as_json", is_flag=True, help="Print the message as one JSON object (as the REST API).")
def show_command(message_id: str, as_json: bool) -> None:
    """One message with its history; ID may be any unambiguous prefix of the id."""
    from gateway.api.views import detail_view
    from gateway.api.visibility import events_of

    settings = Settings()
    engine = open_engine(settings, create=False)
    try:
        with Session(engine) as session:
            message = find_message(session, message_id)
            if message is None:
                raise _not_found(message_id, settings)
            detail = detail_view(message, events_of(session, message))
    finally:
        engine.dispose()
    if as_json:
        click.echo(detail.model_dump_json(indent=2))
        return
    click.echo(f"{detail.id}  {detail.state.value}  {detail.message_type} {detail.sender} -> {detail.recipient}")
    click.echo(f"ProzessID {detail.process_id}  attempts {detail.attempts}")
    click.echo(
        f"payload   {detail.size} bytes as received, sha256 {detail.sha256}"
        f"  (download: xgw queue payload {str(detail.id)[:8]} -o FILE)"
    )
    if detail.error:
        click.echo(f"error: {detail.error}")
    for e in detail.events:
        frm = e.from_state.value if e.from_state else "-"
        click.echo(f"  {e.created_at:%Y-%m-%d %H:%M:%S}  {frm} -> {e.to_state.value}  {e.actor}: {e.reason}")
        if e.error:
            click.echo(f"      {e.error}")


@queue_group.command("payload")
@click.argument("message_id", metavar="ID")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=True, path_type=Path),
    help="File (or existing folder) to write to; '-' for standard output. Default: the message's file name "
    "in the current folder.",
)
@click.option(
    "--delivered", is_flag=True, help="The bytes the gateway hands on (e.g. signed) instead of those received."
)
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
def payload_command(message_id: str, output: Path | None, delivered: bool, force: bool) -> None:
    """Write a message's bytes (its XML or ZIP package) to a file, checked against its SHA-256.

    The payload store names files by hash in the data directory; this finds them by message id (or prefix).
    """
    from gateway.pipeline.context import PAYLOADS_DIR
    from gateway.store.downloads import download_name
    from gateway.store.payloads import PayloadNotFound, PayloadStore

    settings = Settings()
    engine = open_engine(settings, create=False)
    try:
        with Session(engine) as session:
            message = find_message(session, message_id)
            if message is None:
                raise _not_found(message_id, settings)
    finally:
        engine.dispose()
    sha256 = message.payload_ref if delivered else message.sha256
    store = PayloadStore(settings.data_dir / PAYLOADS_DIR)
    variant = "delivered" if delivered else "received"
    try:
        handle = store.open(sha256)
    except PayloadNotFound:
        raise click.ClickException(
            f"the {variant} payload of message {message.id} is no longer stored in {store.root}"
        ) from None
    with handle:
        if output is not None and str(output) == "-":
            stream = sys.stdout.buffer
            _copy_checked(handle, stream, sha256)
            stream.flush()
            return
        target = _target(output, download_name(message))
        if target.exists() and not force:
            raise click.ClickException(f"{target} exists; choose another -o or add --force")
        _write_atomically(handle, target, sha256)
    click.echo(str(target))
    click.echo(f"{variant} payload of {message.id}: {target.stat().st_size} bytes, sha256 {sha256}", err=True)


def _target(output: Path | None, name: str) -> Path:
    if output is None:
        return Path.cwd() / name
    return output / name if output.is_dir() else output


def _copy_checked(source: BinaryIO, sink: BinaryIO, sha256: str) -> None:
    """Copy in chunks, hashing on the way; a store whose bytes no longer match their name is refused."""
    digest = hashlib.sha256()
    while chunk := source.read(1 << 20):
        digest.update(chunk)
        sink.write(chunk)
    if digest.hexdigest() != sha256:
        raise click.ClickException(f"the stored payload {sha256} is damaged (its SHA-256 is {digest.hexdigest()})")


def _write_atomically(source: BinaryIO, target: Path, sha256: str) -> None:
    """Write beside the target and rename, so that a damaged or interrupted copy never takes its name."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            _copy_checked(source, out, sha256)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _act(message_id: str, action: str, note: str | None) -> None:
    from gateway.console import audit
    from gateway.console.actions import ConsoleAction, perform
    from gateway.console.users import ConsoleAccount
    from gateway.pipeline.operations import ActionRefused
    from gateway.store.models import ConsoleRole

    settings = Settings()
    engine = open_engine(settings, create=False)
    user = ConsoleAccount(0, f"cli:{getpass.getuser()}", ConsoleRole.GATEWAY_ADMIN, None)
    try:
        with Session(engine, expire_on_commit=False) as session:
            message = find_message(session, message_id)
            if message is None:
                audit.record(
                    engine, user.name, action, target=message_id, result=audit.REFUSED, detail="no such message"
                )
                raise _not_found(message_id, settings)
            try:
                done = perform(session, message, ConsoleAction(action), user, note)
            except ActionRefused as exc:
                raise click.ClickException(f"refused: {exc}") from None
    finally:
        engine.dispose()
    click.echo(f"{done.id}  {done.state.value}")


def _action_command(action: str, help_text: str) -> click.Command:
    @click.command(action, help=help_text + " ID may be any unambiguous prefix of the message id.")
    @click.argument("message_id", metavar="ID")
    @click.option("--note", help="Why; recorded in the message's history.")
    def command(message_id: str, note: str | None) -> None:
        _act(message_id, action, note)

    return command


queue_group.add_command(_action_command("retry", "Retry a failed or dead-lettered message from the step it failed in."))
queue_group.add_command(_action_command("requeue", "Make a waiting message due now, or send/deliver a sent one again."))
queue_group.add_command(_action_command("cancel", "Cancel an outbound message that has not left yet."))


@click.command("stats")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object: queues and failures.")
def stats_command(as_json: bool) -> None:
    """Per queue: messages, age of the oldest, throughput of the last hour; failures by rule or fault."""
    from gateway.console.stats import collect
    from gateway.pipeline.rollups import refresh

    settings = Settings()
    engine = open_engine(settings, create=False)
    try:
        refresh(engine, budget_seconds=30.0)
        with engine.connect() as connection:
            stats = collect(connection, settings=settings)
    finally:
        engine.dispose()
    if as_json:
        click.echo(json.dumps(stats.as_json(), indent=2, ensure_ascii=False))
        return
    click.echo(f"{'QUEUE':<22}{'MESSAGES':>10}{'OLDEST (s)':>12}{'LAST HOUR':>11}")
    for q in stats.queues:
        click.echo(f"{q.name:<22}{q.count:>10}{q.oldest_seconds(stats.at):>12.0f}{q.last_hour:>11}")
    if stats.failures:
        click.echo("")
        click.echo(f"{'FAILURES':>10}  RULE OR FAULT")
        for fault, n in stats.failures:
            click.echo(f"{n:>10}  {fault}")
    click.echo(f"gateway data in {describe_location(settings)}", err=True)


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

    engine = open_engine(Settings(), create=True)
    try:
        user = add_user(engine, name, password, ConsoleRole(role), participant)
    except (UserError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        engine.dispose()
    click.echo(f"added {user.name} ({user.role.value})")


@console_users_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list with one object per user.")
def users_list(as_json: bool) -> None:
    """Console users with their role, for participant admins their authority, where they come from (local or
    the directory) and where their alerts go."""
    from gateway.console.users import list_users

    settings = Settings()
    engine = open_engine(settings, create=False)
    try:
        users = list_users(engine)
    finally:
        engine.dispose()
    if as_json:
        payload = [
            {"name": u.name, "role": u.role.value, "participant": u.participant, "source": u.source, "email": u.email}
            for u in users
        ]
        click.echo(json.dumps(payload, indent=2, ensure_ascii=False))
        return
    if not users:
        click.echo(f"no console users in {describe_location(settings)}; add one with `xgw console-users add NAME`")
        return
    click.echo(f"{'NAME':<24} {'ROLE':<18} {'PARTICIPANT':<20} {'SOURCE':<7} EMAIL")
    for user in users:
        participant = user.participant or "-"
        click.echo(f"{user.name:<24} {user.role.value:<18} {participant:<20} {user.source:<7} {user.email or '-'}")


@console_users_group.command("remove")
@click.argument("name")
def users_remove(name: str) -> None:
    """Remove a console user (by name)."""
    from gateway.console.users import UserError, remove_user

    engine = open_engine(Settings(), create=False)
    try:
        remove_user(engine, name)
    except UserError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        engine.dispose()
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
        user = set_role(open_engine(Settings(), create=False), name, ConsoleRole(role), participant)
    except UserError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{user.name} is now {user.role.value}; its sessions have ended")


@console_users_group.command("set-email")
@click.argument("name")
@click.argument("email", required=False)
def users_set_email(name: str, email: str | None) -> None:
    """Where a console user's alerts go (gateway admins: all, participant admins: their participant's);
    without EMAIL the user receives none. Directory users get theirs from the directory at sign-in."""
    from gateway.console.users import UserError, set_email

    try:
        set_email(open_engine(Settings(), create=False), name, email)
    except UserError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{name} receives alerts at {email}" if email else f"{name} receives no alerts")


@console_users_group.command("set-password")
@click.argument("name")
@click.password_option(
    help="At least 12 characters; asked for when not given (or XGW_CONSOLE_PASSWORD).", envvar="XGW_CONSOLE_PASSWORD"
)
def users_set_password(name: str, password: str) -> None:
    """Give a console user a new password; every session of the user ends."""
    from gateway.console.users import UserError, set_password

    try:
        set_password(open_engine(Settings(), create=False), name, password)
    except (UserError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"new password for {name}; its sessions have ended")


@console_users_group.command("sign-out")
@click.argument("name")
def users_sign_out(name: str) -> None:
    """End every console session of a user (a lost laptop, a cookie that may have leaked)."""
    from gateway.console.users import UserError, end_sessions

    try:
        end_sessions(open_engine(Settings(), create=False), name)
    except UserError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"every session of {name} has ended")

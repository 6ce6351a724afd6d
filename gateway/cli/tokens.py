"""``xgw tokens create|list|revoke``: API tokens for participants.

``create`` prints the token once, alone on standard output, so that a script can capture it
(``TOKEN=$(xgw tokens create psw:16077000 --scope submit,read)``); it is never stored or shown again.
"""

from __future__ import annotations

import json

import click

from gateway.cli.state import describe_location, open_engine
from gateway.config import Settings
from gateway.participants.tokens import Scope, TokenError, create_token, list_tokens, parse_scopes, revoke_token
from gateway.store.db import session_scope


@click.group("tokens")
def tokens_group() -> None:
    """API tokens bound to participants (scopes: submit, read, admin)."""


@tokens_group.command("create")
@click.argument("participant")
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    default=("submit,read",),
    show_default=True,
    help="Comma-separated scopes: submit, read, admin (repeatable).",
)
@click.option("--name", help="Label shown in listings (default: participant and scopes).")
def create_command(participant: str, scopes: tuple[str, ...], name: str | None) -> None:
    """Create a token for PARTICIPANT and print it once."""
    try:
        chosen = parse_scopes(scopes)
    except TokenError as exc:
        raise click.BadParameter(str(exc), param_hint="--scope") from None
    engine = open_engine(Settings(), create=True)
    try:
        with session_scope(engine) as session:
            token = create_token(session, participant, chosen, name)
    except TokenError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        engine.dispose()
    click.echo(token.secret)
    scope_text = ",".join(s.value for s in token.scopes)
    click.echo(
        f"token {token.id} for {token.participant} ({scope_text}); shown only now -- store it safely",
        err=True,
    )
    if Scope.ADMIN in token.scopes:
        click.echo("note: an admin token sees and changes every participant's messages", err=True)


@tokens_group.command("list")
@click.option("--participant", help="Only this participant's tokens.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def list_command(participant: str | None, as_json: bool) -> None:
    """Tokens by id, participant, scopes and state (never the tokens themselves)."""
    settings = Settings()
    engine = open_engine(settings, create=False)
    try:
        with session_scope(engine) as session:
            tokens = list_tokens(session, participant)
    finally:
        engine.dispose()
    if as_json:
        payload = [
            {
                "id": t.id,
                "name": t.name,
                "participant": t.participant,
                "scopes": list(t.scopes),
                "created_at": t.created_at.isoformat(timespec="seconds"),
                "revoked_at": t.revoked_at.isoformat(timespec="seconds") if t.revoked_at else None,
            }
            for t in tokens
        ]
        click.echo(json.dumps(payload, indent=2, ensure_ascii=False))
        return
    if not tokens:
        whose = f" for {participant}" if participant else ""
        click.echo(
            f"no tokens{whose} in {describe_location(settings)}; create one with `xgw tokens create PARTICIPANT`"
        )
        return
    click.echo(f"{'ID':>5}  {'PARTICIPANT':<20} {'SCOPES':<18} {'STATE':<24} NAME")
    for t in tokens:
        state = f"revoked {t.revoked_at:%Y-%m-%d %H:%M}" if t.revoked_at else "active"
        click.echo(f"{t.id:>5}  {t.participant:<20} {','.join(t.scopes):<18} {state:<24} {t.name}")
    click.echo(f"{len(tokens)} token(s) in {describe_location(settings)}", err=True)


@tokens_group.command("revoke")
@click.argument("token_id", type=int)
def revoke_command(token_id: int) -> None:
    """Revoke token TOKEN_ID (see xgw tokens list); requests with it fail from now on."""
    engine = open_engine(Settings(), create=False)
    try:
        with session_scope(engine) as session:
            info = revoke_token(session, token_id)
    except TokenError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        engine.dispose()
    assert info.revoked_at is not None
    click.echo(f"token {info.id} of {info.participant} revoked at {info.revoked_at:%Y-%m-%d %H:%M:%S} UTC")

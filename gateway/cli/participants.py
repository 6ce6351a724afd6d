"""``xgw participants list|add|import|show``: the participant directory for operators and scripts.

``add`` and ``import`` create or upgrade the database first (or refuse with the reason), so a fresh
installation can run ``xgw participants import FILE`` without any other step; ``list`` and ``show`` only
read, and refuse when there is no gateway database where the settings point (see gateway/cli/state.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from gateway.cli.state import describe_location, open_engine
from gateway.config import Settings
from gateway.participants.directory import (
    DirectoryError,
    ParticipantView,
    get_participant,
    import_entries,
    list_participants,
    read_directory_file,
    upsert,
    view,
)
from gateway.participants.spec import ParticipantSpec
from gateway.store.db import session_scope
from gateway.store.models import ReceiptMaker, RouteKind, SenderIdentification, SignaturePolicy


def _fail(exc: DirectoryError) -> click.ClickException:
    return click.ClickException("\n  ".join(["the directory was not changed:", *exc.problems]))


def _table(entries: list[ParticipantView]) -> list[str]:
    """Header and one line per entry, each column as wide as its widest cell (no cell is cut)."""
    rows = [("ID", "NAME", "XDOMEA VERSIONS", "ROUTE")]
    for e in entries:
        route = e.route.kind.value + (f" {e.route.endpoint_url}" if e.route.endpoint_url else "")
        rows.append((e.id, e.name, ",".join(e.accepted_versions), route))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    return [f"{a:<{widths[0]}}  {b:<{widths[1]}}  {c:<{widths[2]}}  {d}" for a, b, c, d in rows]


@click.group("participants")
def participants_group() -> None:
    """The participant directory: authorities and systems with their XÖV identifiers."""


@participants_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def list_command(as_json: bool) -> None:
    """Every directory entry: identifier, name, accepted xdomea versions, route."""
    settings = Settings()
    engine = open_engine(settings, create=False)
    try:
        with session_scope(engine) as session:
            entries = [view(session, p) for p in list_participants(session)]
    finally:
        engine.dispose()
    if as_json:
        click.echo(json.dumps([e.model_dump(mode="json") for e in entries], indent=2, ensure_ascii=False))
        return
    if not entries:
        click.echo(f"no participants in {describe_location(settings)}; add them with `xgw participants import FILE`")
        return
    for line in _table(entries):
        click.echo(line)
    click.echo(f"{len(entries)} participant(s) in {describe_location(settings)}", err=True)


@participants_group.command("show")
@click.argument("xoev_id")
def show_command(xoev_id: str) -> None:
    """One entry in full, as JSON (certificates by fingerprint)."""
    engine = open_engine(Settings(), create=False)
    try:
        with session_scope(engine) as session:
            participant = get_participant(session, xoev_id)
            if participant is None:
                raise click.ClickException(f"no participant {xoev_id!r} in the directory (see xgw participants list)")
            entry = view(session, participant)
    finally:
        engine.dispose()
    click.echo(json.dumps(entry.model_dump(mode="json"), indent=2, ensure_ascii=False))


@participants_group.command("add")
@click.argument("xoev_id")
@click.option("--name", required=True, help="Display name of the authority.")
@click.option(
    "--version",
    "versions",
    multiple=True,
    help="Accepted xdomea version (repeatable); default 3.0.0, 3.1.0 and 4.0.0.",
)
@click.option("--xta-endpoint", help="Route messages to this remote XTA 2 endpoint instead of a local mailbox.")
@click.option(
    "--signature-policy",
    type=click.Choice([p.value for p in SignaturePolicy]),
    default=SignaturePolicy.REQUIRE.value,
    show_default=True,
)
@click.option(
    "--certificate",
    "certificates",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="PEM file with a signing certificate to pin (repeatable).",
)
@click.option(
    "--sender-identification",
    type=click.Choice([i.value for i in SenderIdentification]),
    default=SenderIdentification.CHANNEL.value,
    show_default=True,
    help="kennung: its messages' Absender must carry its Behoerdenkennung; channel: an Absender without one is "
    "identified by the authenticated channel (docs/receipts.md).",
)
@click.option(
    "--technical-receipts",
    type=click.Choice([m.value for m in ReceiptMaker]),
    help="Who makes the Empfangsbestaetigungen for messages delivered to it; unset: derived (docs/receipts.md).",
)
@click.option(
    "--import-confirmations",
    type=click.Choice([m.value for m in ReceiptMaker]),
    help="Who makes the import confirmations 0402/0506; 'gateway' needs an importing DMS adapter. Unset: derived.",
)
def add_command(
    xoev_id: str,
    name: str,
    versions: tuple[str, ...],
    xta_endpoint: str | None,
    signature_policy: str,
    certificates: tuple[Path, ...],
    sender_identification: str,
    technical_receipts: str | None,
    import_confirmations: str | None,
) -> None:
    """Add XOEV_ID to the directory, or update it (an upsert: the same command twice changes nothing)."""
    raw: dict[str, object] = {
        "id": xoev_id,
        "name": name,
        "signature_policy": signature_policy,
        "route": {"kind": RouteKind.XTA.value, "endpoint_url": xta_endpoint}
        if xta_endpoint
        else {"kind": RouteKind.MAILBOX.value},
        "certificates": [{"pem_file": str(p.resolve())} for p in certificates],
        "sender_identification": sender_identification,
        "receipts": {"technical": technical_receipts, "import_confirmations": import_confirmations},
    }
    if versions:
        raw["accepted_versions"] = list(versions)
    try:
        spec = ParticipantSpec.model_validate(raw)
    except ValueError as exc:
        raise click.ClickException(f"participant {xoev_id}: {exc}") from None
    engine = open_engine(Settings(), create=True)
    try:
        with session_scope(engine) as session:
            result = upsert(session, spec)
    except DirectoryError as exc:
        raise _fail(exc) from None
    finally:
        engine.dispose()
    added = f", {len(result.certificates_added)} certificate(s) pinned" if result.certificates_added else ""
    click.echo(f"{result.outcome} {result.xoev_id}{added}")


@participants_group.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def import_command(path: Path) -> None:
    """Upsert every entry of a TOML or JSON directory file, all or nothing."""
    try:
        specs = read_directory_file(path)
    except DirectoryError as exc:
        raise _fail(exc) from None
    engine = open_engine(Settings(), create=True)
    try:
        with session_scope(engine) as session:
            results = import_entries(session, specs)
    except DirectoryError as exc:
        raise _fail(exc) from None
    finally:
        engine.dispose()
    for result in results:
        added = f" (+{len(result.certificates_added)} certificate(s))" if result.certificates_added else ""
        click.echo(f"{result.outcome:<9} {result.xoev_id}{added}")
    counts = {o: sum(1 for r in results if r.outcome == o) for o in ("created", "updated", "unchanged")}
    click.echo(", ".join(f"{n} {o}" for o, n in counts.items()), err=True)

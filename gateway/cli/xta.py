"""``xgw xta``: every XTA 2 operation by hand against any XTA server, for admins debugging a peer.

Each subcommand is one operation (``send`` is the whole send flow) with the connection given on the
command line -- ``--url`` (the peer's XTAService base URL), ``--cert/--key`` (our client certificate),
``--ca`` (the peer's CA; https needs one unless ``--system-ca`` or a ``[[xta_client.peers]]`` entry for
that URL) -- and the rest from the settings. A debugging tool should show the first failure, so each
operation is tried once unless ``--retries`` says otherwise. Output is readable text, or JSON with
``--json``. Exit status: 0 done, 1 the peer refused (permanent error, its fault code and text are
printed), 75 (EX_TEMPFAIL) a transient failure (timeout, peer down, technical fault).
"""

from __future__ import annotations

import dataclasses
import enum
import json
import sys
from collections.abc import Callable
from datetime import date, datetime
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import click

from gateway.config import Settings

F = TypeVar("F", bound=Callable[..., Any])
EX_TEMPFAIL = 75


def _jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return value


class Connection:
    """What the common options say: where, how to trust, how long, how often, how to print."""

    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options
        self.as_json: bool = options["as_json"]

    def client(self) -> Any:
        from gateway.transport.xta_client.client import XtaClient
        from gateway.transport.xta_client.peer import PeerNotConfigured, make_peer, resolve_peer

        o = self.options
        settings = Settings()
        config = settings.xta_client
        updates: dict[str, Any] = {"max_attempts": o["retries"]}
        if o["timeout"] is not None:
            updates.update(operation_timeout=o["timeout"], read_timeout=o["timeout"], connect_timeout=o["timeout"])
        settings = settings.model_copy(update={"xta_client": config.model_copy(update=updates)})
        cert = o["cert"] or config.client_cert
        key = o["key"] or config.client_key
        try:
            if o["ca"] is not None or o["system_ca"] or not o["url"].lower().startswith("https://"):
                peer = make_peer(
                    o["url"], ca_bundle=o["ca"], use_system_ca=o["system_ca"], client_cert=cert, client_key=key
                )
            else:
                peer = resolve_peer(config, o["url"])
                if o["cert"] or o["key"]:
                    pinned = Path(peer.verify) if isinstance(peer.verify, str) else None
                    peer = make_peer(
                        o["url"], ca_bundle=pinned, use_system_ca=pinned is None, client_cert=cert, client_key=key
                    )
        except PeerNotConfigured as exc:
            raise click.UsageError(str(exc)) from None
        return XtaClient(peer, settings)

    def emit(self, value: Any, text: str) -> None:
        click.echo(json.dumps(_jsonable(value), indent=2, ensure_ascii=False) if self.as_json else text)


def connection_options(func: F) -> F:
    """The options every subcommand shares; the command receives them as ``conn: Connection``."""

    @click.option("--url", required=True, envvar="XGW_XTA_URL", help="Base URL of the peer's XTAService.")
    @click.option("--cert", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="Client cert (PEM).")
    @click.option("--key", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="Client key (PEM).")
    @click.option(
        "--ca", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="CA bundle pinned for the peer."
    )
    @click.option("--system-ca", is_flag=True, help="Trust the public CA bundle for this peer.")
    @click.option("--timeout", type=float, help="Seconds for connect, read and the whole operation.")
    @click.option("--retries", type=click.IntRange(1, 20), default=1, show_default=True, help="Tries per operation.")
    @click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
    @wraps(func)
    def wrapper(**kwargs: Any) -> Any:
        names = ("url", "cert", "key", "ca", "system_ca", "timeout", "retries", "as_json")
        conn = Connection({n: kwargs.pop(n) for n in names})
        return _guarded(conn, lambda: func(conn, **kwargs))

    return wrapper  # type: ignore[return-value]


def _guarded(conn: Connection, action: Callable[[], Any]) -> Any:
    from gateway.transport.xta_client.errors import FaultError, XtaClientError

    try:
        return action()
    except XtaClientError as exc:
        payload: dict[str, Any] = {
            "error": type(exc).__name__,
            "retryable": exc.retryable,
            "operation": exc.operation,
            "peer": exc.peer,
            "detail": exc.detail,
        }
        if isinstance(exc, FaultError):
            payload["fault"] = _jsonable(exc.fault)
        if conn.as_json:
            click.echo(json.dumps(payload, indent=2, ensure_ascii=False))
        kind = "transient" if exc.retryable else "permanent"
        click.echo(f"error ({kind}): {exc}", err=True)
        sys.exit(EX_TEMPFAIL if exc.retryable else 1)


def _party(value: str, kind: str | None) -> Any:
    from gateway.transport.xta.backend import PartyId

    return PartyId(value, kind or Settings().xta_client.party_type)


ACCOUNT = click.option("--as", "account", required=True, help="The XTA account (PartyIdentifier) to act for.")
PARTY_TYPE = click.option("--party-type", help="PartyIdentifier type (default: xta_client.party_type).")


@click.group("xta")
def xta_group() -> None:
    """Run XTA 2 operations by hand against any XTA server (for debugging a peer)."""


@xta_group.command("check-account")
@ACCOUNT
@PARTY_TYPE
@connection_options
def check_account(conn: Connection, account: str, party_type: str | None) -> None:
    """checkAccountActive: does the peer accept this account from us?"""
    with conn.client() as client:
        client.check_account_active(_party(account, party_type))
    conn.emit({"account": account, "active": True}, f"account {account} is active at {conn.options['url']}")


@xta_group.command("create-id")
@ACCOUNT
@PARTY_TYPE
@connection_options
def create_id(conn: Connection, account: str, party_type: str | None) -> None:
    """createMessageId: reserve a MessageID."""
    with conn.client() as client:
        message_id = client.create_message_id(_party(account, party_type))
    conn.emit({"message_id": message_id}, message_id)


@xta_group.command("lookup")
@ACCOUNT
@PARTY_TYPE
@click.option("--reader", required=True, help="The recipient account to ask about.")
@click.option("--service", required=True, help="The service, e.g. urn:xoev-de:xdomea:schema:3.0.0.")
@connection_options
def lookup(conn: Connection, account: str, party_type: str | None, reader: str, service: str) -> None:
    """lookupService: can the peer deliver this service to this reader?"""
    with conn.client() as client:
        answers = client.lookup_service(_party(account, party_type), [(_party(reader, party_type), service)])
    words = {True: "available", False: "NOT available", None: "unknown"}
    conn.emit(answers, "\n".join(f"{a.reader.value} {a.service}: {words[a.available]}" for a in answers) or "no answer")


@xta_group.command("send")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--from", "author", required=True, help="Author account (our participant).")
@click.option("--to", "reader", required=True, help="Reader account (the recipient).")
@click.option("--service", default="urn:xoev-de:xdomea:schema:3.0.0", show_default=True, help="XTA service.")
@click.option("--message-type", default="0501", show_default=True, help="MessageType code (Nachrichtentyp).")
@click.option("--content-type", help="Content type of FILE (default: by extension).")
@click.option("--attach", multiple=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--message-id", help="Use this MessageID instead of createMessageId (resend the same order).")
@click.option("--no-check", is_flag=True, help="Skip checkAccountActive and lookupService.")
@PARTY_TYPE
@connection_options
def send(
    conn: Connection,
    file: Path,
    author: str,
    reader: str,
    service: str,
    message_type: str,
    content_type: str | None,
    attach: tuple[Path, ...],
    message_id: str | None,
    no_check: bool,
    party_type: str | None,
) -> None:
    """The send flow with FILE as the message: check, lookup, create id, sendMessage, report."""
    from gateway.bridge.xta.sender import BUSINESS_SCENARIO, MESSAGE_TYPE_LIST
    from gateway.transport.xta.backend import Content, ContentInfo, KeyCode, MessageMeta

    def content(path: Path, kind: str | None) -> Content:
        guessed = {".xml": "application/xml", ".zip": "application/zip", ".pdf": "application/pdf"}
        info = ContentInfo(kind or guessed.get(path.suffix.lower(), "application/octet-stream"), filename=path.name)
        return Content(info, path, path.stat().st_size)

    meta = MessageMeta(
        message_id=message_id or "",
        author=_party(author, party_type),
        reader=_party(reader, party_type),
        service=service,
        business_scenario=BUSINESS_SCENARIO,
        message_type=KeyCode(message_type, *MESSAGE_TYPE_LIST),
        payload_schema=service,
    )
    with conn.client() as client:
        outcome = client.send(meta, content(file, content_type), [content(a, None) for a in attach], check=not no_check)
    note = " (already sent before: 9024 confirmed by the report)" if outcome.confirmed_duplicate else ""
    conn.emit(outcome, f"sent {outcome.message_id}{note}\n" + _report_text(outcome.report))


def _report_text(report: Any) -> str:
    lights = {0: "open", 1: "green", 2: "yellow", 3: "red"}
    lines = [
        f"message {report.meta.message_id}: {lights.get(int(report.status), report.status)} ({int(report.status)})",
        f"  from {report.meta.author.value} to {report.meta.reader.value}, service {report.meta.service}",
        f"  report time {report.report_time.isoformat()}",
    ]
    for label, records in (("error", report.errors), ("warning", report.warnings), ("info", report.infos)):
        lines.extend(f"  {label}: {r.code.code} {r.reason}" for r in records)
    return "\n".join(lines)


@xta_group.command("report")
@click.argument("message_id")
@ACCOUNT
@PARTY_TYPE
@connection_options
def report(conn: Connection, message_id: str, account: str, party_type: str | None) -> None:
    """getTransportReport: the peer's status of a message we sent."""
    with conn.client() as client:
        found = client.transport_report(_party(account, party_type), message_id)
    conn.emit(found, _report_text(found))


@xta_group.command("status-list")
@ACCOUNT
@PARTY_TYPE
@click.option("--max", "max_items", type=click.IntRange(1), help="Most entries to list (maxListItems).")
@connection_options
def status_list(conn: Connection, account: str, party_type: str | None, max_items: int | None) -> None:
    """getStatusList: the open messages in our box at the peer."""
    with conn.client() as client:
        page = client.status_list(_party(account, party_type), max_items)
    lines = [
        f"{m.message_id}  from {m.author.value}  type {m.message_type.code}  {m.size or '?'} bytes" for m in page.items
    ]
    lines.append(f"{len(page.items)} listed, {page.pending} more pending (request {page.request_id or '-'})")
    conn.emit(page, "\n".join(lines))


def _safe_name(name: str | None, fallback: str, taken: set[str]) -> str:
    base = Path(name or "").name.strip().lstrip(".") or fallback
    candidate, n = base, 1
    while candidate in taken:
        n += 1
        candidate = f"{n}-{base}"
    taken.add(candidate)
    return candidate


@xta_group.command("fetch")
@click.argument("message_id")
@ACCOUNT
@PARTY_TYPE
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path), help="Directory for the files.")
@connection_options
def fetch(conn: Connection, message_id: str, account: str, party_type: str | None, out: Path) -> None:
    """getMessage: save the message and its attachments under their file names (does not close)."""
    import shutil

    out.mkdir(parents=True, exist_ok=True)
    taken = {p.name for p in out.iterdir()}
    saved = []
    with conn.client() as client, client.get_message(_party(account, party_type), message_id) as got:
        for index, item in enumerate(got.contents):
            name = _safe_name(item.info.filename, "message.bin" if index == 0 else f"attachment-{index}.bin", taken)
            target = out / name
            shutil.move(item.path, target)
            saved.append({"file": str(target), "content_type": item.info.content_type, "size": item.size})
        result = {"message_id": got.meta.message_id, "request_id": got.message.request_id, "files": saved}
    conn.emit(result, "\n".join(f"{s['file']}  {s['content_type']}  {s['size']} bytes" for s in saved))


@xta_group.command("close")
@click.argument("message_id")
@ACCOUNT
@PARTY_TYPE
@click.option("--request-id", help="MsgBoxRequestID of the fetch (default: a fresh one).")
@connection_options
def close(conn: Connection, message_id: str, account: str, party_type: str | None, request_id: str | None) -> None:
    """close: confirm receipt, removing the message from our box at the peer."""
    with conn.client() as client:
        client.close_messages(_party(account, party_type), [message_id], request_id)
    conn.emit({"closed": message_id}, f"closed {message_id}")


@xta_group.command("cancel")
@click.argument("message_id")
@ACCOUNT
@PARTY_TYPE
@connection_options
def cancel(conn: Connection, message_id: str, account: str, party_type: str | None) -> None:
    """cancelMessage: withdraw a transport order that is not yet due."""
    with conn.client() as client:
        client.cancel_message(_party(account, party_type), message_id)
    conn.emit({"cancelled": message_id}, f"cancelled {message_id}")

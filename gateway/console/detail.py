"""Everything the message page shows, gathered in one place: parsed Kopf and record tree, report, history,
attempts, transport report and the process.

The payload is parsed again for display (safe parser, the settings' limits); a payload that was pruned or
cannot be read is shown as such, it does not break the page.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from gateway.bridge.xta.meta import RED_STATES, report_status
from gateway.console.access import visible_to
from gateway.console.users import ConsoleAccount
from gateway.pipeline.context import PipelineContext
from gateway.pipeline.processes import describe_thread
from gateway.pipeline.visibility import owns
from gateway.store.models import DeliveryAttempt, Message, MessageEvent
from gateway.store.payloads import PayloadNotFound
from gateway.xoev.model import Message as XdomeaMessage
from gateway.xoev.parsing.model_text import render_message
from gateway.xoev.parsing.parse import NotXdomea, parse_message
from gateway.xoev.parsing.safe_xml import XmlRejected, parse_xml
from gateway.xoev.validation.package import PackageError, is_message_name, read_entry, scan_package

PROCESS_MESSAGES = 200


@dataclass(slots=True)
class Detail:
    message: Message
    events: list[MessageEvent]
    attempts: list[DeliveryAttempt]
    model: XdomeaMessage | None = None
    header_text: str | None = None
    parse_error: str | None = None
    transport: dict[str, Any] = field(default_factory=dict)
    process: list[Message] = field(default_factory=list)
    thread: dict[str, Any] | None = None
    #: the message's history, delivery attempts and error: its owner's (and the gateway admins') only
    internals: bool = True


def load_model(ctx: PipelineContext, message: Message) -> XdomeaMessage:
    """The message as delivered, parsed; raises ValueError with a reason a person can read."""
    limits = ctx.settings.limits
    try:
        path = ctx.payloads.path_of(message.payload_ref)
        if message.content_kind == "zip":
            scan = scan_package(path, limits)
            names = [e.name for e in scan.files if "/" not in e.name and is_message_name(e.name)]
            if len(names) != 1:
                raise ValueError("the package has no single message XML at its top level")
            data = read_entry(scan, names[0], limits.max_xml_bytes)
        else:
            if path.stat().st_size > limits.max_xml_bytes:
                raise ValueError("the message XML is larger than limits.max_xml_bytes")
            data = path.read_bytes()
        return parse_message(parse_xml(data, limits, source=message.filename))
    except (PayloadNotFound, FileNotFoundError):
        raise ValueError("the payload is no longer stored") from None
    except (XmlRejected, PackageError, NotXdomea, OSError) as exc:
        raise ValueError(str(exc)) from None


def _transport(message: Message, events: list[MessageEvent]) -> dict[str, Any]:
    """The XTA transport report's content (status and classified records), as the XTA server would report it."""
    errors, warnings, infos = [], [], []
    for event in events:
        if event.from_state == event.to_state:
            if event.error:
                warnings.append((event.created_at, f"{event.reason}: {event.error}"))
            continue
        if event.to_state in RED_STATES:
            errors.append((event.created_at, f"{event.reason}: {event.error}" if event.error else event.reason))
        else:
            infos.append((event.created_at, event.reason))
    status = report_status(message)
    return {
        "status": int(status.value),
        "name": status.name.lower(),
        "errors": errors,
        "warnings": warnings,
        "infos": infos,
    }


def gather(ctx: PipelineContext, session: Session, user: ConsoleAccount, message: Message) -> Detail:
    # the other party of a message sees what was sent to it, never the owner's internal history (issue 10.6)
    internals = user.is_gateway_admin or owns(message, user.participant)
    events = list(
        session.exec(
            select(MessageEvent).where(col(MessageEvent.message_id) == message.id).order_by(col(MessageEvent.id))
        )
    )
    attempts = list(
        session.exec(
            select(DeliveryAttempt)
            .where(col(DeliveryAttempt.message_id) == message.id)
            .order_by(col(DeliveryAttempt.id))
        )
    )
    if not internals:
        events, attempts = [], []
    detail = Detail(message, events, attempts, transport=_transport(message, events), internals=internals)
    try:
        detail.model = load_model(ctx, message)
        detail.header_text = render_message(detail.model)
    except ValueError as exc:
        detail.parse_error = str(exc)
    process = list(
        session.exec(
            select(Message)
            .where(col(Message.process_id) == message.process_id, visible_to(user))
            .order_by(col(Message.created_at), col(Message.id))
            .limit(PROCESS_MESSAGES)
        )
    )
    detail.process = process
    try:
        detail.thread = describe_thread(session, message.process_id, process, ctx.settings)
    except (ValueError, KeyError, sa.exc.SQLAlchemyError):
        detail.thread = None
    return detail

"""Everything the message page shows, gathered in one place: parsed Kopf and record tree, report, history,
attempts, transport report and the process as a timeline.

The payload is parsed again for display (safe parser, the settings' limits); a payload that was pruned or
cannot be read is shown as such, it does not break the page. A message that failed before its report was
stored (an inbound message refused as invalid) is validated again for display, so the page can say which
rule failed where.

The process timeline lays the thread of :mod:`gateway.pipeline.processes` over the protocol's order of
steps (Aussonderung 0501 -> 0504 -> 0502 -> 0505 -> 0503 -> 0507 -> 0506): steps that happened carry their
message, the answers the process waits for carry their deadline, the rest are shown as expected. Only
messages the user may see take part (:func:`gateway.console.access.visible_to`).
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import sqlalchemy as sa
from sqlmodel import Session, col, select

from gateway.bridge.xta.meta import RED_STATES, report_status
from gateway.console.access import visible_to
from gateway.console.users import ConsoleAccount
from gateway.pipeline.context import PipelineContext
from gateway.pipeline.processes import STEP_NAMES, ProcessThread, build_thread
from gateway.pipeline.receipts import RECEIPT_FOR
from gateway.pipeline.visibility import owns
from gateway.store.models import DeliveryAttempt, Message, MessageEvent, MessageState, Participant
from gateway.store.payloads import PayloadNotFound
from gateway.store.types import utcnow
from gateway.xoev.model import Message as XdomeaMessage
from gateway.xoev.parsing.parse import NotXdomea, parse_message
from gateway.xoev.parsing.safe_xml import XmlRejected, parse_xml
from gateway.xoev.validation.package import PackageError, is_message_name, read_entry, scan_package

PROCESS_MESSAGES = 200

#: the protocol's order of steps per process family (first two digits of the Nachrichtentyp)
PROCESS_ORDER: dict[str, tuple[str, tuple[str, ...]]] = {
    "01": ("Information", ("0101", "0102")),
    "02": ("Geschäftsgang", ("0201", "0202")),
    "04": ("Abgabe", ("0401", "0403", "0402")),
    "05": ("Aussonderung", ("0501", "0504", "0502", "0505", "0503", "0507", "0506")),
}
#: receipt code -> the code it acknowledges (a receipt is only expected when that message asked for it)
RECEIPT_OF = {receipt: answered for answered, receipt in RECEIPT_FOR.items()}
#: German names with umlauts for the page (the pipeline's table is ASCII for logs and the API)
STEP_TITLES = {code: name.replace("Geschaeftsgang", "Geschäftsgang") for code, name in STEP_NAMES.items()}
FAILED_STATES = frozenset({MessageState.FAILED, MessageState.DEAD_LETTERED, MessageState.CANCELLED})

StepStatus = Literal["done", "failed", "awaited", "overdue", "expected", "optional"]


@dataclass(slots=True)
class Step:
    """One step of the process timeline: a message that happened, or one that is awaited or expected."""

    code: str
    name: str
    status: StepStatus
    message: Message | None = None
    #: the XÖV ids of who sent the step's message (or is expected to) and who received it
    sender: str | None = None
    recipient: str | None = None
    at: datetime | None = None
    deadline: datetime | None = None
    #: the message shown on the page is this step's
    current: bool = False

    @property
    def overdue(self) -> bool:
        return self.status == "overdue"


@dataclass(slots=True)
class Timeline:
    process_id: str
    title: str | None
    steps: list[Step]
    deadline: datetime | None
    overdue: bool
    complete: bool


@dataclass(frozen=True, slots=True)
class FindingRow:
    """One finding of the validation report as the page's table shows it."""

    severity: str
    rule: str
    place: str
    line: int | None
    message: str
    message_de: str


@dataclass(slots=True)
class Detail:
    message: Message
    events: list[MessageEvent]
    attempts: list[DeliveryAttempt]
    model: XdomeaMessage | None = None
    parse_error: str | None = None
    transport: dict[str, Any] = field(default_factory=dict)
    process: list[Message] = field(default_factory=list)
    timeline: Timeline | None = None
    #: participant id -> display name, for everyone the page names
    names: dict[str, str] = field(default_factory=dict)
    findings: list[FindingRow] = field(default_factory=list)
    #: None: no report (the message was never validated and could not be read again)
    valid: bool | None = None
    #: the report was made again for this page (the message failed before its report was stored)
    rechecked: bool = False
    #: the message's history, delivery attempts and error: its owner's (and the gateway admins') only
    internals: bool = True

    @property
    def step_name(self) -> str:
        """The German name of the message's type, e.g. "Bewertung" for 0502."""
        return STEP_TITLES.get(self.message.message_type, "")


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


def _place(location: Any) -> tuple[str, int | None]:
    """Where a finding is: the package entry and XPath (or the file), and the line."""
    if not isinstance(location, dict):
        return str(location or "–"), None
    parts = []
    if location.get("entry"):
        parts.append(f"[{location['entry']}]")
    if location.get("xpath"):
        parts.append(str(location["xpath"]))
    if not parts and location.get("file"):
        parts.append(str(location["file"]))
    line = location.get("line")
    return " ".join(parts) or "–", line if isinstance(line, int) else None


def findings_of(report: dict[str, Any]) -> list[FindingRow]:
    """The stored report's findings (docs/validation-report.md), errors first; odd entries are shown as text."""
    rows = []
    for severity in ("errors", "warnings"):
        for item in report.get(severity) or []:
            if not isinstance(item, dict):
                rows.append(FindingRow(severity[:-1], "–", "–", None, str(item), str(item)))
                continue
            message = str(item.get("message") or "")
            place, line = _place(item.get("location"))
            rows.append(
                FindingRow(
                    severity=str(item.get("severity") or severity[:-1]),
                    rule=str(item.get("rule") or item.get("rule_id") or "–"),
                    place=place,
                    line=line,
                    message=message,
                    message_de=str(item.get("message_de") or message),
                )
            )
    return rows


def _report(ctx: PipelineContext, message: Message) -> tuple[dict[str, Any] | None, bool]:
    """The stored report, or one made now for a message that failed before its report was stored.

    Checked under the message's own file name (the naming rule is about that name, and the payload store's
    paths are nobody's business on a page)."""
    if message.validation_report:
        return message.validation_report, False
    if message.state not in FAILED_STATES:
        return None, False
    name = Path(message.filename).name if message.filename else None
    try:
        path = ctx.payloads.path_of(message.payload_ref)
        if message.content_kind != "zip":
            if path.stat().st_size > ctx.settings.limits.max_xml_bytes:
                return None, False
            return ctx.validator.validate_xml_bytes(path.read_bytes(), name=name).report.to_json(), True
        with tempfile.TemporaryDirectory(prefix="xgw-console-") as folder:
            named = Path(folder) / (name or f"{message.process_id}.zip")
            named.symlink_to(path)
            report = ctx.validator.validate_path(named).report.to_json()
        return _without_prefix(report, folder + "/"), True
    except (PayloadNotFound, OSError, ValueError):
        return None, False


def _without_prefix(value: Any, prefix: str) -> Any:
    """``value`` with ``prefix`` removed from the start of every string in it."""
    if isinstance(value, str):
        return value.removeprefix(prefix)
    if isinstance(value, dict):
        return {k: _without_prefix(v, prefix) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_prefix(v, prefix) for v in value]
    return value


def build_timeline(thread: ProcessThread, message: Message, now: datetime | None = None) -> Timeline:
    """The process as the protocol's steps: happened, awaited (with deadline), expected."""
    now = now or utcnow()
    messages = thread.messages
    family = PROCESS_ORDER.get(message.message_type[:2])
    order: tuple[str, ...] = family[1] if family else ()
    awaited = {a.code: a for a in thread.awaited}
    by_code: dict[str, list[Message]] = {}
    for m in messages:
        by_code.setdefault(m.message_type, []).append(m)
    present = [order.index(m.message_type) for m in messages if m.message_type in order]
    start = min(present, default=0)
    steps: list[Step] = []
    shown: set[Any] = set()
    for code in order[start:]:
        name = STEP_TITLES.get(code, code)
        happened = by_code.get(code, [])
        for m in happened:
            shown.add(m.id)
            steps.append(_done(m, message))
        if happened:
            continue
        wait = awaited.get(code)
        asked = next((m for m in messages if wait and m.message_type == wait.answering), None)
        if wait is not None and asked is not None and asked.state in FAILED_STATES:
            steps.append(Step(code, name, "expected"))  # its question never reached the other party
            continue
        if wait is not None:
            steps.append(
                Step(
                    code,
                    name,
                    "overdue" if wait.deadline < now else "awaited",
                    sender=asked.recipient_id if asked else None,
                    recipient=asked.sender_id if asked else None,
                    at=wait.since,
                    deadline=wait.deadline,
                )
            )
            continue
        answered = RECEIPT_OF.get(code)
        if answered is not None:
            if any(m.message_type == answered for m in messages):
                continue  # its message did not ask for this receipt: no step
            steps.append(Step(code, name, "optional"))
        else:
            steps.append(Step(code, name, "expected"))
    for m in messages:  # steps outside the protocol's order, and messages of another family
        if m.id not in shown:
            steps.append(_done(m, message))
    waiting = [s for s in steps if s.deadline is not None]
    return Timeline(
        process_id=thread.process_id,
        title=family[0] if family else None,
        steps=steps,
        deadline=min((s.deadline for s in waiting if s.deadline), default=None),
        overdue=any(s.overdue for s in waiting),
        complete=all(s.status == "done" for s in steps if s.status != "optional"),
    )


def _done(m: Message, shown: Message) -> Step:
    return Step(
        m.message_type,
        STEP_TITLES.get(m.message_type, m.message_type),
        "failed" if m.state in FAILED_STATES else "done",
        message=m,
        sender=m.sender_id,
        recipient=m.recipient_id,
        at=m.created_at,
        current=m.id == shown.id or m.id == shown.source_id,
    )


def _names(session: Session, ids: set[str]) -> dict[str, str]:
    if not ids:
        return {}
    rows = session.exec(
        select(Participant.xoev_id, Participant.display_name).where(col(Participant.xoev_id).in_(sorted(ids)))
    )
    return dict(rows.all())


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
    except ValueError as exc:
        detail.parse_error = str(exc)
    report, detail.rechecked = _report(ctx, message)
    if report is not None:
        detail.valid = bool(report.get("valid", not report.get("errors")))
        detail.findings = findings_of(report)
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
        thread = build_thread(message.process_id, process, ctx.settings)
        detail.timeline = build_timeline(thread, message)
    except (ValueError, KeyError, sa.exc.SQLAlchemyError):
        detail.timeline = None
    wanted = {message.sender_id, message.recipient_id}
    for step in detail.timeline.steps if detail.timeline else []:
        wanted.update(x for x in (step.sender, step.recipient) if x)
    detail.names = _names(session, wanted)
    return detail

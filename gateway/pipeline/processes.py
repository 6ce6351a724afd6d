"""A process (one ProzessID) as one thread: its messages in order, where it stands, what it waits for.

The protocol tables say what answers what: a 0501 Anbieteverzeichnis waits for the archive's 0502
Bewertungsverzeichnis (and a 0504 receipt if it asked for one), a 0502 for the 0503 Aussonderung (and
0505), a 0503 for the 0506 import confirmation (and 0507). What a process waits for is every expected
answer not yet seen; its deadline is the time of the message that opened the wait plus the configured
hours for that answer (``pipeline.step_deadline_hours``, by code, with a ``default``).

A message delivered locally exists twice (the sender's outbound row and the recipient's inbound copy);
the thread shows it once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session, col, or_, select

from gateway.config import Settings, get_settings
from gateway.pipeline.receipts import RECEIPT_FOR
from gateway.store.models import Direction, Message
from gateway.store.types import utcnow

#: code -> the substantive answer the process waits for next (receipts come from RECEIPT_FOR)
NEXT_STEP: dict[str, str] = {
    "0401": "0402",
    "0501": "0502",
    "0502": "0503",
    "0503": "0506",
}
STEP_NAMES: dict[str, str] = {
    "0101": "Information",
    "0102": "Information empfangen",
    "0201": "Geschaeftsgang",
    "0202": "Geschaeftsgang empfangen",
    "0401": "Abgabe",
    "0402": "Abgabe importiert",
    "0403": "Abgabe empfangen",
    "0501": "Anbietung",
    "0502": "Bewertung",
    "0503": "Aussonderung",
    "0504": "Anbietung empfangen",
    "0505": "Bewertung empfangen",
    "0506": "Aussonderung importiert",
    "0507": "Aussonderung empfangen",
}


@dataclass(frozen=True, slots=True)
class Awaited:
    code: str
    answering: str  # the code it answers
    since: datetime
    deadline: datetime


@dataclass(slots=True)
class ProcessThread:
    process_id: str
    messages: list[Message] = field(default_factory=list)
    awaited: list[Awaited] = field(default_factory=list)

    @property
    def current_step(self) -> str | None:
        return self.messages[-1].message_type if self.messages else None

    @property
    def deadline(self) -> datetime | None:
        return min((a.deadline for a in self.awaited), default=None)

    def overdue(self, now: datetime | None = None) -> bool:
        deadline = self.deadline
        return deadline is not None and deadline < (now or utcnow())

    def to_json(self, now: datetime | None = None) -> dict[str, Any]:
        step = self.current_step
        return {
            "process_id": self.process_id,
            "current_step": step,
            "current_step_name": STEP_NAMES.get(step or ""),
            "waiting_for": [
                {
                    "message_type": a.code,
                    "name": STEP_NAMES.get(a.code),
                    "answers": a.answering,
                    "since": a.since.isoformat(),
                    "deadline": a.deadline.isoformat(),
                }
                for a in self.awaited
            ],
            "deadline": self.deadline.isoformat() if self.deadline else None,
            "overdue": self.overdue(now),
            "complete": not self.awaited,
        }


def _deadline_hours(settings: Settings, code: str) -> float:
    table = settings.pipeline.step_deadline_hours
    return table.get(code, table.get("default", 720.0))


def _unique(messages: Sequence[Message]) -> list[Message]:
    """Each message once: a locally delivered copy stands for nothing new, its original is shown."""
    shown = [m for m in messages if not (m.direction is Direction.INBOUND and m.source_id is not None)]
    return sorted(shown, key=lambda m: m.created_at)


def build_thread(process_id: str, messages: Sequence[Message], settings: Settings) -> ProcessThread:
    thread = ProcessThread(process_id, _unique(messages))
    seen = {m.message_type for m in thread.messages}
    for m in thread.messages:
        expected = [NEXT_STEP.get(m.message_type)]
        if m.receipt_requested:
            expected.append(RECEIPT_FOR.get(m.message_type))
        for code in expected:
            if code is None or code in seen:
                continue
            deadline = m.created_at + timedelta(hours=_deadline_hours(settings, code))
            thread.awaited.append(Awaited(code, m.message_type, m.created_at, deadline))
    return thread


def load_thread(
    session: Session, process_id: str, settings: Settings, *, participant: str | None = None
) -> ProcessThread:
    """The thread of ``process_id``; with ``participant``, only messages it sent or received."""
    statement = select(Message).where(col(Message.process_id) == process_id)
    if participant is not None:
        statement = statement.where(
            or_(col(Message.sender_id) == participant, col(Message.recipient_id) == participant)
        )
    return build_thread(process_id, list(session.exec(statement).all()), settings)


def overdue(
    session: Session,
    settings: Settings,
    *,
    now: datetime | None = None,
    participant: str | None = None,
    limit: int = 1000,
) -> list[ProcessThread]:
    """Processes whose awaited answer is past its deadline, most overdue first."""
    now = now or utcnow()
    shortest = min([_deadline_hours(settings, c) for c in (*NEXT_STEP.values(), *RECEIPT_FOR.values())])
    waiting_codes = sorted(set(NEXT_STEP) | set(RECEIPT_FOR))
    candidates = select(Message.process_id).where(
        col(Message.message_type).in_(waiting_codes),
        col(Message.created_at) <= now - timedelta(hours=shortest),
    )
    if participant is not None:
        candidates = candidates.where(
            or_(col(Message.sender_id) == participant, col(Message.recipient_id) == participant)
        )
    process_ids = sorted(set(session.exec(candidates.distinct()).all()))
    late = []
    for process_id in process_ids:
        thread = load_thread(session, process_id, settings, participant=participant)
        if thread.overdue(now):
            late.append(thread)
    late.sort(key=lambda t: t.deadline or now)
    return late[:limit]


def describe_thread(
    session: Session, process_id: str, messages: Sequence[Message], settings: Settings | None = None
) -> dict[str, Any]:
    """The API's view: current step, what the process waits for and until when."""
    return build_thread(process_id, messages, settings or get_settings()).to_json()

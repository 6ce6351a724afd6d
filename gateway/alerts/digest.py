"""One digest per recipient and run: how many items of each kind, and the first examples of each.

Counted in the database (a run after a bad night may hold thousands of failures; the mail says how many
and lists ``alerts.examples`` of each kind). The mail text is German by default (``alerts.language``),
the webhook's JSON is for programs and uses the kinds' identifiers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from gateway.alerts.collect import KINDS
from gateway.alerts.recipients import Recipient
from gateway.config import Settings
from gateway.store.models import AlertItem

#: kind -> (English, German) headline of its section
HEADLINES: dict[str, tuple[str, str]] = {
    "dead-lettered": ("Messages dead-lettered", "Endgültig gescheiterte Nachrichten (Dead Letter)"),
    "failed": ("Messages failed", "Fehlgeschlagene Nachrichten"),
    "overdue": ("Process deadlines passed", "Überschrittene Prozessfristen"),
    "peer-down": ("XTA peers down", "Nicht erreichbare XTA-Gegenstellen"),
    "adapter-down": ("DMS adapters down", "Gestörte DMS-Adapter"),
    "certificate": ("Certificates expiring", "Ablaufende Zertifikate"),
}


@dataclass(frozen=True, slots=True)
class Example:
    id: int
    participant: str | None
    subject: str
    detail: str
    at: datetime


@dataclass(slots=True)
class Digest:
    counts: dict[str, int] = field(default_factory=dict)
    examples: dict[str, list[Example]] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def build(session: Session, recipient: Recipient, after: int, upto: int, since: datetime, examples: int) -> Digest:
    """The items ``after`` < id <= ``upto`` (not older than ``since``) that ``recipient`` may receive."""
    where: list[sa.ColumnElement[bool]] = [
        col(AlertItem.id) > after,
        col(AlertItem.id) <= upto,
        col(AlertItem.created_at) >= since,
    ]
    if not recipient.everything:
        where.append(col(AlertItem.participant).in_(sorted(recipient.participants)))
    digest = Digest()
    counts = session.exec(select(AlertItem.kind, sa.func.count()).where(*where).group_by(AlertItem.kind)).all()
    digest.counts = {kind: int(n) for kind, n in counts if n}
    for kind in digest.counts:
        rows = session.exec(
            select(AlertItem).where(*where, col(AlertItem.kind) == kind).order_by(col(AlertItem.id)).limit(examples)
        ).all()
        digest.examples[kind] = [Example(r.id or 0, r.participant, r.subject, r.detail, r.created_at) for r in rows]
    return digest


def _ordered(digest: Digest) -> list[str]:
    return [k for k in KINDS if k in digest.counts] + sorted(set(digest.counts) - set(KINDS))


def mail_text(digest: Digest, settings: Settings) -> tuple[str, str]:
    """Subject and plain-text body."""
    german = settings.alerts.language == "de"
    summary = ", ".join(f"{digest.counts[k]} {HEADLINES.get(k, (k, k))[1 if german else 0]}" for k in _ordered(digest))
    subject = f"[xoev-gateway] {summary}"
    lines = [
        "Seit dem letzten Bericht ist Folgendes geschehen:" if german else "Since the last report:",
        "",
    ]
    for kind in _ordered(digest):
        headline = HEADLINES.get(kind, (kind, kind))[1 if german else 0]
        lines.append(f"{headline}: {digest.counts[kind]}")
        for example in digest.examples.get(kind, []):
            owner = f" [{example.participant}]" if example.participant else ""
            lines.append(f"  - {example.subject}{owner}: {example.detail}")
        rest = digest.counts[kind] - len(digest.examples.get(kind, []))
        if rest > 0:
            lines.append(f"  ... und {rest} weitere" if german else f"  ... and {rest} more")
        lines.append("")
    if settings.alerts.console_url:
        url = settings.alerts.console_url.rstrip("/") + "/console/"
        lines.append(f"Konsole: {url}" if german else f"Console: {url}")
    lines.append(
        "Diese Nachricht wurde vom xoev-gateway automatisch erstellt."
        if german
        else "This message was made by xoev-gateway."
    )
    return subject[:250], "\n".join(lines) + "\n"


def json_payload(digest: Digest, now: datetime) -> dict[str, Any]:
    return {
        "source": "xoev-gateway",
        "generated_at": now.isoformat(),
        "total": digest.total,
        "counts": {k: digest.counts[k] for k in _ordered(digest)},
        "examples": {
            k: [
                {
                    "participant": e.participant,
                    "subject": e.subject,
                    "detail": e.detail,
                    "at": e.at.isoformat(),
                }
                for e in digest.examples.get(k, [])
            ]
            for k in _ordered(digest)
        },
    }

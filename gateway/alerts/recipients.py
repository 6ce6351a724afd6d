"""Who receives which alerts: the global addresses and the webhook everything, console users by their role.

A gateway admin with an e-mail address receives every item, a participant admin the items of its
participant (``alert_item.participant``: the owner of a failed message, the waiting side of a process,
the participant of an adapter or certificate), a read-only user none. An address named twice receives
one digest, with the widest of its rights.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from sqlmodel import Session, col, select

from gateway.config import Settings
from gateway.store.models import ConsoleRole, ConsoleUser


@dataclass(slots=True)
class Recipient:
    channel: str  # mail or webhook
    target: str  # the address or URL (a URL may hold a token: never logged, never stored)
    everything: bool = False
    participants: set[str] = field(default_factory=set)

    @property
    def key(self) -> str:
        """The name of the recipient's cursor: a mail address as is, a webhook URL as its hash."""
        if self.channel == "webhook":
            return "webhook:" + hashlib.sha256(self.target.encode()).hexdigest()
        return f"mail:{self.target.casefold()}"


def recipients(session: Session, settings: Settings) -> list[Recipient]:
    by_address: dict[str, Recipient] = {}

    def add(address: str, *, everything: bool, participant: str | None = None) -> None:
        address = address.strip()
        if "@" not in address:
            return
        entry = by_address.setdefault(address.casefold(), Recipient("mail", address))
        entry.everything = entry.everything or everything
        if participant:
            entry.participants.add(participant)

    for address in settings.alerts.recipients:
        add(address, everything=True)
    users = session.exec(
        select(ConsoleUser).where(col(ConsoleUser.email).is_not(None), col(ConsoleUser.disabled_at).is_(None))
    ).all()
    for user in users:
        assert user.email is not None
        if user.role is ConsoleRole.GATEWAY_ADMIN:
            add(user.email, everything=True)
        elif user.role is ConsoleRole.PARTICIPANT_ADMIN and user.participant:
            add(user.email, everything=False, participant=user.participant)
    found = sorted(by_address.values(), key=lambda r: r.target.casefold())
    if settings.alerts.webhook_url:
        found.append(Recipient("webhook", settings.alerts.webhook_url, everything=True))
    return found

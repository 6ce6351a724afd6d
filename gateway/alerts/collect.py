"""Turn what happened into alert items: failures since the cursor, and standing conditions once while they last.

Failures are read from ``message_event`` above the cursor in ``alert_run`` (events into ``failed`` or
``dead_lettered``); the items and the new cursor are written in one transaction. Conditions (a process
past its deadline, a peer or adapter down, a certificate near expiry) are compared with
``alert_condition``: a new one becomes an item and a row, one that is gone loses its row, so it is
alerted again when it comes back.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from gateway.config import Settings
from gateway.pipeline import processes
from gateway.store.models import (
    AlertCondition,
    AlertItem,
    AlertRun,
    Certificate,
    DeliveryAttempt,
    DeliveryOutcome,
    Direction,
    Message,
    MessageEvent,
    MessageState,
    Participant,
)
from gateway.store.types import utcnow

log = logging.getLogger("gateway.alerts")

RUN = "main"
#: most failure events turned into items per run; the rest follow at the next run
MAX_EVENTS = 10_000
FAILED = "failed"
DEAD_LETTERED = "dead-lettered"
OVERDUE = "overdue"
PEER_DOWN = "peer-down"
ADAPTER_DOWN = "adapter-down"
CERTIFICATE = "certificate"
KINDS = (DEAD_LETTERED, FAILED, OVERDUE, PEER_DOWN, ADAPTER_DOWN, CERTIFICATE)


BERLIN = ZoneInfo("Europe/Berlin")


def _say(settings: Settings, english: str, german: str) -> str:
    """Item texts are written once, in the digest's language (``alerts.language``)."""
    return german if settings.alerts.language == "de" else english


def _when(settings: Settings, at: datetime) -> str:
    if settings.alerts.language == "de":
        return at.astimezone(BERLIN).strftime("%d.%m.%Y %H:%M")
    return at.strftime("%Y-%m-%d %H:%M UTC")


@dataclass(frozen=True, slots=True)
class Condition:
    key: str
    kind: str
    participant: str | None
    subject: str
    detail: str


# -- the run's lease -----------------------------------------------------------------------------------


def claim(engine: Engine, owner: str, seconds: float) -> bool:
    """Take the run's lease unless another process holds it; the row is made on first use."""
    now = utcnow()
    with Session(engine) as session:
        if session.get(AlertRun, RUN) is None:
            session.add(AlertRun(name=RUN))
            try:
                session.commit()
            except sa.exc.IntegrityError:
                session.rollback()  # another process made it at the same moment
    table = AlertRun.__table__  # type: ignore[attr-defined]
    with engine.begin() as connection:
        taken = connection.execute(
            sa.update(table)
            .where(
                table.c.name == RUN,
                sa.or_(
                    table.c.lease_expires_at.is_(None), table.c.lease_expires_at < now, table.c.lease_owner == owner
                ),
            )
            .values(lease_owner=owner, lease_expires_at=now + timedelta(seconds=seconds))
        )
    return bool(taken.rowcount == 1)


def release(engine: Engine, owner: str) -> None:
    table = AlertRun.__table__  # type: ignore[attr-defined]
    with engine.begin() as connection:
        connection.execute(
            sa.update(table)
            .where(table.c.name == RUN, table.c.lease_owner == owner)
            .values(lease_owner=None, lease_expires_at=None, last_run_at=utcnow())
        )


# -- failures ------------------------------------------------------------------------------------------


def _owner(direction: str, sender: str, recipient: str) -> str:
    """Whose message it is (gateway.pipeline.visibility): the sender of an outbound, the recipient of an inbound."""
    return sender if direction == Direction.OUTBOUND.value else recipient


def collect_failures(session: Session, settings: Settings, now: datetime) -> int:
    """Items for failure events above the cursor; the cursor moves in the same transaction (the caller commits)."""
    run = session.get(AlertRun, RUN, with_for_update=True)
    assert run is not None
    top = session.exec(select(sa.func.max(MessageEvent.id))).one() or 0
    events = MessageEvent.__table__  # type: ignore[attr-defined]
    messages = Message.__table__  # type: ignore[attr-defined]
    rows = session.execute(
        sa.select(
            events.c.id,
            events.c.to_state,
            events.c.error,
            events.c.reason,
            messages.c.id.label("message_id"),
            messages.c.direction,
            messages.c.sender_id,
            messages.c.recipient_id,
            messages.c.message_type,
            messages.c.process_id,
        )
        .join(messages, messages.c.id == events.c.message_id)
        .where(
            events.c.id > run.last_event_id,
            events.c.id <= top,
            events.c.to_state.in_([MessageState.FAILED.value, MessageState.DEAD_LETTERED.value]),
            events.c.created_at >= now - timedelta(hours=settings.alerts.lookback_hours),
        )
        .order_by(events.c.id)
        .limit(MAX_EVENTS)
    ).all()
    for row in rows:
        kind = DEAD_LETTERED if row.to_state == MessageState.DEAD_LETTERED.value else FAILED
        error = (row.error or row.reason or "").strip().splitlines()
        session.add(
            AlertItem(
                kind=kind,
                participant=_owner(row.direction, row.sender_id, row.recipient_id),
                subject=str(row.message_id),
                detail=f"{row.message_type} {row.process_id} {row.sender_id} -> {row.recipient_id}: "
                f"{error[0][:500] if error else '-'}",
                created_at=now,
            )
        )
    run.last_event_id = rows[-1].id if len(rows) == MAX_EVENTS else max(top, run.last_event_id)
    session.add(run)
    return len(rows)


# -- conditions ----------------------------------------------------------------------------------------


def overdue_processes(session: Session, settings: Settings, now: datetime) -> list[Condition]:
    found = []
    for thread in processes.overdue(session, settings, now=now):
        for awaited in thread.awaited:
            if awaited.deadline >= now:
                continue
            opener = next((m for m in thread.messages if m.message_type == awaited.answering), None)
            owner = _owner(opener.direction.value, opener.sender_id, opener.recipient_id) if opener else None
            found.append(
                Condition(
                    key=f"overdue:{thread.process_id}:{awaited.answering}:{awaited.code}",
                    kind=OVERDUE,
                    participant=owner,
                    subject=thread.process_id,
                    detail=_say(
                        settings,
                        f"{awaited.answering} waits for {awaited.code} since {_when(settings, awaited.since)}, "
                        f"deadline {_when(settings, awaited.deadline)}",
                        f"{awaited.answering} wartet seit {_when(settings, awaited.since)} auf {awaited.code}, "
                        f"Frist {_when(settings, awaited.deadline)}",
                    ),
                )
            )
    return found


def peers_down(session: Session, settings: Settings, now: datetime, open_circuits: Iterable[str]) -> list[Condition]:
    """Peers whose last ``alerts.peer_down_failures`` deliveries all failed, and peers whose circuit is open.

    Deliveries into a DMS are recorded with the peer ``adapter:<kind>:<participant>``: those become
    adapter-down conditions of that participant (the adapter failed where it mattered, whatever its
    health check says)."""
    needed = max(1, settings.alerts.peer_down_failures)
    attempts = session.exec(
        select(DeliveryAttempt.peer, DeliveryAttempt.outcome, DeliveryAttempt.error)
        .where(
            col(DeliveryAttempt.started_at) >= now - timedelta(hours=settings.alerts.lookback_hours),
            col(DeliveryAttempt.outcome).is_not(None),
        )
        .order_by(col(DeliveryAttempt.id).desc())
        .limit(20_000)
    ).all()
    latest: dict[str, list[tuple[str | None, str | None]]] = {}
    for peer, outcome, error in attempts:
        latest.setdefault(peer, [])
        if len(latest[peer]) < needed:
            latest[peer].append((outcome, error))
    down = {
        peer: _say(
            settings, "{n} deliveries in a row failed, last: {e}", "{n} Zustellungen in Folge gescheitert, zuletzt: {e}"
        ).format(n=needed, e=(last[0][1] or "-").splitlines()[0][:300])
        for peer, last in latest.items()
        if len(last) == needed and all(o != DeliveryOutcome.SUCCEEDED for o, _ in last)
    }
    for peer in open_circuits:
        down.setdefault(peer, _say(settings, "circuit breaker open", "Circuit Breaker offen (Verbindung gesperrt)"))
    found = []
    for peer, detail in sorted(down.items()):
        if peer.startswith("adapter:") and peer.count(":") >= 2:
            _, kind, participant = peer.split(":", 2)
            found.append(Condition(f"delivery:{peer}", ADAPTER_DOWN, participant, f"{kind} {participant}", detail))
        else:
            found.append(Condition(f"peer:{peer}", PEER_DOWN, None, peer, detail))
    return found


def adapters_down(session: Session, settings: Settings) -> list[Condition]:
    """Participants whose DMS adapter says it cannot work now (its own health check)."""
    rows = [
        (p.xoev_id, dict(p.adapter_config))
        for p in session.exec(select(Participant).order_by(col(Participant.xoev_id)))
        if p.adapter_config
    ]
    found = []
    for participant, config in rows:
        ok, detail = _probe(settings, participant, config)
        if not ok:
            found.append(Condition(f"adapter:{participant}", ADAPTER_DOWN, participant, participant, detail))
    return found


def _probe(settings: Settings, participant: str, config: dict[str, object]) -> tuple[bool, str]:
    kind = str(config.get("kind") or "?")
    try:
        from adapters.base import AdapterContext
        from adapters.registry import open_adapter

        folder = settings.data_dir / "alert-health" / re.sub(r"[^A-Za-z0-9._-]", "_", participant)
        folder.mkdir(parents=True, exist_ok=True)
        adapter = open_adapter(config, AdapterContext(participant=participant, state_dir=folder, settings=settings))
        try:
            health = adapter.health()
        finally:
            adapter.close()
        return health.ok, f"{kind}: {health.detail or 'ok'}"
    except Exception as exc:  # an adapter that cannot even be opened is down, whatever the reason
        return False, f"{kind}: {type(exc).__name__}: {exc}"


def expiring_certificates(session: Session, settings: Settings, now: datetime) -> list[Condition]:
    limit = now + timedelta(days=settings.alerts.certificate_warning_days)
    rows = session.exec(
        select(Certificate, Participant.xoev_id)
        .join(Participant, col(Participant.id) == col(Certificate.participant_id))
        .where(col(Certificate.not_after) <= limit)
        .order_by(col(Certificate.not_after))
    ).all()
    found = []
    for certificate, participant in rows:
        days = (certificate.not_after - now).total_seconds() / 86400
        usage, until = certificate.usage.value, _when(settings, certificate.not_after)
        if days >= 0:
            text = _say(
                settings,
                f"{usage} certificate of {participant} expires in {days:.0f} days ({until})",
                f"{usage}-Zertifikat von {participant} läuft in {days:.0f} Tagen ab ({until})",
            )
        else:
            text = _say(
                settings,
                f"{usage} certificate of {participant} expired {-days:.0f} days ago ({until})",
                f"{usage}-Zertifikat von {participant} ist seit {-days:.0f} Tagen abgelaufen ({until})",
            )
        found.append(
            Condition(
                key=f"certificate:{certificate.fingerprint_sha256}:{'expired' if days < 0 else 'expiring'}",
                kind=CERTIFICATE,
                participant=participant,
                subject=certificate.fingerprint_sha256,
                detail=text,
            )
        )
    return found


def sync_conditions(session: Session, kinds: Sequence[str], current: Sequence[Condition], now: datetime) -> int:
    """New conditions of ``kinds`` become items and rows; rows of those kinds no longer current are removed."""
    existing = {c.key: c for c in session.exec(select(AlertCondition).where(col(AlertCondition.kind).in_(list(kinds))))}
    wanted = {c.key: c for c in current}
    for key in existing.keys() - wanted.keys():
        session.delete(existing[key])
    new = [c for key, c in wanted.items() if key not in existing]
    for condition in new:
        session.add(AlertCondition(key=condition.key[:512], kind=condition.kind, first_seen_at=now))
        session.add(
            AlertItem(
                kind=condition.kind,
                participant=condition.participant,
                subject=condition.subject[:2048],
                detail=condition.detail,
                created_at=now,
            )
        )
    return len(new)


def prune(session: Session, settings: Settings, now: datetime) -> None:
    """Items older than the look-back are never sent again; they go."""
    session.execute(
        sa.delete(AlertItem).where(
            col(AlertItem.created_at) < now - timedelta(hours=max(settings.alerts.lookback_hours, 1.0))
        )
    )

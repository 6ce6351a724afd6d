"""One alert run, and the loop that repeats it: collect, then one digest per recipient, then release the lease.

Several processes may run alerts (``xgw serve`` on two nodes, ``xgw alerts run`` from cron): the lease in
``alert_run`` lets one at a time collect and send. A recipient whose digest failed keeps its cursor and
gets the same items (and newer ones) next run; the error is logged without secrets and kept in
``alert_recipient.last_error``.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from gateway.alerts import collect, digest
from gateway.alerts.recipients import Recipient, recipients
from gateway.alerts.send_mail import SendError, send_mail
from gateway.alerts.send_webhook import send_webhook
from gateway.config import Settings
from gateway.store.models import AlertItem, AlertRecipient
from gateway.store.types import utcnow

log = logging.getLogger("gateway.alerts")

LEASE_SECONDS = 900.0


@dataclass(slots=True)
class RunReport:
    ran: bool = True
    new_items: int = 0
    sent: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


def _collect(engine: Engine, settings: Settings, now: datetime, open_circuits: Iterable[str]) -> int:
    with Session(engine) as session:  # read first: adapter probes may take seconds, no transaction held
        conditions = [
            *collect.overdue_processes(session, settings, now),
            *collect.peers_down(session, settings, now, open_circuits),
            *collect.expiring_certificates(session, settings, now),
        ]
        if settings.alerts.check_adapters:
            conditions += collect.adapters_down(session, settings)
        kinds = [collect.OVERDUE, collect.PEER_DOWN, collect.ADAPTER_DOWN, collect.CERTIFICATE]
    with Session(engine) as session:
        new = collect.collect_failures(session, settings, now)
        new += collect.sync_conditions(session, kinds, conditions, now)
        collect.prune(session, settings, now)
        session.commit()
    return new


def _deliver(engine: Engine, settings: Settings, recipient: Recipient, now: datetime, report: RunReport) -> None:
    config = settings.alerts
    since = now - timedelta(hours=config.lookback_hours)
    with Session(engine) as session:
        top = session.exec(select(sa.func.max(AlertItem.id))).one() or 0
        state = session.get(AlertRecipient, recipient.key) or AlertRecipient(address=recipient.key)
        found = digest.build(session, recipient, state.last_item_id, top, since, config.examples)
    error = None
    if found.total:
        try:
            if recipient.channel == "webhook":
                send_webhook(config, recipient.target, digest.json_payload(found, now))
            else:
                subject, body = digest.mail_text(found, settings)
                send_mail(config, recipient.target, subject, body)
        except SendError as exc:
            error = str(exc)
    with Session(engine) as session:
        state = session.get(AlertRecipient, recipient.key) or AlertRecipient(address=recipient.key)
        if error is None:
            state.last_item_id = max(state.last_item_id, top)
            if found.total:
                state.last_sent_at = now
            state.last_error = None
        else:
            state.last_error = error[:2000]
        session.add(state)
        session.commit()
    label = "webhook" if recipient.channel == "webhook" else recipient.target
    if error is not None:
        log.warning("alert digest of %d item(s) not delivered, retried next run: %s", found.total, error)
        report.failed.append(label)
    elif found.total:
        log.info("alert digest of %d item(s) sent to %s", found.total, label)
        report.sent.append(label)


def run_alerts(
    engine: Engine, settings: Settings, *, open_circuits: Iterable[str] = (), owner: str | None = None
) -> RunReport:
    """Collect and send once; returns what happened (``ran`` False when another process holds the lease)."""
    owner = owner or f"alerts@{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"
    if not collect.claim(engine, owner, LEASE_SECONDS):
        return RunReport(ran=False)
    try:
        now = utcnow()
        report = RunReport(new_items=_collect(engine, settings, now, open_circuits))
        with Session(engine) as session:
            targets = recipients(session, settings)
        for recipient in targets:
            _deliver(engine, settings, recipient, now, report)
        return report
    finally:
        collect.release(engine, owner)


def run_periodically(
    engine: Engine, settings: Settings, stop: threading.Event, open_circuits: Callable[[], Iterable[str]]
) -> None:
    """The loop of ``xgw serve`` / ``xgw worker``: a run every ``alerts.interval_seconds`` until ``stop``."""
    while not stop.wait(settings.alerts.interval_seconds):
        try:
            run_alerts(engine, settings, open_circuits=list(open_circuits()))
        except Exception:  # the loop must outlive a database hiccup; the next run tries again
            log.exception("alert run failed")


def start_thread(
    engine: Engine, settings: Settings, stop: threading.Event, open_circuits: Callable[[], Iterable[str]]
) -> threading.Thread:
    thread = threading.Thread(
        target=run_periodically, args=(engine, settings, stop, open_circuits), name="xgw-alerts", daemon=True
    )
    thread.start()
    return thread

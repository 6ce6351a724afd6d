"""The audit log: every admin action and every authentication failure, in ``audit_entry`` and the JSON log.

Entries are written in their own transaction, so a refused or failed action is recorded even when the
action's own transaction was rolled back.
"""

from __future__ import annotations

import logging

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from gateway.store.models import AuditEntry

log = logging.getLogger("gateway.audit")

OK = "ok"
REFUSED = "refused"
FAILED = "failed"


def record(
    engine: Engine,
    actor: str,
    action: str,
    *,
    target: str | None = None,
    result: str = OK,
    detail: str | None = None,
    client: str | None = None,
) -> AuditEntry:
    entry = AuditEntry(
        actor=actor[:128],
        action=action,
        target=target[:2048] if target else None,
        result=result,
        detail=detail,
        client=client[:64] if client else None,
    )
    with Session(engine, expire_on_commit=False) as session:
        session.add(entry)
        session.commit()
    log.info(
        "audit: %s %s %s -> %s",
        actor,
        action,
        target or "-",
        result,
        extra={
            "audit": True,
            "actor": actor,
            "action": action,
            "target": target,
            "result": result,
            "detail": detail,
            "client": client,
        },
    )
    return entry


def recent(engine: Engine, limit: int = 200) -> list[AuditEntry]:
    with Session(engine) as session:
        return list(session.exec(select(AuditEntry).order_by(col(AuditEntry.id).desc()).limit(limit)).all())

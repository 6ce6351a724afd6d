"""Delivering an inbound message into the recipient's DMS, and what the pipeline keeps of the result.

The adapter makes the import exactly-once in effect (its ledger); the pipeline records, per
Schriftgutobjekt, where it went (:class:`~gateway.store.models.DeliveryObject`) in the transaction that
moves the message on. A worker that dies between the import and that commit leaves the message
``validated``; the next try imports again, the adapter answers ``duplicate`` with the DMS ids of the
first import, and the rows are written then. The 0402/0506 import confirmation is built from the rows,
not from an adapter call, so it can be made (again) by any worker at any later time.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from pathlib import Path

from sqlmodel import Session, col, delete, select

from adapters.base import ImportResult, ImportStatus, ObjectResult, ObjectStatus
from gateway.config import Settings
from gateway.pipeline.dms import AdapterPool, AdapterSpec
from gateway.store.models import DeliveryObject
from gateway.store.types import utcnow
from gateway.xoev.build.receipts import handed_over
from gateway.xoev.model import Message as XdomeaMessage
from gateway.xoev.model import ObjectKind, ObjectOutcome

#: message that hands records over -> the import confirmation that answers it
CONFIRMATION_FOR: dict[str, str] = {"0401": "0402", "0503": "0506"}
#: longest reason kept per object (the whole reason stays in the message's error)
MAX_REASON = 2000


def confirmation_code(message_type: str) -> str | None:
    return CONFIRMATION_FOR.get(message_type)


def import_into(
    pool: AdapterPool,
    settings: Settings,
    spec: AdapterSpec,
    path: Path,
    filename: str | None,
    sender: str | None = None,
) -> ImportResult:
    """One delivery through the participant's adapter; :class:`~adapters.base.AdapterError` when it could not
    be tried (DMS down, credentials refused, configuration wrong). ``sender`` lets an adapter file by the
    submitting authority (x-man: one transfer directory per authority)."""
    with pool.use(settings, spec) as adapter:
        return adapter.import_message_from(path, filename=filename, sender=sender)


def record(session: Session, message_id: uuid.UUID, adapter: str, result: ImportResult) -> list[DeliveryObject]:
    """Replace the message's per-object rows by ``result``'s, in the caller's transaction."""
    session.exec(delete(DeliveryObject).where(col(DeliveryObject.message_id) == message_id))
    now = utcnow()
    rows = [
        DeliveryObject(
            message_id=message_id,
            xdomea_id=obj.id,
            kind=str(obj.kind),
            parent_xdomea_id=obj.parent,
            adapter=adapter,
            dms_id=obj.dms_id,
            outcome=obj.status.value,
            reason=(obj.reason or "")[:MAX_REASON] or None,
            recorded_at=now,
        )
        for obj in _unique(result.objects)
    ]
    session.add_all(rows)
    return rows


def _unique(objects: Sequence[ObjectResult]) -> list[ObjectResult]:
    """One result per id (a message naming an object twice is refused by validation, but the table's key
    must never be what fails a delivery)."""
    seen: dict[str, ObjectResult] = {}
    for obj in objects:
        seen.setdefault(obj.id, obj)
    return list(seen.values())


def delivered_objects(session: Session, message_id: uuid.UUID) -> list[DeliveryObject]:
    return list(
        session.exec(
            select(DeliveryObject).where(col(DeliveryObject.message_id) == message_id).order_by(col(DeliveryObject.id))
        ).all()
    )


def outcomes(model: XdomeaMessage, rows: Sequence[DeliveryObject], reason: str | None = None) -> list[ObjectOutcome]:
    """The confirmation's per-object results for the objects ``model`` hands over.

    Objects below a 4.0.0 Kontextobjekt are what is handed over, so they are the roots here; an object
    counts as imported only with everything below it (:meth:`ImportResult.outcomes`). An object the
    adapter said nothing about (a message it could not read at all) is reported as failed with
    ``reason``.
    """
    roots = [obj.id for obj in handed_over(model.objects)]
    root_set = set(roots)
    results = [
        ObjectResult(
            row.xdomea_id,
            _kind(row.kind),
            ObjectStatus(row.outcome),
            None if row.xdomea_id in root_set else row.parent_xdomea_id,
            row.dms_id,
            row.reason,
        )
        for row in rows
    ]
    by_id = {o.id: o for o in ImportResult(None, _status(results), tuple(results), reason).outcomes()}
    return [
        by_id.get(root) or ObjectOutcome(id=root, success=False, errors=[reason or "not imported into the DMS"])
        for root in roots
    ]


def _status(results: Sequence[ObjectResult]) -> ImportStatus:
    return ImportStatus.IMPORTED if all(r.ok for r in results) else ImportStatus.FAILED


def _kind(value: str) -> ObjectKind:
    try:
        return ObjectKind(value)
    except ValueError:
        return ObjectKind.DOKUMENT

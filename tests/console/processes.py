"""Console test helpers: a real Aussonderung run through a test gateway's pipeline, and an invalid message.

The process is the one of tests/pipeline/test_processes.py (0501 -> 0504 -> 0502, then waiting for the
0505 and the 0503), made by the gateway's own intake and worker, so the console shows what the pipeline made.
"""

from __future__ import annotations

import uuid

from sqlmodel import Session, col, select

from gateway.pipeline.intake import submit as intake
from gateway.pipeline.lifecycle import transition
from gateway.pipeline.worker import Worker
from gateway.store.models import Direction, Message, MessageState
from gateway.xoev.build import build_receipt, serialize
from gateway.xoev.parsing.parse import parse_message
from gateway.xoev.parsing.safe_xml import parse_xml
from tests.api.support import ARCHIVE, GOTHA, Gateway, offer


def aussonderung_until_appraisal(gateway: Gateway, seed: int) -> dict[str, str]:
    """Gotha offers (0501), the gateway confirms it for the archive (0504), the archive appraises (0502) asking
    for a receipt that Gotha's own system is to send (0505). Returns code -> id of
    the outbound rows (what each sender submitted)."""
    ctx = gateway.ctx
    name, data = offer(seed)
    first = intake(ctx, [data], sender=GOTHA, filename=name, channel="rest").message
    Worker(ctx, f"console-test-{seed}").drain()
    offered = parse_message(parse_xml(data, ctx.settings.limits))
    appraisal = build_receipt(offered, "0502", receipt_requested=True, registry=ctx.registry)
    intake(ctx, [serialize(appraisal.tree)], sender=ARCHIVE, filename=f"{appraisal.stem}.xml", channel="rest")
    Worker(ctx, f"console-test-{seed}").drain()
    with Session(ctx.engine) as session:
        rows = session.exec(
            select(Message).where(
                col(Message.process_id) == first.process_id, col(Message.direction) == Direction.OUTBOUND
            )
        ).all()
        return {m.message_type: str(m.id) for m in rows}


def refuse_as_invalid(gateway: Gateway, message_id: str, payload: bytes) -> None:
    """Make ``message_id`` (validated) a message that failed with no stored report, as an inbound message the
    check refuses as invalid (gateway/pipeline/steps.py): its payload replaced by ``payload``."""
    ctx = gateway.ctx
    ref = ctx.payloads.put_stream([payload], max_bytes=len(payload) + 1)
    with Session(ctx.engine, expire_on_commit=False) as session:
        message = session.get(Message, uuid.UUID(message_id))
        assert message is not None
        message.payload_ref = ref.sha256
        message.validation_report = None
        session.add(message)
        transition(session, message, MessageState.QUEUED, "test-worker", "queued for sending")
        transition(session, message, MessageState.FAILED, "test-worker", "not valid", error="not valid: see report")

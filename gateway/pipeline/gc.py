"""Payload garbage collection: remove payloads no message references (failed intakes, superseded signings).

Only the database knows which payloads are in use, so this lives in the pipeline, not the store. A
payload younger than the grace period is kept even when unreferenced: its row may be about to commit.
Stages (uploads being written or checked) are never taken from a live process, whatever their age; those
of a process that died are removed after the grace period, or at once when a worker starts
(:func:`remove_partial_stages`), see :mod:`gateway.store.payloads`.
"""

from __future__ import annotations

from sqlmodel import select

from gateway.pipeline.context import PipelineContext
from gateway.store.models import Message


def referenced_payloads(ctx: PipelineContext) -> set[str]:
    with ctx.session() as session:
        rows = session.exec(select(Message.sha256, Message.payload_ref)).all()
    return {sha for pair in rows for sha in pair}


def collect_garbage(ctx: PipelineContext, *, now: float | None = None) -> list[str]:
    """Delete unreferenced payloads older than ``pipeline.payload_grace_seconds``; returns their hashes."""
    grace = ctx.settings.pipeline.payload_grace_seconds
    ctx.payloads.remove_stale_temp_files(grace, now=now)
    return ctx.payloads.collect_garbage(referenced_payloads(ctx), grace, now=now)


def remove_partial_stages(ctx: PipelineContext) -> int:
    """At start-up: remove the partial uploads of processes that died (live ones hold their lock)."""
    return ctx.payloads.remove_stale_temp_files(0)

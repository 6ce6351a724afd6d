"""The dispatcher: which step a claimed message's state calls for, and what a failing step leads to.

:func:`run_step` runs the chain from the message's state to the next state that waits for someone else
(outbound: ``sent``; inbound: ``delivered`` or ``confirmed``). :class:`Permanent` ends the message in
``failed``; any other error is retried with exponential back-off and dead-lettered after
``pipeline.max_attempts`` tries, with the last error. Lease loss and state conflicts go to the worker.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from sqlmodel import Session

from gateway.pipeline.context import PipelineContext
from gateway.pipeline.lifecycle import LeaseLost, StateConflict, release
from gateway.pipeline.states import NEVER
from gateway.pipeline.steps.answer import answer
from gateway.pipeline.steps.check import check
from gateway.pipeline.steps.deliver import deliver
from gateway.pipeline.steps.job import Job, Permanent
from gateway.pipeline.steps.route import route
from gateway.pipeline.steps.send import send
from gateway.pipeline.steps.sign import sign
from gateway.store.models import Direction, Message, MessageState
from gateway.store.types import utcnow

S = MessageState
StepFunction = Callable[[Job], bool]

OUTBOUND: dict[MessageState, StepFunction] = {S.VALIDATED: sign, S.SIGNED: route, S.QUEUED: send}
INBOUND: dict[MessageState, StepFunction] = {
    S.RECEIVED: check,
    S.VERIFIED: check,
    S.VALIDATED: deliver,
    S.DELIVERED: answer,
}


def advance(job: Job) -> bool:
    """Make one transition; False when the message now waits for someone else."""
    m = job.message
    step = (OUTBOUND if m.direction is Direction.OUTBOUND else INBOUND).get(m.state)
    return False if step is None else step(job)


def run(job: Job) -> None:
    """The chain for one claimed message; returns when the message waits for others."""
    settings = job.ctx.settings.pipeline
    m = job.message
    if m.attempts > settings.max_attempts:
        job.move(
            S.DEAD_LETTERED,
            f"given up after {m.attempts - 1} tries",
            error=m.error or "the message did not finish within its tries (a worker may have died on it)",
            release=True,
            next_attempt_at=NEVER,
        )
        return
    try:
        job.keep_lease()  # a message claimed in a batch may have waited for the ones before it
        while advance(job):
            job.keep_lease()
        job.commit()  # a chain that ended without a transition of its own (nothing due) leaves nothing open
    except (LeaseLost, StateConflict):
        job.rollback()
        raise
    except Permanent as failure:
        job.recover()
        job.move(S.FAILED, "refused", error=str(failure), release=True, next_attempt_at=NEVER)
    except Exception as failure:
        job.recover()
        fail_transiently(job, f"{type(failure).__name__}: {failure}")


def fail_transiently(job: Job, error: str) -> None:
    settings = job.ctx.settings.pipeline
    m = job.message
    if m.attempts >= settings.max_attempts:
        job.move(
            S.DEAD_LETTERED, f"given up after {m.attempts} tries", error=error, release=True, next_attempt_at=NEVER
        )
        return
    delay = min(settings.retry_base_seconds * 2 ** max(m.attempts - 1, 0), settings.retry_max_seconds)
    retry_at = utcnow() + timedelta(seconds=delay)
    release(
        job.session,
        m,
        job.worker_id,
        f"try {m.attempts} failed; next try in {delay:.0f} s",
        error=error,
        retry_at=retry_at,
    )
    job.log.warning("try %d failed, retry in %.0f s: %s", m.attempts, delay, error)


def run_step(ctx: PipelineContext, session: Session, message: Message, worker_id: str) -> None:
    """Run the claimed ``message``'s chain (in a tracing span when ``console.tracing`` is on)."""
    if not ctx.settings.console.tracing:
        run(Job(ctx, session, message, worker_id))
        return
    from gateway.observability.tracing import message_span

    with message_span(
        "pipeline.message",
        str(message.id),
        state=message.state.value,
        process_id=message.process_id,
        message_type=message.message_type,
        worker=worker_id,
        provider=ctx.tracer_provider,
    ):
        run(Job(ctx, session, message, worker_id))

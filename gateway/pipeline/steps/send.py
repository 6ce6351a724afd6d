"""Outbound ``queued -> sent``: hand the message to the transport of the recipient's route.

The local mailbox writes its copy in the job's transaction, so the copy, the delivery attempt, the
``sent`` transition and the deferred ``signed``/``queued`` before it commit together. A remote
transport cannot share the transaction: what is pending commits first, then the peer is called, and
its answer is recorded as the attempt (refused: the message fails; unreachable: it is retried).
"""

from __future__ import annotations

from gateway.pipeline.states import NEVER
from gateway.pipeline.steps.job import Job, Permanent, Retry
from gateway.pipeline.steps.route import recipient
from gateway.pipeline.transport import LocalMailbox, SendStatus
from gateway.store.models import DeliveryAttempt, MessageState
from gateway.store.types import utcnow


def send(job: Job) -> bool:
    m = job.message
    transport = job.ctx.transport_for(recipient(job).route_kind)
    if not isinstance(transport, LocalMailbox):
        job.end_reads()  # no write lock and no pending transition across the call to the peer
    started = utcnow()
    result = transport.send(job.session, m, actor=job.worker_id)
    attempt = DeliveryAttempt(
        message_id=m.id,
        peer=result.peer,
        started_at=started,
        finished_at=utcnow(),
        outcome=result.outcome,
        error=None if result.status is SendStatus.SENT else result.detail,
    )
    if result.status is SendStatus.SENT:
        job.session.add(attempt)
        job.move(MessageState.SENT, result.detail, release=True, next_attempt_at=NEVER)
        return False
    job.recover()
    job.session.add(attempt)
    job.commit()
    if result.status is SendStatus.REJECTED:
        raise Permanent(f"{result.peer} refused the message: {result.detail}")
    raise Retry(result.detail)

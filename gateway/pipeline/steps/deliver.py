"""Inbound ``validated -> delivered``: into the recipient's mailbox, or through its adapter into its DMS.

A DMS import is outside work: what is pending commits before it, and the adapter's per-object rows, the
delivery attempt, the acknowledgement of the message this one answers and the transition commit
together. The message stays leased (and goes on to :mod:`~gateway.pipeline.steps.answer`) when the
gateway makes an answer for the recipient.
"""

from __future__ import annotations

from adapters.base import AdapterError, ImportResult
from gateway.pipeline import dms_delivery, receipts
from gateway.pipeline.dms import AdapterSpec
from gateway.pipeline.states import NEVER
from gateway.pipeline.steps.answer import answer_policy, answers_for, send_answers
from gateway.pipeline.steps.job import Job, Permanent, Retry
from gateway.pipeline.steps.payload import dms_payload, payload_name
from gateway.pipeline.steps.route import recipient, spec_of
from gateway.store.models import DeliveryAttempt, DeliveryOutcome, MessageState
from gateway.store.types import utcnow


def deliver(job: Job) -> bool:
    m = job.message
    row = recipient(job)
    spec = spec_of(row.xoev_id, row.adapter_config)
    reason = f"in the mailbox of {m.recipient_id}"
    policy = answers_for(job, row, spec)
    confirm = False
    if spec is not None:
        result = import_to_dms(job, spec)
        reason = f"imported into the DMS of {m.recipient_id} ({spec.kind}, {result.status.value})" + (
            f" as {result.location}" if result.location else ""
        )
        confirm = policy.confirmations and dms_delivery.confirmation_code(m.message_type) is not None
    answered = receipts.find_answered(job.session, m)
    values: dict[str, object] = {}
    if answered is not None:
        values["reply_to_id"] = answered.id
        if receipts.acknowledge(job.session, answered, m, actor=job.worker_id):
            reason += f"; acknowledges message {answered.id}"
    pending = confirm or (policy.technical and receipts.receipt_code(m) is not None)
    job.move(
        MessageState.DELIVERED,
        reason,
        values=values,
        release=not pending,
        next_attempt_at=None if pending else NEVER,
    )
    return pending


def import_to_dms(job: Job, spec: AdapterSpec) -> ImportResult:
    """Import through the recipient's adapter; the per-object rows join the job's transaction.

    Nothing reached the DMS (down, credentials, configuration) -> :class:`Retry`. The adapter refused
    the message or part of it -> the rows and the negative confirmation are kept, then
    :class:`Permanent`.
    """
    m = job.message
    message_id, filename, sender = m.id, payload_name(job), m.sender_id
    peer = f"adapter:{spec.kind}:{spec.participant}"
    started = utcnow()
    try:
        with dms_payload(job) as path:
            job.end_reads()  # before the slow part
            result = dms_delivery.import_into(job.ctx.adapters, job.ctx.settings, spec, path, filename, sender)
    except AdapterError as exc:
        job.session.add(
            DeliveryAttempt(
                message_id=message_id,
                peer=peer,
                started_at=started,
                finished_at=utcnow(),
                outcome=DeliveryOutcome.FAILED,
                error=f"{type(exc).__name__}: {exc}",
            )
        )
        job.commit()
        raise Retry(f"the DMS of {spec.participant} ({spec.kind}): {exc}") from None
    dms_delivery.record(job.session, message_id, spec.kind, result)
    attempt = DeliveryAttempt(message_id=message_id, peer=peer, started_at=started, finished_at=utcnow())
    if result.ok:
        attempt.outcome = DeliveryOutcome.SUCCEEDED
        job.session.add(attempt)
        job.log.info("imported into the DMS of %s: %s", spec.participant, result.location or result.status.value)
        return result
    why = result.reason or "the adapter gave no reason"
    attempt.outcome, attempt.error = DeliveryOutcome.REJECTED, why
    job.session.add(attempt)
    job.commit()
    sent = send_answers(job, answer_policy(job), reason=why)
    raise Permanent(
        f"the DMS of {spec.participant} did not import the message ({result.status.value}): {why}"
        + (f"; {'; '.join(sent)}" if sent else "")
    )

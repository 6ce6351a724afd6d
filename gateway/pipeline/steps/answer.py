"""Inbound ``delivered -> confirmed``: the answers the gateway makes for the recipient, each made once.

The Empfangsbestaetigung (and, from a DMS adapter's per-object results, the import confirmation) is built
from the model the check step learned (:attr:`Job.known`), serialised once and handed to intake with its
tree, which validates it once: the gateway does not validate what it built twice. An answer made by an
earlier, interrupted try (or by the recipient itself) is found by its identity instead of made again.
"""

from __future__ import annotations

import uuid

from gateway.pipeline import dms_delivery, receipts
from gateway.pipeline.dms import AdapterSpec
from gateway.pipeline.errors import Conflict, Invalid, Rejected
from gateway.pipeline.intake import submit
from gateway.pipeline.states import NEVER
from gateway.pipeline.steps.job import Job, Permanent
from gateway.pipeline.steps.payload import known
from gateway.pipeline.steps.route import spec_of
from gateway.store.models import MessageState, Participant
from gateway.xoev.build import BuildError, build_message, message_stem, reply_message, serialize
from gateway.xoev.model import Message as XdomeaMessage
from gateway.xoev.model import ObjectOutcome


def answer(job: Job) -> bool:
    sent = send_answers(job, answer_policy(job))
    job.move(MessageState.CONFIRMED, "; ".join(sent) or "nothing to answer", release=True, next_attempt_at=NEVER)
    return False


def answers_for(job: Job, recipient: Participant, spec: AdapterSpec | None) -> receipts.Answers:
    return receipts.answers_for(recipient, spec, job.ctx.settings.pipeline.auto_receipts)


def answer_policy(job: Job) -> receipts.Answers:
    """Which answers the gateway makes for the message's recipient (as the directory says in this job)."""
    recipient = job.participant(job.message.recipient_id)
    if recipient is None:
        return receipts.Answers(technical=False, confirmations=False)
    return answers_for(job, recipient, spec_of(recipient.xoev_id, recipient.adapter_config))


def send_answers(job: Job, policy: receipts.Answers, *, reason: str | None = None) -> list[str]:
    """The Empfangsbestaetigung and the import confirmation the message asks for, as far as ``policy``
    lets the gateway make them; each made once: an answer made by an earlier, interrupted try (or by
    the recipient itself) is found by its identity."""
    m = job.message
    sent = []
    code = receipts.receipt_code(m)
    if code is not None and policy.technical:
        sent.append(f"Empfangsbestaetigung {code} sent as message {ensure_answer(job, code)}")
    confirmation = dms_delivery.confirmation_code(m.message_type) if policy.confirmations else None
    if confirmation is not None:
        model = known(job).model
        rows = dms_delivery.delivered_objects(job.session, m.id)
        # no rows and no refusal: the message was not delivered through the adapter (it was added later)
        if model.kopf.import_confirmation_requested and (rows or reason is not None):
            outcomes = dms_delivery.outcomes(model, rows, reason)
            made = ensure_answer(job, confirmation, outcomes=outcomes)
            failed = sum(1 for o in outcomes if o.success is False)
            sent.append(
                f"Importbestaetigung {confirmation} ({len(outcomes) - failed} imported, {failed} failed) "
                f"sent as message {made}"
            )
    return sent


def ensure_answer(job: Job, code: str, *, outcomes: list[ObjectOutcome] | None = None) -> uuid.UUID:
    existing = receipts.existing_receipt(job.session, job.message, code)
    job.end_reads()  # intake writes in a transaction of its own
    return existing if existing is not None else make_receipt(job, code, known(job).model, outcomes=outcomes)


def make_receipt(
    job: Job, code: str, model: XdomeaMessage, *, outcomes: list[ObjectOutcome] | None = None
) -> uuid.UUID:
    m = job.message
    try:
        reply = reply_message(model, code, outcomes=outcomes)
        name = f"{message_stem(reply)}.xml"
        tree = build_message(reply, registry=job.ctx.registry, name=name, validate=False)  # intake validates it
    except BuildError as exc:
        raise Permanent(f"cannot build the {code} answering this message: {exc}") from None
    try:
        result = submit(
            job.ctx,
            [serialize(tree)],
            sender=m.recipient_id,
            filename=name,
            channel="receipt",
            actor=job.worker_id,
            reply_to_id=m.id,
            recipient=m.sender_id,
            parsed=tree,
        )
    except Conflict as conflict:  # made by a worker that lost its lease meanwhile
        return conflict.existing_id
    except Invalid as invalid:  # what the builder made fails the schema: a defect of the gateway
        raise Permanent(f"cannot build the {code} answering this message: {invalid.detail}") from None
    except Rejected as refused:  # e.g. the answered sender does not accept this xdomea version
        raise Permanent(f"cannot send the {code} answering this message: {refused.detail}") from None
    return result.message.id

"""Receipts and correlation: which code confirms which, and how an answer finds the message it answers.

An Empfangsbestaetigung is built by the gateway for the recipient (the xdomea engine builds it in the
answered message's version, Absender and Empfaenger swapped) and re-enters the pipeline through intake
like any message the recipient sends. Import confirmations (0402, 0506) and the appraisal (0502) are the
recipient's own work (its DMS or archive) and are never made up here: the gateway builds a 0402/0506 only
from what the recipient's DMS adapter reported per object (:mod:`gateway.pipeline.dms_delivery`), and
only when the recipient's policy says the gateway answers for it; the 0502 never. Whether the gateway
makes anything at all for a recipient is that participant's ``receipts`` policy (docs/receipts.md): an
archive behind x-man or a remote XTA server answers for itself, and a 0506 made too early would let a
district destroy records the archive never imported.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlmodel import Session, col, select

from gateway.participants.spec import effective_receipts, importing_adapter
from gateway.pipeline import lifecycle
from gateway.pipeline.dms import AdapterSpec
from gateway.store.models import Direction, Message, MessageState, Participant, ReceiptMaker
from gateway.xoev.build import REPLIES

#: answered code -> its Empfangsbestaetigung
RECEIPT_FOR: dict[str, str] = {
    "0101": "0102",
    "0201": "0202",
    "0401": "0403",
    "0501": "0504",
    "0502": "0505",
    "0503": "0507",
}
#: reply code -> the codes it may answer
ANSWERS: dict[str, tuple[str, ...]] = {}
for _answered, _replies in REPLIES.items():
    for _reply in _replies:
        ANSWERS.setdefault(_reply, ())
        ANSWERS[_reply] = (*ANSWERS[_reply], _answered)


@dataclass(frozen=True, slots=True)
class Answers:
    """What the gateway answers for one recipient: Empfangsbestaetigungen, import confirmations (0402/0506)."""

    technical: bool
    confirmations: bool


def answers_for(participant: Participant, spec: AdapterSpec | None, auto_receipts: bool) -> Answers:
    """The recipient's receipt policy, narrowed by what the gateway can truthfully say.

    Technical receipts also need ``pipeline.auto_receipts`` (the gateway-wide off switch). Import
    confirmations need the facts of an importing DMS adapter whose ``gateway.confirm_imports`` is on,
    whatever the policy says: without them the gateway would confirm an import nobody reported.
    """
    policy = effective_receipts(participant.route_kind, participant.adapter_config or {}, participant.receipt_policy)
    facts = spec is not None and spec.options.confirm_imports and importing_adapter(participant.adapter_config)
    return Answers(
        technical=auto_receipts and policy.technical is ReceiptMaker.GATEWAY,
        confirmations=facts and policy.import_confirmations is ReceiptMaker.GATEWAY,
    )


def receipt_code(message: Message) -> str | None:
    """The Empfangsbestaetigung the message asks for, if it asks for one the gateway can give."""
    if not message.receipt_requested:
        return None
    return RECEIPT_FOR.get(message.message_type)


def find_answered(session: Session, reply: Message) -> Message | None:
    """The outbound message that ``reply`` (arrived for its Absender) answers.

    Matched by ProzessID and the codes the reply can answer, sent by the reply's recipient to the reply's
    sender; in 4.0 the UUIDUrsprungsnachricht must name the answered message's nachrichtenUUID.
    """
    codes = ANSWERS.get(reply.message_type)
    if not codes:
        return None
    conditions = [
        col(Message.direction) == Direction.OUTBOUND,
        col(Message.process_id) == reply.process_id,
        col(Message.message_type).in_(codes),
        col(Message.sender_id) == reply.recipient_id,
        col(Message.recipient_id) == reply.sender_id,
    ]
    if reply.origin_message_uuid:
        conditions.append(col(Message.message_uuid) == reply.origin_message_uuid)
    return session.exec(select(Message).where(*conditions).order_by(col(Message.created_at).desc())).first()


def acknowledge(session: Session, answered: Message, reply: Message, *, actor: str) -> bool:
    """Mark ``answered`` acknowledged if it is still ``sent``, in the caller's transaction.

    A fenced UPDATE rather than a read-then-write: two answers arriving together (0504 and 0502 to a
    0501) acknowledge it exactly once.
    """
    return (
        lifecycle.change(
            session,
            answered,
            MessageState.ACKNOWLEDGED,
            actor=actor,
            reason=f"answered by {reply.message_type} (message {reply.id})",
            from_state=MessageState.SENT,
            respect_lease=False,  # a sent message has no worker; its answer may arrive while one looks at it
        )
        is not None
    )


def existing_receipt(session: Session, answered: Message, code: str) -> uuid.UUID | None:
    """The receipt already made for ``answered`` (by an earlier, interrupted try, or by its recipient)."""
    return session.exec(
        select(Message.id).where(
            col(Message.direction) == Direction.OUTBOUND,
            col(Message.sender_id) == answered.recipient_id,
            col(Message.process_id) == answered.process_id,
            col(Message.message_type) == code,
        )
    ).first()

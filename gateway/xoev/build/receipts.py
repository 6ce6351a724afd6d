"""Answers to received messages: receipts (0102, 0202, 0403, 0504, 0505, 0507), import confirmations
(0402, 0506) and the archive's appraisal (0502).

A reply belongs to the process of the message it answers: same ProzessID, same xdomea version (the
other side may not speak a newer one), Absender and Empfaenger swapped, and in 4.0.0 the answered
message's nachrichtenUUID as UUIDUrsprungsnachricht. The protocol fixes which codes answer which; a
reply that the protocol does not allow (a 0506 to a 0501) is refused rather than built.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from gateway.xoev.build.common import BuildError, now_utc
from gateway.xoev.build.messages import LAYOUTS, BuiltMessage, build_message
from gateway.xoev.build.naming import message_stem
from gateway.xoev.model import Code, Kopf, Message, ObjectOutcome, Party, RecordObject, SendingSystem
from gateway.xoev.schemas.registry import SchemaRegistry, default_registry

#: answered code -> the codes that may answer it
REPLIES: dict[str, tuple[str, ...]] = {
    "0101": ("0102",),
    "0201": ("0202",),
    "0401": ("0402", "0403"),
    "0501": ("0502", "0504"),
    "0502": ("0505",),
    "0503": ("0506", "0507"),
}
#: replies that confirm an import and carry one result per handed-over object
IMPORT_REPLIES = ("0402", "0506")


def reply_element(code: str) -> str:
    for element in LAYOUTS:
        if element.endswith("." + code):
            return element
    raise BuildError(f"no message with code {code} can be built")


def handed_over(objects: Sequence[RecordObject]) -> list[RecordObject]:
    """The objects a message hands over: the top level, or below a 4.0.0 Kontextobjekt its content."""
    out: list[RecordObject] = []
    for obj in objects:
        if obj.context_object:
            out.extend(handed_over(obj.children))
        else:
            out.append(obj)
    return out


def reply_message(
    answering: Message,
    code: str,
    *,
    sender: Party | None = None,
    outcomes: Sequence[ObjectOutcome] | None = None,
    success: bool | None = None,
    errors: Sequence[str] = (),
    now: datetime | None = None,
    message_uuid: str | None = None,
    sending_system: SendingSystem | None = None,
    receipt_requested: bool = False,
) -> Message:
    """The reply as a model (not yet built): see :func:`build_receipt` for the parameters."""
    allowed = REPLIES.get(answering.code, ())
    if code not in allowed:
        answers = ", ".join(allowed) or "none"
        raise BuildError(f"{code} does not answer {answering.element} (the protocol allows: {answers})")
    element = reply_element(code)
    kopf = answering.kopf
    v4 = answering.version.startswith("4.")
    if v4 and code != "0202" and not kopf.message_uuid:
        raise BuildError(f"the answered {answering.element} has no nachrichtenUUID to name as UUIDUrsprungsnachricht")
    # a reply to message n of m is reply n of m; a nonsensical sequence (the 4.0.0 template has 111 of 10)
    # must not make our reply invalid, so it becomes 1 of 1
    sequence = (kopf.sequence_number or 1, kopf.sequence_total or 1)
    if not 1 <= sequence[0] <= sequence[1]:
        sequence = (1, 1)
    reply_kopf = Kopf(
        process_id=kopf.process_id,
        message_type=Code(code),
        created_at=now or now_utc(),
        sender=sender or kopf.recipient,
        recipient=kopf.sender,
        sending_system=sending_system,
        receipt_requested=receipt_requested,
        message_uuid=(message_uuid or str(uuid.uuid4())) if v4 else None,
        origin_message_uuid=kopf.message_uuid if v4 else None,
        sequence_number=sequence[0] if v4 else None,
        sequence_total=sequence[1] if v4 else None,
    )
    results = list(outcomes) if outcomes is not None else _default_outcomes(answering, code)
    return Message(
        version=answering.version,
        element=element,
        kopf=reply_kopf,
        referenced_ids=[o.id for o in results],
        outcomes=results,
        success=success,
        errors=list(errors),
    )


def _default_outcomes(answering: Message, code: str) -> list[ObjectOutcome]:
    if code in IMPORT_REPLIES:
        return [ObjectOutcome(id=o.id, success=True) for o in handed_over(answering.objects)]
    if code == "0502":
        out = []
        for obj in handed_over(answering.objects):
            proposal = obj.aussonderungsart or obj.bewertungsvorschlag
            if proposal is None:
                raise BuildError(
                    f"0502 needs the archive's Aussonderungsart for {obj.id}: pass outcomes (the offer has no "
                    "Bewertungsvorschlag to adopt)"
                )
            out.append(ObjectOutcome(id=obj.id, aussonderungsart=Code(proposal.code)))
        return out
    return []


def build_receipt(
    answering: Message,
    code: str,
    *,
    sender: Party | None = None,
    outcomes: Sequence[ObjectOutcome] | None = None,
    success: bool | None = None,
    errors: Sequence[str] = (),
    now: datetime | None = None,
    message_uuid: str | None = None,
    sending_system: SendingSystem | None = None,
    receipt_requested: bool = False,
    registry: SchemaRegistry | None = None,
) -> BuiltMessage:
    """Build and validate the reply ``code`` to ``answering``, in ``answering``'s version.

    ``sender`` defaults to the answered message's Empfaenger. ``outcomes`` are the per-object results:
    for 0402/0506 they default to "imported" for every handed-over object, for 0502 to the offer's own
    Bewertungsvorschlag; ``success``/``errors`` are 4.0.0's message-level ErfolgOderMisserfolg (default:
    success unless an object failed). ``receipt_requested`` sets the reply's own Empfangsbestaetigung
    (0502 asks for a 0505 with it).
    """
    reply = reply_message(
        answering,
        code,
        sender=sender,
        outcomes=outcomes,
        success=success,
        errors=errors,
        now=now,
        message_uuid=message_uuid,
        sending_system=sending_system,
        receipt_requested=receipt_requested,
    )
    registry = registry or default_registry()
    tree = build_message(reply, registry=registry, name=message_stem(reply) + ".xml")
    return BuiltMessage(reply, tree)

"""The SendXtaPort over the pipeline: sendMessage is intake with channel ``xta``.

The message part is streamed from the spool file into :func:`gateway.pipeline.intake.submit` and the
call returns as soon as the message is stored (one commit, fsynced); the workers sign, route and deliver
it. A participant of this gateway sends ``out``; a participant of a peer gateway (its gateway pushing to
us) sends ``in``, to be delivered to one of ours. The MessageID is checked against the ledger
(:mod:`.ids`) before the message enters the pipeline and taken in intake's own transaction, so that the
reply waits for one commit, not three; intake's refusals become the XTA faults a client can act on, and
leave nothing behind (the MessageID included).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from sqlmodel import Session

from gateway.bridge.xta import authorise, ids
from gateway.bridge.xta.meta import meta_json
from gateway.pipeline.context import PipelineContext
from gateway.pipeline.errors import (
    Conflict,
    ForgedSender,
    Invalid,
    Rejected,
    TooLarge,
    UnknownRecipient,
    VersionNotAccepted,
)
from gateway.pipeline.intake import submit
from gateway.store.models import Direction, Message, RouteKind
from gateway.transport.xta.backend import Content, MessageMeta
from gateway.transport.xta.errors import (
    ErrorCode,
    ParameterInvalid,
    PermissionDenied,
    SchemaViolation,
    XtaError,
)

log = logging.getLogger(__name__)

REPORTED_ERRORS = 3


def refusal_fault(refusal: Rejected) -> XtaError:
    """The XTA fault for one of intake's refusals; its text is intake's, which says what to fix."""
    if isinstance(refusal, Invalid):
        errors = refusal.report.errors
        shown = "; ".join(
            f"{e.rule} {e.message}" + (f" ({e.location})" if str(e.location) else "") for e in errors[:REPORTED_ERRORS]
        )
        more = f" and {len(errors) - REPORTED_ERRORS} more" if len(errors) > REPORTED_ERRORS else ""
        return SchemaViolation(ErrorCode.SCHEMA_VIOLATION, f"{len(errors)} error(s): {shown}{more}")
    if isinstance(refusal, ForgedSender):
        return PermissionDenied(ErrorCode.IDENTITY_MISMATCH, refusal.detail)
    if isinstance(refusal, TooLarge):
        return ParameterInvalid(ErrorCode.MESSAGE_TOO_LARGE, refusal.detail)
    if isinstance(refusal, Conflict):
        return ParameterInvalid(ErrorCode.MESSAGE_ID_ALREADY_USED, refusal.detail)
    if isinstance(refusal, UnknownRecipient):
        return ParameterInvalid(ErrorCode.INVALID_PARAMETER_COMBINATION, refusal.detail)
    if isinstance(refusal, VersionNotAccepted):
        # the Reader has not booked the service of this xdomea version (the service URI names the version)
        return PermissionDenied(ErrorCode.SERVICE_NOT_BOOKED, refusal.detail)
    return ParameterInvalid(ErrorCode.INVALID_PARAMETER_COMBINATION, refusal.detail)


class SendPort:
    """sendMessage: one transport order in, one message stored for the workers."""

    def __init__(self, ctx: PipelineContext) -> None:
        self.ctx = ctx

    def accept_message(self, meta: MessageMeta, message: Content, attachments: Sequence[Content]) -> None:
        if attachments:
            raise ParameterInvalid(
                ErrorCode.INVALID_PARAMETER_COMBINATION,
                "the gateway carries one xdomea message per transport order: send a package (ZIP) as the Message "
                "and no Attachment",
            )
        ids.check_message_id(meta.message_id)
        limit = self.ctx.settings.pipeline.max_submit_bytes
        if message.size > limit:
            raise ParameterInvalid(ErrorCode.MESSAGE_TOO_LARGE, f"{message.size} bytes is more than {limit} bytes")
        with self.ctx.session() as session:
            account = authorise.account(session, meta.author)
            reader = authorise.participant(session, meta.reader)
            if reader is None:
                raise ParameterInvalid(
                    ErrorCode.INVALID_PARAMETER_COMBINATION,
                    f"the Reader {meta.reader.type}:{meta.reader.value} is not in the participant directory",
                )
            sender = account.xoev_id
            addressed = reader.xoev_id  # the Empfaenger must agree, or name it when it names nobody
            inbound = account.route_kind is RouteKind.XTA
            if inbound and reader.route_kind is not RouteKind.MAILBOX:
                raise ParameterInvalid(
                    ErrorCode.INVALID_PARAMETER_COMBINATION,
                    f"{reader.xoev_id} has no mailbox on this gateway; the gateway does not relay between peers",
                )
            ids.check_available(session, meta.message_id, sender)
        order = meta_json(meta)

        def take_id(session: Session, row: Message) -> None:
            # in intake's transaction: the message, its events and the ledger entry are one commit; the
            # ledger first, so that the id's 9024 comes from its primary key, before the message names it
            ids.take(session, meta.message_id, sender, row.id)
            row.xta_message_id = meta.message_id
            row.xta_meta = order

        try:
            with message.path.open("rb") as source:
                result = submit(
                    self.ctx,
                    source,
                    sender=sender,
                    filename=message.info.filename,
                    channel="xta",
                    direction=Direction.INBOUND if inbound else Direction.OUTBOUND,
                    actor=f"xta:{sender}",
                    recipient=addressed,
                    before_commit=take_id,
                )
        except Rejected as refusal:
            raise refusal_fault(refusal) from None
        stored = result.message.id
        if not result.created:
            # the same message again (a resend whose reply was lost) under a new id: the id names it too
            with self.ctx.session() as session:
                ids.take(session, meta.message_id, sender, stored)
                ids.name_message(session, stored, meta.message_id, order)
                session.commit()
        log.info(
            "XTA %s from %s accepted as message %s%s",
            meta.message_id,
            sender,
            stored,
            "" if result.created else " (submitted before)",
        )

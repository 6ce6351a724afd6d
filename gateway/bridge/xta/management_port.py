"""The ManagementPort over the pipeline: MessageIDs, service lookups, transport reports, withdrawal.

createMessageId reserves an id in the ledger (:mod:`.ids`); lookupService answers from the reader's
accepted xdomea versions; getTransportReport turns the message's history into the XTA report
(:mod:`.meta`), with the reader's times when the message was delivered on this gateway; cancelMessage
withdraws an outbound message that no worker holds and that may still be cancelled.
"""

from __future__ import annotations

from dataclasses import replace

from sqlmodel import Session, col, select

from gateway.bridge.xta import authorise, ids
from gateway.bridge.xta.meta import message_meta, payload_size, transport_report, uuid_of_derived, xdomea_service
from gateway.pipeline import lifecycle
from gateway.pipeline.context import PipelineContext
from gateway.pipeline.states import NEVER, allowed
from gateway.store.models import Direction, Message, MessageEvent, MessageState
from gateway.store.types import utcnow
from gateway.transport.xta.backend import PartyId, TransportReport
from gateway.transport.xta.errors import CancelDenied, ErrorCode, InvalidMessageId


class ManagementPort:
    """The ManagementPort's operations that need the pipeline (checkAccountActive is authorisation alone)."""

    def __init__(self, ctx: PipelineContext) -> None:
        self.ctx = ctx
        self.party_type = ctx.settings.xta_client.party_type

    def create_message_id(self, author: PartyId) -> str:
        with self.ctx.session() as session:
            account = authorise.account(session, author)
            return ids.reserve(session, account.xoev_id)

    def lookup_service(self, author: PartyId, reader: PartyId, service: str) -> bool | None:
        with self.ctx.session() as session:
            row = authorise.participant(session, reader)
        if row is None:
            return False
        return any(service == xdomea_service(version) for version in row.accepted_versions)

    def _sent(self, session: Session, author: PartyId, message_id: str) -> Message:
        """``author``'s message known by ``message_id``, or 9070 (also for another account's message)."""
        account = authorise.account(session, author)
        found = ids.message_of(session, message_id, account.xoev_id)
        if found is None:
            derived = uuid_of_derived(message_id)
            candidate = session.get(Message, derived) if derived is not None else None
            if candidate is not None and candidate.sender_id == account.xoev_id and candidate.xta_message_id is None:
                found = candidate.id
        message = session.get(Message, found) if found is not None else None
        if message is None:
            raise InvalidMessageId(ErrorCode.MESSAGE_ID_UNKNOWN, message_id)
        return message

    def transport_report(self, author: PartyId, message_id: str) -> TransportReport:
        with self.ctx.session() as session:
            message = self._sent(session, author, message_id)
            events = session.exec(
                select(MessageEvent).where(col(MessageEvent.message_id) == message.id).order_by(col(MessageEvent.id))
            ).all()
            meta = message_meta(
                message,
                message.xta_meta,
                message_id=message_id,
                party_type=self.party_type,
                size=payload_size(self.ctx.payloads, message),
            )
            copy = session.exec(select(Message).where(col(Message.source_id) == message.id)).first()
            if copy is not None:  # delivered on this gateway: the reader's side of the times
                delivered = session.exec(
                    select(MessageEvent.created_at)
                    .where(
                        col(MessageEvent.message_id) == copy.id, col(MessageEvent.to_state) == MessageState.DELIVERED
                    )
                    .order_by(col(MessageEvent.id))
                ).first()
                times = replace(
                    meta.delivery, delivery=delivered, initial_fetch=copy.xta_fetched_at, reception=copy.xta_closed_at
                )
                meta = replace(meta, delivery=times)
            return transport_report(message, events, meta, utcnow())

    def cancel_message(self, author: PartyId, message_id: str) -> None:
        with self.ctx.session() as session:
            message = self._sent(session, author, message_id)
            state = message.state
            if message.direction is not Direction.OUTBOUND or not allowed(
                message.direction, state, MessageState.CANCELLED
            ):
                raise CancelDenied(ErrorCode.UNSPECIFIED, f"the message is already {state.value}, too late to withdraw")
            withdrawn = lifecycle.change(
                session,
                message,
                MessageState.CANCELLED,
                actor=f"xta:{message.sender_id}",
                reason=f"withdrawn by its author (XTA cancelMessage {message_id})",
                from_state=state,
                values={"next_attempt_at": NEVER},
            )
            if withdrawn is None:
                raise CancelDenied(
                    ErrorCode.UNSPECIFIED, "the gateway is sending the message right now; ask for its report"
                )
            session.commit()

"""How a queued message leaves: the :class:`Transport` seam, with the local mailbox implemented here.

A transport is chosen by the recipient's route in the participant directory. ``send`` must be
idempotent for the same message (a worker killed after sending retries it): the local mailbox makes the
delivered copy in the caller's transaction, which commits together with the ``queued -> sent``
transition, so the copy exists exactly when the original says "sent". A remote transport (the XTA 2
client, another issue) cannot share the transaction; it must use the message id as the transport's
message id so that the peer drops a second copy.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Protocol

from sqlmodel import Session, col, select

from gateway.config import Settings
from gateway.pipeline import lifecycle
from gateway.store.models import DeliveryOutcome, Direction, Message, MessageState, RouteKind
from gateway.store.payloads import PayloadStore
from gateway.store.types import utcnow


class SendStatus(enum.StrEnum):
    SENT = "sent"
    RETRY = "retry"  # transient: try again later with back-off
    REJECTED = "rejected"  # permanent: the peer refused the message


@dataclass(frozen=True, slots=True)
class SendResult:
    status: SendStatus
    peer: str
    detail: str

    @property
    def outcome(self) -> DeliveryOutcome:
        return {
            SendStatus.SENT: DeliveryOutcome.SUCCEEDED,
            SendStatus.RETRY: DeliveryOutcome.FAILED,
            SendStatus.REJECTED: DeliveryOutcome.REJECTED,
        }[self.status]


class Transport(Protocol):
    """Hands one queued outbound message to its recipient. Rows added to ``session`` commit with the step."""

    def send(self, session: Session, message: Message, *, actor: str) -> SendResult: ...


class LocalMailbox:
    """The recipient has a mailbox on this gateway: the message becomes an inbound row for it.

    The copy shares the payload (content-addressed, so no bytes are copied) and starts in ``received``;
    the workers verify, validate and deliver it like any inbound message.
    """

    def send(self, session: Session, message: Message, *, actor: str) -> SendResult:
        peer = f"mailbox:{message.recipient_id}"
        existing = session.exec(select(Message.id).where(col(Message.source_id) == message.id)).first()
        if existing is not None:
            return SendResult(SendStatus.SENT, peer, f"already in the mailbox as {existing}")
        now = utcnow()
        copy = Message(
            direction=Direction.INBOUND,
            process_id=message.process_id,
            message_type=message.message_type,
            xdomea_version=message.xdomea_version,
            sender_id=message.sender_id,
            recipient_id=message.recipient_id,
            state=MessageState.RECEIVED,
            size=message.size,
            sha256=message.payload_ref,
            payload_ref=message.payload_ref,
            content_hash=message.payload_ref,
            created_at=now,
            updated_at=now,
            next_attempt_at=now,
            filename=message.filename,
            channel="local",
            content_kind=message.content_kind,
            message_uuid=message.message_uuid,
            origin_message_uuid=message.origin_message_uuid,
            receipt_requested=message.receipt_requested,
            source_id=message.id,
            gateway_made=message.gateway_made,
        )
        lifecycle.arrive(
            session,
            copy,
            [(MessageState.RECEIVED, f"delivered on this gateway from outbound message {message.id}")],
            actor=actor,
            now=now,
        )
        return SendResult(SendStatus.SENT, peer, f"in the mailbox as {copy.id}")


def default_transports(settings: Settings, payloads: PayloadStore) -> dict[RouteKind, Transport]:
    """Local mailboxes, and the XTA 2 client for participants whose route is a remote XTA server."""
    from gateway.bridge.xta.sender import XtaTransport  # zeep/requests only when a context is built

    return {RouteKind.MAILBOX: LocalMailbox(), RouteKind.XTA: XtaTransport(settings, payloads)}

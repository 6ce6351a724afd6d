"""The JSON shapes the API answers with; fields are only ever added (clients may rely on that)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from gateway.store.models import Direction, Message, MessageEvent, MessageState

_MESSAGE_EXAMPLE: dict[str, JsonValue] = {
    "id": "0b3c2d5e-8f1a-4c8e-9a57-1f4d6c2b9e10",
    "direction": "out",
    "state": "queued",
    "process_id": "9fde4e7a-b41b-11ec-9225-005056871b7c",
    "message_type": "0503",
    "xdomea_version": "3.0.0",
    "sender": "psw:16077000",
    "recipient": "lth:16000100",
    "size": 1785,
    "sha256": "f5a4e337642f357423c1f7a8b3b1cd0e6a0c4d1f2b3a4c5d6e7f8091a2b3c4d5",
    "filename": "9fde4e7a-b41b-11ec-9225-005056871b7c_Aussonderung.Aussonderung.0503.zip",
    "content_kind": "zip",
    "channel": "rest",
    "signature_status": "signed",
    "error": None,
    "created_at": "2026-11-25T14:03:12.118Z",
    "updated_at": "2026-11-25T14:03:13.402Z",
}


class MessageSummary(BaseModel):
    """One message as listed: who, what, where it is now."""

    model_config = ConfigDict(json_schema_extra={"examples": [_MESSAGE_EXAMPLE]})

    id: uuid.UUID
    direction: Direction = Field(description="out: submitted by one of our participants; in: arrived for one.")
    state: MessageState
    process_id: str = Field(description="xdomea ProzessID of the Kopf.")
    message_type: str = Field(description="Nachrichtentyp code, e.g. 0503.")
    xdomea_version: str
    sender: str = Field(description="XÖV identifier of the sender.")
    recipient: str = Field(description="XÖV identifier of the recipient.")
    size: int = Field(description="Bytes as received.")
    sha256: str = Field(description="SHA-256 of the bytes as received (GET .../payload returns them).")
    filename: str | None
    content_kind: str = Field(description="xml or zip.")
    channel: str = Field(description="How it arrived: rest, xta, adapter, local, receipt.")
    signature_status: str | None
    error: str | None = Field(description="The last error, while the message is failing.")
    created_at: datetime
    updated_at: datetime


class EventView(BaseModel):
    """One entry of a message's history."""

    id: int
    from_state: MessageState | None
    to_state: MessageState
    actor: str = Field(description="Worker id, token, or the gateway component that acted.")
    reason: str
    error: str | None
    created_at: datetime


class SignatureView(BaseModel):
    status: str | None = Field(description="signed, unsigned, verified or refused; null before the step ran.")
    signer_fingerprint: str | None = Field(description="SHA-256 of the signer's certificate.")


class MessageDetail(MessageSummary):
    """A message with its history, validation report and signature status."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    **_MESSAGE_EXAMPLE,
                    "payload_sha256": _MESSAGE_EXAMPLE["sha256"],
                    "attempts": 1,
                    "next_attempt_at": "2026-11-25T14:03:13.402Z",
                    "message_uuid": None,
                    "origin_message_uuid": None,
                    "receipt_requested": False,
                    "reply_to_id": None,
                    "source_id": None,
                    "signature": {"status": "signed", "signer_fingerprint": None},
                    "validation_report": {
                        "path": "9fde4e7a-b41b-11ec-9225-005056871b7c_Aussonderung.Aussonderung.0503.zip",
                        "valid": True,
                        "version": "3.0.0",
                        "message_type": "0503",
                        "process_id": "9fde4e7a-b41b-11ec-9225-005056871b7c",
                        "errors": [],
                        "warnings": [],
                    },
                    "events": [
                        {
                            "id": 1,
                            "from_state": None,
                            "to_state": "received",
                            "actor": "token:3:psw:16077000 submit,read",
                            "reason": "submitted through the REST API",
                            "error": None,
                            "created_at": "2026-11-25T14:03:12.118Z",
                        }
                    ],
                }
            ]
        }
    )

    payload_sha256: str = Field(description="SHA-256 of the bytes delivered (differs from sha256 once signed).")
    attempts: int
    next_attempt_at: datetime
    message_uuid: str | None = Field(description="xdomea 4.0 nachrichtenUUID.")
    origin_message_uuid: str | None = Field(description="xdomea 4.0 UUIDUrsprungsnachricht of a reply.")
    receipt_requested: bool
    reply_to_id: uuid.UUID | None = Field(description="The message this one answers.")
    source_id: uuid.UUID | None = Field(description="The outbound original of a locally delivered copy.")
    signature: SignatureView
    validation_report: dict[str, Any] | None = Field(description="The report as in docs/validation.md.")
    events: list[EventView]


class MessagePage(BaseModel):
    """One page of a listing; ``next_cursor`` is null on the last page."""

    items: list[MessageSummary]
    next_cursor: str | None = Field(description="Pass as ?cursor= to get the next page (opaque).")


class ProcessView(BaseModel):
    """A process (Vorgang of the message exchange): all messages with one ProzessID, oldest first."""

    process_id: str
    messages: list[MessageSummary]
    thread: dict[str, Any] | None = Field(
        None, description="The pipeline's view of the thread: current step, awaited reply and its deadline."
    )


class SubmitResult(BaseModel):
    """The stored message after a submission (201 new, 200 the same message submitted before)."""

    created: bool
    message: MessageDetail


class Health(BaseModel):
    status: str = Field(examples=["ok"])


class Readiness(BaseModel):
    status: str = Field(examples=["ready"])
    checks: dict[str, str] = Field(
        description="Each check and its outcome ('ok' or why not).",
        examples=[{"database": "ok", "migrations": "ok", "schemas": "ok"}],
    )


def summary(message: Message, *, internal: bool = True) -> dict[str, Any]:
    """The summary fields; without ``internal`` (the other party's view) the owner's last error is left out."""
    return {
        "id": message.id,
        "direction": message.direction,
        "state": message.state,
        "process_id": message.process_id,
        "message_type": message.message_type,
        "xdomea_version": message.xdomea_version,
        "sender": message.sender_id,
        "recipient": message.recipient_id,
        "size": message.size,
        "sha256": message.sha256,
        "filename": message.filename,
        "content_kind": message.content_kind,
        "channel": message.channel,
        "signature_status": message.signature_status,
        "error": message.error if internal else None,
        "created_at": message.created_at,
        "updated_at": message.updated_at,
    }


def summary_view(message: Message, *, internal: bool = True) -> MessageSummary:
    return MessageSummary(**summary(message, internal=internal))


def detail_view(message: Message, events: list[MessageEvent], *, internal: bool = True) -> MessageDetail:
    """The detail; the caller passes no events and ``internal=False`` for the other party's view."""
    return MessageDetail(
        **summary(message, internal=internal),
        payload_sha256=message.payload_ref,
        attempts=message.attempts,
        next_attempt_at=message.next_attempt_at,
        message_uuid=message.message_uuid,
        origin_message_uuid=message.origin_message_uuid,
        receipt_requested=message.receipt_requested,
        reply_to_id=message.reply_to_id,
        source_id=message.source_id,
        signature=SignatureView(status=message.signature_status, signer_fingerprint=message.signer_fingerprint),
        validation_report=message.validation_report,
        events=[
            EventView(
                id=e.id or 0,
                from_state=e.from_state,
                to_state=e.to_state,
                actor=e.actor,
                reason=e.reason,
                error=e.error,
                created_at=e.created_at,
            )
            for e in events
        ],
    )

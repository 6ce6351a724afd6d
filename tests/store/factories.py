"""Rows for tests, with values of the shape real xdomea traffic has."""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime

from gateway.store.models import Direction, Message, MessageState
from gateway.store.types import utcnow


def message(
    n: int = 0,
    *,
    state: MessageState = MessageState.QUEUED,
    direction: Direction = Direction.OUTBOUND,
    process_id: str | None = None,
    message_type: str = "0501",
    sender_id: str = "psw:16077000",
    next_attempt_at: datetime | None = None,
) -> Message:
    digest = hashlib.sha256(f"payload {n}".encode()).hexdigest()
    now = utcnow()
    return Message(
        direction=direction,
        process_id=process_id or str(uuid.uuid4()),
        message_type=message_type,
        xdomea_version="3.0.0",
        sender_id=sender_id,
        recipient_id="lat:16000001",
        state=state,
        size=1000 + n,
        sha256=digest,
        payload_ref=digest,
        content_hash=digest,
        created_at=now,
        updated_at=now,
        next_attempt_at=next_attempt_at or now,
    )

"""Reading messages: one with its history, its payload as a stream, and filtered, paginated listings.

Every query is narrowed by :func:`gateway.api.visibility.visible_to`; a message the token may not see
is a 404, indistinguishable from one that does not exist, and the other party's history and errors are
left out of what it may see.
"""

from __future__ import annotations

import base64
import uuid
from datetime import datetime
from typing import Annotated, Literal

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse
from sqlmodel import Session, col, select

from gateway.api import cursor
from gateway.api.auth import Reader
from gateway.api.problems import INVALID_REQUEST, NOT_FOUND, ApiProblem, error_responses
from gateway.api.state import ApiState, api_state
from gateway.api.views import MessageDetail, MessagePage, detail_view, summary_view
from gateway.api.visibility import history_for, sees_internals, visible_message, visible_to
from gateway.participants.spec import XOEV_ID_PATTERN
from gateway.store.downloads import download_name, stream
from gateway.store.models import Direction, Message, MessageState
from gateway.store.payloads import PayloadNotFound

router = APIRouter(prefix="/api/v1/messages", tags=["messages"])

DEFAULT_PAGE = 50
_MEDIA = {"xml": "application/xml", "zip": "application/zip"}


@router.get(
    "/{message_id}",
    response_model=MessageDetail,
    summary="A message with its history, validation report and signature status",
    responses=error_responses(),
)
def get_message(
    message_id: uuid.UUID, principal: Reader, state: Annotated[ApiState, Depends(api_state)]
) -> MessageDetail:
    with Session(state.engine) as session:
        message = visible_message(session, principal, message_id)
        internal = sees_internals(principal, message)
        return detail_view(message, history_for(session, principal, message), internal=internal)


@router.get(
    "/{message_id}/payload",
    summary="Download the message's bytes (streamed)",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "The bytes as received (default) or as delivered (`variant=delivered`, e.g. signed)",
            "content": {"application/xml": {}, "application/zip": {}},
            "headers": {
                "ETag": {"description": "The SHA-256 of the bytes, quoted", "schema": {"type": "string"}},
                "Repr-Digest": {"description": "RFC 9530 sha-256 digest", "schema": {"type": "string"}},
            },
        },
        **error_responses(),
    },
)
def download_payload(
    message_id: uuid.UUID,
    principal: Reader,
    state: Annotated[ApiState, Depends(api_state)],
    variant: Annotated[
        Literal["received", "delivered"],
        Query(description="received: byte-identical to what arrived; delivered: what the gateway hands on."),
    ] = "received",
) -> StreamingResponse:
    with Session(state.engine) as session:
        message = visible_message(session, principal, message_id)
    sha256 = message.sha256 if variant == "received" else message.payload_ref
    try:
        handle = state.payloads.open(sha256)
    except PayloadNotFound:
        raise ApiProblem(NOT_FOUND, f"the {variant} payload of message {message_id} is no longer stored") from None
    size = state.payloads.size(sha256)
    digest = base64.b64encode(bytes.fromhex(sha256)).decode("ascii")
    return StreamingResponse(
        stream(handle),
        media_type=_MEDIA.get(message.content_kind, "application/octet-stream"),
        headers={
            "Content-Length": str(size),
            "ETag": f'"{sha256}"',
            "Repr-Digest": f"sha-256=:{digest}:",
            "Content-Disposition": f'attachment; filename="{download_name(message)}"',
            "X-Content-Type-Options": "nosniff",
        },
    )


@router.get(
    "",
    response_model=MessagePage,
    summary="List and filter messages, newest first, with cursor pagination",
    responses=error_responses(400),
)
def list_messages(
    principal: Reader,
    state: Annotated[ApiState, Depends(api_state)],
    message_state: Annotated[
        list[MessageState] | None, Query(alias="state", description="Only these states (repeatable).")
    ] = None,
    direction: Annotated[Direction | None, Query(description="in or out.")] = None,
    message_type: Annotated[
        str | None, Query(alias="type", pattern=r"^\d{4}$", description="Nachrichtentyp code, e.g. 0503.")
    ] = None,
    participant: Annotated[
        str | None, Query(pattern=XOEV_ID_PATTERN, description="Sender or recipient is this XÖV identifier.")
    ] = None,
    process: Annotated[str | None, Query(max_length=64, description="ProzessID.")] = None,
    since: Annotated[datetime | None, Query(description="Arrived at or after (ISO 8601 with zone).")] = None,
    until: Annotated[datetime | None, Query(description="Arrived before (ISO 8601 with zone).")] = None,
    limit: Annotated[int, Query(ge=1, description="Items per page (at most api.max_page_size).")] = DEFAULT_PAGE,
    after: Annotated[
        str | None, Query(alias="cursor", max_length=512, description="From a page's next_cursor.")
    ] = None,
) -> MessagePage:
    for name, value in (("since", since), ("until", until)):
        if value is not None and value.tzinfo is None:
            raise ApiProblem(INVALID_REQUEST, f"{name} needs a time zone, e.g. 2026-11-25T14:00:00Z")
    limit = min(limit, state.settings.api.max_page_size)
    filters = {
        "state": sorted(s.value for s in message_state or []),
        "direction": direction.value if direction else None,
        "type": message_type,
        "participant": participant,
        "process": process,
        "since": since.isoformat() if since else None,
        "until": until.isoformat() if until else None,
    }
    query = select(Message).where(visible_to(principal))
    if message_state:
        query = query.where(col(Message.state).in_(message_state))
    if direction:
        query = query.where(col(Message.direction) == direction)
    if message_type:
        query = query.where(col(Message.message_type) == message_type)
    if participant:
        query = query.where(sa.or_(col(Message.sender_id) == participant, col(Message.recipient_id) == participant))
    if process:
        query = query.where(col(Message.process_id) == process)
    if since:
        query = query.where(col(Message.created_at) >= since)
    if until:
        query = query.where(col(Message.created_at) < until)
    if after:
        position = cursor.decode(after, filters)
        query = query.where(
            sa.or_(
                col(Message.created_at) < position.created_at,
                sa.and_(col(Message.created_at) == position.created_at, col(Message.id) < position.id),
            )
        )
    query = query.order_by(col(Message.created_at).desc(), col(Message.id).desc()).limit(limit + 1)
    with Session(state.engine) as session:
        rows = list(session.exec(query).all())
    page = rows[:limit]
    next_cursor = None
    if len(rows) > limit:
        last = page[-1]
        next_cursor = cursor.encode(cursor.Position(last.created_at, last.id), filters)
    return MessagePage(
        items=[summary_view(m, internal=sees_internals(principal, m)) for m in page], next_cursor=next_cursor
    )

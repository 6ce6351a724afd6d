"""Messages: search with keyset pages, the detail page, the payload download, and confirmed actions."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends
from sqlmodel import Session
from starlette.responses import Response, StreamingResponse

from gateway.console.access import visible_message, visible_to
from gateway.console.actions import ConsoleAction, perform, possible
from gateway.console.detail import gather
from gateway.console.search import BadFilter, Filters, parse_filters, search
from gateway.console.web import PREFIX, ConsoleForbidden, ConsoleNotFound, Page, signed_in
from gateway.pipeline.operations import ActionRefused
from gateway.store.downloads import download_name, stream
from gateway.store.models import Direction, Message, MessageState
from gateway.store.payloads import PayloadNotFound

router = APIRouter(prefix=PREFIX, include_in_schema=False)


@router.get("/messages")
def messages(current: Annotated[Page, Depends(signed_in)]) -> Response:
    assert current.user is not None
    params = dict(current.request.query_params)
    error = None
    rows: list[Message] = []
    next_cursor = None
    try:
        filters = parse_filters(params)
        with Session(current.state.engine) as session:
            rows, next_cursor = search(session, filters, visible_to(current.user), params.get("after"))
    except BadFilter as exc:
        filters, error = Filters(), str(exc)
    keep = {k: v for k, v in params.items() if k not in ("after", "lang") and v}
    return current.render(
        "messages.html",
        status=400 if error else 200,
        rows=rows,
        next_cursor=next_cursor,
        params=keep,
        error=error,
        states=list(MessageState),
        directions=list(Direction),
    )


def _message(current: Page, session: Session, message_id: str) -> Message:
    assert current.user is not None
    try:
        ident = uuid.UUID(message_id)
    except ValueError:
        raise ConsoleNotFound from None
    message = visible_message(session, current.user, ident)
    if message is None:
        raise ConsoleNotFound
    return message


@router.get("/messages/{message_id}")
def message_page(message_id: str, current: Annotated[Page, Depends(signed_in)]) -> Response:
    assert current.user is not None
    with Session(current.state.engine, expire_on_commit=False) as session:
        message = _message(current, session, message_id)
        detail = gather(current.state, session, current.user, message)
    done = current.request.query_params.get("done")
    actions = possible(message) if current.user.can_act else []
    return current.render("message.html", d=detail, m=message, actions=actions, done=done)


@router.get("/messages/{message_id}/payload")
def payload(message_id: str, current: Annotated[Page, Depends(signed_in)]) -> Response:
    with Session(current.state.engine) as session:
        message = _message(current, session, message_id)
    try:
        handle = current.state.payloads.open(message.sha256)
    except PayloadNotFound:
        raise ConsoleNotFound from None
    media = {"xml": "application/xml", "zip": "application/zip"}.get(message.content_kind, "application/octet-stream")
    response = StreamingResponse(
        stream(handle),
        media_type=media,
        headers={
            "Content-Disposition": f'attachment; filename="{download_name(message)}"',
            "X-Content-Type-Options": "nosniff",
        },
    )
    return current.finish(response)


def _action(name: str) -> ConsoleAction:
    try:
        return ConsoleAction(name)
    except ValueError:
        raise ConsoleNotFound from None


@router.get("/messages/{message_id}/confirm/{action}")
def confirm(message_id: str, action: str, current: Annotated[Page, Depends(signed_in)]) -> Response:
    assert current.user is not None
    chosen = _action(action)
    with Session(current.state.engine) as session:
        message = _message(current, session, message_id)
    if not current.user.can_act:
        raise ConsoleForbidden
    return current.render("confirm.html", m=message, action=chosen)


@router.post("/messages/{message_id}/{action}")
async def act(message_id: str, action: str, current: Annotated[Page, Depends(signed_in)]) -> Response:
    assert current.user is not None
    form = await current.form()
    chosen = _action(action)
    note = (form.get("note") or "").strip()[:500] or None
    with Session(current.state.engine, expire_on_commit=False) as session:
        message = _message(current, session, message_id)
        try:
            perform(session, message, chosen, current.user, note, current.client)
        except ActionRefused as refused:
            current.console.metrics.actions.labels(chosen.value, "refused").inc()
            status = 403 if not current.user.can_act else 409
            return current.render("confirm.html", status=status, m=message, action=chosen, error=str(refused))
    current.console.metrics.actions.labels(chosen.value, "ok").inc()
    return current.redirect(f"{PREFIX}/messages/{message.id}?done={chosen.value}")

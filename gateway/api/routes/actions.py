"""``POST /api/v1/messages/{id}/cancel|retry|requeue``: operator actions (see :mod:`gateway.pipeline.operations`).

A sender may cancel its own outbound message with a submit token; retry and requeue are operator
decisions and need an admin token. A message the token cannot see is a 404 before any scope question.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Body, Depends
from pydantic import BaseModel, Field
from sqlmodel import Session

from gateway.api.auth import AnyPrincipal, check_scope
from gateway.api.problems import FORBIDDEN, STATE_CONFLICT, ApiProblem, error_responses
from gateway.api.state import ApiState, api_state
from gateway.api.views import MessageDetail, detail_view
from gateway.api.visibility import events_of, visible_message
from gateway.participants.tokens import Principal, Scope
from gateway.pipeline.operations import Action, ActionRefused, apply
from gateway.store.models import Direction

router = APIRouter(prefix="/api/v1/messages", tags=["messages"])


class ActionRequest(BaseModel):
    note: str | None = Field(None, max_length=500, description="Why; recorded in the message's history.")


def _act(
    state: ApiState, principal: Principal, message_id: uuid.UUID, action: Action, request: ActionRequest | None
) -> MessageDetail:
    with Session(state.engine, expire_on_commit=False) as session:
        message = visible_message(session, principal, message_id)
        if action is Action.CANCEL:
            check_scope(principal, Scope.SUBMIT)
            own = message.direction is Direction.OUTBOUND and message.sender_id == principal.participant
            if not (principal.is_admin or own):
                raise ApiProblem(FORBIDDEN, "only the sender (or an operator) can cancel a message")
        else:
            check_scope(principal, Scope.ADMIN)
        try:
            message = apply(session, message, action, principal.actor, request.note if request else None)
        except ActionRefused as exc:
            raise ApiProblem(STATE_CONFLICT, str(exc), state=message.state.value) from None
        return detail_view(message, events_of(session, message))


_RESPONSES = error_responses(409)
NoteBody = Annotated[ActionRequest | None, Body()]


@router.post(
    "/{message_id}/cancel",
    response_model=MessageDetail,
    summary="Cancel a message that has not left yet (sender with submit scope, or admin)",
    responses=_RESPONSES,
)
def cancel(
    message_id: uuid.UUID,
    principal: AnyPrincipal,
    state: Annotated[ApiState, Depends(api_state)],
    body: NoteBody = None,
) -> MessageDetail:
    return _act(state, principal, message_id, Action.CANCEL, body)


@router.post(
    "/{message_id}/retry",
    response_model=MessageDetail,
    summary="Retry a failed or dead-lettered message from the step it failed in (admin)",
    responses=_RESPONSES,
)
def retry(
    message_id: uuid.UUID,
    principal: AnyPrincipal,
    state: Annotated[ApiState, Depends(api_state)],
    body: NoteBody = None,
) -> MessageDetail:
    return _act(state, principal, message_id, Action.RETRY, body)


@router.post(
    "/{message_id}/requeue",
    response_model=MessageDetail,
    summary="Make a waiting message due now, or send/deliver a sent/delivered one again (admin)",
    responses=_RESPONSES,
)
def requeue(
    message_id: uuid.UUID,
    principal: AnyPrincipal,
    state: Annotated[ApiState, Depends(api_state)],
    body: NoteBody = None,
) -> MessageDetail:
    return _act(state, principal, message_id, Action.REQUEUE, body)

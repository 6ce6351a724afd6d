"""``GET /api/v1/processes/{process_id}``: one exchange (e.g. Aussonderung 0501 -> 0504 -> ... -> 0506).

The thread is every message with that ProzessID the token may see, oldest first, and the pipeline's
reading of it (current step, awaited replies and their deadlines) -- computed from those same visible
messages, so it reveals nothing of messages the token may not see.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path
from sqlmodel import Session, col, select

from gateway.api.auth import Reader
from gateway.api.problems import NOT_FOUND, ApiProblem, error_responses
from gateway.api.state import ApiState, api_state
from gateway.api.views import ProcessView, summary_view
from gateway.api.visibility import sees_internals, visible_to
from gateway.pipeline.processes import describe_thread
from gateway.store.models import Message

router = APIRouter(prefix="/api/v1/processes", tags=["processes"])


@router.get(
    "/{process_id}",
    response_model=ProcessView,
    summary="A process: its messages in order, and what it waits for",
    responses=error_responses(),
)
def get_process(
    process_id: Annotated[str, Path(max_length=64, examples=["9fde4e7a-b41b-11ec-9225-005056871b7c"])],
    principal: Reader,
    state: Annotated[ApiState, Depends(api_state)],
) -> ProcessView:
    with Session(state.engine) as session:
        messages = list(
            session.exec(
                select(Message)
                .where(col(Message.process_id) == process_id, visible_to(principal))
                .order_by(col(Message.created_at), col(Message.id))
            ).all()
        )
        if not messages:
            raise ApiProblem(NOT_FOUND, f"no process {process_id} visible to this token")
        thread = describe_thread(session, process_id, messages, state.settings)
    return ProcessView(
        process_id=process_id,
        messages=[summary_view(m, internal=sees_internals(principal, m)) for m in messages],
        thread=thread,
    )

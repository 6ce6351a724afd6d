"""The participant directory over HTTP, for operators (admin tokens only).

Certificates can be given as PEM text only: a ``pem_file`` would make the server read a file of the
client's choosing, so it is refused here (the CLI, run by the operator on the machine, accepts files).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Path
from fastapi.responses import JSONResponse
from sqlmodel import Session

from gateway.api.auth import Admin
from gateway.api.problems import BAD_REQUEST, INVALID_REQUEST, NOT_FOUND, ApiProblem, error_responses
from gateway.api.state import ApiState, api_state
from gateway.participants.directory import (
    DirectoryError,
    ParticipantView,
    get_participant,
    list_participants,
    upsert,
    view,
)
from gateway.participants.spec import XOEV_ID_PATTERN, ParticipantSpec

router = APIRouter(prefix="/api/v1/participants", tags=["participants"])

ParticipantId = Annotated[str, Path(pattern=XOEV_ID_PATTERN, description="XÖV identifier", examples=["psw:16077000"])]


@router.get(
    "",
    response_model=list[ParticipantView],
    summary="List the directory",
    responses=error_responses(),
)
def list_directory(_: Admin, state: Annotated[ApiState, Depends(api_state)]) -> list[ParticipantView]:
    with Session(state.engine) as session:
        return [view(session, p) for p in list_participants(session)]


@router.get(
    "/{participant_id}",
    response_model=ParticipantView,
    summary="One directory entry",
    responses=error_responses(),
)
def show_participant(
    participant_id: ParticipantId, _: Admin, state: Annotated[ApiState, Depends(api_state)]
) -> ParticipantView:
    with Session(state.engine) as session:
        participant = get_participant(session, participant_id)
        if participant is None:
            raise ApiProblem(NOT_FOUND, f"no participant {participant_id} in the directory")
        return view(session, participant)


@router.put(
    "/{participant_id}",
    response_model=ParticipantView,
    summary="Create or update a directory entry (idempotent)",
    responses={
        201: {"description": "Created", "model": ParticipantView},
        **error_responses(400),
    },
)
def put_participant(
    participant_id: ParticipantId,
    spec: Annotated[ParticipantSpec, Body()],
    _: Admin,
    state: Annotated[ApiState, Depends(api_state)],
) -> JSONResponse:
    if spec.id != participant_id:
        raise ApiProblem(BAD_REQUEST, f"the body's id {spec.id} differs from the path's {participant_id}")
    if any(c.pem_file is not None for c in spec.certificates):
        raise ApiProblem(INVALID_REQUEST, "certificates must be given as pem text here, not as pem_file")
    with Session(state.engine) as session:
        try:
            result = upsert(session, spec)
            session.commit()
        except DirectoryError as exc:
            session.rollback()
            raise ApiProblem(INVALID_REQUEST, "; ".join(exc.problems)) from None
        participant = get_participant(session, participant_id)
        assert participant is not None
        body = view(session, participant).model_dump(mode="json")
    return JSONResponse(body, status_code=201 if result.outcome == "created" else 200)

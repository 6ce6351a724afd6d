"""Submitting and validating messages: the body is streamed, never held in memory.

``POST /api/v1/messages`` hands the body to the pipeline's intake as the token's participant: 201 for a
new message, 200 when the very same message had been submitted before (idempotent), and a problem
document for every refusal -- which leaves no row and no payload behind (intake guarantees that).
``POST /api/v1/validate`` runs the same checks on a staged copy that is removed afterwards.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import anyio.to_thread
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from sqlmodel import Session
from starlette.requests import ClientDisconnect

from gateway.api.auth import Submitter
from gateway.api.problems import (
    CONFLICT,
    FORGED_SENDER,
    INCOMPLETE_UPLOAD,
    INVALID_MESSAGE,
    TOO_LARGE,
    UNKNOWN_RECIPIENT,
    VERSION_NOT_ACCEPTED,
    ApiProblem,
    error_responses,
)
from gateway.api.state import ApiState, api_state
from gateway.api.upload import (
    FILENAME_HEADER,
    body_chunks,
    refuse_declared_oversize,
    requested_filename,
    upload_slots,
)
from gateway.api.views import MessageDetail, detail_view
from gateway.api.visibility import events_of
from gateway.participants.spec import XOEV_ID_PATTERN
from gateway.participants.tokens import Principal
from gateway.pipeline import directory
from gateway.pipeline.checks import ContentKind, SignatureMode, check_file, content_kind
from gateway.pipeline.errors import Conflict, ForgedSender, Invalid, TooLarge, UnknownRecipient, VersionNotAccepted
from gateway.pipeline.intake import name_package, safe_filename, submit
from gateway.store.models import Message
from gateway.store.payloads import PayloadTooLarge

router = APIRouter(tags=["messages"])

_BODY_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "The message XML or the xdomea ZIP package, as raw bytes (the kind is decided by content).",
        "content": {
            "application/xml": {"schema": {"type": "string", "format": "binary"}},
            "application/zip": {"schema": {"type": "string", "format": "binary"}},
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
        },
    },
    "parameters": [
        {
            "name": FILENAME_HEADER,
            "in": "header",
            "required": False,
            "description": "File name of the message (checked against the xdomea naming rule); "
            "percent-encoded UTF-8 allowed. Alternative: ?filename=.",
            "schema": {"type": "string"},
            "example": "9fde4e7a-b41b-11ec-9225-005056871b7c_Aussonderung.Aussonderung.0503.zip",
        }
    ],
}

RecipientQuery = Annotated[
    str | None,
    Query(
        max_length=128,
        pattern=XOEV_ID_PATTERN,
        description="The participant the message is for, when its Empfaenger names no Behoerdenkennung "
        "(real DMS exports name the Institution only); refused when the Empfaenger names another one.",
        examples=["psw:16000001"],
    ),
]

FilenameQuery = Annotated[
    str | None,
    Query(
        max_length=1024,
        description="File name of the message (checked against the naming rule); or the X-Filename header.",
    ),
]


def _report_problem(state: ApiState, exc: Invalid) -> ApiProblem:
    state.metrics.count_failures(f.rule for f in exc.report.errors)
    return ApiProblem(INVALID_MESSAGE, exc.detail, report=exc.report.to_json(), reason=exc.reason)


def _refusal(state: ApiState, exc: Exception) -> ApiProblem:
    if isinstance(exc, Invalid):
        return _report_problem(state, exc)
    if isinstance(exc, ForgedSender):
        return ApiProblem(FORGED_SENDER, exc.detail, reason=exc.reason)
    if isinstance(exc, UnknownRecipient):
        return ApiProblem(UNKNOWN_RECIPIENT, exc.detail, reason=exc.reason)
    if isinstance(exc, VersionNotAccepted):
        return ApiProblem(
            VERSION_NOT_ACCEPTED,
            exc.detail,
            reason=exc.reason,
            recipient=exc.recipient,
            version=exc.version,
            accepted_versions=exc.accepted,
        )
    if isinstance(exc, Conflict):
        return ApiProblem(CONFLICT, exc.detail, reason=exc.reason, existing=str(exc.existing_id))
    if isinstance(exc, TooLarge):
        return ApiProblem(TOO_LARGE, exc.detail, headers={"Connection": "close"}, reason=exc.reason, limit=exc.limit)
    if isinstance(exc, ClientDisconnect):
        return ApiProblem(INCOMPLETE_UPLOAD, "the client closed the connection before the body was complete")
    raise exc


def _message_response(state: ApiState, message_id: uuid.UUID, created: bool) -> JSONResponse:
    with Session(state.engine) as session:
        message = session.get(Message, message_id)
        assert message is not None
        body = detail_view(message, events_of(session, message)).model_dump(mode="json")
    headers = {"Location": f"/api/v1/messages/{message_id}"}
    return JSONResponse(body, status_code=201 if created else 200, headers=headers)


@router.post(
    "/api/v1/messages",
    status_code=201,
    response_model=MessageDetail,
    summary="Submit a message (XML or ZIP) as the token's participant",
    openapi_extra=_BODY_DOC,
    responses={
        200: {"description": "The same message was submitted before; nothing new was stored", "model": MessageDetail},
        201: {"description": "Stored; the Location header names the new message"},
        **error_responses(400, 408, 409, 413, 429, 503),
    },
)
async def submit_message(
    request: Request,
    principal: Submitter,
    state: Annotated[ApiState, Depends(api_state)],
    filename: FilenameQuery = None,
    recipient: RecipientQuery = None,
) -> JSONResponse:
    limit = state.settings.pipeline.max_submit_bytes
    refuse_declared_oversize(request, limit)
    name = requested_filename(request, filename)

    def run() -> Any:
        return submit(
            state.ctx,
            body_chunks(request),
            sender=principal.participant,
            filename=name,
            channel="rest",
            actor=principal.actor,
            recipient=recipient,
        )

    try:
        with upload_slots(request, state.settings.server).claim(principal) as limiter:
            result = await anyio.to_thread.run_sync(run, limiter=limiter)
    except (Invalid, ForgedSender, UnknownRecipient, VersionNotAccepted, Conflict, TooLarge, ClientDisconnect) as exc:
        raise _refusal(state, exc) from None
    return _message_response(state, result.message.id, result.created)


def _validate_staged(state: ApiState, principal: Principal, request: Request, name: str | None) -> dict[str, Any]:
    limit = state.settings.pipeline.max_submit_bytes
    with state.payloads.stage(body_chunks(request), limit, name=name) as staged:
        if name is None and content_kind(staged.path) is ContentKind.ZIP:
            name_package(staged, state.settings.limits.max_package_entries)  # as intake names it
        path = staged.path
        with state.ctx.session() as session:
            trust = directory.trust_directory(session, [principal.participant])
        checked = check_file(state.validator, path, name=name, directory=trust, mode=SignatureMode.IF_PRESENT)
    report = checked.report
    state.metrics.count_failures(f.rule for f in report.errors)
    return report.to_json()


@router.post(
    "/api/v1/validate",
    summary="Validate a message without storing it; answers with the validation report",
    openapi_extra=_BODY_DOC,
    responses={
        200: {
            "description": "The report (docs/validation.md); `valid` says the verdict",
            "content": {
                "application/json": {
                    "example": {
                        "path": "9fde4e7a-b41b-11ec-9225-005056871b7c_Aussonderung.Aussonderung.0503.zip",
                        "valid": True,
                        "version": "3.0.0",
                        "message_type": "0503",
                        "process_id": "9fde4e7a-b41b-11ec-9225-005056871b7c",
                        "errors": [],
                        "warnings": [],
                    }
                }
            },
        },
        **error_responses(400, 408, 413, 429, 503),
    },
)
async def validate_message(
    request: Request,
    principal: Submitter,
    state: Annotated[ApiState, Depends(api_state)],
    filename: FilenameQuery = None,
) -> JSONResponse:
    refuse_declared_oversize(request, state.settings.pipeline.max_submit_bytes)
    name = safe_filename(requested_filename(request, filename))
    try:
        with upload_slots(request, state.settings.server).claim(principal) as limiter:
            report = await anyio.to_thread.run_sync(_validate_staged, state, principal, request, name, limiter=limiter)
    except PayloadTooLarge:
        limit = state.settings.pipeline.max_submit_bytes
        raise ApiProblem(
            TOO_LARGE, f"the body exceeds the limit of {limit} bytes", headers={"Connection": "close"}, limit=limit
        ) from None
    except ClientDisconnect:
        raise ApiProblem(INCOMPLETE_UPLOAD, "the client closed the connection before the body was complete") from None
    return JSONResponse(report)

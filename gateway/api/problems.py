"""RFC 9457 problem details: the one error format of the API, for every status, including our own 500s.

Each kind of problem has a stable ``type`` URI (``urn:xoev-gateway:problem:<slug>``, listed in
docs/api.md), so that a client branches on the type, never on the wording of ``title`` or ``detail``.
When a message was refused because it is invalid, the validation report travels inside the problem as
``report`` (the same object ``xgw validate --json`` prints). Nothing about the server's internals --
stack traces, SQL, file paths -- ever reaches a client; an unexpected error is logged with the request
id and answered with that id alone (by :mod:`gateway.api.middleware`, which sees every exception).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import BaseRoute, Match

PROBLEM_MEDIA_TYPE = "application/problem+json"
TYPE_PREFIX = "urn:xoev-gateway:problem:"


@dataclass(frozen=True, slots=True)
class ProblemType:
    slug: str
    status: int
    title: str

    @property
    def uri(self) -> str:
        return TYPE_PREFIX + self.slug


def _t(slug: str, status: HTTPStatus, title: str) -> ProblemType:
    return ProblemType(slug, int(status), title)


BAD_REQUEST = _t("bad-request", HTTPStatus.BAD_REQUEST, "The request is malformed")
INVALID_CURSOR = _t("invalid-cursor", HTTPStatus.BAD_REQUEST, "The pagination cursor is not valid here")
INCOMPLETE_UPLOAD = _t("incomplete-upload", HTTPStatus.BAD_REQUEST, "The upload ended before its last byte")
UNAUTHORIZED = _t("unauthorized", HTTPStatus.UNAUTHORIZED, "A valid API token is required")
FORBIDDEN = _t("forbidden", HTTPStatus.FORBIDDEN, "The token's scopes do not allow this")
FORGED_SENDER = _t("forged-sender", HTTPStatus.FORBIDDEN, "The message names another sender than the token's")
NOT_FOUND = _t("not-found", HTTPStatus.NOT_FOUND, "Not found")
METHOD_NOT_ALLOWED = _t("method-not-allowed", HTTPStatus.METHOD_NOT_ALLOWED, "Method not allowed")
NOT_ACCEPTABLE = _t("not-acceptable", HTTPStatus.NOT_ACCEPTABLE, "No acceptable representation")
CONFLICT = _t("conflict", HTTPStatus.CONFLICT, "Another message exists under the same identity")
STATE_CONFLICT = _t("state-conflict", HTTPStatus.CONFLICT, "The message is not in a state that allows this")
TOO_LARGE = _t("payload-too-large", HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "The upload exceeds the size limit")
UNSUPPORTED_MEDIA = _t("unsupported-media-type", HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "Unsupported media type")
INVALID_MESSAGE = _t("invalid-message", HTTPStatus.UNPROCESSABLE_ENTITY, "The message is not valid")
UNKNOWN_RECIPIENT = _t(
    "unknown-recipient", HTTPStatus.UNPROCESSABLE_ENTITY, "The recipient is not in the participant directory"
)
VERSION_NOT_ACCEPTED = _t(
    "version-not-accepted", HTTPStatus.UNPROCESSABLE_ENTITY, "The recipient does not accept this xdomea version"
)
INVALID_REQUEST = _t("invalid-request", HTTPStatus.UNPROCESSABLE_ENTITY, "The request parameters are not valid")
INTERNAL_ERROR = _t("internal-error", HTTPStatus.INTERNAL_SERVER_ERROR, "Internal error")
NOT_READY = _t("not-ready", HTTPStatus.SERVICE_UNAVAILABLE, "The gateway is not ready")
UPLOAD_TIMEOUT = _t("upload-timeout", HTTPStatus.REQUEST_TIMEOUT, "The request body stalled or arrived too slowly")
TOO_MANY_UPLOADS = _t("too-many-uploads", HTTPStatus.TOO_MANY_REQUESTS, "This token has too many uploads in progress")
UPLOADS_BUSY = _t("uploads-busy", HTTPStatus.SERVICE_UNAVAILABLE, "The gateway is taking no more uploads right now")

ALL_TYPES: tuple[ProblemType, ...] = tuple(v for v in list(globals().values()) if isinstance(v, ProblemType))
_BY_STATUS: dict[int, ProblemType] = {
    400: BAD_REQUEST,
    401: UNAUTHORIZED,
    403: FORBIDDEN,
    404: NOT_FOUND,
    405: METHOD_NOT_ALLOWED,
    406: NOT_ACCEPTABLE,
    409: CONFLICT,
    413: TOO_LARGE,
    415: UNSUPPORTED_MEDIA,
    422: INVALID_REQUEST,
    500: INTERNAL_ERROR,
    503: NOT_READY,
}


class Problem(BaseModel):
    """An RFC 9457 problem document."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    "type": "urn:xoev-gateway:problem:not-found",
                    "title": "Not found",
                    "status": 404,
                    "detail": "no message 0b3c2d5e-8f1a-4c8e-9a57-1f4d6c2b9e10 visible to this token",
                    "instance": "/api/v1/messages/0b3c2d5e-8f1a-4c8e-9a57-1f4d6c2b9e10",
                    "request_id": "4f0c6a3e2b9d4f1a",
                }
            ]
        },
    )

    type: str = Field(description="URI identifying the kind of problem (stable; see docs/api.md).")
    title: str = Field(description="Short summary of the kind of problem.")
    status: int = Field(description="The HTTP status code.")
    detail: str | None = Field(None, description="What happened in this occurrence, for a person to act on.")
    instance: str | None = Field(None, description="The request path this occurrence happened at.")
    request_id: str | None = Field(None, description="The X-Request-ID of the request, for the server's logs.")
    report: dict[str, Any] | None = Field(
        None, description="The validation report (docs/validation.md) when an invalid message is the cause."
    )
    errors: list[dict[str, Any]] | None = Field(None, description="Which request parameters are wrong, and why.")


class ApiProblem(Exception):
    """Raise anywhere below a route to answer with a problem document."""

    def __init__(
        self,
        kind: ProblemType,
        detail: str | None = None,
        *,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail or kind.title)
        self.kind = kind
        self.detail = detail
        self.headers = headers or {}
        self.extra = extra


def request_id_of(request: Request) -> str | None:
    value = getattr(request.state, "request_id", None)
    return value if isinstance(value, str) else None


def problem_response(
    request: Request,
    kind: ProblemType,
    detail: str | None = None,
    *,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": kind.uri,
        "title": kind.title,
        "status": kind.status,
        "detail": detail,
        "instance": request.url.path,
        "request_id": request_id_of(request),
    }
    body.update({k: v for k, v in extra.items() if v is not None})
    return JSONResponse(body, status_code=kind.status, headers=headers, media_type=PROBLEM_MEDIA_TYPE)


def _kind_for_status(status: int) -> ProblemType:
    known = _BY_STATUS.get(status)
    if known is not None:
        return known
    phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
    return ProblemType(f"http-{status}", status, phrase)


async def _api_problem(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiProblem)
    return problem_response(request, exc.kind, exc.detail, headers=exc.headers, **exc.extra)


async def _http_exception(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    kind = _kind_for_status(exc.status_code)
    detail = exc.detail if isinstance(exc.detail, str) and exc.detail != kind.title else None
    if exc.status_code == 404 and detail == "Not Found":
        detail = f"no resource at {request.url.path}"
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        detail = f"{request.method} is not allowed on {request.url.path}"
        allowed = _allowed_methods(request)
        if allowed:
            headers["Allow"] = ", ".join(allowed)
    return problem_response(request, kind, detail, headers=headers)


def _routes_of(routes: Iterable[Any]) -> Iterator[BaseRoute]:
    for route in routes:
        included = getattr(route, "original_router", None)  # FastAPI keeps an included router as one entry
        if included is not None:
            yield from _routes_of(included.routes)
        elif isinstance(route, BaseRoute):
            yield route


def _allowed_methods(request: Request) -> list[str]:
    """Every method some route offers for this path (Starlette names only the first route that matched)."""
    methods: set[str] = set()
    scope = {**request.scope, "method": "__none__"}
    for route in _routes_of(request.app.routes):
        match, _ = route.matches(scope)
        if match is not Match.NONE:
            methods |= set(getattr(route, "methods", None) or ())
    return sorted(methods)


def _jsonable_error(item: dict[str, Any]) -> dict[str, Any]:
    return {
        "location": [str(p) for p in item.get("loc", ())],
        "message": str(item.get("msg", "")),
        "type": str(item.get("type", "")),
    }


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [_jsonable_error(e) for e in exc.errors()]
    first = errors[0] if errors else None
    detail = f"{'.'.join(first['location'])}: {first['message']}" if first else None
    return problem_response(request, INVALID_REQUEST, detail, errors=errors)


def install_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ApiProblem, _api_problem)
    app.add_exception_handler(StarletteHTTPException, _http_exception)
    app.add_exception_handler(RequestValidationError, _validation_error)


PROBLEM_SCHEMA_REF = "#/components/schemas/Problem"


def _response_doc(status: int, description: str) -> dict[str, Any]:
    example = {
        "type": _kind_for_status(status).uri,
        "title": _kind_for_status(status).title,
        "status": status,
        "detail": description,
        "instance": "/api/v1/...",
        "request_id": "4f0c6a3e2b9d4f1a8c7e6d5b4a392817",
    }
    return {
        "description": description,
        "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": PROBLEM_SCHEMA_REF}, "example": example}},
    }


_DESCRIPTIONS = {
    400: "Malformed request, invalid cursor or incomplete upload",
    401: "Missing, unknown or revoked token",
    403: "The token lacks the scope, or the message names another sender",
    404: "No such resource visible to this token",
    405: "Method not allowed on this path",
    408: "The request body stalled or arrived below the minimum rate (server.body_* settings)",
    409: "Conflict with the stored state",
    413: "Upload exceeds the size limit",
    415: "Unsupported media type",
    422: "Invalid message or request parameters",
    429: "This token has server.max_uploads_per_token uploads in progress; retry after Retry-After seconds",
    500: "Internal error (details only in the server log)",
    503: "Not ready, or server.max_uploads uploads in progress (retry after Retry-After seconds)",
}

COMMON_ERRORS = (401, 403, 404, 405, 422, 500)


def error_responses(*statuses: int, common: bool = True) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for the problem documents a route can answer with."""
    wanted: Iterable[int] = sorted({*statuses, *(COMMON_ERRORS if common else ())})
    return {status: _response_doc(status, _DESCRIPTIONS[status]) for status in wanted}

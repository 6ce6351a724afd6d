"""Liveness, readiness and metrics: what a load balancer and Prometheus ask.

``/healthz`` only says the process answers. ``/readyz`` says whether it can do its job: the database
answers, its schema is this gateway's newest, and every xdomea schema bundle matches the catalogue's
hashes; otherwise 503 with the failing checks. ``/metrics`` needs an admin token unless the setting
``api.metrics_public`` is on (for a scrape port only the monitoring system reaches).

Neither probe may wait behind the work it reports on: ``/healthz`` is answered on the event loop, and
``/readyz`` runs its checks on two threads of its own rather than anyio's shared pool, which busy
requests (XTA operations, console pages) can fill.
"""

from __future__ import annotations

from typing import Annotated

import anyio.to_thread
import sqlalchemy as sa
from anyio import CapacityLimiter
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from gateway.api.auth import bearer, check_scope, principal_from
from gateway.api.problems import NOT_READY, error_responses, problem_response
from gateway.api.state import ApiState, api_state
from gateway.api.views import Health, Readiness
from gateway.participants.tokens import Scope
from gateway.store.migrate import DatabaseVersionError, check_database
from gateway.xoev.schemas.registry import SchemaBundleError

router = APIRouter(tags=["health"])
#: readiness checks touch the database; two threads of their own keep them out of anyio's shared pool
_READINESS_THREADS = CapacityLimiter(2)


@router.get(
    "/healthz",
    response_model=Health,
    summary="Liveness: the process answers",
    responses=error_responses(500, common=False),
)
async def healthz() -> Health:
    # async on purpose: liveness must answer even when every worker thread is busy
    return Health(status="ok")


def readiness_checks(state: ApiState) -> dict[str, str]:
    checks: dict[str, str] = {}
    try:
        with state.engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
        checks["database"] = "ok"
    except sa.exc.SQLAlchemyError as exc:
        checks["database"] = f"not reachable ({exc.__class__.__name__})"
    if checks["database"] == "ok":
        try:
            status = check_database(state.engine)
            checks["migrations"] = (
                "ok" if status.up_to_date else f"schema at {status.current or 'nothing'}, needs {status.head}"
            )
        except DatabaseVersionError as exc:
            checks["migrations"] = str(exc)
        except sa.exc.SQLAlchemyError as exc:
            checks["migrations"] = f"cannot read the schema revision ({exc.__class__.__name__})"
    else:
        checks["migrations"] = "unknown (database not reachable)"
    registry = state.validator.registry
    problems = []
    for version in registry.versions:
        try:
            registry.version(version)
        except SchemaBundleError as exc:
            problems.append(str(exc))
    checks["schemas"] = "ok" if not problems else "; ".join(problems)
    return checks


@router.get(
    "/readyz",
    response_model=Readiness,
    summary="Readiness: database reachable and migrated, schema bundles verified",
    responses={
        503: {
            "description": "Not ready; the problem's `checks` says which check failed and why",
            "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
        },
        **error_responses(500, common=False),
    },
)
async def readyz(request: Request) -> Response:
    # on threads of its own (and no sync dependency, which FastAPI would run in the shared pool): a load
    # balancer must learn the truth even when the shared pool is busy
    checks = await anyio.to_thread.run_sync(readiness_checks, api_state(request), limiter=_READINESS_THREADS)
    if all(value == "ok" for value in checks.values()):
        return JSONResponse(Readiness(status="ready", checks=checks).model_dump())
    failing = ", ".join(name for name, value in checks.items() if value != "ok")
    return problem_response(request, NOT_READY, f"failing checks: {failing}", checks=checks)


def metrics_access(
    state: Annotated[ApiState, Depends(api_state)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> None:
    if not state.settings.api.metrics_public:
        check_scope(principal_from(state, credentials), Scope.ADMIN)


@router.get(
    "/metrics",
    summary="Prometheus metrics (admin token, unless api.metrics_public)",
    response_class=Response,
    dependencies=[Depends(metrics_access)],
    responses={
        200: {
            "description": "Metrics in the Prometheus text format",
            "content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}},
        },
        **error_responses(401, 403, 500, common=False),
    },
)
def metrics(state: Annotated[ApiState, Depends(api_state)]) -> Response:
    return Response(generate_latest(state.metrics.registry), media_type=CONTENT_TYPE_LATEST)

"""The FastAPI application: REST API under /api/v1, health and metrics.

:func:`create_app` builds the REST face for one pipeline context: the routes, the problem+json handlers
and the request middleware (request id, access log, HTTP metrics, last-resort 500). The same app also
carries the XTA 2 ports and the admin console; the API does not import them:
:func:`gateway.wiring.create_app` hands them in as ``extensions`` (the one place that puts the gateway
together). The OpenAPI document (``/openapi.json``, also at ``/api/v1/openapi.json``), a Swagger UI at
``/docs`` and a landing page at ``/`` are public (gateway/api/routes/home.py): they describe the API and
hold no data, while every operation they document needs a token (all but /healthz and /readyz). The
document lists every route's problem responses.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse

from gateway import __version__
from gateway.api.metrics import ApiMetrics
from gateway.api.middleware import RequestContextMiddleware
from gateway.api.problems import Problem, install_handlers
from gateway.api.routes import actions, dms_objects, health, home, messages, participants, processes, submit
from gateway.api.state import ApiState
from gateway.pipeline.context import PipelineContext

DESCRIPTION = """
The REST face of xoev-gateway: submit xdomea messages, follow them through the pipeline, download them.

Every endpoint except `/healthz` and `/readyz` needs `Authorization: Bearer <token>` (create tokens with
`xgw tokens create PARTICIPANT --scope submit,read`; `xgw serve --demo` prints one per demo participant);
in this page, **Authorize** takes it. A token sees only the messages its participant sent
or received; admin tokens (the operator's) see all. Errors are RFC 9457 `application/problem+json`.
"""


def _openapi(app: FastAPI) -> dict[str, Any]:
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(
        title="xoev-gateway API",
        version=__version__,
        description=DESCRIPTION,
        routes=app.routes,
        tags=[
            {"name": "messages", "description": "Submit, read, list and act on messages."},
            {"name": "processes", "description": "Threads of messages sharing a ProzessID."},
            {"name": "participants", "description": "The participant directory (admin)."},
            {"name": "health", "description": "Liveness, readiness, metrics."},
        ],
    )
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components["Problem"] = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    # FastAPI documents its own 422 with HTTPValidationError; ours is a problem document like every error.
    for path in schema.get("paths", {}).values():
        for operation in path.values():
            unprocessable = operation.get("responses", {}).get("422")
            if unprocessable and "application/json" in unprocessable.get("content", {}):
                unprocessable["content"].pop("application/json")
                unprocessable["content"].setdefault(
                    "application/problem+json", {"schema": {"$ref": "#/components/schemas/Problem"}}
                )
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)
    app.openapi_schema = schema
    return schema


def create_app(ctx: PipelineContext, *, extensions: Sequence[Callable[[FastAPI], None]] = ()) -> FastAPI:
    """The REST API for ``ctx``; each of ``extensions`` then adds its routes (the XTA ports, the console).

    The extensions run after the API's routes and before the request middleware, so that the middleware
    wraps everything the app serves. A whole gateway comes from :func:`gateway.wiring.create_app`.
    """
    app = FastAPI(
        title="xoev-gateway API",
        version=__version__,
        openapi_url=None,  # served by gateway/api/routes/home.py, with the Swagger UI from local files
        docs_url=None,
        redoc_url=None,
    )
    metrics = ApiMetrics(ctx.engine)
    app.state.xgw = ApiState(ctx=ctx, metrics=metrics)
    install_handlers(app)
    for module in (home, health, submit, messages, actions, processes, participants, dms_objects):
        app.include_router(module.router)
    for extend in extensions:
        extend(app)
    app.add_middleware(RequestContextMiddleware, metrics=metrics)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]

    @app.get("/api/v1/openapi.json", include_in_schema=False)
    def openapi_document() -> JSONResponse:
        return JSONResponse(app.openapi())  # where it was before /openapi.json: public as well

    return app

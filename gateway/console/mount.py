"""Mounting the console into the gateway's FastAPI app (called by :func:`gateway.wiring.create_app`)."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.staticfiles import StaticFiles
from prometheus_client import CollectorRegistry
from starlette.responses import RedirectResponse, Response

from gateway.console import health
from gateway.console.guard import ConsoleGuard
from gateway.console.metrics import ConsoleMetrics
from gateway.console.session import SessionCodec, secret_key
from gateway.console.web import (
    PREFIX,
    ConsoleForbidden,
    ConsoleNotFound,
    ConsoleState,
    CsrfFailed,
    FormRefused,
    SignInRequired,
    page,
)
from gateway.pipeline.context import PipelineContext

STATIC = Path(__file__).parent / "static"


def _error(request: Request, status: int, key: str) -> Response:
    current = page(request)
    return current.render("error.html", status=status, title=current.t(key))


def mount_console(app: FastAPI, ctx: PipelineContext, registry: CollectorRegistry) -> None:
    """The console for ``ctx`` under /console (setting ``console.enabled``); its metrics join ``registry``."""
    settings = ctx.settings
    if not settings.console.enabled:
        return
    codec = SessionCodec(secret_key(settings), settings.console.session_seconds)
    metrics = ConsoleMetrics(registry, ctx.engine, lambda: health.peers(ctx))
    app.state.xgw_console = ConsoleState(ctx=ctx, codec=codec, metrics=metrics)
    from gateway.console import routes_audit, routes_auth, routes_dashboard, routes_directory, routes_messages

    for module in (routes_auth, routes_dashboard, routes_messages, routes_directory, routes_audit):
        app.include_router(module.router)
    app.mount(f"{PREFIX}/static", StaticFiles(directory=STATIC), name="console-static")
    app.add_middleware(ConsoleGuard, prefix=PREFIX, max_form_bytes=settings.console.max_form_bytes)

    async def sign_in(request: Request, _: Exception) -> Response:
        if request.headers.get("hx-request"):
            return Response(status_code=204, headers={"HX-Redirect": f"{PREFIX}/login"})
        return RedirectResponse(f"{PREFIX}/login", status_code=303)

    async def not_found(request: Request, _: Exception) -> Response:
        return _error(request, 404, "not_found")

    async def forbidden(request: Request, _: Exception) -> Response:
        return _error(request, 403, "forbidden")

    async def form_refused(request: Request, exc: Exception) -> Response:
        status = exc.status if isinstance(exc, FormRefused) else 400
        return Response(f"{status}\n", status_code=status, media_type="text/plain")

    app.add_exception_handler(SignInRequired, sign_in)
    app.add_exception_handler(FormRefused, form_refused)
    app.add_exception_handler(ConsoleNotFound, not_found)
    app.add_exception_handler(ConsoleForbidden, forbidden)
    app.add_exception_handler(CsrfFailed, forbidden)
    if settings.console.tracing:
        from gateway.observability.tracing import instrument

        instrument(app)

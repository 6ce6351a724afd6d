"""The outermost layers of every request: body guard, request id, access log line, HTTP metrics, last-resort 500.

Written as plain ASGI rather than Starlette's ``BaseHTTPMiddleware`` so that streamed uploads and
downloads pass through untouched (no buffering, no extra task). An exception that escapes the app is
caught here, logged with its traceback and the request id, and answered with a problem document that
names only the request id -- a client never sees a stack trace. When the response had already started
(a download that failed half-way) the connection is closed, which the client sees as a truncated body.

:class:`BodyGuard` bounds how long a request body may take, because uvicorn has none: a client that
declares 5 MB and sends 1 KB would otherwise hold its upload (and the worker thread reading it) forever.
It wraps ``receive``, so every route -- REST uploads read from a worker thread, XTA bodies read on the
event loop, small JSON bodies -- gets the same timeout without knowing of it; a stalled body surfaces as
:class:`BodyTimeout`, which :class:`RequestContextMiddleware` answers with 408 and ``Connection: close``.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Any

import anyio
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.api.metrics import ApiMetrics
from gateway.api.problems import INTERNAL_ERROR, UPLOAD_TIMEOUT, problem_response
from gateway.observability.logs import request_id_var

log = logging.getLogger("gateway.api.access")
error_log = logging.getLogger("gateway.api")

REQUEST_ID_HEADER = "x-request-id"
_ACCEPTED_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def _incoming_id(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == REQUEST_ID_HEADER.encode():
            text = value.decode("latin-1")
            return text if _ACCEPTED_ID.fullmatch(text) else None
    return None


def _route_template(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"


class BodyTimeout(Exception):
    """The request body stalled (nothing for ``idle`` seconds) or fell below the minimum average rate."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class BodyGuard:
    """A request body must keep arriving: no gap longer than ``idle`` seconds, and after the first ``idle``
    seconds at least ``min_rate`` bytes per second on average (the model of Apache's mod_reqtimeout:
    every ``min_rate`` bytes buy one more second). Only the time the app spends *waiting* for the client
    counts -- a server busy with the previous chunk does not eat the client's allowance. Once the body is
    complete, ``receive`` is passed through untouched (a streaming response waits on it for the disconnect).
    """

    def __init__(self, app: ASGIApp, idle: float, min_rate: int) -> None:
        self.app = app
        self.idle = idle
        self.min_rate = min_rate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        waited = 0.0  # seconds spent waiting for the client so far
        received = 0
        complete = False
        idle, min_rate = self.idle, self.min_rate

        async def guarded() -> Message:
            nonlocal waited, received, complete
            if complete:
                return await receive()
            budget = idle
            if min_rate > 0:
                budget = min(budget, idle + received / min_rate - waited)
            started = anyio.current_time()
            with anyio.move_on_after(max(budget, 0.0)) as wait:
                message = await receive()
            waited += anyio.current_time() - started
            if wait.cancelled_caught:
                if budget >= idle:
                    raise BodyTimeout(f"no bytes of the request body for {idle:g} s ({received} bytes received)")
                raise BodyTimeout(
                    f"the request body arrived at {received / max(waited, 1e-9):.0f} bytes/s, below the minimum "
                    f"of {min_rate} bytes/s ({received} bytes in {waited:.1f} s)"
                )
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if not message.get("more_body", False):
                    complete = True
            else:
                complete = True
            return message

        await self.app(scope, guarded, send)


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _incoming_id(scope) or uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status: dict[str, Any] = {"code": 500, "started": False}

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                status["started"] = True
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != REQUEST_ID_HEADER.encode()]
                headers.append((REQUEST_ID_HEADER.encode(), request_id.encode("latin-1")))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except BodyTimeout as exc:
            error_log.warning("%s %s: %s", scope.get("method"), scope.get("path"), exc.detail)
            if not status["started"]:
                response = problem_response(Request(scope), UPLOAD_TIMEOUT, exc.detail, headers={"Connection": "close"})
                await response(scope, receive, send_with_id)
            status["code"] = UPLOAD_TIMEOUT.status
        except Exception as exc:
            error_log.error(
                "unhandled error in %s %s",
                scope.get("method"),
                scope.get("path"),
                exc_info=exc,
                extra={"request_id": request_id},
            )
            if not status["started"]:
                response = problem_response(
                    Request(scope),
                    INTERNAL_ERROR,
                    "the gateway failed to answer this request; the operator finds it in the log by request_id",
                )
                await response(scope, receive, send_with_id)
            status["code"] = 500
        finally:
            elapsed = time.perf_counter() - started
            route = _route_template(scope)
            method = str(scope.get("method", ""))
            self.metrics.observe_request(method, route, int(status["code"]), elapsed)
            log.info(
                "%s %s %s",
                method,
                scope.get("path"),
                status["code"],
                extra={
                    "request_id": request_id,
                    "method": method,
                    "path": scope.get("path"),
                    "route": route,
                    "status": status["code"],
                    "duration_ms": round(elapsed * 1000, 1),
                    "client": (scope.get("client") or ("?",))[0],
                },
            )
            request_id_var.reset(token)

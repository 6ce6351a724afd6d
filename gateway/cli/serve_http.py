"""The HTTP server's own defences for ``xgw serve``: request heads, idle connections, proxies, exposure.

uvicorn leaves several doors open that a gateway on an authority's network must close before the
application sees a byte:

* **Request heads.** The httptools parser buffers a header of any length (20 connections with a 20 MB
  header line took a server from 139 to 578 MiB), and nothing limits how long a client may take to send
  its head (a client that connects and sends one byte every few seconds holds its connection forever).
  :func:`guarded_protocol` subclasses uvicorn's protocol: a head larger than ``server.header_max_bytes``
  is answered 431 and the connection closed, and a head not complete within
  ``server.header_timeout_seconds`` of connecting (or of the previous response) closes the connection.
  The keep-alive timeout (``server.keep_alive_seconds``) closes idle connections between requests.
* **Forwarded headers.** uvicorn believes ``X-Forwarded-For`` from 127.0.0.1 by default, so a local
  caller could claim to be a trusted proxy and present any participant's certificate in the proxy
  header. Here forwarded headers are off unless ``server.forwarded_allow_ips`` names the proxies, and
  the real peer address is kept in the scope (:data:`~gateway.transport.xta.identity.REAL_PEER`) so that
  the XTA identity check never relies on a rewritten one.
* **Request bodies.** A stalled or trickling body is cut off by
  :class:`~gateway.api.middleware.BodyGuard`, the ASGI layer wrapped around the app here, because
  uvicorn has no body timeout at all.
* **Exposure.** Plain HTTP on a non-loopback address is refused unless ``--allow-plain-http`` says the
  operator means it (a TLS-terminating proxy in front), and development switches that trust loopback
  callers are announced loudly at start-up.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
from dataclasses import dataclass
from typing import Any, cast

import click
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn._types import ASGI3Application
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from gateway.api.middleware import BodyGuard
from gateway.config import Settings
from gateway.transport.xta.identity import REAL_PEER

try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
except ImportError:  # pragma: no cover - httptools comes with uvicorn[standard]
    HttpToolsProtocol = None  # type: ignore[assignment,misc]

log = logging.getLogger("gateway.serve")

allow_plain_http_option = click.option(
    "--allow-plain-http",
    is_flag=True,
    help="Serve plain HTTP on a non-loopback address (only behind a TLS-terminating proxy; refused otherwise).",
)

_LOOPBACK_NAMES = {"localhost"}


def _is_loopback_host(host: str) -> bool:
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _loud(message: str) -> None:
    """A start-up warning an operator cannot miss: in the log and on the terminal."""
    log.warning(message)
    click.echo(f"WARNING: {message}", err=True)


def check_exposure(settings: Settings, host: str, tls: bool, allow_plain_http: bool) -> None:
    """Refuse plain HTTP beyond loopback unless allowed; announce every switch that weakens identity."""
    if not tls and not _is_loopback_host(host):
        if not allow_plain_http:
            raise click.UsageError(
                f"refusing to serve plain HTTP on {host}: tokens and messages would cross the network unencrypted. "
                "Serve HTTPS with --tls-cert/--tls-key, or pass --allow-plain-http when a TLS-terminating proxy "
                "is the only client that can reach this address."
            )
        _loud(f"serving plain HTTP on {host} (--allow-plain-http): only a TLS-terminating proxy may reach it")
    if settings.xta_server.dev_trust_loopback:
        _loud(
            "xta_server.dev_trust_loopback is on: every caller on 127.0.0.0/8 or ::1 acts for any XTA account "
            "without a certificate. Development only; never in production."
        )
    if settings.server.forwarded_allow_ips:
        _loud(f"X-Forwarded-For/-Proto are believed from {', '.join(settings.server.forwarded_allow_ips)}")


class _RealPeer:
    """Keeps the TCP peer in the scope before forwarded headers may rewrite ``client``."""

    __slots__ = ("app",)

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if REAL_PEER not in scope:
            scope[REAL_PEER] = scope.get("client")
        await self.app(scope, receive, send)


def wrap_app(app: ASGIApp, settings: Settings) -> ASGIApp:
    """The app as the server runs it: body guard inside, forwarded headers (if configured) and real peer outside."""
    server = settings.server
    guarded: ASGIApp = BodyGuard(app, server.body_idle_seconds, server.body_min_bytes_per_second)
    if server.forwarded_allow_ips:
        proxied = ProxyHeadersMiddleware(cast(ASGI3Application, guarded), list(server.forwarded_allow_ips))
        guarded = cast(ASGIApp, proxied)
    return _RealPeer(guarded)


_431_BODY = json.dumps(
    {
        "type": "urn:xoev-gateway:problem:header-too-large",
        "title": "The request head is too large",
        "status": 431,
        "detail": "the request line and headers exceed the server's limit",
    }
).encode()
_431 = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
    b"content-type: application/problem+json\r\n"
    b"content-length: " + str(len(_431_BODY)).encode() + b"\r\nconnection: close\r\n\r\n" + _431_BODY
)


class _HeadTooLarge(Exception):
    """Raised from a parser callback to stop parsing a head that was already refused."""


class _HeadGuard:
    """Mixin for uvicorn's httptools protocol: a request head is bounded in bytes and in time.

    Two counts bound the size. httptools buffers a header field internally until it ends, so while a
    head is incomplete the bytes are counted as they arrive (``data_received``); a chunk in which a new
    head starts after the end of a body is not counted (its share is unknown), which bounds the buffered
    head by the limit plus one socket read. A head that arrived complete in one read is measured from
    its parsed parts when it completes, before the application sees it.
    """

    head_max_bytes: int = 64 * 1024
    head_timeout: float = 10.0

    # provided by HttpToolsProtocol
    loop: asyncio.AbstractEventLoop
    transport: asyncio.Transport
    pipeline: Any
    url: bytes
    headers: list[tuple[bytes, bytes]]

    def connection_made(self, transport: asyncio.Transport) -> None:
        self._head_bytes = 0
        self._in_head = True
        self._refused = False
        self._head_timer: asyncio.TimerHandle | None = None
        super().connection_made(transport)  # type: ignore[misc]
        self._arm_head_timer()

    def _arm_head_timer(self) -> None:
        self._cancel_head_timer()
        self._head_timer = self.loop.call_later(self.head_timeout, self._head_timed_out)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if not self.transport.is_closing():
            self.transport.close()

    def _refuse_head(self) -> None:
        self._refused = True
        self._cancel_head_timer()
        self.transport.pause_reading()
        self.transport.write(_431)
        self.transport.close()

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        counted = self._in_head
        super().data_received(data)  # type: ignore[misc]
        if counted and self._in_head and not self.transport.is_closing():
            self._head_bytes += len(data)
            if self._head_bytes > self.head_max_bytes:
                self._refuse_head()

    def send_400_response(self, msg: str) -> None:
        if not self._refused:  # the parser error raised to stop a refused head: already answered 431
            super().send_400_response(msg)  # type: ignore[misc]

    def on_message_begin(self) -> None:
        self._in_head = True
        super().on_message_begin()  # type: ignore[misc]

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._head_bytes = 0
        self._cancel_head_timer()
        size = len(self.url) + sum(len(name) + len(value) + 4 for name, value in self.headers)
        if size > self.head_max_bytes:
            self._refuse_head()
            raise _HeadTooLarge
        super().on_headers_complete()  # type: ignore[misc]

    def on_message_complete(self) -> None:
        super().on_message_complete()  # type: ignore[misc]
        self._in_head = True

    def on_response_complete(self) -> None:
        waiting = bool(self.pipeline)
        super().on_response_complete()  # type: ignore[misc]
        if not waiting and not self.transport.is_closing():
            self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        super().connection_lost(exc)  # type: ignore[misc]


def guarded_protocol(base: type[asyncio.Protocol], max_bytes: int, timeout: float) -> type[asyncio.Protocol]:
    """``base`` (uvicorn's httptools protocol or a subclass, e.g. the TLS one) with the head guard."""
    attributes = {"head_max_bytes": max_bytes, "head_timeout": timeout}
    return cast(type[asyncio.Protocol], type(f"Guarded{base.__name__}", (_HeadGuard, base), attributes))


@dataclass(frozen=True, slots=True)
class HttpServer:
    """What ``xgw serve`` hands to uvicorn beyond host and port."""

    settings: Settings

    def uvicorn_kwargs(self, tls: dict[str, Any]) -> dict[str, Any]:
        """uvicorn's keyword arguments: ``tls`` (from serve_tls) plus the limits of ``settings.server``."""
        server = self.settings.server
        kwargs: dict[str, Any] = {
            **tls,
            "proxy_headers": False,  # applied in wrap_app, from the configured proxies only
            "forwarded_allow_ips": [],
            "timeout_keep_alive": server.keep_alive_seconds,
            "h11_max_incomplete_event_size": server.header_max_bytes,
        }
        base = tls.get("http") or HttpToolsProtocol
        if isinstance(base, type) and HttpToolsProtocol is not None and issubclass(base, HttpToolsProtocol):
            kwargs["http"] = guarded_protocol(base, server.header_max_bytes, server.header_timeout_seconds)
        else:  # pragma: no cover - without httptools, h11 bounds the head size but not its time
            log.warning("httptools is missing: request heads are bounded in size (h11) but not in time")
        return kwargs

    def app(self, app: ASGIApp) -> ASGIApp:
        return wrap_app(app, self.settings)

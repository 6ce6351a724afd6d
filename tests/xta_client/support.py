"""Test support for the XTA client: our XTA server on loopback, and servers that misbehave on purpose.

:class:`Unreliable` is a small ASGI app in front of the real XTA server. Each POST takes the next
behaviour from its script (then passes through): answer slowly, answer garbage or a fault, lose the
reply of a request the server did process, or cut an MTOM reply short. It counts the requests it saw,
so tests can tell "retried" from "given up at once" without looking at clocks.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn

from gateway.config import Settings, XtaClient, XtaServer
from gateway.transport.xta.backend import Content, ContentInfo, KeyCode, MessageMeta, PartyId
from gateway.transport.xta.errors import ErrorCode, PermissionDenied, TechnicalProblem, XtaError
from gateway.transport.xta.faults import fault_envelope
from tests.xta.support import AUTHOR, READER, SERVICE, SHARED

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]
Behaviour = Callable[[App, Scope, Receive, Send], Awaitable[None]]

__all__ = ["AUTHOR", "READER", "SERVICE", "SHARED"]


def client_settings(tmp_path: Path, **client: Any) -> Settings:
    """Settings with fractions of a second for every clock and no real back-off."""
    values: dict[str, Any] = {
        "connect_timeout": 0.5,
        "read_timeout": 0.4,
        "operation_timeout": 3.0,
        "max_attempts": 3,
        "backoff_base_seconds": 0.01,
        "backoff_max_seconds": 0.02,
        "breaker_threshold": 100,
        "breaker_cooldown_seconds": 30.0,
        "spool_dir": tmp_path / "client-spool",
        **client,
    }
    server = XtaServer(dev_trust_loopback=True, spool_dir=tmp_path / "server-spool")
    return Settings(
        schema_dir=SHARED, data_dir=tmp_path / "data", xta_server=server, xta_client=XtaClient.model_validate(values)
    )


def meta(message_id: str = "", author: PartyId = AUTHOR, reader: PartyId = READER) -> MessageMeta:
    return MessageMeta(
        message_id=message_id,
        author=author,
        reader=reader,
        service=SERVICE,
        business_scenario=KeyCode("XDOMEAGAD_DATA", "urn:de:dataport:codeliste:business.scenario", "1"),
        message_type=KeyCode("0501", "urn:de:payloadschema:elementname", "1.0"),
        payload_schema=SERVICE,
    )


def content(path: Path, data: bytes, kind: str = "application/xml") -> Content:
    path.write_bytes(data)
    return Content(ContentInfo(kind, filename=path.name), path, len(data))


# -- servers ----------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def serve_on(app: App, port: int = 0, **ssl: Any) -> Iterator[str]:
    """uvicorn on 127.0.0.1 (optionally TLS) in a thread; yields the XTAService base URL."""
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="critical", lifespan="off", **ssl)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(1000):
        if server.started or not thread.is_alive():
            break
        time.sleep(0.01)
    assert server.started, "uvicorn did not start"
    bound = server.servers[0].sockets[0].getsockname()[1]
    scheme = "https" if ssl else "http"
    try:
        yield f"{scheme}://127.0.0.1:{bound}/services/XTAService"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


# -- misbehaviour -----------------------------------------------------------------------------------------


async def _drain(receive: Receive) -> bytes:
    body = bytearray()
    while True:
        event = await receive()
        body += event.get("body", b"")
        if not event.get("more_body"):
            return bytes(body)


async def _answer(send: Send, status: int, content_type: str, body: bytes) -> None:
    headers = [(b"content-type", content_type.encode()), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _captured(inner: App, scope: Scope, receive: Receive) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """Run the real server and keep its whole reply instead of sending it."""
    status = 0
    headers: list[tuple[bytes, bytes]] = []
    body = bytearray()

    async def keep(event: dict[str, Any]) -> None:
        nonlocal status, headers
        if event["type"] == "http.response.start":
            status, headers = event["status"], list(event.get("headers", []))
        elif event["type"] == "http.response.body":
            body.extend(event.get("body", b""))

    await inner(scope, receive, keep)
    return status, headers, bytes(body)


def slow(seconds: float) -> Behaviour:
    """Say nothing for ``seconds``, then answer properly (too late for the client's read timeout)."""

    async def behave(inner: App, scope: Scope, receive: Receive, send: Send) -> None:
        await asyncio.sleep(seconds)
        await inner(scope, receive, send)

    return behave


def answer(status: int, content_type: str, body: bytes) -> Behaviour:
    async def behave(inner: App, scope: Scope, receive: Receive, send: Send) -> None:
        await _drain(receive)
        await _answer(send, status, content_type, body)

    return behave


def fault(error: XtaError) -> Behaviour:
    return answer(500, "application/soap+xml; charset=utf-8", fault_envelope(error, None, "urn:uuid:any"))


TECHNICAL = fault(TechnicalProblem(ErrorCode.INTERNAL_ERROR, "database restarting"))
PERMISSION = fault(PermissionDenied(ErrorCode.ACCOUNT_LOCKED, "locked by the operator"))
HTML_502 = answer(502, "text/html", b"<html><body><h1>502 Bad Gateway</h1></body></html>")
NOT_XML = answer(200, "application/soap+xml", b"this is not XML at all")
NOT_FOUND = answer(404, "text/html", b"<html><body>Not Found</body></html>")


async def lose_reply(inner: App, scope: Scope, receive: Receive, send: Send) -> None:
    """The server processes the request, but its reply is lost on the way (a proxy answers 502)."""
    await _captured(inner, scope, receive)
    await _answer(send, 502, "text/html", b"<html>upstream connection reset</html>")


def truncate_reply(keep: float) -> Behaviour:
    """The real reply, cut to a fraction of its body and sent with a matching Content-Length."""

    async def behave(inner: App, scope: Scope, receive: Receive, send: Send) -> None:
        status, headers, body = await _captured(inner, scope, receive)
        cut = body[: int(len(body) * keep)]
        kept = [(k, v) for k, v in headers if k.lower() != b"content-length"]
        kept.append((b"content-length", str(len(cut)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": kept})
        await send({"type": "http.response.body", "body": cut})

    return behave


@dataclass
class Unreliable:
    """An ASGI app in front of ``inner`` that misbehaves as scripted, one behaviour per POST."""

    inner: App
    script: list[Behaviour] = field(default_factory=list)
    posts: int = 0
    actions: list[str] = field(default_factory=list)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.inner(scope, receive, send)
            return
        self.posts += 1
        headers = dict(scope.get("headers", []))
        self.actions.append(headers.get(b"soapaction", b"").decode().strip('"').rsplit("/", 1)[-1])
        behaviour = self.script.pop(0) if self.script else None
        if behaviour is None:
            await self.inner(scope, receive, send)
        else:
            await behaviour(self.inner, scope, receive, send)

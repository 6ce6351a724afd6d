"""HTTPS with client certificates for ``xgw serve``: uvicorn's TLS plus the ASGI ``tls`` extension.

uvicorn verifies client certificates (``ssl_cert_reqs``/``ssl_ca_certs``) but does not tell the
application which certificate the client presented, and XTA accounts are bound to exactly that
certificate. The HTTP protocol classes below are uvicorn's own with one addition: once the TLS
handshake is done, each connection's ASGI scopes carry the ``tls`` extension built from the
connection's SSL object (:func:`gateway.transport.xta.identity.tls_extension`). Nothing else changes,
so the gateway needs no TLS-terminating proxy to bind certificates to participants.
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, cast

from uvicorn._types import ASGI3Application, ASGIReceiveCallable, ASGISendCallable, Scope
from uvicorn.protocols.http.h11_impl import H11Protocol

from gateway.transport.xta.identity import tls_extension

try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
except ImportError:  # pragma: no cover - httptools comes with uvicorn[standard]
    HttpToolsProtocol = None  # type: ignore[assignment,misc]


class ClientAuth(StrEnum):
    """required: no certificate, no connection. optional: the REST API may be used with tokens alone,
    and the XTA ports still refuse callers without a pinned certificate (9014)."""

    REQUIRED = "required"
    OPTIONAL = "optional"


@dataclass(frozen=True, slots=True)
class TlsOptions:
    cert: Path
    key: Path
    client_ca: Path | None = None
    client_auth: ClientAuth = ClientAuth.REQUIRED

    def uvicorn_kwargs(self) -> dict[str, Any]:
        for path in (self.cert, self.key, self.client_ca):
            if path is not None and not path.is_file():
                raise FileNotFoundError(f"{path} does not exist")
        kwargs: dict[str, Any] = {"ssl_certfile": str(self.cert), "ssl_keyfile": str(self.key)}
        if self.client_ca is not None:
            kwargs["ssl_ca_certs"] = str(self.client_ca)
            kwargs["ssl_cert_reqs"] = (
                ssl.CERT_REQUIRED if self.client_auth is ClientAuth.REQUIRED else ssl.CERT_OPTIONAL
            )
            kwargs["http"] = protocol_class()
        return kwargs


class _WithTls:
    """The app, with the connection's ``tls`` extension added to every scope it is called with."""

    __slots__ = ("app", "extension")

    def __init__(self, app: ASGI3Application, extension: dict[str, Any]) -> None:
        self.app = app
        self.extension = extension

    async def __call__(self, scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
        raw = cast(dict[str, Any], scope)
        extensions = raw.get("extensions")
        if extensions is None:
            extensions = raw["extensions"] = {}
        extensions["tls"] = self.extension
        await self.app(scope, receive, send)


def _wrap(protocol: Any, transport: asyncio.BaseTransport) -> None:
    ssl_object = transport.get_extra_info("ssl_object")
    if ssl_object is not None:
        protocol.app = _WithTls(protocol.app, tls_extension(ssl_object))


class TlsH11Protocol(H11Protocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        _wrap(self, transport)


if HttpToolsProtocol is not None:

    class TlsHttpToolsProtocol(HttpToolsProtocol):
        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            _wrap(self, transport)


def protocol_class() -> type[asyncio.Protocol]:
    """uvicorn's faster parser when it is installed (as ``http="auto"`` would pick), else h11."""
    return TlsHttpToolsProtocol if HttpToolsProtocol is not None else TlsH11Protocol

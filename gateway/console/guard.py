"""The console's outer guard: a small, urlencoded-only request body, and the security headers of every response.

Written as plain ASGI in front of everything under ``/console`` so that nothing of the console can forget
either. A console form is a handful of short fields, so its body is refused before the app (and any form
parser, which would spool a multipart upload to a temporary file) sees it: ``415`` for anything but
``application/x-www-form-urlencoded``, ``413`` when ``Content-Length`` announces more than the cap or
when more arrives while it is received (chunked bodies are counted too). What is accepted is held in
memory, at most the cap per request, and replayed to the app.

The headers are set here rather than per page so that redirects, error pages and static files carry
them as well: a Content-Security-Policy without inline script or style (htmx is loaded from
``/console/static`` and told not to eval or inject styles), no framing, no sniffing, no referrer,
``Cache-Control: no-store`` on everything but the static files, and HSTS when served over https.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.console.i18n import pick_language, translate

FORM_TYPE = "application/x-www-form-urlencoded"
BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
HSTS = "max-age=31536000"

#: set on every response under the prefix, replacing what a route may have set
SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
)


class ClientGone(Exception):
    """The client disconnected before its body was complete."""


def media_type(value: str) -> str:
    return value.split(";", 1)[0].strip().lower()


class ConsoleGuard:
    def __init__(self, app: ASGIApp, *, prefix: str, max_form_bytes: int) -> None:
        self.app = app
        self.prefix = prefix
        self.static = f"{prefix}/static/"
        self.max_form_bytes = max_form_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if not (path == self.prefix or path.startswith(self.prefix + "/")):
            await self.app(scope, receive, send)
            return
        send = self._headers(send, https=scope.get("scheme") == "https", static=path.startswith(self.static))
        if scope["method"] in BODY_METHODS:
            refused = self._refused_by_headers(scope)
            if refused is None:
                try:
                    body = await self._receive(receive)
                except ClientGone:
                    return  # nobody to answer, and a half-received form must not reach a route
                if body is None:
                    refused = (413, "guard_too_large")
                else:
                    receive = _replay(body, receive)
            if refused is not None:
                status, key = refused
                lang = pick_language(Request(scope))  # headers, cookie and query only: the body is never read
                await _answer(send, status, translate(lang, key).format(kib=self.max_form_bytes // 1024), lang)
                return
        await self.app(scope, receive, send)

    def _headers(self, send: Send, *, https: bool, static: bool) -> Send:
        extra = list(SECURITY_HEADERS)
        if not static:  # static files keep StaticFiles' own validators and caching
            extra.append((b"cache-control", b"no-store"))
        if https:
            extra.append((b"strict-transport-security", HSTS.encode()))
        replaced = {name for name, _ in extra}

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                kept = [(k, v) for k, v in message.get("headers", ()) if k.lower() not in replaced]
                message = {**message, "headers": kept + extra}
            await send(message)

        return sending

    def _refused_by_headers(self, scope: Scope) -> tuple[int, str] | None:
        """The status and catalogue key of a refusal the headers alone justify, or None."""
        length: int | None = None
        kind = ""
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    length = int(value)
                except ValueError:
                    return (400, "guard_bad_length")
            elif name == b"content-type":
                kind = media_type(value.decode("latin-1"))
        if kind and kind != FORM_TYPE:
            return (415, "guard_form_only")
        if length is not None and length > self.max_form_bytes:
            return (413, "guard_too_large")
        return None

    async def _receive(self, receive: Receive) -> bytes | None:
        """The whole body, or None as soon as more than the cap has arrived (the rest is never read)."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise ClientGone
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_form_bytes:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # after the body: wait for the disconnect as the server would tell it

    return replay


async def _answer(send: Send, status: int, text: str, lang: str) -> None:
    body = f"{status} {text}\n".encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-language", lang.encode()),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})

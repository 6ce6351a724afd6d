"""Request bodies as a stream of chunks for the synchronous pipeline, without reading them into memory.

The pipeline's intake is synchronous (it runs in a worker thread because validation and the database
block); the request body is an async stream on the event loop. :func:`body_chunks` bridges the two:
the worker thread pulls one chunk at a time from the event loop, so at most one chunk is in memory and a
client that sends more than the limit is cut off as soon as it crosses it. A client that goes away
mid-upload surfaces as :class:`starlette.requests.ClientDisconnect` in the thread, which unwinds the
staging area like any other failure.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from urllib.parse import unquote

import anyio.from_thread
from fastapi import Request

from gateway.api.problems import BAD_REQUEST, TOO_LARGE, ApiProblem

FILENAME_HEADER = "X-Filename"


async def _next_chunk(stream: AsyncIterator[bytes]) -> bytes | None:
    try:
        return await stream.__anext__()
    except StopAsyncIteration:
        return None


def body_chunks(request: Request) -> Iterator[bytes]:
    """The request body, chunk by chunk; call only from a worker thread started by anyio."""
    stream = request.stream()
    while True:
        chunk = anyio.from_thread.run(_next_chunk, stream)
        if chunk is None:
            return
        if chunk:
            yield chunk


def refuse_declared_oversize(request: Request, limit: int) -> None:
    """413 before reading a byte when Content-Length already says the body is too large."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise ApiProblem(
            TOO_LARGE,
            f"the body of {declared} bytes exceeds the limit of {limit} bytes",
            headers={"Connection": "close"},
            limit=limit,
        )


def requested_filename(request: Request, query_value: str | None) -> str | None:
    """The file name from ``?filename=`` or the ``X-Filename`` header (percent-encoded UTF-8 allowed)."""
    raw = query_value or request.headers.get(FILENAME_HEADER)
    if not raw:
        return None
    if "%" not in raw:
        return raw
    try:
        return unquote(raw, encoding="utf-8", errors="strict")
    except UnicodeDecodeError:
        raise ApiProblem(BAD_REQUEST, f"the file name {raw!r} is not percent-encoded UTF-8") from None

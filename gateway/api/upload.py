"""Request bodies as a stream of chunks for the synchronous pipeline, without reading them into memory.

The pipeline's intake is synchronous (it runs in a worker thread because validation and the database
block); the request body is an async stream on the event loop. :func:`body_chunks` bridges the two:
the worker thread pulls one chunk at a time from the event loop, so at most one chunk is in memory and a
client that sends more than the limit is cut off as soon as it crosses it. A client that goes away
mid-upload surfaces as :class:`starlette.requests.ClientDisconnect` in the thread, which unwinds the
staging area like any other failure.

Each upload holds a worker thread for as long as its body takes, so uploads get threads of their own:
:class:`UploadSlots` admits at most ``server.max_uploads`` at once (and ``server.max_uploads_per_token``
per token) and runs them on a capacity limiter of that size, apart from anyio's default pool. One upload
too many is answered at once -- 429 for the token, 503 for the server, both with ``Retry-After`` -- rather
than queued, and health, readiness, the console and the rest of the API keep the default pool to themselves.
A stalled body is ended by :class:`gateway.api.middleware.BodyGuard`, which frees the slot.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from urllib.parse import unquote

import anyio.from_thread
from anyio import CapacityLimiter
from fastapi import Request

from gateway.api.problems import BAD_REQUEST, TOO_LARGE, TOO_MANY_UPLOADS, UPLOADS_BUSY, ApiProblem
from gateway.config import Server
from gateway.participants.tokens import Principal

FILENAME_HEADER = "X-Filename"
#: seconds a refused upload is told to wait (the body timeout frees a stalled slot within about that time)
RETRY_AFTER_SECONDS = 5


class UploadSlots:
    """How many uploads are in progress, in total and per token; all calls happen on the event loop."""

    def __init__(self, total: int, per_token: int) -> None:
        self.total = max(total, 1)
        self.per_token = max(per_token, 1)
        self.active = 0
        self.by_token: Counter[int] = Counter()
        self._limiter: CapacityLimiter | None = None

    @property
    def limiter(self) -> CapacityLimiter:
        """The uploads' own worker threads (created on first use, inside the event loop)."""
        if self._limiter is None:
            self._limiter = CapacityLimiter(self.total)
        return self._limiter

    @contextmanager
    def claim(self, principal: Principal) -> Iterator[CapacityLimiter]:
        """A slot for one upload of ``principal``'s token, or 429/503 at once."""
        retry = {"Retry-After": str(RETRY_AFTER_SECONDS), "Connection": "close"}
        token = principal.token_id
        if self.by_token[token] >= self.per_token:
            raise ApiProblem(
                TOO_MANY_UPLOADS,
                f"this token has {self.by_token[token]} uploads in progress, the most allowed",
                headers=retry,
                limit=self.per_token,
            )
        if self.active >= self.total:
            raise ApiProblem(
                UPLOADS_BUSY,
                f"{self.active} uploads are in progress, the most allowed",
                headers=retry,
                limit=self.total,
            )
        self.active += 1
        self.by_token[token] += 1
        try:
            yield self.limiter
        finally:
            self.active -= 1
            self.by_token[token] -= 1
            if self.by_token[token] <= 0:
                del self.by_token[token]


def upload_slots(request: Request, server: Server) -> UploadSlots:
    """The app's upload slots, made on first use from the ``server`` settings."""
    slots = getattr(request.app.state, "xgw_uploads", None)
    if not isinstance(slots, UploadSlots):
        slots = UploadSlots(server.max_uploads, server.max_uploads_per_token)
        request.app.state.xgw_uploads = slots
    return slots


BATCH_BYTES = 1024 * 1024
"""How much of the body one hop from the worker thread to the event loop brings back (issue 11)."""


async def _next_batch(stream: AsyncIterator[bytes]) -> list[bytes] | None:
    """The next chunks of the body, about :data:`BATCH_BYTES` together; None at its end.

    uvicorn hands the body over in pieces of 64 KiB or less; one thread hop per piece cost more than
    hashing and writing the piece (a 1 GiB upload made ~16,000 hops). Collecting up to 1 MiB per hop keeps
    the memory bound (one batch plus one piece) and makes the hops negligible.
    """
    batch: list[bytes] = []
    size = 0
    while size < BATCH_BYTES:
        try:
            chunk = await stream.__anext__()
        except StopAsyncIteration:
            break
        if chunk:
            batch.append(chunk)
            size += len(chunk)
    return batch or None


async def _prefetch(stream: AsyncIterator[bytes]) -> asyncio.Task[list[bytes] | None]:
    """Start reading the next batch on the event loop while the worker thread handles the current one."""
    return asyncio.ensure_future(_next_batch(stream))


async def _result(task: asyncio.Task[list[bytes] | None]) -> list[bytes] | None:
    return await task


def body_chunks(request: Request) -> Iterator[bytes]:
    """The request body, chunk by chunk; call only from a worker thread started by anyio.

    The next batch is received on the event loop while this thread hashes and writes the current one, so
    receiving and storing overlap; at most two batches are in memory.
    """
    stream = request.stream()
    task: asyncio.Task[list[bytes] | None] | None = anyio.from_thread.run(_prefetch, stream)
    try:
        while task is not None:
            batch = anyio.from_thread.run(_result, task)
            task = None
            if batch is None:
                return
            task = anyio.from_thread.run(_prefetch, stream)
            yield from batch
    finally:
        if task is not None:  # the consumer stopped early (a limit, an error): stop reading for it
            anyio.from_thread.run_sync(task.cancel)


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

"""Per-request spools: where incoming content goes so that memory never holds it.

Every attachment and every decoded inline base64 item of a request becomes one file below the configured
spool root (mode 0700, created on first use), counted against the request's byte budget. Each file is also
bounded on its own (the largest message the gateway would take, ``pipeline.max_submit_bytes``, when smaller
than the request limit): a content item that cannot be accepted is refused with 9023 while it streams in,
instead of being spooled in full (up to the request limit, gigabytes) only to be refused after. The files
are removed when the request is done, whatever happened -- the backend moves the files it keeps.

A spool touches the file system only when a file is asked for: a request (or a client's reply) without
content costs no system call, and one with content costs the file's creation and removal, not a
directory's as well. Directory creation and removal are journalled metadata writes that cost milliseconds
on a busy disk (issue 11: ``mkdtemp`` and ``rmtree`` per request were a third of a small sendMessage's
client time). Files are created with ``O_EXCL`` and mode 0600 under unguessable names.
"""

from __future__ import annotations

import io
import itertools
import os
import secrets
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

from gateway.transport.xta.errors import ErrorCode, ParameterInvalid

FILE_MODE = 0o600


class _BoundedFile(io.FileIO):
    """A spool file that refuses (9023) to grow beyond its limit, checked at every write."""

    def __init__(self, path: Path, max_bytes: int) -> None:
        super().__init__(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE), "wb", closefd=True)
        self.max_bytes = max_bytes
        self.written = 0

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        self.written += memoryview(data).nbytes
        if self.written > self.max_bytes:
            raise ParameterInvalid(
                ErrorCode.MESSAGE_TOO_LARGE, f"a content item exceeds the limit of {self.max_bytes} bytes"
            )
        written = super().write(data)
        return 0 if written is None else written


class Spool:
    """A request's spool files and byte budget; use as a context manager (or call :meth:`cleanup`).

    ``max_bytes`` bounds the whole request, ``max_file_bytes`` (default: the same) each spooled item.
    """

    def __init__(self, root: Path, max_bytes: int, max_file_bytes: int | None = None) -> None:
        self.root = root
        self.max_bytes = max_bytes
        self.max_file_bytes = max_bytes if max_file_bytes is None else min(max_bytes, max_file_bytes)
        self.used = 0
        self.files: list[Path] = []
        self._prefix = f"xta-{secrets.token_hex(8)}-"
        self._names = itertools.count()

    def new_file(self) -> tuple[Path, BinaryIO]:
        """A fresh, empty file in the spool, open for writing, refusing to grow beyond ``max_file_bytes``."""
        if not self.files:
            self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = self.root / f"{self._prefix}{next(self._names):05d}.part"
        handle = _BoundedFile(path, self.max_file_bytes)
        self.files.append(path)
        return path, handle

    def charge(self, amount: int) -> None:
        """Count ``amount`` bytes against the budget; 9023 as soon as it is exceeded."""
        self.used += amount
        if self.used > self.max_bytes:
            raise ParameterInvalid(
                ErrorCode.MESSAGE_TOO_LARGE, f"the request exceeds the limit of {self.max_bytes} bytes"
            )

    def cleanup(self) -> None:
        """Remove every file of this spool that is still there (a backend may have moved some)."""
        while self.files:
            self.files.pop().unlink(missing_ok=True)

    def __enter__(self) -> Spool:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.cleanup()

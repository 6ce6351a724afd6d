"""Per-request spool directories: where incoming content goes so that memory never holds it.

Each request gets a private directory (mode 0700) below the configured spool root; every attachment and
every decoded inline base64 item becomes one file in it, counted against the request's byte budget. Each
file is also bounded on its own (the largest message the gateway would take, ``pipeline.max_submit_bytes``,
when smaller than the request limit): a content item that cannot be accepted is refused with 9023 while it
streams in, instead of being spooled in full (up to the request limit, gigabytes) only to be refused after.
The directory is removed when the request is done, whatever happened -- the backend moves the files it keeps.
"""

from __future__ import annotations

import io
import itertools
import shutil
import tempfile
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

from gateway.transport.xta.errors import ErrorCode, ParameterInvalid


class _BoundedFile(io.FileIO):
    """A spool file that refuses (9023) to grow beyond its limit, checked at every write."""

    def __init__(self, path: Path, max_bytes: int) -> None:
        super().__init__(path, "xb")
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
    """A request's spool directory and byte budget; use as a context manager.

    ``max_bytes`` bounds the whole request, ``max_file_bytes`` (default: the same) each spooled item.
    """

    def __init__(self, root: Path, max_bytes: int, max_file_bytes: int | None = None) -> None:
        root.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.dir = Path(tempfile.mkdtemp(prefix="xta-", dir=root))
        self.max_bytes = max_bytes
        self.max_file_bytes = max_bytes if max_file_bytes is None else min(max_bytes, max_file_bytes)
        self.used = 0
        self._names = itertools.count()

    def new_file(self) -> tuple[Path, BinaryIO]:
        """A fresh, empty file in the spool, open for writing, refusing to grow beyond ``max_file_bytes``."""
        path = self.dir / f"{next(self._names):05d}.part"
        return path, _BoundedFile(path, self.max_file_bytes)

    def charge(self, amount: int) -> None:
        """Count ``amount`` bytes against the budget; 9023 as soon as it is exceeded."""
        self.used += amount
        if self.used > self.max_bytes:
            raise ParameterInvalid(
                ErrorCode.MESSAGE_TOO_LARGE, f"the request exceeds the limit of {self.max_bytes} bytes"
            )

    def cleanup(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> Spool:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.cleanup()

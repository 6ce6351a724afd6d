"""Per-request spool directories: where incoming content goes so that memory never holds it.

Each request gets a private directory (mode 0700) below the configured spool root; every attachment and
every decoded inline base64 item becomes one file in it, counted against the request's byte budget. The
directory is removed when the request is done, whatever happened -- the backend moves the files it keeps.
"""

from __future__ import annotations

import itertools
import shutil
import tempfile
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

from gateway.transport.xta.errors import ErrorCode, ParameterInvalid


class Spool:
    """A request's spool directory and byte budget; use as a context manager."""

    def __init__(self, root: Path, max_bytes: int) -> None:
        root.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.dir = Path(tempfile.mkdtemp(prefix="xta-", dir=root))
        self.max_bytes = max_bytes
        self.used = 0
        self._names = itertools.count()

    def new_file(self) -> tuple[Path, BinaryIO]:
        """A fresh, empty file in the spool, open for writing."""
        path = self.dir / f"{next(self._names):05d}.part"
        return path, path.open("xb")

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

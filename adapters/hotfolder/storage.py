"""Where a transfer directory lives: the few file operations the hotfolder needs, local or on WebDAV.

The adapter's logic (stability, atomic hand-over, processed/failed, the ledger) is written once against
this interface; :mod:`adapters.hotfolder.local` and :mod:`adapters.hotfolder.webdav` implement it. Paths are
relative, ``/``-separated, below the configured root. Every write is made visible atomically:
:meth:`Storage.upload_temp` writes under a name DMS importers ignore (leading dot, ``.part``), and
:meth:`Storage.rename` makes it appear under its real name in one step, refusing to replace a file.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Entry:
    """One file or folder as listed; ``stamp`` is the modification time as the storage reports it."""

    name: str
    size: int
    stamp: str
    is_dir: bool


class AlreadyExists(Exception):
    """The target name is taken; the storage never overwrites."""


def join(*parts: str) -> str:
    return "/".join(p.strip("/") for p in parts if p and p.strip("/"))


def temp_name(name: str) -> str:
    """The hidden name a file is written under before it appears (ignored by DMS importers and by us)."""
    return f".{name}.part"


def is_hidden(name: str) -> bool:
    return name.startswith(".") or name.endswith((".part", ".tmp"))


class Storage(ABC):
    """File operations on a transfer directory; errors are :mod:`adapters.base` errors, not OS/HTTP ones."""

    @abstractmethod
    def describe(self) -> str:
        """Where this is, for messages and logs; never contains a credential."""

    @abstractmethod
    def list(self, folder: str) -> list[Entry]:
        """The entries directly in ``folder``; an absent folder is empty."""

    @abstractmethod
    def ensure_dir(self, folder: str) -> None: ...

    @abstractmethod
    def exists(self, path: str) -> bool: ...

    @abstractmethod
    def download(self, path: str, dest: Path) -> None:
        """Copy the file at ``path`` to the local file ``dest`` (streamed)."""

    @abstractmethod
    def upload_temp(self, folder: str, name: str, source: Path) -> str:
        """Write ``source`` durably as :func:`temp_name` ``(name)`` in ``folder``; returns the temp path."""

    @abstractmethod
    def rename(self, src: str, dst: str) -> None:
        """Move ``src`` to ``dst`` in one step; :class:`AlreadyExists` if ``dst`` is taken."""

    @abstractmethod
    def remove(self, path: str) -> None:
        """Delete a file; an absent file is fine."""

    @abstractmethod
    def local_path(self, path: str) -> Path | None:
        """The file on the local file system, when there is one (saves a copy when exporting)."""

    def put_atomic(self, folder: str, name: str, source: Path) -> str:
        """Upload under a temporary name, then make it appear as ``folder/name``; returns the final path."""
        temp = self.upload_temp(folder, name, source)
        final = join(folder, name)
        try:
            self.rename(temp, final)
        except BaseException:
            self.remove(temp)
            raise
        return final

    def close(self) -> None:  # noqa: B027 -- optional hook
        """Release connections; the default holds none."""

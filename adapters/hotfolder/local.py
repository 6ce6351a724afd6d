"""A transfer directory on the local file system (or a mounted share).

Writes are durable before they become visible: the temporary file is fsync'd, renamed, and the directory
fsync'd, so after a power cut a file either is complete under its real name or is not there at all. The
rename refuses to replace: ``os.link`` + unlink fails on an existing target where plain ``rename`` would
silently overwrite a package the DMS has not read yet. Files get ``file_mode`` (default 0640) set on the
open file before anything is written, so no reader outside the transfer directory's group sees a message
even for a moment, whatever the gateway's umask.
"""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

from adapters.base import ConfigError, Unavailable
from adapters.hotfolder.storage import AlreadyExists, Entry, Storage, join, temp_name

_CHUNK = 1 << 20


class LocalStorage(Storage):
    def __init__(self, root: Path, *, file_mode: int = 0o640) -> None:
        self.root = root
        self.file_mode = file_mode

    def describe(self) -> str:
        return str(self.root)

    def _path(self, path: str) -> Path:
        full = (self.root / path).resolve()
        root = self.root.resolve()
        if full != root and root not in full.parents:
            raise ConfigError(f"{path!r} lies outside the transfer directory {self.root}")
        return full

    def _root_ok(self) -> None:
        if not self.root.is_dir():
            raise Unavailable(f"the transfer directory {self.root} does not exist or is not mounted")

    def list(self, folder: str) -> list[Entry]:
        self._root_ok()
        base = self._path(folder)
        if not base.is_dir():
            return []
        out = []
        with os.scandir(base) as it:
            for item in it:
                try:
                    st = item.stat(follow_symlinks=False)
                except FileNotFoundError:  # taken away while we looked
                    continue
                if item.is_symlink():
                    continue  # a link could point anywhere; a DMS writes real files
                out.append(Entry(item.name, st.st_size, str(st.st_mtime_ns), item.is_dir(follow_symlinks=False)))
        return sorted(out, key=lambda e: e.name)

    def ensure_dir(self, folder: str) -> None:
        self._root_ok()
        self._path(folder).mkdir(parents=True, exist_ok=True)

    def exists(self, path: str) -> bool:
        return self._path(path).exists()

    def download(self, path: str, dest: Path) -> None:
        shutil.copyfile(self._path(path), dest)

    def local_path(self, path: str) -> Path | None:
        return self._path(path)

    def upload_temp(self, folder: str, name: str, source: Path) -> str:
        self.ensure_dir(folder)
        temp = join(folder, temp_name(name))
        target = self._path(temp)
        with source.open("rb") as src, target.open("wb") as dst:
            os.fchmod(dst.fileno(), self.file_mode)
            while chunk := src.read(_CHUNK):
                dst.write(chunk)
            dst.flush()
            os.fsync(dst.fileno())
        return temp

    def rename(self, src: str, dst: str) -> None:
        source, target = self._path(src), self._path(dst)
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(source, target)
        except FileExistsError:
            raise AlreadyExists(dst) from None
        except OSError as exc:
            if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EXDEV):
                raise
            # file systems without hard links (some SMB mounts): check, then rename
            if target.exists():
                raise AlreadyExists(dst) from None
            os.rename(source, target)
        else:
            source.unlink()
        _fsync_dir(target.parent)

    def remove(self, path: str) -> None:
        self._path(path).unlink(missing_ok=True)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

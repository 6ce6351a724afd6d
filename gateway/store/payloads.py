"""Content-addressed payload store: message bytes live in files named by their SHA-256, never in rows.

A payload is written to a temporary file inside the store, hashed while it streams, and only when it is
committed fsynced and renamed to ``<root>/ab/cd/<sha256>``, whose directory is then fsynced too. So after
``commit()`` (or ``put_stream``) returns the bytes survive a power cut, and a half-written file can never
carry a valid name. Memory stays constant whatever the payload size. Because the name is the content,
storing the same bytes twice is a no-op, and a database row can reference a payload by its hash alone.

Durability, argued per fsync (issue 11 counted them: each is a few milliseconds of a small message's
intake). A caller acknowledges a message (the 201, the XTA reply) only after ``commit()`` returned, and
what the acknowledgement promises is that the file ``<root>/ab/cd/<sha256>`` exists with these bytes.
That needs, durable: the file's data and inode (the fsync of the staged file, made at commit, before the
rename, so a file can never appear under its name with data that a power cut loses); its entry in
``cd`` (the fsync of ``cd`` after the rename); ``cd``'s entry in ``ab`` (the fsync of ``ab`` right after
``cd`` was made, before anything is renamed into it); and ``ab``'s entry in the root (the fsync of the root
after the store's first commit made all 256 first-level folders at once, so no later commit pays for one).
That is 2 fsyncs when ``cd`` exists (nearly always in a store of some 100,000 payloads), 3 when it is new,
and 1 (the folder holding the existing file, in case its writer died before syncing the entry) when
the same content is stored already. A payload that is never committed -- refused by validation, or only
validated (``/api/v1/validate``) -- costs no fsync at all: nothing about it is promised, and a crash
leaves at most a stage that the next clean-up removes (only a file of :data:`EARLY_SYNC_BYTES` or more has
its data fsync started before it is checked, see :class:`_EarlySync`; the commit still waits for it).
The stage folders themselves are never fsynced for the same reason.

Garbage collection is the caller's job (only the database knows which payloads are referenced); the
store offers ``stored()``, ``delete()`` and ``collect_garbage()`` with a grace period so that a payload
written a moment ago, whose row is not committed yet, is never collected.

An upload is staged in a folder of its own under ``tmp/`` for as long as it streams and is checked, which
for a large package on a slow line can take hours. Its process holds an exclusive ``flock`` on a lock file
in that folder from before the folder gets its ``stage-`` name until it is removed, so the clean-up of
left-over stages (any process, any time) skips every stage whose owner is alive, whatever its age; the
kernel drops the lock when the owner dies, even by SIGKILL, and the next clean-up (a worker's start-up
removes them at once) takes the partial upload away. The lock is a regular file, not the folder, so it
also works where directories cannot be locked (NFS emulates flock with byte-range locks on files).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Container, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Protocol, runtime_checkable

CHUNK_BYTES = 1024 * 1024
"""How much is read from a file object at a time; bounds the memory a write needs."""

EARLY_SYNC_BYTES = 16 * 1024 * 1024
"""From this size on, a staged file's fsync starts as soon as its last byte is written (see :class:`_EarlySync`)."""

DIR_MODE = 0o700
FILE_MODE = 0o600
_SHA256_RE = re.compile(r"[0-9a-f]{64}")
_TMP_DIR = "tmp"
_STAGE_PREFIX = "stage-"  # a stage whose owner holds (or held, until it died) the lock
_NEW_PREFIX = "new-"  # a stage being set up, not yet locked: only removed after the grace period
_STAGE_LOCK = "lock"  # the lock file in a stage folder
_STAGE_DATA = "data"  # the folder holding the staged file, so that its name can be anything plain


class PayloadError(Exception):
    """Base class of the store's errors."""


class PayloadTooLarge(PayloadError):
    """The stream exceeded the size limit; nothing was stored."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(f"payload exceeds the limit of {max_bytes} bytes; nothing was stored")
        self.max_bytes = max_bytes

    def __reduce__(self) -> tuple[type[PayloadTooLarge], tuple[int]]:
        return (type(self), (self.max_bytes,))


class PayloadNotFound(PayloadError, LookupError):
    """No payload with this hash is stored."""

    def __init__(self, sha256: str) -> None:
        super().__init__(f"no payload with SHA-256 {sha256} in the store")
        self.sha256 = sha256

    def __reduce__(self) -> tuple[type[PayloadNotFound], tuple[str]]:
        return (type(self), (self.sha256,))


class InvalidPayloadId(PayloadError, ValueError):
    """A payload id must be 64 lowercase hex digits; anything else could escape the store directory."""

    def __init__(self, sha256: str) -> None:
        super().__init__(f"not a SHA-256 hex digest: {sha256!r}")
        self.sha256 = sha256

    def __reduce__(self) -> tuple[type[InvalidPayloadId], tuple[str]]:
        return (type(self), (self.sha256,))


@dataclass(frozen=True, slots=True)
class PayloadRef:
    """What a database row needs to find and check a payload."""

    sha256: str
    size: int


def _check_id(sha256: str) -> str:
    if not _SHA256_RE.fullmatch(sha256):
        raise InvalidPayloadId(sha256)
    return sha256


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class _EarlySync:
    """The fsync of a large staged file, run in a thread of its own while the caller checks the file.

    The kernel keeps up to a tenth of memory dirty before it writes back, so a 1 GiB package is still in
    memory when it is committed, and its fsync alone took 0.36 s in a profile of the issue-11 upload;
    started when the last byte is written, it overlaps the package's checks instead. The commit waits for
    it before the rename, so nothing changes for durability; a large upload that is then refused has paid
    one fsync it did not need, a small one none. The thread owns the file descriptor and closes it.
    """

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._error: OSError | None = None
        self._thread = threading.Thread(target=self._run, name="xgw-stage-sync", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            os.fsync(self._fd)
        except OSError as exc:
            self._error = exc
        finally:
            os.close(self._fd)

    def wait(self) -> None:
        self._thread.join()
        if self._error is not None:
            raise self._error


class StagedPayload:
    """An upload written and hashed in the store's temporary area; see :meth:`PayloadStore.stage`."""

    def __init__(
        self, store: PayloadStore, path: Path, ref: PayloadRef, fd: int, early: _EarlySync | None = None
    ) -> None:
        self._store = store
        self.path = path
        self.ref = ref
        self.committed = False
        self._fd = fd  # the staged file, still open (-1 when ``early`` has it): fsynced at commit at the latest
        self._early = early

    @property
    def sha256(self) -> str:
        return self.ref.sha256

    @property
    def size(self) -> int:
        return self.ref.size

    def rename(self, name: str) -> None:
        """Give the staged file another plain name (validation of a package reads its name)."""
        if not name or "/" in name or "\0" in name or name in (".", ".."):
            raise ValueError(f"not a plain file name: {name!r}")
        target = self.path.with_name(name)
        self.path.rename(target)
        self.path = target

    def commit(self) -> PayloadRef:
        """Give the bytes their content address (a no-op when the same content is stored already)."""
        if not self.committed:
            self._store._commit_staged(self.path, self.ref, self._fd, self._early)
            self.committed = True
        return self.ref


@runtime_checkable
class Readable(Protocol):
    """Anything with a binary ``read(size)``: open files, sockets' makefile(), request streams."""

    def read(self, size: int = -1, /) -> bytes: ...


def _chunks_of(source: Iterable[bytes] | Readable) -> Iterator[bytes]:
    # A binary file is also an iterable (of lines), so the file check must come first.
    if isinstance(source, Readable):
        while chunk := source.read(CHUNK_BYTES):
            yield chunk
    else:
        yield from source


class PayloadStore:
    """Payload files under one directory (normally ``<data_dir>/payloads``)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._tmp = root / _TMP_DIR

    def _ensure_dir(self, path: Path) -> None:
        """Create ``path`` and missing parents below the root, owner-only, and make the new entries durable."""
        missing: list[Path] = []
        current = path
        while not current.is_dir():
            missing.append(current)
            if current == current.parent:
                break
            current = current.parent
        for directory in reversed(missing):
            with contextlib.suppress(FileExistsError):
                directory.mkdir(mode=DIR_MODE)
            os.chmod(directory, DIR_MODE)
            _fsync_dir(directory.parent)

    def path_of(self, sha256: str) -> Path:
        """Where the payload with this hash lives (whether or not it exists)."""
        _check_id(sha256)
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def put_stream(self, source: Iterable[bytes] | Readable, max_bytes: int) -> PayloadRef:
        """Store the bytes of ``source`` and return their reference; refuse more than ``max_bytes``.

        ``source`` is a binary file object (read in chunks) or any iterable of ``bytes`` chunks, such as an
        HTTP request body. On any failure, including the size limit, the temporary file is removed.
        """
        with self.stage(source, max_bytes) as staged:
            return staged.commit()

    @contextlib.contextmanager
    def stage(
        self, source: Iterable[bytes] | Readable, max_bytes: int, name: str | None = None
    ) -> Iterator[StagedPayload]:
        """Write ``source`` to a private temporary file, durable and hashed, but not yet in the store.

        The caller inspects ``staged.path`` (validation needs a file, named ``name`` when given, because
        package checks read the file name) and calls ``staged.commit()`` to move it into the store. Whatever
        was not committed when the block ends is removed: a refused upload never gets a content address,
        so it can neither be served nor disturb a concurrent upload of the same bytes.
        """
        if name is not None and (not name or "/" in name or "\\" in name or "\0" in name or name in (".", "..")):
            raise ValueError(f"not a plain file name: {name!r}")
        self._ensure_dir(self._tmp)
        folder, lock_fd = self._new_stage()
        path = folder / _STAGE_DATA / (name or "payload")
        fd = -1
        try:
            digest = hashlib.sha256()
            size = 0
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
            for chunk in _chunks_of(source):
                size += len(chunk)
                if size > max_bytes:
                    raise PayloadTooLarge(max_bytes)
                digest.update(chunk)
                view = memoryview(chunk)
                while view:  # the chunks (up to 1 MiB) go to the kernel as they are; a write may be short
                    view = view[os.write(fd, view) :]
            # not fsynced here: only a commit promises anything (see the module's opening docstring), but a
            # large file's fsync starts now, to overlap its checks
            early = None
            if size >= EARLY_SYNC_BYTES:
                early, fd = _EarlySync(fd), -1
            yield StagedPayload(self, path, PayloadRef(sha256=digest.hexdigest(), size=size), fd, early)
        finally:
            # the staged file, also if the caller renamed it, then the lock: while it is held, no
            # clean-up touches the folder
            try:
                if fd >= 0:
                    os.close(fd)
                _remove_stage(folder)
            finally:
                os.close(lock_fd)

    def _new_stage(self) -> tuple[Path, int]:
        """A fresh stage folder, already locked by this process when it gets its ``stage-`` name."""
        fresh = Path(tempfile.mkdtemp(prefix=_NEW_PREFIX, dir=self._tmp))  # created 0o700
        lock_fd = -1
        try:
            lock_fd = os.open(fresh / _STAGE_LOCK, os.O_RDWR | os.O_CREAT | os.O_EXCL, FILE_MODE)
            fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            (fresh / _STAGE_DATA).mkdir(mode=DIR_MODE)
            folder = fresh.with_name(_STAGE_PREFIX + fresh.name[len(_NEW_PREFIX) :])
            fresh.rename(folder)
        except BaseException:
            _remove_tree(fresh)
            if lock_fd >= 0:
                os.close(lock_fd)
            raise
        return folder, lock_fd

    def _commit_staged(self, path: Path, ref: PayloadRef, fd: int, early: _EarlySync | None) -> PayloadRef:
        final = self.path_of(ref.sha256)
        self._ensure_first_level(final.parent.parent)
        self._ensure_dir(final.parent)
        if self._refresh_existing(final, ref.size):
            path.unlink()
            # the entry is what the caller's acknowledgement relies on; its writer may have died between
            # the rename and the fsync of the folder
            _fsync_dir(final.parent)
        else:
            # data and inode before the name: never a valid name on lost bytes
            if early is not None:
                early.wait()
            else:
                os.fsync(fd)
            # the grace period of garbage collection starts now, not when the (maybe slow) upload ended
            os.utime(path)
            os.replace(path, final)
            _fsync_dir(final.parent)
        return ref

    def prepare(self) -> None:
        """Make the staging area and the first-level folders now, durably (a server's start-up calls this).

        Otherwise the first upload pays for them (256 folders and their fsyncs, 0.3 s in a profile of
        the issue-11 upload while the disk was busy with the upload's own data).
        """
        self._ensure_dir(self._tmp)
        self._make_first_level()

    def _ensure_first_level(self, first: Path) -> None:
        """Make the first-level folders on the first commit that needs one (see :meth:`_make_first_level`)."""
        if not first.is_dir():
            self._make_first_level()

    def _make_first_level(self) -> None:
        """Make every missing first-level folder at once, with one fsync of the root if any was made.

        A new first-level folder made per commit would cost that commit a fourth fsync (the root); made all
        at once, only the store's first commit (or :meth:`prepare`) pays it. A store written by an older
        version, with some first-level folders only, gets the others at its next start or commit.
        """
        self._ensure_dir(self.root)
        made = False
        for value in range(256):
            folder = self.root / f"{value:02x}"
            with contextlib.suppress(FileExistsError):
                folder.mkdir(mode=DIR_MODE)
                os.chmod(folder, DIR_MODE)
                made = True
        if made:
            _fsync_dir(self.root)

    @staticmethod
    def _refresh_existing(final: Path, size: int) -> bool:
        """True if the same content is already stored; its mtime is refreshed so that a concurrent
        garbage collection honours the grace period for the new reference."""
        try:
            if final.stat().st_size != size:
                return False  # damaged copy: replace it with the bytes just written
            os.utime(final)
        except FileNotFoundError:
            return False
        return True

    def put_bytes(self, data: bytes, max_bytes: int | None = None) -> PayloadRef:
        """Store a small payload held in memory (receipts, test data)."""
        return self.put_stream([data], len(data) if max_bytes is None else max_bytes)

    def exists(self, sha256: str) -> bool:
        return self.path_of(sha256).is_file()

    def size(self, sha256: str) -> int:
        try:
            return self.path_of(sha256).stat().st_size
        except FileNotFoundError:
            raise PayloadNotFound(sha256) from None

    def open(self, sha256: str) -> BinaryIO:
        """Open the payload for reading; the caller closes the file."""
        try:
            return self.path_of(sha256).open("rb")
        except FileNotFoundError:
            raise PayloadNotFound(sha256) from None

    def iter_chunks(self, sha256: str, chunk_bytes: int = CHUNK_BYTES) -> Iterator[bytes]:
        """The payload in chunks, for streaming responses."""
        with self.open(sha256) as f:
            while chunk := f.read(chunk_bytes):
                yield chunk

    def verify(self, sha256: str) -> bool:
        """Re-hash the stored file: False means the bytes on disk no longer match their name."""
        digest = hashlib.sha256()
        for chunk in self.iter_chunks(sha256):
            digest.update(chunk)
        return digest.hexdigest() == sha256

    def delete(self, sha256: str) -> bool:
        """Remove one payload; True if it existed. Only for payloads no row references any more."""
        path = self.path_of(sha256)
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        _fsync_dir(path.parent)
        return True

    def stored(self) -> Iterator[str]:
        """The hashes of all stored payloads, in no particular order."""
        if not self.root.is_dir():
            return
        for first in self.root.iterdir():
            if len(first.name) != 2 or not first.is_dir():
                continue
            for second in first.iterdir():
                if not second.is_dir():
                    continue
                for entry in second.iterdir():
                    if _SHA256_RE.fullmatch(entry.name) and entry.name.startswith(first.name + second.name):
                        yield entry.name

    def collect_garbage(self, referenced: Container[str], grace_seconds: float, now: float | None = None) -> list[str]:
        """Delete payloads that are not in ``referenced`` and were last written more than ``grace_seconds`` ago.

        The grace period covers the window between ``put_stream`` returning and the referencing row being
        committed. ``now`` is a ``time.time()`` value (tests pass their own).
        """
        cutoff = (time.time() if now is None else now) - grace_seconds
        deleted: list[str] = []
        for sha256 in list(self.stored()):
            if sha256 in referenced:
                continue
            try:
                if self.path_of(sha256).stat().st_mtime > cutoff:
                    continue
            except FileNotFoundError:
                continue
            if self.delete(sha256):
                deleted.append(sha256)
        return deleted

    def remove_stale_temp_files(self, grace_seconds: float, now: float | None = None) -> int:
        """Remove what crashed writes left in the staging area; returns how many files were removed.

        A stage whose owner is alive holds its lock and is skipped, however old it is (a slow upload of a
        large package, a long validation). A stage whose lock can be taken belongs to a process that died:
        it is removed once its folder is older than ``grace_seconds`` (0 at start-up: at once). Loose
        files and stages that never got their lock are removed after the grace period.
        """
        if not self._tmp.is_dir():
            return 0
        cutoff = (time.time() if now is None else now) - grace_seconds
        removed = 0
        for entry in self._tmp.iterdir():
            try:
                if entry.is_dir() and entry.name.startswith(_STAGE_PREFIX):
                    removed += self._remove_dead_stage(entry, cutoff)
                elif entry.stat().st_mtime > cutoff:
                    continue
                elif entry.is_dir() and entry.name.startswith(_NEW_PREFIX):
                    removed += _remove_tree(entry)
                elif entry.is_file():
                    entry.unlink()
                    removed += 1
            except FileNotFoundError:
                continue
        return removed

    @staticmethod
    def _remove_dead_stage(folder: Path, cutoff: float) -> int:
        """Remove ``folder`` if no live process holds its lock and it is older than ``cutoff``."""
        try:
            lock_fd = os.open(folder / _STAGE_LOCK, os.O_RDWR)
        except FileNotFoundError:  # a stage of an older version without a lock: age alone decides
            if folder.stat().st_mtime > cutoff:
                return 0
            return _remove_tree(folder)
        try:
            try:
                fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return 0  # its owner is alive: a stage in progress
            if folder.stat().st_mtime > cutoff:
                return 0
            return _remove_tree(folder)
        finally:
            os.close(lock_fd)


def _remove_stage(folder: Path) -> None:
    """Remove a stage of this process by its known layout: the files in ``data``, ``data``, the lock, the folder.

    Seven system calls for a small upload instead of the two walks of :func:`_remove_tree` (issue 11: on a
    small XTA sendMessage they were a millisecond); anything unexpected falls back to the full walk.
    """
    data = folder / _STAGE_DATA
    try:
        with os.scandir(data) as entries:
            for entry in entries:
                os.unlink(entry.path)  # a folder here fails (IsADirectoryError), and the walk takes over
        os.rmdir(data)
        os.unlink(folder / _STAGE_LOCK)
        os.rmdir(folder)
    except OSError:
        _remove_tree(folder)


def _remove_tree(folder: Path) -> int:
    """Remove ``folder`` and everything below it (gone already is fine); returns how many staged files went
    (the lock file is not counted)."""

    def ignore_gone(function: Callable[..., Any], path: str, exc_info: Any) -> None:
        if not isinstance(exc_info[1], FileNotFoundError):
            raise exc_info[1]

    removed = sum(len(files) for _, _, files in os.walk(folder))
    if (folder / _STAGE_LOCK).is_file():
        removed -= 1
    shutil.rmtree(folder, onerror=ignore_gone)
    return removed

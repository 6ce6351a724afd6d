"""The DMS adapter contract: the one small interface through which records leave and enter a DMS.

Like httpx's transports, the contract is deliberately tiny so that an adapter for a new DMS product is an
afternoon's work and the gateway never learns how any DMS works inside:

* :meth:`DmsAdapter.export` offers what the DMS wants to send, as named files (xdomea messages or ZIP
  packages); the gateway submits each one and then calls :meth:`DmsAdapter.acknowledge` with its verdict,
  so nothing leaves the DMS's outbox before the gateway has durably taken it (at-least-once on the way out;
  the gateway's intake de-duplicates).
* :meth:`DmsAdapter.import_message` puts one delivered message into the DMS and says, per Schriftgutobjekt,
  what became of it. The pipeline delivers at least once; the adapter makes that exactly-once in effect
  with its :class:`~adapters.ledger.Ledger`.
* :meth:`DmsAdapter.health` says whether the DMS can be reached with the configured credentials.

Failures that a retry can heal (the DMS is down) raise :class:`Unavailable`; refused credentials raise
:class:`AuthenticationFailed`; everything about the *message* (a missing primary file, an object imported
before) is a value in :class:`ImportResult`, because it belongs in the 0402/0506 confirmation.
"""

from __future__ import annotations

import enum
import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO, ClassVar, Self

from pydantic import ValidationError

from gateway.config import Settings
from gateway.xoev.model import ObjectKind, ObjectOutcome


class AdapterError(Exception):
    """Something between the gateway and the DMS went wrong; ``transient`` says whether retrying may help."""

    transient: ClassVar[bool] = False


class Unavailable(AdapterError):
    """The DMS cannot be reached or answered with a server error: nothing was changed, try again later."""

    transient = True


class AuthenticationFailed(AdapterError):
    """The DMS refused the configured credentials: nothing was changed, and retrying will not help until
    somebody fixes the configuration (the message never contains the secret)."""


class ConfigError(AdapterError):
    """The adapter configuration or mapping file is wrong; the message names the key."""

    @classmethod
    def from_validation(cls, error: ValidationError, source: str) -> ConfigError:
        """One line per problem, each starting with the dotted key (``fields.betref: unknown key``)."""
        lines = []
        for item in error.errors():
            where = ".".join(str(p) for p in item["loc"])
            message = "unknown key" if item["type"] == "extra_forbidden" else item["msg"]
            message = message.removeprefix("Value error, ")
            lines.append(f"{where}: {message}" if where else message)
        return cls(f"{source}: " + "; ".join(lines))


@dataclass(frozen=True, slots=True)
class AdapterContext:
    """What the gateway gives every adapter: who it serves, where it may keep state, and the settings.

    ``state_dir`` is local and private to this participant's adapter (ledgers, spool copies); ``env`` is
    where secrets named in the configuration are read from (``password_env = "..."``), so that they are
    never stored in the participant directory.
    """

    participant: str
    state_dir: Path
    settings: Settings
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    #: relative paths in the configuration (a mapping file) are taken from here
    base_dir: Path = field(default_factory=Path.cwd)


@dataclass(frozen=True, slots=True)
class ExportedFile:
    """One message or package the DMS offers, not yet taken: open it, submit it, then acknowledge it.

    ``key`` is the adapter's own handle (a path in the outbox); ``name`` is the file name to submit under,
    which the gateway checks against the xdomea naming rule.
    """

    name: str
    size: int
    key: str
    sha256: str
    opener: Callable[[], BinaryIO] = field(repr=False, compare=False)

    def open(self) -> BinaryIO:
        return self.opener()


@dataclass(frozen=True, slots=True)
class Acknowledgement:
    """The gateway's verdict on an exported file: taken (with the gateway's message id) or refused (why)."""

    accepted: bool
    reason: str = ""
    reference: str | None = None
    #: the gateway already had an identical message (intake's ``created`` was False)
    duplicate: bool = False

    @classmethod
    def taken(cls, reference: str, *, duplicate: bool = False) -> Acknowledgement:
        return cls(True, "duplicate of an earlier submission" if duplicate else "", reference, duplicate)

    @classmethod
    def refused(cls, reason: str) -> Acknowledgement:
        return cls(False, reason)


@dataclass(frozen=True, slots=True, order=True)
class MessageKey:
    """What makes a delivered message the same message again: ProzessID, Nachrichtentyp and (4.0.0) LfdNr."""

    process_id: str
    message_type: str
    sequence: int = 1

    def __str__(self) -> str:
        return f"{self.process_id}/{self.message_type}/{self.sequence}"


class ObjectStatus(enum.StrEnum):
    IMPORTED = "imported"
    #: put where the counterpart takes it (x-man's transfer directory), which answers for itself: not an import
    HANDED_OVER = "handed-over"
    #: imported by an earlier delivery; ``dms_id`` is where it went then
    DUPLICATE = "duplicate"
    #: already complete in the DMS although the adapter's ledger did not know it (the ledger was lost or an
    #: attempt crashed after the DMS had it): found, checked and kept, nothing created; ``dms_id`` is where
    FOUND = "found"
    FAILED = "failed"
    #: not tried because the message as a whole could not be imported (the reason says why)
    NOT_ATTEMPTED = "not-attempted"


@dataclass(frozen=True, slots=True)
class ObjectResult:
    """What became of one Schriftgutobjekt: where it lives in the DMS now, or why it does not."""

    id: str
    kind: ObjectKind
    status: ObjectStatus
    #: the xdomea id of the enclosing object; None for the objects the message hands over
    parent: str | None = None
    dms_id: str | None = None
    reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.status in (
            ObjectStatus.IMPORTED,
            ObjectStatus.DUPLICATE,
            ObjectStatus.FOUND,
            ObjectStatus.HANDED_OVER,
        )


class ImportStatus(enum.StrEnum):
    IMPORTED = "imported"
    #: delivered to a counterpart that confirms the import itself (x-man): never grounds for a 0402/0506
    HANDED_OVER = "handed-over"
    DUPLICATE = "duplicate"
    #: every object was found complete in the DMS already (see ObjectStatus.FOUND): nothing was created
    FOUND = "found"
    FAILED = "failed"
    #: some objects are in the DMS and some are not; each ObjectResult says which (the DMS marks them)
    PARTIAL = "partial"


@dataclass(frozen=True, slots=True)
class ImportResult:
    """The adapter's answer to one delivery, detailed enough to build the 0402/0506 confirmation."""

    key: MessageKey | None
    status: ImportStatus
    objects: tuple[ObjectResult, ...] = ()
    reason: str | None = None
    #: where the message landed in the DMS (a path, a cabinet id ...)
    location: str | None = None

    @property
    def ok(self) -> bool:
        return self.status in (
            ImportStatus.IMPORTED,
            ImportStatus.DUPLICATE,
            ImportStatus.FOUND,
            ImportStatus.HANDED_OVER,
        )

    def outcomes(self) -> list[ObjectOutcome]:
        """Per handed-over object, for :func:`gateway.xoev.build.build_receipt` (0402/0506).

        An object counts as imported only when it and everything below it is in the DMS; the errors
        name the first failed descendant, so the sender learns which Dokument was the problem.
        """
        below: dict[str, list[ObjectResult]] = {}
        for obj in self.objects:
            if obj.parent is not None:
                below.setdefault(obj.parent, []).append(obj)

        def failures(obj: ObjectResult) -> list[ObjectResult]:
            out = [] if obj.ok else [obj]
            for child in below.get(obj.id, []):
                out.extend(failures(child))
            return out

        result = []
        for obj in self.objects:
            if obj.parent is not None:
                continue
            failed = failures(obj)
            errors = [f"{f.kind} {f.id}: {f.reason or f.status}" for f in failed[:5]]
            if not failed:
                result.append(ObjectOutcome(id=obj.id, success=True, archive_id=obj.dms_id))
            else:
                result.append(ObjectOutcome(id=obj.id, success=False, errors=errors or [self.reason or "failed"]))
        return result


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    ok: bool
    detail: str


@dataclass(frozen=True, slots=True)
class Health:
    """Whether the adapter can do its work now, with the individual checks for the operator."""

    ok: bool
    checks: tuple[Check, ...] = ()

    @classmethod
    def of(cls, *checks: Check) -> Health:
        return cls(all(c.ok for c in checks), checks)

    @property
    def detail(self) -> str:
        return "; ".join(f"{c.name}: {'ok' if c.ok else 'FAILED'} ({c.detail})" for c in self.checks)


class DmsAdapter(ABC):
    """One DMS binding for one participant. Subclasses are found by ``kind`` through entry points.

    Adapters are used by one worker at a time per participant; they need not be thread-safe, but they must
    be safe to call again after a crash at any point (that is what the ledger is for).
    """

    kind: ClassVar[str]

    @classmethod
    @abstractmethod
    def from_config(cls, config: Mapping[str, Any], context: AdapterContext) -> Self:
        """Build the adapter from the participant's ``adapter_config``; raise :class:`ConfigError` naming the key."""

    @abstractmethod
    def export(self) -> Iterator[ExportedFile]:
        """The files the DMS offers now and that are complete; each must be acknowledged to leave the outbox.

        A file not acknowledged (the gateway crashed while submitting it) is offered again next time.
        """

    @abstractmethod
    def acknowledge(self, file: ExportedFile, ack: Acknowledgement) -> None:
        """Take ``file`` out of the offer: kept as processed when accepted, set aside with the reason if not."""

    @abstractmethod
    def import_message(self, package_path: Path, *, filename: str | None = None) -> ImportResult:
        """Put one delivered message (XML or ZIP package) into the DMS, exactly once in effect.

        ``filename`` is the name the message travelled under when ``package_path`` is a spool or
        content-addressed copy. Delivering the same message again returns ``DUPLICATE`` and changes nothing.
        """

    def import_message_from(
        self, package_path: Path, *, filename: str | None = None, sender: str | None = None
    ) -> ImportResult:
        """:meth:`import_message` for a message from ``sender`` (the XÖV id the gateway received it from).

        The pipeline calls this one. Adapters that file by sender (x-man's transfer directories: one per
        submitting authority) override it; the default ignores the sender, so existing adapters need no change.
        """
        return self.import_message(package_path, filename=filename)

    @abstractmethod
    def health(self) -> Health:
        """Reach the DMS with the configured credentials and say what works; never raises for DMS trouble.

        A check changes nothing in the DMS: what is missing is reported, :meth:`setup` makes it.
        """

    def setup(self) -> list[str]:
        """Make in the DMS what the adapter needs (folders, types ...) and say what was made, one line each.

        Idempotent: a second call makes nothing and returns ``[]``. The default has nothing to make.
        """
        return []

    def close(self) -> None:  # noqa: B027 -- optional hook, most adapters hold nothing
        """Release connections and files; the default has nothing to release."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

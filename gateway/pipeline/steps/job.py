"""One claimed message under this worker's lease: its session, what is known of it, and its pending transitions.

A :class:`Job` is what every step works on. It promises three things the steps rely on:

- **Transitions are grouped.** A step whose only write is its transition may leave the commit to the
  next step (``move(..., defer=True)``); the step that writes rows of its own (the mailbox copy, the
  delivery attempt, a DMS's per-object rows) or that ends the chain commits them all in one
  transaction. Before any slow or outside work (a remote transport, a DMS import, a receipt made
  through intake) :meth:`Job.end_reads` commits what is pending, so no write lock is held across it.
  A step that fails after deferred transitions gets them back: :meth:`Job.recover` rolls back the
  failed step's writes and replays the pending transitions, so a message's history reads exactly as if
  each transition had committed on its own.
- **The message is read once.** The claimed row is detached from the session, so ending a read
  transaction (a rollback) does not make SQLAlchemy read it again; what a transition wrote is mirrored
  into it, and a rollback restores what was last committed.
- **What is learned travels.** :attr:`Job.known` holds the parsed, checked view of the current
  payload (:class:`~gateway.pipeline.known.Known`); later steps of the same chain use it instead of
  parsing, validating or verifying again. Participants are read once per job.

Every write stays fenced by the lease and the expected state: the pending moves are written by
:func:`gateway.pipeline.lifecycle.write_moves` as one UPDATE (fenced by the lease and the state the chain
started from) and one INSERT of their history rows; every transition extends the lease by
``pipeline.lease_seconds``, so a chain renews it only when a single step runs long. A transition is
checked against the lifecycle table when the step makes it, and written (so: the fence checked) when the
job commits, at the latest before any slow or outside work.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session

from gateway.pipeline import directory
from gateway.pipeline.context import PipelineContext
from gateway.pipeline.known import Known
from gateway.pipeline.lifecycle import Move, check_move, moved_columns, write_moves
from gateway.pipeline.logs import message_logger
from gateway.store.models import Message, MessageState, Participant
from gateway.store.queue import apply_values, renew_lease
from gateway.store.types import utcnow

log = logging.getLogger("gateway.pipeline.steps")


class Permanent(Exception):
    """Retrying cannot help: the message ends in ``failed`` with this reason."""


class Retry(Exception):
    """A transient failure (a peer unreachable): try again after the back-off."""


@dataclass(slots=True)
class Job:
    """The claimed ``message`` in ``session``; see the module docstring."""

    ctx: PipelineContext
    session: Session
    message: Message
    worker_id: str
    known: Known | None = None
    log: logging.LoggerAdapter[logging.Logger] = field(init=False)
    _pending: list[Move] = field(default_factory=list, init=False)
    _committed: dict[str, Any] = field(default_factory=dict, init=False)
    _participants: dict[str, Participant | None] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        self.log = message_logger(log, self.message, worker_id=self.worker_id)
        if self.message in self.session:
            self.session.expunge(self.message)  # a rollback must not expire it (and read it again)

    # -- reads ---------------------------------------------------------------------------------------

    def participant(self, xoev_id: str) -> Participant | None:
        """The directory entry, read once per job (a changed route applies from the next message on)."""
        if xoev_id not in self._participants:
            row = directory.participant(self.session, xoev_id)
            if row is not None and row in self.session:  # the directory cache hands out detached copies
                self.session.expunge(row)
            self._participants[xoev_id] = row
        return self._participants[xoev_id]

    def end_reads(self) -> None:
        """End the read transaction before slow or outside work; pending transitions are committed first."""
        if self._pending:
            self.commit()
        else:
            self.session.rollback()

    # -- writes --------------------------------------------------------------------------------------

    def move(
        self,
        to_state: MessageState,
        reason: str,
        *,
        error: str | None = None,
        release: bool = False,
        next_attempt_at: datetime | None = None,
        values: dict[str, object] | None = None,
        defer: bool = False,
    ) -> None:
        """The fenced transition; committed now, or with the next commit when ``defer`` (see the module).

        The move is checked against the lifecycle table at once and mirrored into the message (the next
        step sees the new state); it is written, together with the moves pending before it, as one UPDATE
        and one INSERT of history rows when the job commits.
        """
        move = Move(
            self.message.state,
            to_state,
            self.worker_id,
            reason,
            error,
            release=release,
            next_attempt_at=next_attempt_at,
            values=dict(values or {}),
            lease_seconds=self.ctx.settings.pipeline.lease_seconds,
            now=utcnow(),
        )
        check_move(self.message, move)  # the lifecycle refuses a move its table does not allow
        self._mirror(move)
        self._pending.append(move)
        if not defer:
            self.commit()
        self.log.info("%s: %s", to_state.value, reason, extra={"state": to_state.value})

    def _mirror(self, move: Move) -> None:
        """Show ``move`` in the message, keeping what it said at the last commit for :meth:`rollback`."""
        written = moved_columns(move)
        for key in written:
            if key not in self._committed:
                self._committed[key] = getattr(self.message, key)
        apply_values(self.message, written)

    def commit(self) -> None:
        """Write the pending moves (one fenced UPDATE, one INSERT of their history) and commit everything."""
        try:
            if self._pending:
                write_moves(self.session, self.message, self._pending, worker_id=self.worker_id)
            self.session.commit()
        except BaseException:
            self.rollback()
            raise
        self._pending.clear()
        self._committed.clear()

    def rollback(self) -> None:
        """Drop everything uncommitted, pending transitions included; the message is as last committed."""
        self.session.rollback()
        for key, value in self._committed.items():
            set_committed_value(self.message, key, value)
        self._committed.clear()
        self._pending.clear()

    def recover(self) -> None:
        """After a failed step: drop its writes but keep (and commit) the transitions made before it."""
        pending = list(self._pending)
        self.rollback()
        if not pending:
            return
        for move in pending:
            self._mirror(move)
            self._pending.append(move)
        self.commit()

    def keep_lease(self) -> None:
        """Renew the lease if less than half of it is left (a transition renews it anyway)."""
        if self._pending:
            return  # the pending transition extends it, and commits within this chain
        m = self.message
        seconds = self.ctx.settings.pipeline.lease_seconds
        expires = m.lease_expires_at
        if expires is not None and expires - utcnow() > timedelta(seconds=seconds / 2):
            return
        renew_lease(self.session, m, self.worker_id, seconds)

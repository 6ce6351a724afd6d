"""The worker loop: claim a due message under a lease, run its steps, repeat; stop cleanly on SIGTERM.

Between messages the loop also runs the export rounds of the participants' DMS adapters that are due
(:class:`~gateway.pipeline.dms_export.Exporter`), so what a DMS offers enters the pipeline without a
process of its own.

Any number of workers, in one process or many, on one machine or several, share the queue: claiming
is atomic (PostgreSQL ``FOR UPDATE SKIP LOCKED``, SQLite's single writer), every write is fenced by the
lease, and a lease that is not renewed expires, so the message of a killed worker is taken over by
another one. A worker claims a few messages at once (:data:`CLAIM_BATCH`, one commit), each under its own
lease; a killed worker's unstarted messages are therefore charged one try each, like the one it died on.
A stop request lets the current message finish its current step, gives back the rest, and the loop ends.
"""

from __future__ import annotations

import logging
import os
import secrets
import signal
import socket
import threading
import time
from dataclasses import dataclass
from types import FrameType

from gateway.pipeline.context import PipelineContext
from gateway.pipeline.dms_export import Exporter
from gateway.pipeline.gc import collect_garbage, remove_partial_stages
from gateway.pipeline.lifecycle import recover_expired_leases
from gateway.pipeline.logs import message_logger
from gateway.pipeline.rollups import WorkerRollups
from gateway.pipeline.states import WORK_STATES
from gateway.pipeline.steps.runner import run_step
from gateway.store.db import held_session
from gateway.store.queue import LeaseLost, StateConflict, claim_batch, unclaim

log = logging.getLogger(__name__)

HOUSEKEEPING_SECONDS = 300.0
#: messages claimed in one statement: fewer claim commits, and still a small share of the queue per worker
CLAIM_BATCH = 8


def new_worker_id(name: str | None = None) -> str:
    """Unique per running worker (the queue's fencing relies on it): host, pid and a random part."""
    base = name or "worker"
    return f"{base}@{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


@dataclass(slots=True)
class WorkerStats:
    processed: int = 0
    lost: int = 0


class Worker:
    def __init__(self, ctx: PipelineContext, worker_id: str | None = None) -> None:
        self.ctx = ctx
        self.worker_id = worker_id or new_worker_id()
        self.stopping = threading.Event()
        self.stats = WorkerStats()
        self._last_housekeeping = 0.0
        #: export rounds of the participants' DMS adapters, each at its configured interval
        self.exporter = Exporter(ctx)
        #: the dashboard's rolled-up figures and queue-age samples (gateway.pipeline.rollups)
        self.rollups = WorkerRollups(ctx.engine)

    def stop(self) -> None:
        self.stopping.set()

    def install_signal_handlers(self) -> None:
        """SIGTERM and SIGINT ask the loop to stop after the current step (main thread only)."""

        def handler(signum: int, _frame: FrameType | None) -> None:
            log.info("signal %d: stopping after the current step", signum, extra={"worker_id": self.worker_id})
            self.stop()

        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)

    def run_once(self) -> bool:
        """Claim and process one due message; False when none was due."""
        return self.run_batch(1) > 0

    def run_batch(self, limit: int = CLAIM_BATCH) -> int:
        """Claim up to ``limit`` due messages in one statement and process them in turn; how many were claimed.

        Each keeps its own lease (renewed before its chain starts when it runs short). A stop request
        gives back the messages not yet started, without counting a try against them.
        """
        settings = self.ctx.settings.pipeline
        with held_session(self.ctx.engine) as session:  # one connection (one pre-ping) for the whole batch
            claimed = claim_batch(session, self.worker_id, WORK_STATES, settings.lease_seconds, limit)
            session.expunge_all()  # the batch is read once: the first message's rollbacks must not expire the rest
            for n, message in enumerate(claimed):
                if n and self.stopping.is_set():
                    unclaim(session, claimed[n:], self.worker_id)
                    break
                try:
                    run_step(self.ctx, session, message, self.worker_id)
                    self.stats.processed += 1
                except (LeaseLost, StateConflict) as lost:
                    session.rollback()
                    self.stats.lost += 1
                    message_logger(log, message, worker_id=self.worker_id).warning("gave the message up: %s", lost)
        return len(claimed)

    def drain(self) -> int:
        """Process until no message is due (or a stop was asked); returns how many were claimed."""
        count = 0
        while not self.stopping.is_set():
            self.exporter.run_due()  # between batches too, so a busy queue does not starve the DMS exports
            self.rollups.run_due()
            claimed = self.run_batch()
            if not claimed:
                break
            count += claimed
        return count

    def housekeeping(self) -> None:
        now = time.monotonic()
        if now - self._last_housekeeping < HOUSEKEEPING_SECONDS:
            return
        self._last_housekeeping = now
        with self.ctx.session() as session:
            recovered = recover_expired_leases(session, actor=self.worker_id)
        if recovered:
            log.info("freed %d expired lease(s)", len(recovered), extra={"worker_id": self.worker_id})
        removed = collect_garbage(self.ctx)
        if removed:
            log.info("removed %d unreferenced payload(s)", len(removed), extra={"worker_id": self.worker_id})

    def run(self, *, once: bool = False) -> WorkerStats:
        """The loop; with ``once`` it returns as soon as nothing is due."""
        log.info("worker started", extra={"worker_id": self.worker_id})
        if partial := remove_partial_stages(self.ctx):
            log.info("removed %d partial upload(s) of a stopped process", partial, extra={"worker_id": self.worker_id})
        while not self.stopping.is_set():
            self.housekeeping()
            self.rollups.run_due()
            worked = self.drain()
            if once and not worked:
                break
            if not worked:
                self.stopping.wait(self.ctx.settings.pipeline.poll_seconds)
        log.info("worker stopped after %d message(s)", self.stats.processed, extra={"worker_id": self.worker_id})
        return self.stats


def run_in_thread(ctx: PipelineContext, stop: threading.Event) -> WorkerStats:
    """The in-process worker of ``xgw serve``: runs until ``stop`` is set (signals stay with the server)."""
    worker = Worker(ctx)
    worker.stopping = stop
    return worker.run()

"""Export: what a participant's DMS offers enters the pipeline through intake, like any submission.

One round per participant runs :func:`adapters.runner.export_once` with intake as the gateway side; the
adapter hears back ``taken`` (with the message id, or as a duplicate of an earlier submission) or
``refused`` with intake's reason, which a hotfolder writes beside the file in ``failed/``. Anything
else (the database is down) ends the round with the file still offered, to be taken next round;
intake's de-duplication makes the repetition harmless.

The worker loop runs a round for each participant whose ``gateway.export_interval`` has passed
(:class:`Exporter`); ``xgw adapter export`` runs one on demand. Rounds of one participant never overlap,
within a process (the adapter's lock) or across processes (:func:`~gateway.pipeline.dms.export_lock`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlmodel import col, select

from adapters.base import Acknowledgement, AdapterError, ExportedFile
from adapters.runner import Round, export_once
from gateway.pipeline.context import PipelineContext
from gateway.pipeline.dms import AdapterSpec, adapter_spec, export_lock
from gateway.pipeline.errors import Invalid, Rejected
from gateway.pipeline.intake import submit
from gateway.store.models import Participant

log = logging.getLogger(__name__)

#: findings quoted in the reason a refused file is set aside with
REASON_FINDINGS = 3


def adapter_participants(ctx: PipelineContext) -> list[tuple[str, dict[str, object]]]:
    """(XÖV id, adapter_config) of every participant that has an adapter, by id."""
    with ctx.session() as session:
        rows = session.exec(select(Participant).order_by(col(Participant.xoev_id))).all()
        return [(row.xoev_id, dict(row.adapter_config)) for row in rows if row.adapter_config]


def refusal_reason(exc: Rejected) -> str:
    """Intake's refusal as the DMS operator reads it: the stable reason token, the text, the first findings."""
    text = f"{exc.reason}: {exc}"
    if isinstance(exc, Invalid):
        shown = [
            f"{f.rule} {f.message}" + (f" ({f.location})" if str(f.location) else "")
            for f in exc.report.errors[:REASON_FINDINGS]
        ]
        if shown:
            text += " -- " + "; ".join(shown)
    return text


def intake_take(ctx: PipelineContext, participant: str) -> Callable[[ExportedFile], Acknowledgement]:
    """The gateway side of an export round: submit the file as ``participant``'s outbound message."""

    def take(file: ExportedFile) -> Acknowledgement:
        try:
            with file.open() as source:
                result = submit(
                    ctx,
                    source,
                    sender=participant,
                    filename=file.name,
                    channel="adapter",
                    actor=f"adapter:{participant}",
                )
        except Rejected as exc:
            log.info("adapter %s: %s refused: %s", participant, file.name, exc)
            return Acknowledgement.refused(refusal_reason(exc))
        return Acknowledgement.taken(str(result.message.id), duplicate=not result.created)

    return take


def export_round(
    ctx: PipelineContext,
    spec: AdapterSpec,
    *,
    observe: Callable[[ExportedFile, Acknowledgement], None] | None = None,
) -> Round | None:
    """One export round for the participant; None when another process is running one right now.

    ``observe`` sees every verdict before the adapter does (``xgw adapter export`` prints the message ids).
    """
    take = intake_take(ctx, spec.participant)
    if observe is not None:
        plain = take

        def take(file: ExportedFile) -> Acknowledgement:
            ack = plain(file)
            observe(file, ack)
            return ack

    with export_lock(ctx.settings, spec.participant) as mine:
        if not mine:
            return None
        with ctx.adapters.use(ctx.settings, spec) as adapter:
            done = export_once(adapter, take)
    if done.taken or done.duplicates or done.refused:
        log.info(
            "adapter %s: %d taken, %d duplicate(s), %d refused",
            spec.participant,
            len(done.taken),
            len(done.duplicates),
            len(done.refused),
        )
    return done


@dataclass(slots=True)
class Exporter:
    """The worker loop's export schedule: each adapter participant at its own interval."""

    ctx: PipelineContext
    clock: Callable[[], float] = time.monotonic
    #: participant -> clock reading of its last round
    last: dict[str, float] = field(default_factory=dict)
    #: the directory is read at most this often (the loop calls :meth:`run_due` between messages)
    check_every: float = 1.0
    _checked: float | None = None

    def run_due(self) -> dict[str, Round]:
        """Run the rounds that are due; a failing participant is logged and tried again next interval."""
        done: dict[str, Round] = {}
        now = self.clock()
        if self._checked is not None and now - self._checked < self.check_every:
            return done
        self._checked = now
        for participant, config in adapter_participants(self.ctx):
            try:
                spec = adapter_spec(participant, config)
            except AdapterError as exc:
                self._warn_once(participant, now, f"adapter not usable: {exc}")
                continue
            if spec is None or spec.options.export_interval <= 0:
                continue
            before = self.last.get(participant)
            if before is not None and now - before < spec.options.export_interval:
                continue
            self.last[participant] = now
            try:
                result = export_round(self.ctx, spec)
            except AdapterError as exc:
                log.warning(
                    "adapter %s: export failed, next try in %.0f s: %s", participant, spec.options.export_interval, exc
                )
                continue
            except Exception:
                log.exception("adapter %s: export round ended early; the files stay offered", participant)
                continue
            if result is not None:
                done[participant] = result
        return done

    def _warn_once(self, participant: str, now: float, text: str) -> None:
        if participant not in self.last:
            log.warning("adapter %s: %s", participant, text)
        self.last[participant] = now

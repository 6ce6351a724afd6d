"""Faults between the pipeline and a DMS: each ends in a defined state, nothing lost, nothing created twice."""

from __future__ import annotations

import uuid
import zipfile
from datetime import timedelta
from pathlib import Path

from sqlmodel import col, select, update

from gateway.pipeline.context import PipelineContext
from gateway.pipeline.dms import adapter_spec
from gateway.pipeline.lifecycle import recover_expired_leases
from gateway.pipeline.states import WORK_STATES
from gateway.pipeline.steps import Step
from gateway.pipeline.worker import Worker
from gateway.store.models import DeliveryAttempt, DeliveryOutcome, Message, MessageState
from gateway.store.queue import claim_next
from gateway.store.types import utcnow
from gateway.xoev.generate import generate_message
from tests.pipeline.factories import ARCHIVE_ID, GOTHA
from tests.pipeline_adapters.support import (
    Dms,
    drain,
    export_twice,
    messages,
    objects_of,
    one,
    package,
    package_with,
    read_message,
    set_adapter,
    thread_json,
)


def _attempts(ctx: PipelineContext, message_id: uuid.UUID) -> list[DeliveryAttempt]:
    with ctx.session() as session:
        rows = session.exec(
            select(DeliveryAttempt)
            .where(col(DeliveryAttempt.message_id) == message_id)
            .order_by(col(DeliveryAttempt.id))
        ).all()
        return list(rows)


def _confirmation_in(dms: Dms, code: str, process_id: str = "") -> Path:
    found = [n for n in dms.inbox() if n.startswith(process_id) and n.endswith(f".{code}.xml")]
    assert len(found) == 1, dms.inbox()
    return dms.root / "in" / found[0]


def test_redelivery_after_a_crash_between_import_and_state_change_creates_nothing_twice(
    ctx: PipelineContext, dms: dict[str, Dms], tmp_path: Path
) -> None:
    gotha, archive = dms[GOTHA], dms[ARCHIVE_ID]
    generated, path = package(tmp_path / "made", ctx, seed=41)
    pid = generated.message.kopf.process_id
    gotha.drop(path)
    export_twice(ctx, GOTHA)
    assert Worker(ctx, "sender").run_once()  # Gotha's 0503: queued and put into the archive's mailbox
    assert one(ctx, pid, "0503", "out").state is MessageState.SENT

    with ctx.session() as session:  # a worker takes the archive's copy, imports it ... and dies
        copy = claim_next(session, "doomed", WORK_STATES, ctx.settings.pipeline.lease_seconds)
        assert copy is not None and copy.direction.value == "in"
        copy_id = copy.id
        step = Step(ctx, session, copy, "doomed")
        assert step.check()
        assert copy.state is MessageState.VALIDATED
        spec = adapter_spec(ARCHIVE_ID, dms[ARCHIVE_ID].config())
        assert spec is not None
        step.import_to_dms(spec)
        session.rollback()  # the state change and the rows never commit
    assert archive.inbox() == [path.name]  # the DMS has it, the gateway does not know
    assert objects_of(ctx, copy_id) == []

    with ctx.session() as session:
        later = utcnow() + timedelta(seconds=ctx.settings.pipeline.lease_seconds + 1)
        assert recover_expired_leases(session, actor="test", now=later) == [copy_id]
    drain(ctx, "survivor")

    assert archive.inbox() == [path.name]  # still one copy, no second file under another name
    delivered = one(ctx, pid, "0503", "in")
    assert delivered.state is MessageState.CONFIRMED
    rows = objects_of(ctx, delivered.id)
    assert {r.outcome for r in rows} == {"duplicate"}  # the adapter recognised the redelivery
    assert all(r.dms_id and r.dms_id.startswith(f"in/{path.name}#") for r in rows)
    assert [a.outcome for a in _attempts(ctx, delivered.id)] == [DeliveryOutcome.SUCCEEDED]
    model = read_message(_confirmation_in(gotha, "0506"))
    assert model.outcomes and all(o.success and o.archive_id for o in model.outcomes)
    assert len([m for m in messages(ctx, pid) if m.message_type == "0506"]) == 2  # B's original, A's copy
    assert thread_json(ctx, pid)["complete"]


def test_dms_unavailable_is_retried_with_back_off_then_delivered(
    ctx: PipelineContext, dms: dict[str, Dms], tmp_path: Path
) -> None:
    ctx.settings = ctx.settings.model_copy(
        update={"pipeline": ctx.settings.pipeline.model_copy(update={"retry_base_seconds": 3600.0})}
    )
    gotha, archive = dms[GOTHA], dms[ARCHIVE_ID]
    generated, path = package(tmp_path / "made", ctx, seed=42)
    pid = generated.message.kopf.process_id
    gotha.drop(path)
    export_twice(ctx, GOTHA)
    unmounted = archive.root.rename(tmp_path / "unmounted")  # the archive's share is gone

    drain(ctx)
    waiting = one(ctx, pid, "0503", "in")
    assert waiting.state is MessageState.VALIDATED and waiting.attempts == 1
    assert waiting.error is not None and "not mounted" in waiting.error
    assert waiting.next_attempt_at > utcnow() + timedelta(seconds=3000)  # backed off, not due again
    assert [a.outcome for a in _attempts(ctx, waiting.id)] == [DeliveryOutcome.FAILED]
    assert not [m for m in messages(ctx, pid) if m.message_type == "0506"]

    unmounted.rename(archive.root)
    with ctx.session() as session:  # the back-off has passed
        session.exec(update(Message).where(col(Message.id) == waiting.id).values(next_attempt_at=utcnow()))
        session.commit()
    drain(ctx)

    delivered = one(ctx, pid, "0503", "in")
    assert delivered.state is MessageState.CONFIRMED and delivered.attempts == 2
    assert [a.outcome for a in _attempts(ctx, delivered.id)] == [DeliveryOutcome.FAILED, DeliveryOutcome.SUCCEEDED]
    assert archive.inbox() == [path.name]
    assert all(o.success for o in read_message(_confirmation_in(gotha, "0506")).outcomes)
    assert thread_json(ctx, pid)["complete"]


def test_dms_down_for_good_is_dead_lettered_with_the_reason(
    ctx: PipelineContext, dms: dict[str, Dms], tmp_path: Path
) -> None:
    ctx.settings = ctx.settings.model_copy(
        update={"pipeline": ctx.settings.pipeline.model_copy(update={"max_attempts": 3})}
    )
    gotha, archive = dms[GOTHA], dms[ARCHIVE_ID]
    generated, path = package(tmp_path / "made", ctx, seed=43)
    gotha.drop(path)
    export_twice(ctx, GOTHA)
    archive.root.rename(tmp_path / "unmounted")
    drain(ctx)
    dead = one(ctx, generated.message.kopf.process_id, "0503", "in")
    assert dead.state is MessageState.DEAD_LETTERED and dead.attempts == 3
    assert dead.error is not None and "not mounted" in dead.error
    assert [a.outcome for a in _attempts(ctx, dead.id)] == [DeliveryOutcome.FAILED] * 3
    assert not [m for m in messages(ctx, generated.message.kopf.process_id) if m.message_type == "0506"]


def test_objects_imported_before_fail_the_message_with_a_negative_0506(
    ctx: PipelineContext, dms: dict[str, Dms], tmp_path: Path
) -> None:
    gotha, archive = dms[GOTHA], dms[ARCHIVE_ID]
    _, first_path = package(tmp_path / "first", ctx, seed=44)
    gotha.drop(first_path)
    export_twice(ctx, GOTHA)
    drain(ctx)
    assert archive.inbox() == [first_path.name]

    again = generate_message("3.0.0", "0503", documents=3, size=3000, seed=44)  # the same Akte, in a new process
    again.message.kopf.process_id = str(uuid.uuid4())
    again_path = package_with(again, tmp_path / "again", ctx)
    pid = again.message.kopf.process_id
    gotha.drop(again_path)
    export_twice(ctx, GOTHA)
    drain(ctx)

    failed = one(ctx, pid, "0503", "in")
    assert failed.state is MessageState.FAILED
    assert failed.error is not None and "were imported before" in failed.error
    assert "Importbestaetigung 0506 (0 imported" in failed.error
    assert archive.inbox() == [first_path.name]  # nothing of the second handover reached the DMS
    rows = objects_of(ctx, failed.id)
    assert rows and {r.outcome for r in rows} == {"failed"}
    assert all(r.reason and "already imported from message" in r.reason for r in rows)

    model = read_message(_confirmation_in(gotha, "0506", pid))
    assert [o.id for o in model.outcomes] == [o.id for o in again.message.objects]
    assert all(o.success is False and o.errors and "already imported" in o.errors[0] for o in model.outcomes)
    assert one(ctx, pid, "0506", "out").state is MessageState.SENT
    assert thread_json(ctx, pid)["complete"]  # the sender has its answer, negative as it is


def test_exported_package_missing_a_primary_file_is_refused_with_the_reason(
    ctx: PipelineContext, dms: dict[str, Dms], tmp_path: Path
) -> None:
    gotha = dms[GOTHA]
    generated, path = package(tmp_path / "made", ctx, seed=45)
    broken = tmp_path / "broken" / path.name
    broken.parent.mkdir()
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(broken, "w") as dst:
        victim = next(n for n in src.namelist() if n != path.stem + ".xml")
        for info in src.infolist():
            if info.filename != victim:
                dst.writestr(info, src.read(info.filename))
    gotha.drop(broken)
    rounds = export_twice(ctx, GOTHA)
    assert rounds[1] is not None and [name for name, _ in rounds[1].refused] == [path.name]
    assert gotha.listing("out/failed") == [path.name, path.name + ".reason.txt"]
    reason = (gotha.root / "out" / "failed" / (path.name + ".reason.txt")).read_text(encoding="utf-8")
    assert "invalid" in reason and "XGW-ZIP-009" in reason and victim in reason
    assert messages(ctx, generated.message.kopf.process_id) == []  # nothing entered the pipeline


def test_adapter_config_without_kind_is_retried_then_dead_lettered_naming_the_key(
    ctx: PipelineContext, dms: dict[str, Dms], tmp_path: Path
) -> None:
    ctx.settings = ctx.settings.model_copy(
        update={"pipeline": ctx.settings.pipeline.model_copy(update={"max_attempts": 2})}
    )
    generated, path = package(tmp_path / "made", ctx, seed=46)
    dms[GOTHA].drop(path)
    export_twice(ctx, GOTHA)
    set_adapter(ctx, ARCHIVE_ID, {"path": str(dms[ARCHIVE_ID].root), "gateway": {"export_intervall": 5}})
    drain(ctx)
    dead = one(ctx, generated.message.kopf.process_id, "0503", "in")
    assert dead.state is MessageState.DEAD_LETTERED
    assert dead.error is not None and "gateway.export_intervall: unknown key" in dead.error

"""An Aussonderung as one thread: 0501 -> 0504 -> 0502 -> 0505 -> 0503 -> 0507 -> 0506 through the pipeline."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from gateway.pipeline.context import PipelineContext
from gateway.pipeline.intake import submit
from gateway.pipeline.processes import load_thread, overdue
from gateway.pipeline.worker import Worker
from gateway.samples.generate import generate_message
from gateway.store.types import utcnow
from gateway.xoev.build import build_receipt, serialize, write_package
from gateway.xoev.parsing.parse import parse_message
from gateway.xoev.parsing.safe_xml import parse_xml
from tests.pipeline import factories
from tests.pipeline.factories import ARCHIVE_ID, GOTHA


def step(ctx: PipelineContext, process_id: str) -> tuple[str | None, list[str]]:
    Worker(ctx, "w").drain()
    with ctx.session() as session:
        thread = load_thread(session, process_id, ctx.settings)
    return thread.current_step, sorted(a.code for a in thread.awaited)


def test_aussonderung_runs_as_one_thread(ctx: PipelineContext, tmp_path: Path) -> None:
    name, data = factories.offer(seed=21)
    offer = factories.submit_bytes(ctx, data, filename=name).message
    pid = offer.process_id
    assert step(ctx, pid) == ("0504", ["0502"])  # the archive's receipt came back, the appraisal is due

    offer_model = parse_message(parse_xml(data, ctx.settings.limits))
    appraisal = build_receipt(offer_model, "0502", receipt_requested=True, registry=ctx.registry)
    submit(ctx, [serialize(appraisal.tree)], sender=ARCHIVE_ID, filename=f"{appraisal.stem}.xml", channel="rest")
    assert step(ctx, pid) == ("0505", ["0503"])  # Gotha's gateway confirmed the appraisal

    handover = generate_message("3.0.0", "0503", documents=2, size=4000, seed=21)
    handover.message.kopf.process_id = pid
    package = write_package(handover.message, tmp_path, handover.files, registry=ctx.registry)
    submit(ctx, package.path.open("rb"), sender=GOTHA, filename=package.path.name, channel="rest")
    assert step(ctx, pid) == ("0507", ["0506"])

    import_confirmation = build_receipt(handover.message, "0506", registry=ctx.registry)
    submit(
        ctx,
        [serialize(import_confirmation.tree)],
        sender=ARCHIVE_ID,
        filename=f"{import_confirmation.stem}.xml",
        channel="rest",
    )
    assert step(ctx, pid) == ("0506", [])

    with ctx.session() as session:
        thread = load_thread(session, pid, ctx.settings)
        assert [m.message_type for m in thread.messages] == ["0501", "0504", "0502", "0505", "0503", "0507", "0506"]
        assert {m.state.value for m in thread.messages if m.sender_id == GOTHA} == {"acknowledged", "sent"}
        assert thread.to_json()["complete"]
        assert overdue(session, ctx.settings, now=utcnow() + timedelta(days=3650)) == []


def test_a_process_waiting_past_its_deadline_is_overdue(ctx: PipelineContext) -> None:
    ctx.settings = ctx.settings.model_copy(
        update={
            "pipeline": ctx.settings.pipeline.model_copy(update={"step_deadline_hours": {"0502": 48, "default": 24}})
        }
    )
    name, data = factories.offer(seed=22)
    offer = factories.submit_bytes(ctx, data, filename=name).message
    Worker(ctx, "w").drain()
    with ctx.session() as session:
        thread = load_thread(session, offer.process_id, ctx.settings)
        assert [a.code for a in thread.awaited] == ["0502"]
        assert thread.deadline == offer.created_at + timedelta(hours=48)
        assert overdue(session, ctx.settings, now=offer.created_at + timedelta(hours=47)) == []
        late = overdue(session, ctx.settings, now=offer.created_at + timedelta(hours=49))
        assert [t.process_id for t in late] == [offer.process_id]
        assert late[0].to_json(now=offer.created_at + timedelta(hours=49))["overdue"]
        assert overdue(session, ctx.settings, now=offer.created_at + timedelta(hours=49), participant="psw:1") == []

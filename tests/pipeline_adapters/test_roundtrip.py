"""A package from Gotha's DMS to the archive's DMS and the import confirmation back, through the gateway."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from gateway.participants.tokens import Scope, create_token
from gateway.pipeline.context import PipelineContext
from gateway.pipeline.worker import Worker
from gateway.store.models import MessageState
from gateway.wiring import create_app
from tests.pipeline.factories import ARCHIVE_ID, GOTHA, SAMPLE_SENDER
from tests.pipeline_adapters.support import (
    Dms,
    drain,
    export_twice,
    objects_of,
    one,
    package,
    read_message,
    set_adapter,
    thread_json,
)


def test_package_from_dms_a_lands_in_dms_b_and_the_0506_closes_the_process(
    ctx: PipelineContext, dms: dict[str, Dms], tmp_path: Path
) -> None:
    gotha, archive = dms[GOTHA], dms[ARCHIVE_ID]
    generated, path = package(tmp_path / "made", ctx, seed=31)
    pid = generated.message.kopf.process_id
    gotha.drop(path)

    first, second = export_twice(ctx, GOTHA)
    assert first is not None and first.taken == []  # seen once: not yet known to be complete
    assert second is not None and second.taken == [path.name]
    assert gotha.listing("out") == ["processed"] and gotha.listing("out/processed") == [path.name]

    drain(ctx)

    assert archive.inbox() == [path.name]
    assert (archive.root / "in" / path.name).read_bytes() == path.read_bytes()
    inbound = one(ctx, pid, "0503", "in")
    assert inbound.state is MessageState.CONFIRMED
    rows = objects_of(ctx, inbound.id)
    expected = {o.id for o in generated.message.walk()}
    assert {r.xdomea_id for r in rows} == expected
    assert {r.outcome for r in rows} == {"imported"} and all(r.dms_id and r.adapter == "hotfolder" for r in rows)

    confirmation = one(ctx, pid, "0506", "out")
    assert confirmation.sender_id == ARCHIVE_ID and confirmation.state is MessageState.SENT
    assert confirmation.signature_status == "signed"
    names = gotha.inbox()
    delivered = [n for n in names if "0506" in n]
    assert len(delivered) == 1, names
    model = read_message(gotha.root / "in" / delivered[0])
    handed = [o.id for o in generated.message.objects]
    assert [o.id for o in model.outcomes] == handed
    assert all(o.success for o in model.outcomes)
    by_id = {r.xdomea_id: r.dms_id for r in rows}
    assert [o.archive_id for o in model.outcomes] == [by_id[i] for i in handed]

    offer = one(ctx, pid, "0503", "out")
    assert offer.state is MessageState.ACKNOWLEDGED
    thread = thread_json(ctx, pid)
    assert thread["complete"] and thread["waiting_for"] == [] and thread["current_step"] in {"0506", "0507"}

    # the API shows the sender where its records went, and nothing to another authority's reader
    with ctx.session() as session:
        gotha_token = create_token(session, GOTHA, [Scope.READ]).secret
        sample_token = create_token(session, SAMPLE_SENDER, [Scope.READ]).secret
        session.commit()
    with TestClient(create_app(ctx)) as client:
        for message_id in (offer.id, inbound.id):
            answer = client.get(
                f"/api/v1/messages/{message_id}/dms-objects", headers={"Authorization": f"Bearer {gotha_token}"}
            )
            assert answer.status_code == 200, answer.text
            shown = answer.json()["objects"]
            assert {(o["xdomea_id"], o["dms_id"], o["outcome"]) for o in shown} == {
                (r.xdomea_id, r.dms_id, "imported") for r in rows
            }
        hidden = client.get(
            f"/api/v1/messages/{offer.id}/dms-objects", headers={"Authorization": f"Bearer {sample_token}"}
        )
        assert hidden.status_code == 404


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_worker_loop_exports_each_participant_at_its_interval(
    ctx: PipelineContext, dms: dict[str, Dms], tmp_path: Path
) -> None:
    gotha = dms[GOTHA]
    set_adapter(ctx, GOTHA, gotha.config(gateway={"export_interval": 60}))
    set_adapter(ctx, ARCHIVE_ID, dms[ARCHIVE_ID].config(gateway={"export_interval": 0}))  # on demand only
    generated, path = package(tmp_path / "made", ctx, seed=32)
    gotha.drop(path)
    stray = dms[ARCHIVE_ID].drop(package(tmp_path / "stray", ctx, seed=33)[1])  # never taken: no interval
    worker = Worker(ctx, "w")
    clock = FakeClock()
    worker.exporter.clock = clock

    first = worker.exporter.run_due()
    assert list(first) == [GOTHA] and first[GOTHA].taken == []  # only notes the file (a hotfolder's rule)
    clock.now += 59
    assert worker.exporter.run_due() == {}  # not due yet
    assert gotha.listing("out") == [path.name]
    clock.now += 1
    worker.drain()  # the loop runs the due round between messages, then delivers what it took
    assert gotha.listing("out/processed") == [path.name]
    assert dms[ARCHIVE_ID].inbox() == [path.name]
    assert one(ctx, generated.message.kopf.process_id, "0503", "in").state is MessageState.CONFIRMED
    assert dms[ARCHIVE_ID].listing("out") == [stray.name]  # the archive exports on demand only


def test_abgabe_in_4_0_0_is_answered_with_a_0402_per_object(
    ctx: PipelineContext, dms: dict[str, Dms], tmp_path: Path
) -> None:
    gotha, archive = dms[GOTHA], dms[ARCHIVE_ID]
    generated, path = package(tmp_path / "made", ctx, seed=34, version="4.0.0", message_type="0401")
    pid = generated.message.kopf.process_id
    gotha.drop(path)
    export_twice(ctx, GOTHA)
    drain(ctx)
    assert archive.inbox() == [path.name]
    assert one(ctx, pid, "0401", "in").state is MessageState.CONFIRMED
    delivered = [n for n in gotha.inbox() if "_0402_" in n]
    assert len(delivered) == 1, gotha.inbox()
    model = read_message(gotha.root / "in" / delivered[0])
    assert model.version == "4.0.0" and model.kopf.origin_message_uuid == generated.message.kopf.message_uuid
    assert model.outcomes and all(o.success for o in model.outcomes)
    assert model.success is True
    assert thread_json(ctx, pid)["complete"]

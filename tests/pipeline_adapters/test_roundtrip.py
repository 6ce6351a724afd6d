"""A package from Gotha's DMS to the archive's DMS and the import confirmation back, through the gateway."""

from __future__ import annotations

from pathlib import Path

from gateway.pipeline.context import PipelineContext
from gateway.store.models import MessageState
from tests.pipeline.factories import ARCHIVE_ID, GOTHA
from tests.pipeline_adapters.support import (
    Dms,
    drain,
    export_twice,
    objects_of,
    one,
    package,
    read_message,
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

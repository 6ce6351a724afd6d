"""Issue 9 with real hotfolder DMSs: a DMS's default receipt policy answers from the adapter's facts; a
policy that says the recipient answers makes the gateway write nothing on its behalf."""

from __future__ import annotations

from pathlib import Path

from sqlmodel import col, select

from gateway.pipeline.context import PipelineContext
from gateway.pipeline.intake import submit
from gateway.store.models import Message, MessageState, Participant
from tests.pipeline.factories import ARCHIVE_ID, GOTHA, SAMPLES
from tests.pipeline_adapters.support import Dms, drain, export_twice, one, package

SHARED_0503 = SAMPLES / "3.0.0" / "9fde4e7a-b41b-11ec-9225-005056871b7c_Aussonderung.Aussonderung.0503.zip"


def set_receipts(ctx: PipelineContext, participant: str, policy: dict[str, str]) -> None:
    with ctx.session() as session:
        row = session.exec(select(Participant).where(col(Participant.xoev_id) == participant)).one()
        row.receipt_policy = policy
        session.add(row)
        session.commit()


def types_in(ctx: PipelineContext, process_id: str) -> list[tuple[str, str]]:
    with ctx.session() as session:
        rows = session.exec(select(Message).where(col(Message.process_id) == process_id)).all()
    return sorted((m.message_type, m.direction.value) for m in rows)


def test_a_dms_with_the_default_policy_still_gets_its_0506_from_the_adapters_facts(
    ctx: PipelineContext, dms: dict[str, Dms], tmp_path: Path
) -> None:
    set_receipts(ctx, ARCHIVE_ID, {})  # derived: an importing DMS adapter -> the gateway answers from facts
    generated, path = package(tmp_path / "made", ctx, seed=61)
    pid = generated.message.kopf.process_id
    dms[GOTHA].drop(path)
    export_twice(ctx, GOTHA)
    drain(ctx)
    confirmation = one(ctx, pid, "0506", "out")
    assert confirmation.gateway_made and confirmation.channel == "receipt"
    assert one(ctx, pid, "0503", "in").state is MessageState.CONFIRMED
    assert [n for n in dms[GOTHA].inbox() if "0506" in n]


def test_a_dms_whose_policy_says_it_answers_itself_gets_nothing_made_on_its_behalf(
    ctx: PipelineContext, dms: dict[str, Dms], tmp_path: Path
) -> None:
    set_receipts(ctx, ARCHIVE_ID, {"technical": "recipient", "import_confirmations": "recipient"})
    generated, path = package(tmp_path / "made", ctx, seed=62)
    pid = generated.message.kopf.process_id
    dms[GOTHA].drop(path)
    export_twice(ctx, GOTHA)
    drain(ctx)
    assert dms[ARCHIVE_ID].inbox() == [path.name]  # imported ...
    assert types_in(ctx, pid) == [("0503", "in"), ("0503", "out")]  # ... and nobody answered for the archive
    inbound = one(ctx, pid, "0503", "in")
    assert inbound.state is MessageState.DELIVERED
    assert dms[GOTHA].inbox() == []


def test_a_shared_sample_naming_the_institution_only_is_imported_and_its_0506_finds_the_district(
    ctx: PipelineContext, dms: dict[str, Dms]
) -> None:
    """The real DMS export names no Behoerdenkennung on either side: the REST channel named both, and the
    0506 built from the archive DMS's facts reaches the district although its Empfaenger names none."""
    result = submit(
        ctx, SHARED_0503.open("rb"), sender=GOTHA, filename=SHARED_0503.name, channel="rest", recipient=ARCHIVE_ID
    )
    pid = result.message.process_id
    drain(ctx)
    inbound = one(ctx, pid, "0503", "in")
    assert inbound.state is MessageState.CONFIRMED, (inbound.state, inbound.error)
    assert dms[ARCHIVE_ID].inbox() == [SHARED_0503.name]
    confirmation = one(ctx, pid, "0506", "out")
    assert (confirmation.sender_id, confirmation.recipient_id, confirmation.gateway_made) == (ARCHIVE_ID, GOTHA, True)
    assert "XGW-HDR-008" in {w["rule"] for w in (confirmation.validation_report or {})["warnings"]}
    assert one(ctx, pid, "0506", "in").recipient_id == GOTHA
    assert [n for n in dms[GOTHA].inbox() if "0506" in n]
    assert one(ctx, pid, "0503", "out").state is MessageState.ACKNOWLEDGED


def test_a_package_submitted_without_a_name_is_checked_under_its_message_name_at_the_recipient(
    ctx: PipelineContext, dms: dict[str, Dms]
) -> None:
    """Intake names an unnamed package after its message XML for the naming rule; the recipient's check did
    not, and refused the delivered copy (XGW-ZIP-008 'no message XML named message.xml')."""
    result = submit(ctx, SHARED_0503.open("rb"), sender=GOTHA, filename=None, channel="rest", recipient=ARCHIVE_ID)
    assert result.message.filename is None
    drain(ctx)
    inbound = one(ctx, result.message.process_id, "0503", "in")
    assert inbound.state is MessageState.CONFIRMED, (inbound.state, inbound.error)
    assert len(dms[ARCHIVE_ID].inbox()) == 1

"""Issue 9: senders identified by their channel, no legal answers on another's behalf, versions enforced.

Against a real database and payload store, through intake and the workers: a shared sample naming the
Institution only is accepted from a district's channel with a warning; an archive whose policy is the
default gets no gateway-made 0506/0507, and its own answers (x-man's, naming the Institution only) reach
the district; a recipient's genuine receipt after a gateway-made one is accepted, never a conflict.
"""

from __future__ import annotations

import io

import pytest
from lxml import etree
from pydantic import ValidationError
from sqlmodel import col, select

from gateway.participants.spec import ParticipantSpec, effective_receipts
from gateway.pipeline.context import PipelineContext
from gateway.pipeline.dms import adapter_spec
from gateway.pipeline.errors import ForgedSender, UnknownRecipient, VersionNotAccepted
from gateway.pipeline.intake import submit
from gateway.pipeline.receipts import Answers, answers_for
from gateway.pipeline.worker import Worker
from gateway.samples.generate import generate_message
from gateway.store.models import (
    Direction,
    Message,
    MessageEvent,
    MessageState,
    Participant,
    RouteKind,
    SenderIdentification,
)
from gateway.xoev.build import build, build_receipt, serialize
from gateway.xoev.parsing.parse import parse_message
from gateway.xoev.parsing.safe_xml import parse_xml
from tests.pipeline import factories
from tests.pipeline.factories import ARCHIVE_ID, GOTHA, SAMPLES
from tests.pipeline.test_intake import assert_no_trace

SHARED_0503 = SAMPLES / "3.0.0" / "9fde4e7a-b41b-11ec-9225-005056871b7c_Aussonderung.Aussonderung.0503.zip"
XDOMEA_NS = "urn:xoev-de:xdomea:schema:3.0.0"


def warnings_of(message: Message) -> set[str]:
    return {w["rule"] for w in (message.validation_report or {})["warnings"]}


def set_participant(ctx: PipelineContext, xoev_id: str, **values: object) -> None:
    with ctx.session() as session:
        row = factories.directory_entry(session, xoev_id)
        for key, value in values.items():
            setattr(row, key, value)
        session.add(row)
        session.commit()


def without_kennung(data: bytes, *parties: str) -> bytes:
    """The message with the Behoerdenkennung removed from the named Kopf parties, as x-man and DMS write them."""
    root = etree.fromstring(data)
    for party in parties:
        for kennung in root.iterfind(f"{{{XDOMEA_NS}}}Kopf/{{{XDOMEA_NS}}}{party}/{{{XDOMEA_NS}}}Behoerdenkennung"):
            kennung.getparent().remove(kennung)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def aussonderung(seed: int) -> tuple[str, bytes]:
    generated = generate_message("3.0.0", "0503", documents=2, size=0, seed=seed)
    built = build(generated.message)
    return f"{built.stem}.xml", built.to_bytes()


def by_type(ctx: PipelineContext, process_id: str) -> dict[tuple[Direction, str], list[Message]]:
    with ctx.session() as session:
        rows = session.exec(
            select(Message).where(col(Message.process_id) == process_id).order_by(col(Message.created_at))
        ).all()
    found: dict[tuple[Direction, str], list[Message]] = {}
    for row in rows:
        found.setdefault((row.direction, row.message_type), []).append(row)
    return found


# -- senders and recipients identified by the channel -------------------------------------------------


def test_shared_sample_naming_the_institution_only_is_accepted_from_a_districts_channel(ctx: PipelineContext) -> None:
    result = submit(ctx, SHARED_0503.open("rb"), sender=GOTHA, filename=None, channel="rest", recipient=ARCHIVE_ID)
    message = result.message
    assert result.created
    assert (message.sender_id, message.recipient_id, message.message_type) == (GOTHA, ARCHIVE_ID, "0503")
    assert {"XGW-HDR-007", "XGW-HDR-008"} <= warnings_of(message)
    assert message.validation_report is not None and message.validation_report["valid"]
    assert ctx.payloads.open(message.sha256).read() == SHARED_0503.read_bytes()


def test_without_a_named_recipient_the_shared_sample_is_refused_for_that_reason(ctx: PipelineContext) -> None:
    with pytest.raises(UnknownRecipient) as excinfo:
        submit(ctx, SHARED_0503.open("rb"), sender=GOTHA, filename=None, channel="rest")
    assert excinfo.value.reason == "recipient_not_identified"
    assert_no_trace(ctx)


def test_policy_kennung_refuses_an_absender_without_behoerdenkennung(ctx: PipelineContext) -> None:
    set_participant(ctx, GOTHA, sender_identification=SenderIdentification.KENNUNG)
    with pytest.raises(ForgedSender) as excinfo:
        submit(ctx, SHARED_0503.open("rb"), sender=GOTHA, filename=None, channel="rest", recipient=ARCHIVE_ID)
    assert excinfo.value.reason == "sender_not_identified"
    assert_no_trace(ctx)


def test_another_behoerdenkennung_than_the_channels_is_forged_whatever_the_policy(ctx: PipelineContext) -> None:
    name, data = factories.offer(seed=3)  # names Gotha as Absender
    with ctx.session() as session:
        assert factories.directory_entry(session, ARCHIVE_ID).sender_identification is SenderIdentification.CHANNEL
    with pytest.raises(ForgedSender) as excinfo:
        submit(ctx, io.BytesIO(data), sender=ARCHIVE_ID, filename=name, channel="rest")
    assert (excinfo.value.reason, excinfo.value.claimed) == ("forged_sender", GOTHA)
    assert_no_trace(ctx)


def test_a_recipient_named_by_the_channel_must_agree_with_the_empfaenger(ctx: PipelineContext) -> None:
    name, data = factories.offer(seed=4)  # names the archive as Empfaenger
    with pytest.raises(UnknownRecipient) as excinfo:
        submit(ctx, io.BytesIO(data), sender=GOTHA, filename=name, channel="rest", recipient=factories.SAMPLE_SENDER)
    assert excinfo.value.reason == "recipient_mismatch"
    assert_no_trace(ctx)


# -- versions ---------------------------------------------------------------------------------------------


def test_a_version_the_recipient_does_not_accept_is_refused_naming_the_accepted_ones(ctx: PipelineContext) -> None:
    set_participant(ctx, ARCHIVE_ID, accepted_versions=["3.0.0", "3.1.0"])
    name, data = factories.offer(seed=5, version="4.0.0")
    with pytest.raises(VersionNotAccepted) as excinfo:
        factories.submit_bytes(ctx, data, filename=name)
    refusal = excinfo.value
    assert (refusal.reason, refusal.recipient, refusal.version) == ("version_not_accepted", ARCHIVE_ID, "4.0.0")
    assert refusal.accepted == ["3.0.0", "3.1.0"]
    assert "3.0.0, 3.1.0" in refusal.detail and "4.0.0" in refusal.detail
    assert_no_trace(ctx)
    name, data = factories.offer(seed=5, version="3.1.0")
    assert factories.submit_bytes(ctx, data, filename=name).created


# -- receipts ---------------------------------------------------------------------------------------------


def test_an_archive_with_the_default_policy_gets_no_gateway_answers_and_its_own_0506_reaches_the_district(
    ctx: PipelineContext,
) -> None:
    set_participant(ctx, ARCHIVE_ID, receipt_policy={})  # a mailbox: the archive's own system answers
    name, data = aussonderung(seed=11)
    sent = factories.submit_bytes(ctx, data, filename=name).message
    assert sent.receipt_requested
    Worker(ctx, "w").drain()
    found = by_type(ctx, sent.process_id)
    assert set(found) == {(Direction.OUTBOUND, "0503"), (Direction.INBOUND, "0503")}, found
    delivered = found[(Direction.INBOUND, "0503")][0]
    assert delivered.state is MessageState.DELIVERED

    # x-man's own 0506, naming the Institution only (no Behoerdenkennung on either side)
    model = parse_message(parse_xml(data, ctx.settings.limits))
    own = serialize(build_receipt(model, "0506", registry=ctx.registry).tree)
    own = without_kennung(own, "Absender", "Empfaenger")
    answer = submit(ctx, io.BytesIO(own), sender=ARCHIVE_ID, filename=None, channel="adapter").message
    assert (answer.recipient_id, answer.gateway_made) == (GOTHA, False)
    assert {"XGW-HDR-007", "XGW-HDR-008"} <= warnings_of(answer)
    Worker(ctx, "w").drain()
    found = by_type(ctx, sent.process_id)
    arrived = found[(Direction.INBOUND, "0506")]
    assert [(m.recipient_id, m.state) for m in arrived] == [(GOTHA, MessageState.DELIVERED)]
    assert (Direction.OUTBOUND, "0507") not in found
    with ctx.session() as session:
        assert session.get(Message, sent.id).state is MessageState.ACKNOWLEDGED  # type: ignore[union-attr]


def test_the_recipients_own_receipt_after_the_gateways_is_accepted_and_delivered(ctx: PipelineContext) -> None:
    """The archive's entry says the gateway makes technical receipts; its own 0507 arrives afterwards."""
    name, data = aussonderung(seed=12)
    sent = factories.submit_bytes(ctx, data, filename=name).message
    Worker(ctx, "w").drain()
    made = by_type(ctx, sent.process_id)[(Direction.OUTBOUND, "0507")]
    assert [(m.gateway_made, m.channel) for m in made] == [(True, "receipt")]

    model = parse_message(parse_xml(data, ctx.settings.limits))
    own = serialize(build_receipt(model, "0507", registry=ctx.registry).tree)
    own = own.replace(b"</xdomea:Kopf>", b"</xdomea:Kopf>\n", 1)  # other bytes than the gateway's
    result = submit(ctx, io.BytesIO(own), sender=ARCHIVE_ID, filename=None, channel="rest")
    assert result.created and not result.message.gateway_made
    again = submit(ctx, io.BytesIO(own), sender=ARCHIVE_ID, filename=None, channel="rest")
    assert (again.created, again.message.id) == (False, result.message.id)  # still idempotent
    Worker(ctx, "w").drain()

    found = by_type(ctx, sent.process_id)
    assert sorted(m.gateway_made for m in found[(Direction.OUTBOUND, "0507")]) == [False, True]
    arrived = found[(Direction.INBOUND, "0507")]
    assert sorted((m.gateway_made, m.state.value) for m in arrived) == [(False, "delivered"), (True, "delivered")]
    with ctx.session() as session:
        notes = session.exec(select(MessageEvent.reason).where(col(MessageEvent.message_id) == made[0].id)).all()
    assert any(str(result.message.id) in (n or "") for n in notes)


# -- the policy table ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("route", "adapter", "configured", "expected"),
    [
        (RouteKind.MAILBOX, {"kind": "hotfolder", "path": "/x", "preset": "xman"}, {}, ("recipient", "recipient")),
        (RouteKind.XTA, {}, {}, ("recipient", "recipient")),
        (RouteKind.MAILBOX, {"kind": "hotfolder", "path": "/x"}, {}, ("gateway", "gateway")),
        (RouteKind.MAILBOX, {"kind": "mayan"}, {}, ("gateway", "gateway")),
        (RouteKind.MAILBOX, {}, {}, ("recipient", "recipient")),
        (RouteKind.MAILBOX, {}, {"technical": "gateway"}, ("gateway", "recipient")),
        (RouteKind.MAILBOX, {"kind": "cmis"}, {"import_confirmations": "recipient"}, ("gateway", "recipient")),
    ],
)
def test_receipt_defaults_follow_route_and_adapter(
    route: RouteKind, adapter: dict[str, str], configured: dict[str, str], expected: tuple[str, str]
) -> None:
    effective = effective_receipts(route, adapter, configured)
    assert (effective.technical.value, effective.import_confirmations.value) == expected


def test_an_xman_transfer_directory_gets_no_gateway_answers_even_if_stored_otherwise() -> None:
    row = Participant(
        xoev_id=ARCHIVE_ID,
        display_name="Landesarchiv",
        route_kind=RouteKind.MAILBOX,
        adapter_config={"kind": "hotfolder", "path": "/x", "preset": "xman"},
        receipt_policy={"import_confirmations": "gateway"},  # written by another tool: no facts, so no 0506
    )
    spec = adapter_spec(ARCHIVE_ID, row.adapter_config)
    assert answers_for(row, spec, auto_receipts=True) == Answers(technical=False, confirmations=False)


@pytest.mark.parametrize(
    "adapter", [{}, {"kind": "hotfolder", "path": "/x", "preset": "xman"}], ids=["mailbox", "xman"]
)
def test_gateway_import_confirmations_without_an_importing_adapter_are_refused(adapter: dict[str, str]) -> None:
    with pytest.raises(ValidationError, match="import nobody made"):
        ParticipantSpec.model_validate(
            {
                "id": ARCHIVE_ID,
                "name": "Landesarchiv",
                "adapter": adapter,
                "receipts": {"import_confirmations": "gateway"},
            }
        )
    spec = ParticipantSpec.model_validate({"id": ARCHIVE_ID, "name": "Landesarchiv", "adapter": adapter})
    assert spec.sender_identification is SenderIdentification.CHANNEL

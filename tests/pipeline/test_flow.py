"""The whole way of a message on one gateway: submit, sign, mailbox, verify, deliver, receipt, acknowledge."""

from __future__ import annotations

from sqlmodel import col, select

from gateway.pipeline.context import PipelineContext
from gateway.pipeline.states import FINAL
from gateway.pipeline.worker import Worker
from gateway.store.models import DeliveryAttempt, Direction, Message, MessageEvent, MessageState
from gateway.xoev.parsing.parse import parse_message
from gateway.xoev.parsing.safe_xml import parse_xml
from gateway.xoev.signatures.signature import find_signatures
from tests.pipeline import factories
from tests.pipeline.factories import ARCHIVE_ID, GOTHA

S = MessageState


def history(ctx: PipelineContext, message: Message) -> list[tuple[MessageState | None, MessageState]]:
    with ctx.session() as session:
        events = session.exec(
            select(MessageEvent).where(MessageEvent.message_id == message.id).order_by(col(MessageEvent.id))
        ).all()
    return [(e.from_state, e.to_state) for e in events if e.from_state != e.to_state]


def all_messages(ctx: PipelineContext) -> list[Message]:
    with ctx.session() as session:
        return list(session.exec(select(Message).order_by(col(Message.created_at))).all())


def test_offer_reaches_the_archive_and_its_receipt_comes_back(ctx: PipelineContext) -> None:
    name, data = factories.offer(seed=7)
    offer = factories.submit_bytes(ctx, data, filename=name).message
    worker = Worker(ctx, "test-worker")
    worker.run(once=True)

    messages = all_messages(ctx)
    by_role = {(m.direction, m.message_type): m for m in messages}
    assert set(by_role) == {
        (Direction.OUTBOUND, "0501"),
        (Direction.INBOUND, "0501"),
        (Direction.OUTBOUND, "0504"),
        (Direction.INBOUND, "0504"),
    }
    sent = by_role[(Direction.OUTBOUND, "0501")]
    copy = by_role[(Direction.INBOUND, "0501")]
    receipt = by_role[(Direction.OUTBOUND, "0504")]
    receipt_copy = by_role[(Direction.INBOUND, "0504")]

    assert sent.id == offer.id
    assert history(ctx, sent) == [
        (None, S.RECEIVED),
        (S.RECEIVED, S.VALIDATED),
        (S.VALIDATED, S.SIGNED),
        (S.SIGNED, S.QUEUED),
        (S.QUEUED, S.SENT),
        (S.SENT, S.ACKNOWLEDGED),
    ]
    assert history(ctx, copy) == [
        (None, S.RECEIVED),
        (S.RECEIVED, S.VERIFIED),
        (S.VERIFIED, S.VALIDATED),
        (S.VALIDATED, S.DELIVERED),
        (S.DELIVERED, S.CONFIRMED),
    ]
    assert history(ctx, receipt)[-1] == (S.QUEUED, S.SENT)
    assert history(ctx, receipt_copy)[-1] == (S.VALIDATED, S.DELIVERED)
    assert all(m.lease_owner is None for m in messages)

    # signed by the gateway with Gotha's key; the mailbox copy shares the signed payload and verified it
    assert sent.signature_status == "signed" and sent.payload_ref != sent.sha256
    assert copy.payload_ref == sent.payload_ref and copy.signature_status == "verified"
    assert copy.signer_fingerprint == sent.signer_fingerprint
    with ctx.payloads.open(sent.sha256) as fh:
        assert fh.read() == data  # the bytes as submitted stay available
    with ctx.payloads.open(sent.payload_ref) as fh:
        signed = parse_xml(fh.read(), ctx.settings.limits)
    assert len(find_signatures(signed.getroot())) == 1

    # the receipt: built for the archive in the offer's version, signed with the archive's key
    assert (receipt.sender_id, receipt.recipient_id) == (ARCHIVE_ID, GOTHA)
    assert receipt.process_id == offer.process_id and receipt.xdomea_version == offer.xdomea_version
    assert receipt.reply_to_id == copy.id and receipt.channel == "receipt"
    assert receipt.signature_status == "signed"
    assert receipt_copy.reply_to_id == sent.id and receipt_copy.recipient_id == GOTHA
    with ctx.payloads.open(receipt.sha256) as fh:
        model = parse_message(parse_xml(fh.read(), ctx.settings.limits))
    assert model.code == "0504"
    assert model.kopf.process_id == offer.process_id

    with ctx.session() as session:
        attempts = session.exec(select(DeliveryAttempt).where(DeliveryAttempt.message_id == sent.id)).all()
    assert [(a.peer, a.outcome) for a in attempts] == [(f"mailbox:{ARCHIVE_ID}", "succeeded")]

    # nothing is left to do: another run claims nothing
    assert Worker(ctx, "second").drain() == 0
    assert {m.state for m in all_messages(ctx)} <= FINAL | {S.SENT, S.DELIVERED}

"""Failures: transient ones are retried with back-off and dead-lettered after N tries, permanent ones fail."""

from __future__ import annotations

import socket
from dataclasses import dataclass

from sqlmodel import Session, col, select

from gateway.bridge.xta.sender import XtaTransport
from gateway.pipeline.context import PipelineContext
from gateway.pipeline.steps import Job, advance
from gateway.pipeline.transport import LocalMailbox, SendResult, SendStatus
from gateway.pipeline.worker import Worker
from gateway.store.models import (
    Certificate,
    DeliveryAttempt,
    DeliveryOutcome,
    Message,
    MessageEvent,
    MessageState,
    RouteKind,
)
from gateway.store.queue import claim_next
from tests.pipeline import factories
from tests.pipeline.factories import ARCHIVE_ID, GOTHA

S = MessageState


def with_max_attempts(ctx: PipelineContext, n: int) -> None:
    ctx.settings = ctx.settings.model_copy(
        update={"pipeline": ctx.settings.pipeline.model_copy(update={"max_attempts": n})}
    )


def reload(ctx: PipelineContext, message: Message) -> Message:
    with ctx.session() as session:
        return session.exec(select(Message).where(Message.id == message.id)).one()


def attempts_of(ctx: PipelineContext, message: Message) -> list[DeliveryAttempt]:
    with ctx.session() as session:
        return list(
            session.exec(
                select(DeliveryAttempt)
                .where(DeliveryAttempt.message_id == message.id)
                .order_by(col(DeliveryAttempt.id))
            ).all()
        )


def test_unreachable_route_is_retried_then_dead_lettered(ctx: PipelineContext) -> None:
    """A remote XTA peer that refuses connections: the real XTA transport asks for retries, then dead-letter."""
    with_max_attempts(ctx, 3)
    client = ctx.settings.xta_client.model_copy(update={"max_attempts": 1, "connect_timeout": 2.0})
    ctx.settings = ctx.settings.model_copy(update={"xta_client": client})
    ctx.transports[RouteKind.XTA] = XtaTransport(ctx.settings, ctx.payloads)
    with socket.socket() as probe:  # a loopback port nobody listens on once the probe is closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with ctx.session() as session:
        archive = factories.directory_entry(session, ARCHIVE_ID)
        archive.route_kind = RouteKind.XTA
        archive.endpoint_url = f"http://127.0.0.1:{port}/services/XTAService"
        session.commit()
    name, data = factories.offer(seed=11)
    message = factories.submit_bytes(ctx, data, filename=name).message

    assert Worker(ctx, "w").drain() == 3
    final = reload(ctx, message)
    assert final.state is S.DEAD_LETTERED
    assert final.attempts == 3
    assert final.error is not None
    assert "127.0.0.1" in final.error or "connect" in final.error.lower(), final.error
    assert final.lease_owner is None
    assert [a.outcome for a in attempts_of(ctx, message)] == [DeliveryOutcome.FAILED] * 3
    with ctx.session() as session:
        reasons = [
            e.reason
            for e in session.exec(
                select(MessageEvent).where(MessageEvent.message_id == message.id).order_by(col(MessageEvent.id))
            ).all()
        ]
    assert sum("failed; next try" in r for r in reasons) == 2
    assert reasons[-1] == "given up after 3 tries"
    assert Worker(ctx, "w").drain() == 0


@dataclass
class Flaky:
    """A transport that fails its first ``failures`` sends, then hands over to the local mailbox."""

    failures: int
    calls: int = 0

    def send(self, session: Session, message: Message, *, actor: str) -> SendResult:
        self.calls += 1
        if self.calls <= self.failures:
            return SendResult(SendStatus.RETRY, "flaky", f"connection refused ({self.calls})")
        return LocalMailbox().send(session, message, actor=actor)


def test_transient_failures_are_retried_until_sent(ctx: PipelineContext) -> None:
    flaky = Flaky(failures=2)
    ctx.transports[RouteKind.MAILBOX] = flaky
    name, data = factories.offer(seed=12)
    message = factories.submit_bytes(ctx, data, filename=name).message
    Worker(ctx, "w").drain()
    final = reload(ctx, message)
    assert final.state in (S.SENT, S.ACKNOWLEDGED)
    assert final.error is None
    outcomes = [a.outcome for a in attempts_of(ctx, message)]
    assert outcomes == [DeliveryOutcome.FAILED, DeliveryOutcome.FAILED, DeliveryOutcome.SUCCEEDED]


def test_rejected_by_the_peer_fails_at_once(ctx: PipelineContext) -> None:
    class Refusing:
        def send(self, session: Session, message: Message, *, actor: str) -> SendResult:
            return SendResult(SendStatus.REJECTED, "peer", "unknown recipient at the peer")

    ctx.transports[RouteKind.MAILBOX] = Refusing()
    name, data = factories.offer(seed=13)
    message = factories.submit_bytes(ctx, data, filename=name).message
    Worker(ctx, "w").drain()
    final = reload(ctx, message)
    assert final.state is S.FAILED
    assert final.error == "peer refused the message: unknown recipient at the peer"


def test_no_signing_key_when_signatures_are_required_fails_with_advice(ctx: PipelineContext) -> None:
    with ctx.session() as session:
        gotha = factories.directory_entry(session, GOTHA)
        for row in session.exec(select(Certificate).where(Certificate.participant_id == gotha.id)).all():
            session.delete(row)
        session.commit()
    name, data = factories.offer(seed=14)
    message = factories.submit_bytes(ctx, data, filename=name).message
    Worker(ctx, "w").drain()
    final = reload(ctx, message)
    assert final.state is S.FAILED
    assert final.error is not None and f"xgw keys create {GOTHA}" in final.error
    with ctx.session() as session:
        assert session.exec(select(Message).where(Message.id != message.id)).all() == []


def test_tampered_payload_is_refused_by_the_recipient(ctx: PipelineContext) -> None:
    """The local copy is verified for real: bytes changed after signing fail the recipient's check."""
    name, data = factories.offer(seed=15)
    message = factories.submit_bytes(ctx, data, filename=name).message
    worker = Worker(ctx, "w")
    with ctx.session() as session:
        claimed = claim_next(session, "w", [S.VALIDATED], 30)
        assert claimed is not None
        job = Job(ctx, session, claimed, "w")
        assert advance(job)  # signed
        assert advance(job)  # queued
        signed_path = ctx.payloads.path_of(claimed.payload_ref)
        signed_path.chmod(0o600)
        signed_path.write_bytes(signed_path.read_bytes().replace(b"<xdomea:Betreff>", b"<xdomea:Betreff>X", 1))
        assert not advance(job)  # sent to the mailbox
    worker.drain()
    with ctx.session() as session:
        copy = session.exec(select(Message).where(Message.source_id == message.id)).one()
    assert copy.state is S.FAILED
    assert copy.error is not None and copy.error.startswith("signature refused: XGW-SIG-003")

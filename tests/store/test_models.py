"""The tables as the pipeline will use them, on each database: constraints, cascades, value round trips."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from gateway.store.db import make_session
from gateway.store.models import (
    ApiToken,
    Certificate,
    CertificateUsage,
    DeliveryAttempt,
    DeliveryOutcome,
    Direction,
    Message,
    MessageEvent,
    MessageState,
    Participant,
    RouteKind,
    SignaturePolicy,
)
from tests.store import factories


def participant(xoev_id: str = "psw:16077000") -> Participant:
    return Participant(
        xoev_id=xoev_id,
        display_name="Stadt Musterstadt",
        accepted_versions=["3.0.0", "4.0.0"],
        route_kind=RouteKind.XTA,
        endpoint_url="https://xta.example.org/MsgBox",
        signature_policy=SignaturePolicy.ACCEPT,
        adapter_config={"kind": "hotfolder", "path": "/srv/in", "poll_seconds": 5},
    )


def test_message_round_trip(engine: Engine) -> None:
    msg = factories.message(1, state=MessageState.RECEIVED)
    with make_session(engine) as session:
        session.add(msg)
        session.commit()
    with make_session(engine) as session:
        loaded = session.get(Message, msg.id)
        assert loaded is not None
        assert loaded.model_dump() == msg.model_dump()
        assert loaded.state is MessageState.RECEIVED
        assert loaded.created_at.tzinfo is not None
    with engine.connect() as connection:
        raw = connection.execute(sa.text("SELECT direction, state FROM message")).one()
        assert tuple(raw) == ("out", "received")  # values, not enum names, so SQL reports read well


def test_large_sizes_fit(engine: Engine) -> None:
    msg = factories.message(2)
    msg.size = 40 * 1024**3  # a 40 GiB Aussonderung does not overflow a 32-bit column
    with make_session(engine) as session:
        session.add(msg)
        session.commit()
        session.expire_all()
        assert session.exec(select(Message.size)).one() == 40 * 1024**3


def test_identity_is_unique_per_direction(engine: Engine) -> None:
    process = str(uuid.uuid4())
    with make_session(engine) as session:
        session.add(factories.message(1, process_id=process))
        session.add(factories.message(2, process_id=process, direction=Direction.INBOUND))
        session.add(factories.message(3, process_id=process, message_type="0503"))
        session.commit()
        session.add(factories.message(4, process_id=process))
        with pytest.raises(sa.exc.IntegrityError):
            session.commit()
        session.rollback()
        assert len(session.exec(select(Message).where(col(Message.process_id) == process)).all()) == 3


def test_events_need_an_existing_message_and_go_with_it(engine: Engine) -> None:
    msg = factories.message(1)
    with make_session(engine) as session:
        session.add(MessageEvent(message_id=uuid.uuid4(), to_state=MessageState.RECEIVED, actor="t", reason="r"))
        with pytest.raises(sa.exc.IntegrityError):
            session.commit()
        session.rollback()
        session.add(msg)
        session.commit()
        session.add(MessageEvent(message_id=msg.id, to_state=MessageState.RECEIVED, actor="api", reason="submitted"))
        session.add(DeliveryAttempt(message_id=msg.id, peer="lat:16000001"))
        session.commit()
    with engine.begin() as connection:  # the database cascades, not the ORM
        connection.execute(sa.text("DELETE FROM message"))
    with engine.connect() as connection:
        assert connection.execute(sa.text("SELECT count(*) FROM message_event")).scalar() == 0
        assert connection.execute(sa.text("SELECT count(*) FROM delivery_attempt")).scalar() == 0


def test_event_ids_increase(engine: Engine) -> None:
    msg = factories.message(1)
    with make_session(engine) as session:
        session.add(msg)
        session.commit()
        events = [
            MessageEvent(message_id=msg.id, to_state=MessageState.RECEIVED, actor="api", reason=str(i))
            for i in range(3)
        ]
        session.add_all(events)
        session.commit()
        ids = [event.id for event in events]
        assert all(isinstance(i, int) for i in ids)
        assert ids == sorted(ids)
        assert len(set(ids)) == 3


def test_participant_directory_rows(engine: Engine) -> None:
    not_before = datetime(2026, 1, 1, tzinfo=UTC)
    not_after = datetime(2028, 1, 1, tzinfo=UTC)
    with make_session(engine) as session:
        member = participant()
        session.add(member)
        session.commit()
        assert member.id is not None
        session.add(
            Certificate(
                participant_id=member.id,
                pem="-----BEGIN CERTIFICATE-----\n...\n-----END CERTIFICATE-----\n",
                fingerprint_sha256="ab" * 32,
                not_before=not_before,
                not_after=not_after,
                usage=CertificateUsage.SIGNING,
            )
        )
        session.add(ApiToken(participant_id=member.id, name="dms", token_hash="cd" * 32, scopes=["submit", "read"]))
        session.commit()
    with make_session(engine) as session:
        loaded = session.exec(select(Participant).where(col(Participant.xoev_id) == "psw:16077000")).one()
        assert loaded.accepted_versions == ["3.0.0", "4.0.0"]
        assert loaded.adapter_config == {"kind": "hotfolder", "path": "/srv/in", "poll_seconds": 5}
        assert loaded.signature_policy is SignaturePolicy.ACCEPT
        cert = session.exec(select(Certificate)).one()
        assert (cert.not_before, cert.not_after) == (not_before, not_after)
        token = session.exec(select(ApiToken)).one()
        assert token.scopes == ["submit", "read"]
        assert token.revoked_at is None


@pytest.mark.parametrize(
    ("row", "field"),
    [
        ("participant", "xoev_id"),
        ("certificate", "fingerprint_sha256"),
        ("token", "token_hash"),
    ],
)
def test_directory_uniqueness(engine: Engine, row: str, field: str) -> None:
    with make_session(engine) as session:
        first, second = participant("psw:1"), participant("psw:2")
        session.add_all([first, second])
        session.commit()
        assert first.id is not None
        assert second.id is not None

        def make(owner: int, xoev_id: str) -> Participant | Certificate | ApiToken:
            now = datetime(2026, 1, 1, tzinfo=UTC)
            if row == "participant":
                return participant("psw:1")
            if row == "certificate":
                return Certificate(
                    participant_id=owner,
                    pem="x",
                    fingerprint_sha256="ef" * 32,
                    not_before=now,
                    not_after=now,
                    usage=CertificateUsage.SIGNING,
                )
            return ApiToken(participant_id=owner, name=xoev_id, token_hash="12" * 32, scopes=[])

        if row != "participant":
            session.add(make(first.id, "a"))
            session.commit()
        session.add(make(second.id, "b"))
        with pytest.raises(sa.exc.IntegrityError, match=field):
            session.commit()


def test_deleting_a_participant_removes_its_credentials(engine: Engine) -> None:
    with make_session(engine) as session:
        member = participant()
        session.add(member)
        session.commit()
        assert member.id is not None
        session.add(ApiToken(participant_id=member.id, name="t", token_hash="aa" * 32, scopes=["read"]))
        session.commit()
    with engine.begin() as connection:
        connection.execute(sa.text("DELETE FROM participant"))
    with engine.connect() as connection:
        assert connection.execute(sa.text("SELECT count(*) FROM api_token")).scalar() == 0


def test_delivery_attempt_outcome(engine: Engine) -> None:
    msg = factories.message(1)
    with make_session(engine) as session:
        session.add(msg)
        session.commit()
        attempt = DeliveryAttempt(message_id=msg.id, peer="https://xta.example.org/MsgBox")
        session.add(attempt)
        session.commit()
        attempt.finished_at = datetime.now(UTC)
        attempt.outcome = DeliveryOutcome.REJECTED
        attempt.error = "peer refused: unknown recipient"
        session.commit()
    with make_session(engine) as session:
        loaded = session.exec(select(DeliveryAttempt)).one()
        assert loaded.outcome is DeliveryOutcome.REJECTED
        assert loaded.finished_at is not None

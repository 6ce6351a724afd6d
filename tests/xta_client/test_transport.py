"""XtaTransport: the pipeline's route ``xta`` pushing queued messages to a peer, with a real database."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import Session

from gateway.bridge.xta.sender import XtaTransport, xta_message_id
from gateway.config import Settings
from gateway.pipeline.transport import SendStatus
from gateway.store.db import create_engine, make_session
from gateway.store.migrate import upgrade_database
from gateway.store.models import Direction, Message, MessageState, Participant, RouteKind
from gateway.store.payloads import PayloadStore
from gateway.transport.xta.backend import PartyId
from gateway.transport.xta.memory import Account

from .conftest import Peer
from .support import PERMISSION, free_port, lose_reply

SENDER, RECIPIENT = "psw:16077000", "psw:16000000"
OFFER = b'<xdomea:Aussonderung.Anbieteverzeichnis.0501 xmlns:xdomea="urn:xoev-de:xdomea:schema:3.0.0"/>'


@pytest.fixture
def session(tmp_path: Path) -> Iterator[Session]:
    engine = create_engine(f"sqlite:///{tmp_path / 'gateway.db'}")
    upgrade_database(engine)
    with make_session(engine) as session:
        yield session
    engine.dispose()


def queued(session: Session, payloads: PayloadStore, endpoint_url: str) -> Message:
    for xoev_id, route, url in ((SENDER, RouteKind.MAILBOX, None), (RECIPIENT, RouteKind.XTA, endpoint_url)):
        session.add(
            Participant(
                xoev_id=xoev_id, display_name=xoev_id, accepted_versions=["3.0.0"], route_kind=route, endpoint_url=url
            )
        )
    ref = payloads.put_bytes(OFFER)
    message = Message(
        direction=Direction.OUTBOUND,
        process_id=str(uuid.uuid4()),
        message_type="0501",
        xdomea_version="3.0.0",
        sender_id=SENDER,
        recipient_id=RECIPIENT,
        state=MessageState.QUEUED,
        size=ref.size,
        sha256=ref.sha256,
        payload_ref=ref.sha256,
        content_hash=ref.sha256,
        filename="0501_offer.xml",
    )
    session.add(message)
    session.commit()
    return message


@pytest.fixture
def payloads(tmp_path: Path) -> PayloadStore:
    return PayloadStore(tmp_path / "payloads")


def test_a_queued_message_reaches_the_peer_once(peer: Peer, session: Session, payloads: PayloadStore) -> None:
    for xoev_id in (SENDER, RECIPIENT):
        peer.backend.add_account(Account(PartyId(xoev_id, "xoev")))
    message = queued(session, payloads, peer.url)
    transport = XtaTransport(peer.settings, payloads)
    first = transport.send(session, message, actor="test")
    assert first.status is SendStatus.SENT, first.detail
    assert first.peer == peer.url
    meta, stored, _ = peer.backend.message(xta_message_id(message))
    assert stored.path.read_bytes() == OFFER and stored.info.filename == "0501_offer.xml"
    assert (meta.author.value, meta.reader.value, meta.service) == (
        SENDER,
        RECIPIENT,
        "urn:xoev-de:xdomea:schema:3.0.0",
    )
    assert meta.message_type.code == "0501"

    peer.front.script = [lose_reply]  # a worker killed after sending tries again
    again = transport.send(session, message, actor="test")
    assert again.status is SendStatus.SENT and "9024" in again.detail
    assert [s.state.value for s in transport.health()] == ["closed"]
    transport.close()


def test_refusals_and_outages_map_to_rejected_and_retry(
    peer: Peer, session: Session, payloads: PayloadStore, settings: Settings
) -> None:
    peer.backend.add_account(Account(PartyId(SENDER, "xoev")))
    message = queued(session, payloads, peer.url)
    transport = XtaTransport(peer.settings, payloads)
    unknown_reader = transport.send(session, message, actor="test")
    assert unknown_reader.status is SendStatus.REJECTED and "does not offer service" in unknown_reader.detail

    peer.front.script = [PERMISSION]
    locked = transport.send(session, message, actor="test")
    assert locked.status is SendStatus.REJECTED and "9011" in locked.detail

    recipient = session.get(Participant, 2)
    assert recipient is not None
    recipient.endpoint_url = f"http://127.0.0.1:{free_port()}/services/XTAService"
    session.add(recipient)
    session.commit()
    down = transport.send(session, message, actor="test")
    assert down.status is SendStatus.RETRY and "ConnectionError" in down.detail

    recipient.endpoint_url = "https://xta.example.de/services/XTAService"
    session.add(recipient)
    session.commit()
    unconfigured = transport.send(session, message, actor="test")
    assert unconfigured.status is SendStatus.REJECTED and "xta_client.peers" in unconfigured.detail

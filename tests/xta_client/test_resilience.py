"""Misbehaving servers: slow, garbage, faults, lost replies, down for a while, and the circuit breaker."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config import Settings
from gateway.transport.xta.memory import Account, MemoryBackend
from gateway.transport.xta_client.breaker import BreakerRegistry, BreakerState
from gateway.transport.xta_client.client import XtaClient
from gateway.transport.xta_client.errors import (
    BadReply,
    CircuitOpen,
    ConnectionFailed,
    HttpError,
    HttpRefused,
    PermanentFault,
    Timeout,
    TransientFault,
    XtaClientError,
)
from gateway.transport.xta_client.peer import make_peer
from tests.xta.support import make_app

from .conftest import Peer
from .support import (
    AUTHOR,
    HTML_502,
    NOT_FOUND,
    NOT_XML,
    PERMISSION,
    READER,
    TECHNICAL,
    answer,
    content,
    free_port,
    lose_reply,
    meta,
    serve_on,
    slow,
    truncate_reply,
)


def test_a_slow_answer_times_out_and_is_retried(peer: Peer) -> None:
    peer.front.script = [slow(0.9), slow(0.9)]
    with peer.client() as client:
        client.check_account_active(AUTHOR)
    assert [type(e) for e in peer.retries] == [Timeout, Timeout]
    assert peer.front.posts == 3


def test_a_peer_that_stays_slow_gives_a_transient_timeout(peer: Peer) -> None:
    peer.front.script = [slow(0.9)] * 3
    with peer.client() as client, pytest.raises(Timeout) as caught:
        client.create_message_id(AUTHOR)
    assert caught.value.retryable and caught.value.operation == "createMessageId"
    assert peer.front.posts == 3


@pytest.mark.parametrize(
    ("behaviour", "error"),
    [
        (NOT_XML, BadReply),
        (answer(200, "text/html", b"<html><body>maintenance</body></html>"), BadReply),
        (HTML_502, HttpError),
        (answer(503, "text/plain", b""), HttpError),
        (TECHNICAL, TransientFault),
    ],
)
def test_transient_garbage_and_technical_faults_are_retried(
    peer: Peer, behaviour: object, error: type[XtaClientError]
) -> None:
    peer.front.script = [behaviour]  # type: ignore[list-item]
    with peer.client() as client:
        assert client.create_message_id(AUTHOR).startswith("urn:")
    assert [type(e) for e in peer.retries] == [error]
    if error is TransientFault:
        fault = peer.retries[0].fault  # type: ignore[attr-defined]
        assert (fault.exception, fault.code) == ("XTAWSTechnicalProblemException", "9030")


@pytest.mark.parametrize(
    ("behaviour", "error"),
    [(PERMISSION, PermanentFault), (NOT_FOUND, HttpRefused)],
)
def test_permanent_answers_are_not_retried(peer: Peer, behaviour: object, error: type[XtaClientError]) -> None:
    peer.front.script = [behaviour]  # type: ignore[list-item]
    with peer.client() as client, pytest.raises(error) as caught:
        client.check_account_active(AUTHOR)
    assert not caught.value.retryable
    assert peer.front.posts == 1 and peer.retries == []
    if error is PermanentFault:
        assert caught.value.fault.code == "9011"  # type: ignore[attr-defined]
        assert "locked by the operator" in str(caught.value)


def test_a_truncated_mtom_reply_is_refused_and_fetched_again(peer: Peer, tmp_path: Path) -> None:
    with peer.client() as client:
        client.send(meta("urn:test:cut"), content(tmp_path / "m.xml", b"<m/>" * 5000), check=False)
        peer.front.script = [truncate_reply(0.6)]
        with client.get_message(READER, "urn:test:cut") as fetched:
            assert fetched.message.message.path.read_bytes() == b"<m/>" * 5000
    assert [type(e) for e in peer.retries] == [BadReply]
    assert "last boundary" in str(peer.retries[0])
    assert not any((tmp_path / "client-spool").rglob("*.part")), "the cut reply's parts must be cleaned up"


def test_a_lost_send_reply_is_not_duplicated(peer: Peer, tmp_path: Path) -> None:
    peer.front.script = [lose_reply]  # the server stores the message, the client sees a 502
    with peer.client() as client:
        outcome = client.send(meta("urn:test:once"), content(tmp_path / "m.xml", b"<m/>"), check=False)
    assert outcome.confirmed_duplicate and outcome.message_id == "urn:test:once"
    assert peer.front.actions == ["SendMessage", "SendMessage", "GetTransportReport"]
    assert [type(e) for e in peer.retries] == [HttpError]
    assert peer.backend.message("urn:test:once")[1].path.read_bytes() == b"<m/>"
    with peer.client() as client:
        assert [m.message_id for m in client.status_list(READER).items] == ["urn:test:once"]


def test_9024_for_someone_elses_message_stays_a_fault(peer: Peer, tmp_path: Path) -> None:
    other = Account(AUTHOR.__class__("dvdv:11111111", "xoev"))
    peer.backend.add_account(other)
    with peer.client() as client:
        client.send(meta("urn:test:taken", author=other.party), content(tmp_path / "a.xml", b"<a/>"), check=False)
        with pytest.raises(PermanentFault) as caught:
            client.send(meta("urn:test:taken"), content(tmp_path / "b.xml", b"<b/>"), check=False)
    assert caught.value.code == "9024"
    assert peer.backend.message("urn:test:taken")[0].author == other.party


def test_messages_wait_while_the_peer_is_down_then_arrive_once_each(settings: Settings, tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/services/XTAService"
    items = [(meta(f"urn:test:queued-{n}"), content(tmp_path / f"m{n}.xml", f"<m>{n}</m>".encode())) for n in range(3)]
    errors: list[XtaClientError] = []
    with XtaClient(make_peer(url), settings, sleep=lambda s: None, on_retry=lambda e, n: errors.append(e)) as client:
        for order, item in items:
            with pytest.raises(ConnectionFailed):
                client.send(order, item, check=False)
        assert errors and all(isinstance(e, ConnectionFailed) for e in errors)
        backend = MemoryBackend(tmp_path / "content", [Account(AUTHOR), Account(READER)])
        with serve_on(make_app(backend, settings), port) as up:
            assert up == url
            outcomes = [client.send(order, item, check=False) for order, item in items]
            again = [client.send(order, item, check=False) for order, item in items]  # a worker repeating its tries
            listed = client.status_list(READER).items
    assert [o.confirmed_duplicate for o in outcomes] == [False] * 3
    assert [o.confirmed_duplicate for o in again] == [True] * 3
    assert sorted(m.message_id for m in listed) == [f"urn:test:queued-{n}" for n in range(3)]


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_circuit_breaker_opens_and_closes(peer: Peer) -> None:
    clock = FakeClock()
    breakers = BreakerRegistry(threshold=3, cooldown=10.0, clock=clock)
    settings = peer.settings.model_copy(
        update={"xta_client": peer.settings.xta_client.model_copy(update={"max_attempts": 1})}
    )
    client = XtaClient(make_peer(peer.url), settings, breakers=breakers, sleep=lambda s: None)
    peer.front.script = [HTML_502] * 3 + [TECHNICAL]
    for _ in range(3):
        with pytest.raises(HttpError):
            client.check_account_active(AUTHOR)
    assert client.breaker.state is BreakerState.OPEN
    with pytest.raises(CircuitOpen) as caught:
        client.check_account_active(AUTHOR)
    assert caught.value.retryable
    assert peer.front.posts == 3, "an open circuit must not reach the peer"
    snapshot = breakers.snapshots()[0]
    assert (snapshot.state, snapshot.consecutive_failures, snapshot.opened_count) == (BreakerState.OPEN, 3, 1)

    clock.now += 10.0  # cool-down over: one trial call, which fails -> open again
    assert client.breaker.state is BreakerState.HALF_OPEN
    with pytest.raises(TransientFault):
        client.check_account_active(AUTHOR)
    assert client.breaker.state is BreakerState.OPEN and breakers.snapshots()[0].opened_count == 2
    with pytest.raises(CircuitOpen):
        client.check_account_active(AUTHOR)

    clock.now += 10.0  # the trial succeeds -> closed
    client.check_account_active(AUTHOR)
    assert client.breaker.state is BreakerState.CLOSED
    client.check_account_active(AUTHOR)
    assert peer.front.posts == 6
    client.close()


def test_permanent_faults_do_not_open_the_circuit(peer: Peer) -> None:
    breakers = BreakerRegistry(threshold=2, cooldown=10.0, clock=FakeClock())
    client = XtaClient(make_peer(peer.url), peer.settings, breakers=breakers, sleep=lambda s: None)
    peer.front.script = [PERMISSION] * 3
    for _ in range(3):
        with pytest.raises(PermanentFault):
            client.check_account_active(AUTHOR)
    assert client.breaker.state is BreakerState.CLOSED
    client.close()

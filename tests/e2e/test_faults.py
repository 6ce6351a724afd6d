"""Faults between the two gateways: B down, slow, answering garbage or faults, restarted mid-transfer.

A routes the archive through a :class:`FaultyPeer` in front of B (passing bytes through unless told
otherwise). A's timeouts and retry back-off are short; every wait is bounded. What must hold: nothing
is lost, nothing arrives twice, and what went wrong is in A's message history, classified (transient:
retried; permanent: the message fails with the fault).
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from gateway.store.models import Direction, Message
from gateway.xoev.schemas.registry import SchemaRegistry
from tests.e2e.exchange import delivery, wait_arrived
from tests.e2e.faulty_peer import FaultyPeer, Mode
from tests.e2e.support import Node, Pair, make_pair, offer, submit, wait_for

FAST_CLIENT = {"xta_client": {"connect_timeout": 1.0, "read_timeout": 1.0, "operation_timeout": 30.0}}


@pytest.fixture(scope="module")
def faulty(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Pair, FaultyPeer]]:
    fronts: list[FaultyPeer] = []

    def front(b: Node) -> str:
        fronts.append(FaultyPeer(b.port, b.identity, str(b.pki.ca_file), pause=3.0))
        return fronts[0].xta_url

    made = make_pair(tmp_path_factory.mktemp("faults"), a_extra=FAST_CLIENT, archive_url=front)
    made.start()
    try:
        yield made, fronts[0]
    finally:
        fronts[0].mode = Mode.PASS
        made.stop()
        fronts[0].close()


@pytest.fixture
def pair(faulty: tuple[Pair, FaultyPeer]) -> Iterator[Pair]:
    made, front = faulty
    front.mode = Mode.PASS
    for node in (made.a, made.b):
        if node.process is None or node.process.poll() is not None:
            node.start()
    yield made
    front.mode = Mode.PASS


def outbound(node: Node, message_id: str) -> Message:
    (found,) = [m for m in node.messages(direction=Direction.OUTBOUND) if str(m.id) == message_id]
    return found


def errors(node: Node, message_id: str) -> list[str]:
    return [e.error for e in node.events(outbound(node, message_id)) if e.error]


def failed_tries(node: Node, message_id: str, at_least: int) -> list[str] | None:
    found = errors(node, message_id)
    return found if len(found) >= at_least else None


def sent_at_a(pair: Pair, message_id: str) -> str:
    """Wait until A has recorded the hand-over: B stores the message a moment before A reads B's answer."""

    def state() -> str | None:
        value = outbound(pair.a, message_id).state.value
        return value if value in ("sent", "acknowledged") else None

    found: str = wait_for("A to record the message as sent", state, seconds=60)
    return found


def story(pair: Pair, process_id: str) -> str:
    """Every message of the process at both nodes with its events: what a timeout message needs to be read."""
    lines = []
    for node in (pair.a, pair.b):
        for m in node.messages(process_id=process_id):
            lines.append(f"{node.name} {m.direction.value} {m.message_type} {m.state.value} attempts={m.attempts}")
            lines += [f"    {e.from_state}->{e.to_state} {e.error or ''}"[:300] for e in node.events(m)]
    return "\n".join(lines) + "\nB's log:\n" + pair.b.log_tail(2000) + "\nA's log:\n" + pair.a.log_tail(2000)


def arrived_once(pair: Pair, process_id: str, code: str = "0501") -> Message:
    try:
        delivered = wait_arrived(pair.b, code, process_id, "delivered", "confirmed")
    except AssertionError as timeout:
        raise AssertionError(f"{timeout}\n{story(pair, process_id)}") from None
    copies = pair.b.messages(process_id=process_id, message_type=code, direction=Direction.INBOUND)
    assert len(copies) == 1, copies
    return delivered


def test_b_down_for_a_while(pair: Pair) -> None:
    """Messages wait at A while B is down, then each arrives once."""
    pair.b.stop()
    offers = [offer(seed=4200 + i) for i in range(2)]
    ids = [submit(pair.a, pair.tokens["district"], name, data)["id"] for _, name, data in offers]
    for message_id in ids:
        tries = wait_for("failed tries at A", partial(failed_tries, pair.a, message_id, 2), seconds=60)
        assert outbound(pair.a, message_id).state.value == "queued"
        assert any("ConnectionFailed" in e or "connect" in e.lower() for e in tries), tries
    pair.b.start()
    for model, _, _ in offers:
        arrived_once(pair, model.kopf.process_id)
    for message_id in ids:
        assert sent_at_a(pair, message_id) in ("sent", "acknowledged")


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        (Mode.SLOW, "timed out"),
        (Mode.GARBAGE, "not a SOAP 1.2 envelope"),
        (Mode.TECHNICAL_FAULT, "9030"),
    ],
)
def test_transient_trouble_is_retried_and_reported(pair: Pair, faulty: Any, mode: Mode, expected: str) -> None:
    front: FaultyPeer = faulty[1]
    front.mode = mode
    model, name, data = offer(seed=4300 + list(Mode).index(mode))
    message_id = submit(pair.a, pair.tokens["district"], name, data)["id"]
    tries = wait_for(
        "failed tries at A",
        lambda: failed_tries(pair.a, message_id, 2),
        seconds=60,
        why=lambda: [(e.to_state, e.reason, e.error) for e in pair.a.events(outbound(pair.a, message_id))],
    )
    assert any(expected in e for e in tries), tries
    assert front.count(mode) >= 2
    front.mode = Mode.PASS
    arrived_once(pair, model.kopf.process_id)
    assert sent_at_a(pair, message_id) in ("sent", "acknowledged")
    # A's history, as its API shows it, names each failed try
    with pair.a.http(pair.tokens["district"]) as client:
        detail = client.get(f"/api/v1/messages/{message_id}").json()
    assert sum(1 for e in detail["events"] if e["error"] and expected in e["error"]) >= 2, detail["events"]


def test_a_permission_fault_fails_the_message_with_the_fault(pair: Pair, faulty: Any) -> None:
    front: FaultyPeer = faulty[1]
    front.mode = Mode.PERMISSION_FAULT
    model, name, data = offer(seed=4400)
    message_id = submit(pair.a, pair.tokens["district"], name, data)["id"]

    def failed_at_a() -> Message | None:
        found = outbound(pair.a, message_id)
        return found if found.state.value == "failed" else None

    failed = wait_for("the message to fail at A", failed_at_a, seconds=60)
    assert failed.error is not None and "9014" in failed.error, failed.error
    assert front.count(Mode.PERMISSION_FAULT) == 1  # permanent: not retried
    assert pair.b.messages(process_id=model.kopf.process_id) == []


def test_b_restarted_mid_transfer(pair: Pair, registry: SchemaRegistry, tmp_path: Path) -> None:
    """B is killed while a package streams in; after its restart the package arrives once, intact."""
    model, _, _ = offer(seed=4500)
    name, data = delivery(tmp_path, model, 4501, registry, size=48 * 1024 * 1024)
    spool = pair.b.folder / "var" / "xta-spool"
    message_id = submit(pair.a, pair.tokens["district"], name, data)["id"]

    def streaming() -> bool:
        return spool.is_dir() and any(p.is_file() for p in spool.rglob("*"))

    wait_for("the package to stream into B", streaming, seconds=60, every=0.01)
    pair.b.kill()
    pair.b.start()
    delivered = arrived_once(pair, model.kopf.process_id, "0503")
    assert pair.b.payload(delivered.payload_ref) == data
    assert sent_at_a(pair, message_id) in ("sent", "acknowledged")

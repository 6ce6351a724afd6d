"""MessageIDs over the pipeline (issue 11): one commit per sendMessage, and the ledger's rules unchanged.

A durable sendMessage used to cost three commits (intake, the MessageID claim, the link between id and
message), each an fsync before the reply. The id is now taken inside intake's own transaction, so these
tests count the commits of a call and check what must not change with it: an id is used once (a resend
whose reply was lost gets 9024), an identical message under a new id is the stored one, and two concurrent
calls under the same id store one message and get one 9024 -- forced here by holding both calls after the
ledger check until both have passed it, so that only the transaction can decide.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import Session
from zeep.exceptions import Fault

from gateway.bridge.xta import ids
from gateway.store.models import XtaMessageId
from tests.pipeline.factories import offer
from tests.xta_pipeline.support import ARCHIVE, GOTHA, Gateway, Xta, fault_of


@contextmanager
def commits(engine: sa.Engine) -> Iterator[list[str]]:
    """The commits on ``engine`` while the block runs (the server runs in this process, on this engine)."""
    seen: list[str] = []

    def on_commit(_connection: sa.Connection) -> None:
        seen.append(threading.current_thread().name)

    sa.event.listen(engine, "commit", on_commit)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "commit", on_commit)


def ledger(gateway: Gateway, message_id: str) -> XtaMessageId | None:
    with Session(gateway.ctx.engine) as session:
        return session.get(XtaMessageId, message_id)


def test_a_send_message_is_one_commit(gateway: Gateway) -> None:
    xta = Xta(gateway)
    reserved = xta.new_id(GOTHA)
    for number, message_id in enumerate((reserved, "urn:test:chosen-by-the-client")):
        name, data = offer(seed=60 + number)
        with commits(gateway.ctx.engine) as seen:
            xta.send(message_id, data, name, GOTHA)
        assert len(seen) == 1, f"{message_id}: {len(seen)} commits"
        row = ledger(gateway, message_id)
        assert row is not None and row.used_at is not None and row.account == GOTHA
        stored = gateway.message(row.message_id) if row.message_id else None
        assert stored is not None and stored.xta_message_id == message_id
        assert stored.xta_meta is not None and stored.xta_meta["author"] is not None


def test_a_resend_is_refused_or_linked_as_before(gateway: Gateway) -> None:
    xta = Xta(gateway)
    name, data = offer(seed=64)
    xta.send("urn:test:first", data, name, GOTHA)
    first = ledger(gateway, "urn:test:first")
    assert first is not None and first.message_id is not None

    # the reply was lost and the client sends again under the same id: 9024, nothing stored
    before = gateway.trace()
    with pytest.raises(Fault) as caught:
        xta.send("urn:test:first", data, name, GOTHA)
    assert fault_of(caught.value) == ("ParameterIsNotValidException", "9024")
    assert gateway.trace() == before

    # ... or under a new id: the stored message, which keeps the id it first arrived under; one commit
    with commits(gateway.ctx.engine) as seen:
        xta.send("urn:test:again", data, name, GOTHA)
    assert len(seen) == 1
    again = ledger(gateway, "urn:test:again")
    assert again is not None and again.message_id == first.message_id and again.used_at is not None
    assert len(gateway.messages()) == 1
    assert gateway.message(first.message_id).xta_message_id == "urn:test:first"

    # an id reserved for another account stays refused, and stays reserved for it
    theirs = xta.new_id(ARCHIVE)
    other_name, other = offer(seed=65)
    with pytest.raises(Fault) as caught:
        xta.send(theirs, other, other_name, GOTHA)
    assert fault_of(caught.value) == ("ParameterIsNotValidException", "9024")
    row = ledger(gateway, theirs)
    assert row is not None and row.account == ARCHIVE and row.used_at is None and row.message_id is None


def both_past_the_check(monkeypatch: pytest.MonkeyPatch) -> None:
    """Hold every sendMessage after the ledger check until a second one has passed it too."""
    barrier = threading.Barrier(2, timeout=30)
    real: Callable[..., None] = ids.check_available

    def held(*args: Any) -> None:
        real(*args)
        barrier.wait()

    monkeypatch.setattr(ids, "check_available", held)


@pytest.mark.parametrize("same_content", [True, False], ids=["same-message", "other-message"])
def test_concurrent_sends_under_one_id_store_one_message(
    gateway: Gateway, monkeypatch: pytest.MonkeyPatch, same_content: bool
) -> None:
    message_id = "urn:test:raced"
    messages = [offer(seed=70), offer(seed=70 if same_content else 71)]
    both_past_the_check(monkeypatch)
    outcomes: list[str] = []

    def send(index: int) -> None:
        name, data = messages[index]
        try:
            Xta(gateway).send(message_id, data, name, GOTHA)
            outcomes.append("stored")
        except Fault as fault:
            outcomes.append(fault_of(fault)[1])

    threads = [threading.Thread(target=send, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(outcomes) == ["9024", "stored"], outcomes
    stored = gateway.messages()
    assert len(stored) == 1
    row = ledger(gateway, message_id)
    assert row is not None and row.message_id == stored[0].id
    assert stored[0].xta_message_id == message_id

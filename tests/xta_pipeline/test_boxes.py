"""Whose box holds what: isolation between accounts, paging and iterators, cancelling, a peer gateway's sends."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from pathlib import Path

import pytest
from zeep.exceptions import Fault

from gateway.config import Settings
from gateway.pipeline.lifecycle import release as release_lease
from gateway.pipeline.lifecycle import transition
from gateway.store.models import Direction, Message, MessageState
from gateway.store.queue import claim_next
from gateway.store.types import utcnow
from gateway.xoev.build import build
from gateway.xoev.generate import generate_message
from gateway.xoev.model import Party
from gateway.xoev.schemas.registry import SchemaRegistry
from tests.pipeline.factories import offer
from tests.xta_pipeline.support import (
    ALTENBURG,
    ARCHIVE,
    GOTHA,
    PEER_A,
    Gateway,
    Xta,
    author,
    fault_of,
    message_ids,
    running_gateway,
)


def unknown(call: object) -> tuple[str, str]:
    assert callable(call)
    with pytest.raises(Fault) as caught:
        call()
    return fault_of(caught.value)


NOT_KNOWN = ("InvalidMessageIDException", "9070")


def test_another_account_can_neither_see_nor_touch_a_message(gateway: Gateway) -> None:
    xta = Xta(gateway)
    name, data = offer(seed=31)
    message_id = xta.new_id(GOTHA)
    xta.send(message_id, data, name, GOTHA)
    gateway.work()

    listed = xta.msgbox.getStatusList(ListForm="MessageMetaData", _soapheaders=author(ARCHIVE))
    assert message_ids(listed) == [message_id]
    archive_cursor = listed["header"]["FetchResponseHeader"]["MsgBoxRequestID"]

    assert xta.status_list(ALTENBURG) == []
    assert unknown(lambda: xta.fetch(ALTENBURG, message_id)) == NOT_KNOWN
    assert unknown(lambda: xta.msgbox.getMessage(_soapheaders=author(ALTENBURG))) == NOT_KNOWN
    assert unknown(lambda: xta.close(ALTENBURG, archive_cursor, message_id)) == NOT_KNOWN
    assert unknown(lambda: xta.report(ALTENBURG, message_id)) == NOT_KNOWN
    assert unknown(lambda: xta.report(ARCHIVE, message_id)) == NOT_KNOWN  # the reader is not the author
    assert unknown(lambda: xta.management.cancelMessage(message_id, _soapheaders=author(ALTENBURG))) == NOT_KNOWN
    # another box's iterator is no key to it
    assert (
        unknown(
            lambda: xta.msgbox.getNextStatusList(
                MsgBoxRequestID=archive_cursor,
                LastMsgReceived=[{"_value_1": message_id}],
                _soapheaders=author(ALTENBURG),
            )
        )
        == NOT_KNOWN
    )
    assert xta.status_list(ARCHIVE) == [message_id]  # untouched by all of that


def test_next_status_list_keeps_the_page_size(gateway: Gateway) -> None:
    """The cursor carries maxListItems, since MsgBoxGetNextRequest has none of its own."""
    xta = Xta(gateway)
    sent = []
    for seed in (51, 52, 53):
        name, data = offer(seed=seed)
        message_id = f"urn:test:size:{seed}"
        xta.send(message_id, data, name, GOTHA)
        sent.append(message_id)
        gateway.work()

    page = xta.msgbox.getStatusList(ListForm="MessageMetaData", maxListItems=1, _soapheaders=author(ARCHIVE))
    pages = [message_ids(page)]
    for _ in range(2):
        page = xta.msgbox.getNextStatusList(
            MsgBoxRequestID=page["header"]["FetchResponseHeader"]["MsgBoxRequestID"],
            LastMsgReceived=[{"_value_1": pages[-1][-1]}],
            _soapheaders=author(ARCHIVE),
        )
        pages.append(message_ids(page))
    assert pages == [[sent[0]], [sent[1]], [sent[2]]]


def test_paging_and_iterators(gateway: Gateway) -> None:
    xta = Xta(gateway)
    sent = []
    for seed in (41, 42, 43):
        name, data = offer(seed=seed)
        message_id = f"urn:test:page:{seed}"
        xta.send(message_id, data, name, GOTHA)
        sent.append(message_id)
        gateway.work()  # one after the other: the box keeps the order of delivery

    first = xta.msgbox.getStatusList(ListForm="MessageMetaData", maxListItems=2, _soapheaders=author(ARCHIVE))
    assert message_ids(first) == sent[:2]
    header = first["header"]["FetchResponseHeader"]
    assert header["ItemsPending"] == 1
    rest = xta.msgbox.getNextStatusList(
        MsgBoxRequestID=header["MsgBoxRequestID"], LastMsgReceived=[{"_value_1": sent[1]}], _soapheaders=author(ARCHIVE)
    )
    assert message_ids(rest) == sent[2:]

    fetched = xta.msgbox.getMessage(_soapheaders=author(ARCHIVE))
    assert fetched["header"]["MessageMetaData"]["MsgIdentification"]["MessageID"]["_value_1"] == sent[0]
    request_id = fetched["header"]["FetchResponseHeader"]["MsgBoxRequestID"]
    assert fetched["header"]["FetchResponseHeader"]["ItemsPending"] == 2
    following = xta.msgbox.getNextMessage(
        MsgBoxRequestID=request_id, LastMsgReceived=[{"_value_1": sent[0]}], _soapheaders=author(ARCHIVE)
    )
    assert following["header"]["MessageMetaData"]["MsgIdentification"]["MessageID"]["_value_1"] == sent[1]

    # only messages never fetched are new
    fresh = xta.status_list(ARCHIVE, MsgSelector={"newEntry": True})
    assert fresh == sent[2:]

    xta.close(ARCHIVE, following["header"]["FetchResponseHeader"]["MsgBoxRequestID"], sent[0], sent[1])
    assert xta.status_list(ARCHIVE) == sent[2:]
    assert unknown(lambda: xta.close(ARCHIVE, request_id, sent[0])) == NOT_KNOWN  # closed is closed


def test_cancel_only_before_sending(gateway: Gateway) -> None:
    xta = Xta(gateway)
    name, data = offer(seed=51)
    message_id = xta.new_id(GOTHA)
    xta.send(message_id, data, name, GOTHA)
    assert xta.management.cancelMessage(message_id, _soapheaders=author(GOTHA)) is None
    report = xta.report(GOTHA, message_id)
    assert report["MessageStatus"]["Status"] == 3
    assert [e["Code"]["code"] for e in report["MessageStatus"]["ErrorList"]["Error"]] == ["cancelled"]
    gateway.work()
    assert xta.status_list(ARCHIVE) == []
    [row] = gateway.messages()
    assert row.state is MessageState.CANCELLED

    name, data = offer(seed=52)
    xta.send("urn:test:too-late", data, name, GOTHA)
    gateway.work()
    with pytest.raises(Fault) as caught:
        xta.management.cancelMessage("urn:test:too-late", _soapheaders=author(GOTHA))
    assert fault_of(caught.value) == ("CancelDeniedException", "9000")
    assert "acknowledged" in str(caught.value.message)


def test_a_peer_gateway_delivers_to_a_local_box(
    database_url: str, tmp_path: Path, settings: Settings, registry: SchemaRegistry
) -> None:
    """A participant reached through a peer gateway sends: the message arrives inbound and is delivered here."""
    generated = generate_message("3.0.0", "0501", documents=1, size=0, seed=61)
    sender = Party(institution="Stadtverwaltung Weimar", authority_prefix="psw", authority_id="16055000")
    message = dataclasses.replace(generated.message, kopf=dataclasses.replace(generated.message.kopf, sender=sender))
    built = build(message)
    # no automatic receipt: it would go back to the peer, which these tests do not run
    with running_gateway(database_url, tmp_path, settings, registry, pipeline={"auto_receipts": False}) as gateway:
        xta = Xta(gateway)
        xta.send("urn:de:xta:messageid:peer:61", built.to_bytes(), f"{built.stem}.xml", PEER_A)
        [row] = gateway.messages()
        assert (row.direction, row.sender_id, row.recipient_id) == (Direction.INBOUND, PEER_A, ARCHIVE)
        assert xta.report(PEER_A, "urn:de:xta:messageid:peer:61")["MessageStatus"]["Status"] == 0
        gateway.work()
        assert xta.status_list(ARCHIVE) == ["urn:de:xta:messageid:peer:61"]
        assert xta.report(PEER_A, "urn:de:xta:messageid:peer:61")["MessageStatus"]["Status"] == 1
        fetched = xta.fetch(ARCHIVE, "urn:de:xta:messageid:peer:61")
        assert fetched["body"]["ContentContainer"]["Message"]["_value_1"] == built.to_bytes()


def test_report_turns_yellow_on_a_failed_try_and_red_when_given_up(gateway: Gateway) -> None:
    """What a worker records for a failed try and for giving up (the queue's own primitives) shows in the report."""
    xta = Xta(gateway)
    name, data = offer(seed=71)
    xta.send("urn:test:unlucky", data, name, GOTHA)
    with gateway.ctx.session() as session:
        claimed = claim_next(session, "unlucky-worker", [MessageState.VALIDATED], 30.0)
        assert claimed is not None
        release_lease(
            session,
            claimed,
            "unlucky-worker",
            "try 1 failed; next try in 60 s",
            error="peer unreachable",
            retry_at=utcnow() + timedelta(hours=1),
        )
    report = xta.report(GOTHA, "urn:test:unlucky")
    assert report["MessageStatus"]["Status"] == 2
    [warning] = report["MessageStatus"]["WarnList"]["Warning"]
    assert warning["Code"]["code"] == "retry" and "peer unreachable" in warning["Reason"]

    with gateway.ctx.session() as session:
        row = session.get(Message, claimed.id)
        assert row is not None
        transition(session, row, MessageState.DEAD_LETTERED, "unlucky-worker", "given up after 8 tries", "peer gone")
    report = xta.report(GOTHA, "urn:test:unlucky")
    assert report["MessageStatus"]["Status"] == 3
    [error] = report["MessageStatus"]["ErrorList"]["Error"]
    assert error["Code"]["code"] == "dead_lettered" and "peer gone" in error["Reason"]

"""Every operation of the client against our own XTA server over real HTTP, and the two flows."""

from __future__ import annotations

import hashlib
import os
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gateway.transport.xta.backend import DeliveryTimes, PartyId, ReportStatus
from gateway.transport.xta_client.client import Fetched
from gateway.transport.xta_client.errors import PermanentFault

from .conftest import Peer
from .support import AUTHOR, READER, SERVICE, content, meta

STRANGER = PartyId("dvdv:99999999", "xoev")


def test_send_flow_delivers_content_byte_identical_as_mtom(peer: Peer, tmp_path: Path) -> None:
    big = os.urandom(3 * 1024 * 1024 + 17)
    message = content(tmp_path / "0501.xml", b"<xdomea>offer</xdomea>")
    attachment = content(tmp_path / "akte.zip", big, "application/zip")
    with peer.client() as client:
        outcome = client.send(meta(), message, [attachment])
    assert outcome.message_id.startswith("urn:")
    assert outcome.report.status is ReportStatus.GREEN
    assert outcome.availability is not None and outcome.availability.available is True
    assert not outcome.confirmed_duplicate
    assert peer.front.actions == [
        "CheckAccountActive",
        "IsServiceAvailable",
        "CreateMessageID",
        "SendMessage",
        "GetTransportReport",
    ]
    stored, first, rest = peer.backend.message(outcome.message_id)
    assert first.path.read_bytes() == b"<xdomea>offer</xdomea>"
    assert first.info.filename == "0501.xml" and first.info.content_type == "application/xml"
    assert [hashlib.sha256(a.path.read_bytes()).digest() for a in rest] == [hashlib.sha256(big).digest()]
    assert rest[0].info.filename == "akte.zip"
    assert stored.author == AUTHOR and stored.reader == READER and stored.service == SERVICE


def test_small_content_can_go_inline(peer: Peer, tmp_path: Path) -> None:
    message = content(tmp_path / "0501.xml", b"<xdomea/>")
    with peer.client(inline_max_bytes=1024) as client:
        outcome = client.send(meta("urn:test:inline"), message, check=False)
    assert outcome.message_id == "urn:test:inline"
    assert peer.backend.message("urn:test:inline")[1].path.read_bytes() == b"<xdomea/>"


def test_receive_flow_fetches_each_message_then_closes_it(peer: Peer, tmp_path: Path) -> None:
    with peer.client() as client:
        for n in range(3):
            item = content(tmp_path / f"m{n}.xml", f"<m>{n}</m>".encode())
            client.send(meta(f"urn:test:{n}"), item, [content(tmp_path / f"a{n}.pdf", b"%PDF" * n, "application/pdf")])
        seen: dict[str, list[bytes]] = {}

        def handler(fetched: Fetched) -> None:
            seen[fetched.meta.message_id] = [c.path.read_bytes() for c in fetched.contents]
            assert [c.info.filename for c in fetched.contents] == [
                f"m{fetched.meta.message_id[-1]}.xml",
                f"a{fetched.meta.message_id[-1]}.pdf",
            ]

        done = client.receive(READER, handler)
        assert done == ["urn:test:0", "urn:test:1", "urn:test:2"]
        assert seen["urn:test:2"] == [b"<m>2</m>", b"%PDF%PDF"]
        assert client.status_list(READER).items == ()
        report = client.transport_report(AUTHOR, "urn:test:1")
        assert [i.code.code for i in report.infos] == ["delivered", "received"]
    assert not any((tmp_path / "client-spool").rglob("*.part")), "fetched content must not stay in the spool"


def test_paging_and_next_operations(peer: Peer, tmp_path: Path) -> None:
    with peer.client() as client:
        for n in range(3):
            client.send(meta(f"urn:test:{n}"), content(tmp_path / f"m{n}.xml", b"<m/>"), check=False)
        page = client.status_list(READER, max_items=2)
        assert [m.message_id for m in page.items] == ["urn:test:0", "urn:test:1"] and page.pending == 1
        rest = client.next_status_list(READER, page.request_id)
        assert [m.message_id for m in rest.items] == ["urn:test:2"]
        with client.get_message(READER) as first:
            assert first.meta.message_id == "urn:test:0" and first.message.pending == 2
            request_id = first.message.request_id
        with client.get_next_message(READER, request_id, ["urn:test:0"]) as second:
            assert second.meta.message_id == "urn:test:1"
        client.close_messages(READER, ["urn:test:0", "urn:test:1"], request_id)
        assert [m.message_id for m in client.status_list(READER).items] == ["urn:test:2"]


def test_management_operations(peer: Peer, tmp_path: Path) -> None:
    with peer.client() as client:
        client.check_account_active(AUTHOR)
        first, second = client.create_message_id(AUTHOR), client.create_message_id(AUTHOR)
        assert first != second
        answers = client.lookup_service(AUTHOR, [(READER, SERVICE), (STRANGER, SERVICE)])
        assert [(a.reader, a.available) for a in answers] == [(READER, True), (STRANGER, False)]
        later = datetime.now(UTC) + timedelta(days=1)
        order = replace(meta("urn:test:later"), delivery=DeliveryTimes(not_before=later))
        client.send_message(order, content(tmp_path / "m.xml", b"<m/>"))
        client.cancel_message(AUTHOR, "urn:test:later")
        report = client.transport_report(AUTHOR, "urn:test:later")
        assert report.status is ReportStatus.RED
        assert report.meta.delivery.not_before == later


@pytest.mark.parametrize(
    ("call", "exception", "code"),
    [
        (lambda c, p: c.check_account_active(STRANGER), "PermissionDeniedException", "9012"),
        (lambda c, p: c.transport_report(AUTHOR, "urn:test:unknown"), "InvalidMessageIDException", "9070"),
        (lambda c, p: c.cancel_message(AUTHOR, "urn:test:unknown"), "InvalidMessageIDException", "9070"),
        (lambda c, p: c.get_message(READER, "urn:test:unknown"), "InvalidMessageIDException", "9070"),
        (lambda c, p: c.close_messages(READER, ["urn:test:unknown"]), "InvalidMessageIDException", "9070"),
        (
            lambda c, p: c.send_message_sync(meta("urn:test:sync"), content(p / "m.xml", b"<m/>")),
            "SyncAsyncException",
            "9080",
        ),
    ],
)
def test_request_faults_are_permanent_and_not_retried(
    peer: Peer, tmp_path: Path, call: object, exception: str, code: str
) -> None:
    with peer.client() as client, pytest.raises(PermanentFault) as caught:
        call(client, tmp_path)  # type: ignore[operator]
    assert caught.value.fault.exception == exception
    assert caught.value.code == code
    assert caught.value.fault.reason.startswith(code)
    assert peer.front.posts == 1 and peer.retries == []


def test_a_reader_the_peer_cannot_reach_is_refused_before_sending(peer: Peer, tmp_path: Path) -> None:
    from gateway.transport.xta_client.errors import PermanentError

    with peer.client() as client, pytest.raises(PermanentError, match="does not offer service"):
        client.send(meta(reader=STRANGER), content(tmp_path / "m.xml", b"<m/>"))
    assert "SendMessage" not in peer.front.actions

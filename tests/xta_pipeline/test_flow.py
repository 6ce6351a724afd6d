"""One offer through the XTA ports and the pipeline: send, report, MsgBox, fetch, close, receipt back."""

from __future__ import annotations

from gateway.bridge.xta.meta import MESSAGE_ID_PREFIX
from gateway.store.models import Direction, MessageState
from gateway.transport.xta.ns import OSCIMETA, XTA
from gateway.transport.xta.schemas import XtaSchemas
from tests.pipeline.factories import offer
from tests.xta import cxf
from tests.xta.support import ACTIONS, check_reply, envelope, split_mtom
from tests.xta.test_cxf_client import container_xml
from tests.xta_pipeline.support import (
    ARCHIVE,
    GOTHA,
    SERVICE_3,
    Gateway,
    Xta,
    author,
    identifier_xml,
    message_ids,
    meta_xml,
    party,
)

S = MessageState


def test_offer_reaches_the_archive_box_and_the_receipt_comes_back(gateway: Gateway) -> None:
    xta = Xta(gateway)
    name, data = offer(seed=11)
    message_id = xta.new_id(GOTHA)
    assert message_id.startswith(MESSAGE_ID_PREFIX)

    xta.send(message_id, data, name, GOTHA)
    [stored] = gateway.messages()
    assert (stored.direction, stored.channel, stored.sender_id, stored.recipient_id) == (
        Direction.OUTBOUND,
        "xta",
        GOTHA,
        ARCHIVE,
    )
    assert stored.xta_message_id == message_id and stored.filename == name
    assert stored.xta_meta is not None and stored.xta_meta["subject"] == "Anbietung 2026"

    before = xta.report(GOTHA, message_id)
    assert before["MessageStatus"]["Status"] == 0  # nothing has worked on it yet
    assert before["MessageMetaData"]["MsgIdentification"]["MessageID"]["_value_1"] == message_id
    assert [i["Code"]["code"] for i in before["MessageStatus"]["InfoList"]["Info"]] == ["received", "validated"]

    assert gateway.work() > 0  # sign (not: no key), route, hand to the archive's mailbox, deliver, answer
    after = xta.report(GOTHA, message_id)
    assert after["MessageStatus"]["Status"] == 1
    assert "sent" in [i["Code"]["code"] for i in after["MessageStatus"]["InfoList"]["Info"]]
    assert after["MessageMetaData"]["DeliveryAttributes"]["Delivery"] is not None

    # the archive's box: the offer under the id its author used, with the author's transport order
    listed = xta.msgbox.getStatusList(ListForm="MessageMetaData", maxListItems=10, _soapheaders=author(ARCHIVE))
    assert message_ids(listed) == [message_id]
    meta = listed["body"]["MessageMetaData"][0]
    assert meta["Originators"]["Author"]["Identifier"]["_value_1"] == GOTHA
    assert meta["Destinations"]["Reader"]["Identifier"]["_value_1"] == ARCHIVE
    assert meta["Qualifier"]["MessageType"]["code"] == "0501"
    assert meta["Qualifier"]["Service"] == "urn:xoev-de:xdomea:schema:3.0.0"
    assert meta["Qualifier"]["Subject"] == "Anbietung 2026"
    assert meta["MsgSize"] == len(data)
    assert meta["DeliveryAttributes"]["Delivery"] is not None
    assert meta["DeliveryAttributes"]["InitialFetch"] is None

    fetched = xta.fetch(ARCHIVE, message_id)
    content = fetched["body"]["ContentContainer"]["Message"]
    # zeep strips CR/LF around a part marked exactly "binary"; a file ending in LF is marked "Binary": exact
    assert data.endswith(b"\n") and content["_value_1"] == data
    assert content["filename"] == name and content["contentType"] == "application/xml"
    assert fetched["header"]["MessageMetaData"]["DeliveryAttributes"]["InitialFetch"] is not None
    request_id = fetched["header"]["FetchResponseHeader"]["MsgBoxRequestID"]

    xta.close(ARCHIVE, request_id, message_id)
    assert xta.status_list(ARCHIVE) == []
    [copy] = [m for m in gateway.messages() if m.direction is Direction.INBOUND and m.message_type == "0501"]
    assert copy.state is S.CONFIRMED and copy.xta_closed_at is not None  # confirmed by its receipt, then closed
    reasons = [e.reason for e in gateway.events(copy.id) if e.from_state == e.to_state]
    assert any("fetched by" in r for r in reasons) and any("XTA close" in r for r in reasons)
    closed = xta.report(GOTHA, message_id)["MessageMetaData"]["DeliveryAttributes"]
    assert closed["InitialFetch"] is not None and closed["Reception"] is not None

    # the Empfangsbestaetigung the gateway built for the archive waits in Gotha's box
    [receipt_id] = xta.status_list(GOTHA)
    receipt = xta.fetch(GOTHA, receipt_id)
    receipt_meta = receipt["header"]["MessageMetaData"]
    assert receipt_meta["Qualifier"]["MessageType"]["code"] == "0504"
    assert receipt_meta["Originators"]["Author"]["Identifier"]["_value_1"] == ARCHIVE
    assert b"0504" in receipt["body"]["ContentContainer"]["Message"]["_value_1"]
    xta.close(GOTHA, receipt["header"]["FetchResponseHeader"]["MsgBoxRequestID"], receipt_id)
    assert xta.status_list(GOTHA) == []
    [receipt_copy] = [m for m in gateway.messages() if m.direction is Direction.INBOUND and m.message_type == "0504"]
    assert receipt_copy.state is S.CONFIRMED  # nobody else had to act on it: the close confirms it
    assert [(e.from_state, e.to_state) for e in gateway.events(receipt_copy.id)][-1] == (S.DELIVERED, S.CONFIRMED)
    assert gateway.message(stored.id).state is S.ACKNOWLEDGED  # the receipt acknowledged the offer


def test_mtom_client_sends_and_fetches_byte_identical(gateway: Gateway, xta_schemas: XtaSchemas) -> None:
    """The same way for a CXF-built client: MTOM requests, MTOM reply with the content as a binary part."""
    name, data = offer(seed=12)
    message_id = "urn:de:xta:messageid:client-chosen:12"  # ids need not come from createMessageId
    part = cxf.Part(cxf.new_cid(), data)
    url = gateway.port_url("SendXtaPort")
    body = container_xml([("Message", part.content_id, name)])
    framed = cxf.frame(
        ACTIONS["sendMessage"],
        envelope(ACTIONS["sendMessage"], url, meta_xml(message_id, GOTHA, ARCHIVE), body),
        [part],
    )
    response = cxf.post(url, framed)
    assert response.status_code == 200, response.text
    gateway.work()

    url = gateway.port_url("MsgBoxPort")
    action = ACTIONS["getMessage"]
    request = (
        '<osci:MsgBoxFetchRequest xmlns:osci="http://www.osci.eu/ws/2008/05/transport">'
        f'<osci:MsgSelector><MessageID xmlns="http://www.w3.org/2005/08/addressing">{message_id}</MessageID>'
        "</osci:MsgSelector></osci:MsgBoxFetchRequest>"
    )
    reply = cxf.post(url, cxf.frame(action, envelope(action, url, identifier_xml("Author", party(ARCHIVE)), request)))
    assert reply.status_code == 200, reply.text
    root_part, parts, _ = split_mtom(reply.headers["content-type"], reply.content)
    root = check_reply(xta_schemas, root_part, parts)
    item = root.find(f".//{{{XTA}}}Message")
    assert item is not None and item.get("filename") == name
    assert list(parts.values()) == [data]
    assert (
        root.findtext(f".//{{{OSCIMETA}}}MsgIdentification/{{http://www.w3.org/2005/08/addressing}}MessageID")
        == message_id
    )


def test_lookup_service_answers_from_the_directory(gateway: Gateway) -> None:
    xta = Xta(gateway)
    asked = [(ARCHIVE, "urn:xoev-de:xdomea:schema:3.0.0"), (ARCHIVE, "urn:x:other"), ("psw:99999999", SERVICE_3)]
    result = xta.management.lookupService(
        LookupServiceRequestList=[
            {"LookupService": {"Reader": {"Identifier": {"_value_1": who, "type": "xoev"}}, "ServiceType": service}}
            for who, service in asked
        ],
        _soapheaders=author(GOTHA),
    )
    assert len(result) == 3
    # read the reply itself: zeep renders an available "false" as an empty choice
    body = xta.history.last_received["envelope"]
    answers = [e.text for e in body.iter(f"{{{XTA}}}ServiceIsAvailable")]
    assert answers == ["true", "false", "false"]

"""zeep, loading the WSDL from the running server, calls every operation; every reply validates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import zeep
from lxml import etree
from zeep.exceptions import Fault
from zeep.plugins import HistoryPlugin

from gateway.transport.xta.ns import OSCI, SOAP12, WSA, XTA
from gateway.transport.xta.schemas import XtaSchemas

from .support import ACTIONS, AUTHOR, READER, STRANGER, RunningServer, author_header, meta_xml


class Xta:
    """zeep bound to the three ports of a running server, recording each exchange."""

    def __init__(self, server: RunningServer) -> None:
        self.history = HistoryPlugin(maxlen=50)
        self.client = zeep.Client(server.port_url("ManagementPort") + "?wsdl", plugins=[self.history])
        self.management = self.client.bind("XTAService", "ManagementPort")
        self.send = self.client.bind("XTAService", "SendXtaPort")
        self.msgbox = self.client.bind("XTAService", "MsgBoxPort")

    def received(self) -> etree._Element:
        envelope: etree._Element = self.history.last_received["envelope"]
        return envelope

    def sent_message_id(self) -> str:
        sent: etree._Element = self.history.last_sent["envelope"]
        return str(sent.findtext(f"{{{SOAP12}}}Header/{{{WSA}}}MessageID"))


def as_author(party: Any = AUTHOR) -> list[etree._Element]:
    return [etree.fromstring(author_header(party))]


def check(xta: Xta, schemas: XtaSchemas, action: str) -> etree._Element:
    """Validate the last reply strictly and check its WS-Addressing headers."""
    envelope = xta.received()
    schemas.check(envelope)
    header = envelope.find(f"{{{SOAP12}}}Header")
    body = envelope.find(f"{{{SOAP12}}}Body")
    assert header is not None and body is not None
    for element in [*header, *body]:
        schemas.check(element)
    assert header.findtext(f"{{{WSA}}}Action") == action
    assert header.findtext(f"{{{WSA}}}RelatesTo") == xta.sent_message_id()
    assert (header.findtext(f"{{{WSA}}}MessageID") or "").startswith("urn:uuid:")
    return body


def send(xta: Xta, message_id: str, *, attachments: int = 1, **meta: Any) -> None:
    xta.send.sendMessage(
        ContentContainer={
            "Message": {"_value_1": b"<xdomea/>", "contentType": "application/xml", "filename": "0501.xml"},
            "Attachment": [
                {"_value_1": bytes(range(256)) * (i + 1), "contentType": "application/pdf", "filename": f"a{i}.pdf"}
                for i in range(attachments)
            ],
        },
        _soapheaders=[etree.fromstring(meta_xml(message_id, **meta))],
    )


def test_wsdl_is_served_with_the_real_port_addresses(server: RunningServer) -> None:
    xta = Xta(server)  # loads the WSDL and every imported XSD from the server itself
    for port in ("ManagementPort", "SendXtaPort", "MsgBoxPort"):
        assert xta.client.service._binding
        address = xta.client.wsdl.services["XTAService"].ports[port].binding_options["address"]
        assert address == server.port_url(port)


def test_management_operations(server: RunningServer, xta_schemas: XtaSchemas) -> None:
    xta = Xta(server)
    assert xta.management.checkAccountActive(_soapheaders=as_author()) is None
    body = check(xta, xta_schemas, ACTIONS["checkAccountActive"])
    assert len(body) == 0

    created = xta.management.createMessageId(_soapheaders=as_author())
    body = check(xta, xta_schemas, ACTIONS["createMessageId"])
    assert body[0].tag == f"{{{WSA}}}MessageID" and body[0].text == created["_value_1"]

    result = xta.management.lookupService(
        LookupServiceRequestList=[
            {"LookupService": {"Reader": {"Identifier": {"_value_1": p.value, "type": p.type}}, "ServiceType": "urn:x"}}
            for p in (READER, STRANGER)
        ],
        _soapheaders=as_author(),
    )
    body = check(xta, xta_schemas, ACTIONS["lookupService"])
    assert len(result) == 2
    answers = [e.text for e in body.iter(f"{{{XTA}}}ServiceIsAvailable")]
    assert answers == ["true", "false"]


def test_send_report_and_cancel(server: RunningServer, xta_schemas: XtaSchemas) -> None:
    xta = Xta(server)
    message_id = xta.management.createMessageId(_soapheaders=as_author())["_value_1"]
    send(xta, message_id, attachments=2)
    assert len(check(xta, xta_schemas, ACTIONS["sendMessage"])) == 0

    meta, message, attachments = server.backend.message(message_id)
    assert message.path.read_bytes() == b"<xdomea/>"
    assert message.info.filename == "0501.xml" and message.info.content_type == "application/xml"
    assert [a.path.read_bytes() for a in attachments] == [bytes(range(256)), bytes(range(256)) * 2]
    assert meta.author == AUTHOR and meta.reader == READER

    report = xta.management.getTransportReport(message_id, _soapheaders=as_author())
    check(xta, xta_schemas, ACTIONS["getTransportReport"])
    assert report["MessageStatus"]["Status"] == 1
    assert report["MessageMetaData"]["MsgIdentification"]["MessageID"]["_value_1"] == message_id
    assert report["XTAServerIdentity"] == "xoev-gateway"

    later = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    own_id = "urn:de:xta:messageid:client-chosen:1"  # a client may choose its own id
    send(xta, own_id, attachments=0, not_before=later)
    assert xta.management.cancelMessage(own_id, _soapheaders=as_author()) is None
    check(xta, xta_schemas, ACTIONS["cancelMessage"])
    report = xta.management.getTransportReport(own_id, _soapheaders=as_author())
    assert report["MessageStatus"]["Status"] == 3


def test_receive_flow(server: RunningServer, xta_schemas: XtaSchemas) -> None:
    xta = Xta(server)
    reader = as_author(READER)
    empty = xta.msgbox.getStatusList(ListForm="MessageMetaData", maxListItems=10, _soapheaders=reader)
    body = check(xta, xta_schemas, ACTIONS["getStatusList"])
    assert body[0].tag == f"{{{OSCI}}}MsgStatusList" and len(body[0]) == 0
    assert empty["body"] is None or not empty["body"]["MessageMetaData"]

    for n in range(3):
        send(xta, f"urn:test:{n}")
    listed = xta.msgbox.getStatusList(ListForm="MessageMetaData", maxListItems=2, _soapheaders=reader)
    check(xta, xta_schemas, ACTIONS["getStatusList"])
    ids = [m["MsgIdentification"]["MessageID"]["_value_1"] for m in listed["body"]["MessageMetaData"]]
    assert ids == ["urn:test:0", "urn:test:1"]
    request_id = listed["header"]["FetchResponseHeader"]["MsgBoxRequestID"]
    assert listed["header"]["FetchResponseHeader"]["ItemsPending"] == 1

    rest = xta.msgbox.getNextStatusList(
        MsgBoxRequestID=request_id, LastMsgReceived=[{"_value_1": "urn:test:1"}], _soapheaders=reader
    )
    check(xta, xta_schemas, ACTIONS["getNextStatusList"])
    assert [m["MsgIdentification"]["MessageID"]["_value_1"] for m in rest["body"]["MessageMetaData"]] == ["urn:test:2"]

    fetched = xta.msgbox.getMessage(MsgSelector={"MessageID": [{"_value_1": "urn:test:1"}]}, _soapheaders=reader)
    check(xta, xta_schemas, ACTIONS["getMessage"])
    container = fetched["body"]["ContentContainer"]
    assert container["Message"]["_value_1"] == b"<xdomea/>"
    assert container["Message"]["filename"] == "0501.xml"
    assert container["Attachment"][0]["_value_1"] == bytes(range(256))
    assert fetched["header"]["MessageMetaData"]["MsgIdentification"]["MessageID"]["_value_1"] == "urn:test:1"

    first = xta.msgbox.getMessage(_soapheaders=reader)
    request_id = first["header"]["FetchResponseHeader"]["MsgBoxRequestID"]
    first_id = first["header"]["MessageMetaData"]["MsgIdentification"]["MessageID"]["_value_1"]
    following = xta.msgbox.getNextMessage(
        MsgBoxRequestID=request_id, LastMsgReceived=[{"_value_1": first_id}], _soapheaders=reader
    )
    check(xta, xta_schemas, ACTIONS["getNextMessage"])
    second_id = following["header"]["MessageMetaData"]["MsgIdentification"]["MessageID"]["_value_1"]
    assert {first_id, second_id} == {"urn:test:0", "urn:test:1"}

    assert (
        xta.msgbox.close(
            MsgBoxRequestID=request_id,
            LastMsgReceived=[{"_value_1": first_id}, {"_value_1": second_id}],
            _soapheaders=reader,
        )
        is None
    )
    check(xta, xta_schemas, ACTIONS["close"])
    remaining = xta.msgbox.getStatusList(ListForm="MessageMetaData", _soapheaders=reader)
    ids = [m["MsgIdentification"]["MessageID"]["_value_1"] for m in remaining["body"]["MessageMetaData"]]
    assert ids == ["urn:test:2"]
    report = xta.management.getTransportReport("urn:test:0", _soapheaders=as_author())
    assert report["MessageMetaData"]["DeliveryAttributes"]["Reception"] is not None


def test_next_status_list_keeps_the_page_size(server: RunningServer, xta_schemas: XtaSchemas) -> None:
    """MsgBoxGetNextRequest has no maxListItems: each next page is as long as the first one asked for."""
    xta = Xta(server)
    reader = as_author(READER)
    for n in range(5):
        send(xta, f"urn:page:{n}", attachments=0)

    def ids(page: Any) -> list[str]:
        return [m["MsgIdentification"]["MessageID"]["_value_1"] for m in page["body"]["MessageMetaData"]]

    page = xta.msgbox.getStatusList(ListForm="MessageMetaData", maxListItems=2, _soapheaders=reader)
    seen = [ids(page)]
    request_id = page["header"]["FetchResponseHeader"]["MsgBoxRequestID"]
    for _ in range(2):
        page = xta.msgbox.getNextStatusList(
            MsgBoxRequestID=request_id, LastMsgReceived=[{"_value_1": seen[-1][-1]}], _soapheaders=reader
        )
        check(xta, xta_schemas, ACTIONS["getNextStatusList"])
        seen.append(ids(page))
        request_id = page["header"]["FetchResponseHeader"]["MsgBoxRequestID"]
    assert seen == [["urn:page:0", "urn:page:1"], ["urn:page:2", "urn:page:3"], ["urn:page:4"]]


EDGY = {
    "Message": b"\r\n<xdomea>\r\n</xdomea>\r\n",
    "a0.bin": b"\n\r" + bytes(range(256)) * 3 + b"\r\n\r",
    "a1.bin": b"\r",
    "a2.bin": b"inside\r\nonly",
}


def test_zeep_receives_parts_with_cr_lf_at_the_edges_byte_identical(
    server: RunningServer, xta_schemas: XtaSchemas
) -> None:
    """zeep strips CR/LF around parts marked binary; what it receives must still be what was sent."""
    xta = Xta(server)
    xta.send.sendMessage(
        ContentContainer={
            "Message": {"_value_1": EDGY["Message"], "contentType": "application/xml", "filename": "0501.xml"},
            "Attachment": [
                {"_value_1": data, "contentType": "application/octet-stream", "filename": name}
                for name, data in EDGY.items()
                if name != "Message"
            ],
        },
        _soapheaders=[etree.fromstring(meta_xml("urn:test:edgy"))],
    )
    fetched = xta.msgbox.getMessage(
        MsgSelector={"MessageID": [{"_value_1": "urn:test:edgy"}]}, _soapheaders=as_author(READER)
    )
    check(xta, xta_schemas, ACTIONS["getMessage"])
    container = fetched["body"]["ContentContainer"]
    assert container["Message"]["_value_1"] == EDGY["Message"]
    assert {a["filename"]: a["_value_1"] for a in container["Attachment"]} == {
        name: data for name, data in EDGY.items() if name != "Message"
    }


def test_send_message_sync_is_refused_as_async_only(server: RunningServer, xta_schemas: XtaSchemas) -> None:
    xta = Xta(server)
    with pytest.raises(Fault) as caught:
        xta.send.sendMessageSync(
            ContentContainer={"Message": {"_value_1": b"<x/>", "contentType": "text/xml"}},
            _soapheaders=[etree.fromstring(meta_xml("urn:test:sync"))],
        )
    detail = caught.value.detail
    assert detail is not None and detail[0].tag == f"{{{XTA}}}SyncAsyncException"
    assert detail[0].findtext("*/code") == "9080"
    check(xta, xta_schemas, ACTIONS["sendMessageSync"])

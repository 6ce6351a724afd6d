"""A CXF-style MTOM client against the running server: requests framed as real XTA clients frame them."""

from __future__ import annotations

from collections.abc import Sequence

import httpx
import pytest
from lxml import etree

from gateway.transport.xta.mtom import cid_of_href, parse_content_type
from gateway.transport.xta.ns import OSCIMETA, SOAP12, WSA, XOP, XTA
from gateway.transport.xta.schemas import XtaSchemas

from . import cxf
from .support import ACTIONS, PORT_OF, READER, RunningServer, author_header, check_reply, envelope, meta_xml, split_mtom

TRICKY = b"\r\n--uuid:\r\n--" + bytes(range(256)) + b"\r\n\r\nContent-ID: <x>\r\n"


def container_xml(items: Sequence[tuple[str, str, str]]) -> str:
    """A GenericContentContainer whose items reference MTOM parts: (local name, Content-ID, filename)."""
    inner = "".join(
        f'<xta:{local} contentType="application/octet-stream" filename="{name}">'
        f'<xop:Include xmlns:xop="{XOP}" href="cid:{cid}"/></xta:{local}>'
        for local, cid, name in items
    )
    return (
        f'<xta:GenericContentContainer xmlns:xta="{XTA}"><xta:ContentContainer>{inner}'
        "</xta:ContentContainer></xta:GenericContentContainer>"
    )


def call(
    server: RunningServer, operation: str, headers: str, body: str, parts: Sequence[cxf.Part] = ()
) -> httpx.Response:
    url = server.port_url(PORT_OF[operation])
    action = ACTIONS[operation]
    return cxf.post(url, cxf.frame(action, envelope(action, url, headers, body), parts))


def send_mtom(server: RunningServer, message_id: str, contents: Sequence[bytes]) -> httpx.Response:
    parts = [cxf.Part(cxf.new_cid(), data) for data in contents]
    items = [("Message" if i == 0 else "Attachment", p.content_id, f"file{i}.bin") for i, p in enumerate(parts)]
    return call(server, "sendMessage", meta_xml(message_id), container_xml(items), parts)


def test_send_message_with_binary_attachments(server: RunningServer, xta_schemas: XtaSchemas) -> None:
    contents = [b"<xdomea>\xc3\xa4</xdomea>", TRICKY, b"", TRICKY * 1000]
    response = send_mtom(server, "urn:test:mtom", contents)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/soap+xml")
    check_reply(xta_schemas, response.content)
    meta, message, attachments = server.backend.message("urn:test:mtom")
    assert [c.path.read_bytes() for c in (message, *attachments)] == contents
    assert [c.info.filename for c in (message, *attachments)] == [f"file{i}.bin" for i in range(4)]
    assert meta.message_type.code == "0501" and meta.payload_schema == "urn:xoev-de:xdomea:schema:3.0.0"


@pytest.mark.parametrize(
    ("operation", "body"),
    [
        ("checkAccountActive", ""),
        ("createMessageId", ""),
        (
            "getStatusList",
            '<osci:MsgBoxStatusListRequest xmlns:osci="http://www.osci.eu/ws/2008/05/transport" '
            'ListForm="MessageMetaData" maxListItems="5"/>',
        ),
    ],
)
def test_requests_without_attachments_as_mtom(
    server: RunningServer, xta_schemas: XtaSchemas, operation: str, body: str
) -> None:
    header = author_header(READER)
    response = call(server, operation, header, body)
    assert response.status_code == 200, response.text
    root = check_reply(xta_schemas, response.content)
    assert root.findtext(f"{{{SOAP12}}}Header/{{{WSA}}}RelatesTo") == "urn:uuid:req-1"


def test_get_message_answers_mtom_as_clients_expect(server: RunningServer, xta_schemas: XtaSchemas) -> None:
    contents = [b"<xdomea/>", TRICKY, TRICKY * 3]
    assert send_mtom(server, "urn:test:fetch", contents).status_code == 200
    body = (
        '<osci:MsgBoxFetchRequest xmlns:osci="http://www.osci.eu/ws/2008/05/transport">'
        f'<osci:MsgSelector><wsa:MessageID xmlns:wsa="{WSA}">urn:test:fetch</wsa:MessageID></osci:MsgSelector>'
        "</osci:MsgBoxFetchRequest>"
    )
    response = call(server, "getMessage", author_header(READER), body)
    assert response.status_code == 200, response.text
    content_type = response.headers["content-type"]
    assert content_type.startswith('multipart/related; type="application/xop+xml"; boundary="uuid:')
    _, params = parse_content_type(content_type)
    assert params["start"].startswith("<") and params["start"].endswith(">")
    assert int(response.headers["content-length"]) == len(response.content)
    assert b"\r\nContent-Transfer-Encoding: binary\r\nContent-ID: <" in response.content

    root_xml, parts, mime = split_mtom(content_type, response.content)
    ids = [str(p["Content-ID"]) for p in mime.get_payload()]  # type: ignore[union-attr]
    assert len(set(ids)) == len(ids) == 4 and all(i.startswith("<") and i.endswith(">") for i in ids)
    tree = etree.fromstring(root_xml)
    items = list(tree.iter(f"{{{XTA}}}Message", f"{{{XTA}}}Attachment"))
    hrefs = [item.find(f"{{{XOP}}}Include").get("href") for item in items]  # type: ignore[union-attr]
    assert [parts[str(cid_of_href(h))] for h in hrefs] == contents
    assert [item.get("filename") for item in items] == ["file0.bin", "file1.bin", "file2.bin"]
    assert [item.get("contentType") for item in items] == ["application/octet-stream"] * 3
    checked = check_reply(xta_schemas, root_xml, parts)
    header = checked.find(f"{{{SOAP12}}}Header")
    assert header is not None and header.find(f"{{{OSCIMETA}}}MessageMetaData") is not None


def test_action_only_in_start_info(server: RunningServer, xta_schemas: XtaSchemas) -> None:
    url = server.port_url("ManagementPort")
    action = ACTIONS["createMessageId"]
    soap = envelope(action, url, author_header(), "").replace(f'<Action xmlns="{WSA}">{action}</Action>'.encode(), b"")
    framed = cxf.frame(action, soap, soap_action=False)
    response = cxf.post(url, framed)
    assert response.status_code == 200, response.text
    root = check_reply(xta_schemas, response.content)
    assert root.findtext(f"{{{SOAP12}}}Header/{{{WSA}}}Action") == action


@pytest.mark.parametrize("style", ["quoted", "unquoted", "content-type"])
def test_plain_soap_action_styles(server: RunningServer, xta_schemas: XtaSchemas, style: str) -> None:
    url = server.port_url("ManagementPort")
    action = ACTIONS["checkAccountActive"]
    soap = envelope(action, url, author_header(), "").replace(f'<Action xmlns="{WSA}">{action}</Action>'.encode(), b"")
    headers = {"Content-Type": "application/soap+xml; charset=utf-8"}
    if style == "quoted":
        headers["SOAPAction"] = f'"{action}"'
    elif style == "unquoted":
        headers["SOAPAction"] = action
    else:
        headers["Content-Type"] += f'; action="{action}"'
    response = httpx.post(url, content=soap, headers=headers)
    assert response.status_code == 200, response.text
    check_reply(xta_schemas, response.content)

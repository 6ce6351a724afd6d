"""Test support for the XTA server: a real uvicorn on loopback, request builders, reply checks."""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email import message_from_bytes
from email.message import Message
from pathlib import Path

import uvicorn
from fastapi import FastAPI
from lxml import etree
from starlette.types import ASGIApp

from gateway.config import Settings
from gateway.transport.xta.backend import PartyId
from gateway.transport.xta.memory import MemoryBackend
from gateway.transport.xta.mtom import bare_content_id, cid_of_href
from gateway.transport.xta.ns import OSCIMETA, SOAP12, WSA, XOP
from gateway.transport.xta.schemas import XtaSchemas
from gateway.transport.xta.server import xta_router

SHARED = Path(__file__).resolve().parents[3] / "shared" / "xoev"
XTA_DIR = SHARED / "xta" / "xta2v3"
WSDL = XTA_DIR / "XTA.wsdl"

AUTHOR = PartyId("dvdv:16077000", "xoev", category="Landkreis", name="Landkreis Altenburger Land")
READER = PartyId("dvdv:16000000", "xoev", name="Thüringisches Staatsarchiv")
STRANGER = PartyId("dvdv:99999999", "xoev")

SERVICE = "urn:xoev-de:xdomea:schema:3.0.0"
ACTIONS = {
    "checkAccountActive": "http://www.xta.de/XTA/CheckAccountActive",
    "createMessageId": "http://www.xta.de/XTA/CreateMessageID",
    "lookupService": "http://www.xta.de/XTA/IsServiceAvailable",
    "getTransportReport": "http://www.xta.de/XTA/GetTransportReport",
    "cancelMessage": "http://www.xta.de/XTA/CancelMessage",
    "sendMessage": "http://www.xta.de/XTA/SendMessage",
    "sendMessageSync": "http://www.xta.de/XTA/SendMessageSync",
    "getStatusList": "http://www.osci.eu/ws/2008/05/transport/urn/messageTypes/MsgBoxStatusListRequest",
    "getMessage": "http://www.osci.eu/ws/2008/05/transport/urn/messageTypes/MsgBoxFetchRequest",
    "getNextMessage": "http://www.osci.eu/ws/2008/05/transport/urn/messageTypes/MsgBoxGetNextMsgRequest",
    "getNextStatusList": "http://www.osci.eu/ws/2008/05/transport/urn/messageTypes/MsgBoxGetNextListRequest",
    "close": "http://www.osci.eu/ws/2008/05/transport/urn/messageTypes/MsgBoxCloseRequest",
}
PORT_OF = {
    **dict.fromkeys(
        ["checkAccountActive", "createMessageId", "lookupService", "getTransportReport", "cancelMessage"],
        "ManagementPort",
    ),
    **dict.fromkeys(["sendMessage", "sendMessageSync"], "SendXtaPort"),
    **dict.fromkeys(["getStatusList", "getMessage", "getNextMessage", "getNextStatusList", "close"], "MsgBoxPort"),
}


@dataclass
class RunningServer:
    url: str
    backend: MemoryBackend
    settings: Settings

    def port_url(self, port: str) -> str:
        return f"{self.url}/services/XTAService/{port}"


@contextmanager
def serve(app: ASGIApp) -> Iterator[str]:
    """Run ``app`` with uvicorn on a free loopback port in a thread; yields the base URL."""
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(500):
        if server.started:
            break
        time.sleep(0.01)
    assert server.started, "uvicorn did not start"
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def make_app(backend: MemoryBackend, settings: Settings) -> FastAPI:
    app = FastAPI()
    app.include_router(xta_router(backend, settings))
    return app


# -- request parts ----------------------------------------------------------------------------------------


def party_xml(local: str, party: PartyId) -> str:
    attrs = f' type="{party.type}"'
    return f"<oscimeta:{local}><oscimeta:Identifier{attrs}>{party.value}</oscimeta:Identifier></oscimeta:{local}>"


def author_header(party: PartyId = AUTHOR) -> str:
    return party_xml("Author", party).replace("<oscimeta:Author>", f'<oscimeta:Author xmlns:oscimeta="{OSCIMETA}">', 1)


def meta_xml(message_id: str, author: PartyId = AUTHOR, reader: PartyId = READER, not_before: str | None = None) -> str:
    """MessageMetaData as a CXF-built client sends it (empty DeliveryAttributes, no MsgSize)."""
    delivery = f"<oscimeta:NotBefore>{not_before}</oscimeta:NotBefore>" if not_before else ""
    return (
        f'<oscimeta:MessageMetaData xmlns:oscimeta="{OSCIMETA}" xmlns:wsa="{WSA}">'
        f"<oscimeta:DeliveryAttributes>{delivery}</oscimeta:DeliveryAttributes>"
        f"<oscimeta:Originators>{party_xml('Author', author)}</oscimeta:Originators>"
        f"<oscimeta:Destinations>{party_xml('Reader', reader)}</oscimeta:Destinations>"
        f"<oscimeta:MsgIdentification><wsa:MessageID>{message_id}</wsa:MessageID></oscimeta:MsgIdentification>"
        f"<oscimeta:Qualifier><oscimeta:Service>{SERVICE}</oscimeta:Service>"
        '<oscimeta:BusinessScenario><oscimeta:Defined listURI="urn:de:dataport:codeliste:business.scenario" '
        'listVersionID="1"><code>XDOMEAGAD_DATA</code></oscimeta:Defined></oscimeta:BusinessScenario>'
        '<oscimeta:MessageType listURI="urn:de:payloadschema:elementname" listVersionID="1.0" '
        f'payloadSchema="{SERVICE}"><code>0501</code><name>Aussonderung.Anbieteverzeichnis</name>'
        "</oscimeta:MessageType></oscimeta:Qualifier></oscimeta:MessageMetaData>"
    )


def envelope(action: str, to: str, headers: str, body: str, message_id: str = "urn:uuid:req-1") -> bytes:
    return (
        f'<soap:Envelope xmlns:soap="{SOAP12}"><soap:Header>'
        f'<Action xmlns="{WSA}">{action}</Action><MessageID xmlns="{WSA}">{message_id}</MessageID>'
        f'<To xmlns="{WSA}">{to}</To><ReplyTo xmlns="{WSA}"><Address>{WSA}/anonymous</Address></ReplyTo>'
        f"{headers}</soap:Header><soap:Body>{body}</soap:Body></soap:Envelope>"
    ).encode()


# -- reply checks -----------------------------------------------------------------------------------------


def split_mtom(content_type: str, body: bytes) -> tuple[bytes, dict[str, bytes], Message]:
    """Parse an MTOM reply with the standard library's MIME parser (independent of the server's code)."""
    message = message_from_bytes(b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body)
    assert message.is_multipart()
    start = bare_content_id(str(message.get_param("start")))
    parts = message.get_payload()
    assert isinstance(parts, list)
    root = parts[0]
    assert bare_content_id(str(root["Content-ID"])) == start, "start must name the first part"
    others: dict[str, bytes] = {}
    for part in parts[1:]:
        payload = part.get_payload(decode=True)
        assert isinstance(payload, bytes)
        others[bare_content_id(str(part["Content-ID"]))] = payload
    root_payload = root.get_payload(decode=True)
    assert isinstance(root_payload, bytes)
    return root_payload, others, message


def inline_xop(element: etree._Element, parts: dict[str, bytes]) -> None:
    """Replace every xop:Include by the base64 of its part, as a receiver does before validating."""
    for include in list(element.iter(f"{{{XOP}}}Include")):
        cid = cid_of_href(include.get("href", ""))
        assert cid in parts, f"xop:Include names a missing part: {cid}"
        parent = include.getparent()
        assert parent is not None
        parent.remove(include)
        parent.text = base64.b64encode(parts[cid]).decode()


def check_reply(schemas: XtaSchemas, data: bytes, parts: dict[str, bytes] | None = None) -> etree._Element:
    """Parse a reply envelope and validate the Envelope and each header block and body child strictly."""
    root = etree.fromstring(data)
    if parts is not None:
        inline_xop(root, parts)
    schemas.check(root)
    header = root.find(f"{{{SOAP12}}}Header")
    body = root.find(f"{{{SOAP12}}}Body")
    assert body is not None
    blocks = list(header) if header is not None else []
    for element in [*blocks, *body]:
        schemas.check(element)
    return root

"""A gateway serving its XTA ports over its own pipeline, and XTA clients (zeep, CXF-style) to talk to it.

The app is the real one (:func:`gateway.wiring.create_app`), so the tests also prove that the XTA
ports are wired to the pipeline by default. The directory holds the generator's parties -- Landratsamt
Gotha (a member district) and the Landesarchiv Thüringen -- with mailboxes here, Altenburger Land as
the bystander, and two participants of a peer gateway. No signing keys: every policy is ``accept``, so
what a reader fetches is byte for byte what the author sent.
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import zeep
from lxml import etree
from sqlmodel import Session, col, func, select
from zeep.exceptions import Fault
from zeep.plugins import HistoryPlugin

from gateway.config import Settings, XtaServer
from gateway.pipeline.context import PipelineContext
from gateway.pipeline.worker import Worker
from gateway.store.models import Message, MessageEvent, Participant, RouteKind, SignaturePolicy, XtaMessageId
from gateway.transport.xta.backend import PartyId
from gateway.transport.xta.ns import OSCIMETA, WSA, XTA
from gateway.wiring import build_context, create_app
from gateway.xoev.schemas.registry import SchemaRegistry
from tests.pipeline.factories import GATEWAY_RECEIPTS, add_participant
from tests.xta.support import serve

GOTHA = "psw:16067000"  # the generator's sender, a member district
ARCHIVE = "psw:16000001"  # the generator's recipient, the Landesarchiv Thüringen
ALTENBURG = "psw:16077000"  # another member: sees nothing of the two above
PEER_URL = "https://xta.peer.example/services/XTAService"
PEER_A = "psw:16055000"  # participants of a peer gateway (route xta)
PEER_B = "psw:16071000"
SERVICE_3 = "urn:xoev-de:xdomea:schema:3.0.0"


def party(xoev_id: str) -> PartyId:
    return PartyId(xoev_id, "xoev")


def directory(ctx: PipelineContext) -> None:
    with ctx.session() as session:
        for xoev_id in (GOTHA, ARCHIVE, ALTENBURG):
            # the gateway makes their technical receipts (explicitly: a mailbox's own system answers by default)
            add_participant(session, xoev_id, policy=SignaturePolicy.ACCEPT, receipts=GATEWAY_RECEIPTS)
        for xoev_id in (PEER_A, PEER_B):
            add_participant(session, xoev_id, policy=SignaturePolicy.ACCEPT, route=RouteKind.XTA, endpoint_url=PEER_URL)
        session.commit()


@dataclass
class Gateway:
    url: str
    ctx: PipelineContext

    def port_url(self, port: str) -> str:
        return f"{self.url}/services/XTAService/{port}"

    def work(self) -> int:
        """Let an in-process worker do everything that is due."""
        return Worker(self.ctx, f"test-worker-{uuid.uuid4().hex[:6]}").drain()

    def messages(self) -> list[Message]:
        with Session(self.ctx.engine) as session:
            return list(session.exec(select(Message).order_by(col(Message.created_at))).all())

    def message(self, message_id: uuid.UUID) -> Message:
        with Session(self.ctx.engine) as session:
            row = session.get(Message, message_id)
            assert row is not None
            return row

    def events(self, message_id: uuid.UUID) -> list[MessageEvent]:
        with Session(self.ctx.engine) as session:
            query = (
                select(MessageEvent).where(col(MessageEvent.message_id) == message_id).order_by(col(MessageEvent.id))
            )
            return list(session.exec(query).all())

    def trace(self) -> tuple[int, int, int, frozenset[str]]:
        """Rows, events, ledger entries and payload files: what a refused request must leave unchanged."""
        with Session(self.ctx.engine) as session:
            counts = [
                int(session.exec(select(func.count()).select_from(table)).one())
                for table in (Message, MessageEvent, XtaMessageId)
            ]
        root = self.ctx.payloads.root
        files = (
            frozenset(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
            if root.is_dir()
            else frozenset()
        )
        return counts[0], counts[1], counts[2], files

    def participant(self, xoev_id: str) -> Participant:
        with Session(self.ctx.engine) as session:
            return session.exec(select(Participant).where(col(Participant.xoev_id) == xoev_id)).one()


@contextmanager
def running_gateway(
    database_url: str,
    folder: Path,
    base: Settings,
    registry: SchemaRegistry,
    pipeline: dict[str, Any] | None = None,
    **xta_server: Any,
) -> Iterator[Gateway]:
    config = XtaServer.model_validate({"dev_trust_loopback": True, "spool_dir": folder / "spool", **xta_server})
    settings = base.model_copy(
        update={
            "data_dir": folder / "data",
            "database_url": database_url,
            "xta_server": config,
            "pipeline": base.pipeline.model_copy(
                update={"retry_base_seconds": 0.0, "max_submit_bytes": 1 << 20, **(pipeline or {})}
            ),
        }
    )
    ctx = build_context(settings, registry=registry)
    try:
        directory(ctx)
        with serve(create_app(ctx)) as url:
            yield Gateway(url, ctx)
    finally:
        ctx.engine.dispose()


# -- XTA structures ---------------------------------------------------------------------------------------


def identifier_xml(local: str, who: PartyId) -> str:
    return (
        f'<oscimeta:{local} xmlns:oscimeta="{OSCIMETA}"><oscimeta:Identifier type="{who.type}">{who.value}'
        f"</oscimeta:Identifier></oscimeta:{local}>"
    )


def author(xoev_id: str) -> list[etree._Element]:
    """The ``oscimeta:Author`` header naming the account a request acts for."""
    return [etree.fromstring(identifier_xml("Author", party(xoev_id)))]


def meta_xml(message_id: str, sender: str, reader: str, message_type: str = "0501") -> str:
    """MessageMetaData as CXF-built clients send it (empty DeliveryAttributes, no MsgSize)."""
    return (
        f'<oscimeta:MessageMetaData xmlns:oscimeta="{OSCIMETA}" xmlns:wsa="{WSA}">'
        "<oscimeta:DeliveryAttributes/>"
        f"<oscimeta:Originators>{identifier_xml('Author', party(sender))}</oscimeta:Originators>"
        f"<oscimeta:Destinations>{identifier_xml('Reader', party(reader))}</oscimeta:Destinations>"
        f"<oscimeta:MsgIdentification><wsa:MessageID>{message_id}</wsa:MessageID></oscimeta:MsgIdentification>"
        f"<oscimeta:Qualifier><oscimeta:Subject>Anbietung 2026</oscimeta:Subject>"
        f"<oscimeta:Service>{SERVICE_3}</oscimeta:Service>"
        '<oscimeta:BusinessScenario><oscimeta:Defined listURI="urn:de:dataport:codeliste:business.scenario" '
        'listVersionID="1"><code>XDOMEAGAD_DATA</code></oscimeta:Defined></oscimeta:BusinessScenario>'
        '<oscimeta:MessageType listURI="urn:de:payloadschema:elementname" listVersionID="1.0" '
        f'payloadSchema="{SERVICE_3}"><code>{message_type}</code></oscimeta:MessageType>'
        "</oscimeta:Qualifier></oscimeta:MessageMetaData>"
    )


class Xta:
    """zeep bound to the three ports of a running gateway."""

    def __init__(self, gateway: Gateway) -> None:
        self.history = HistoryPlugin(maxlen=10)
        self.client = zeep.Client(gateway.port_url("ManagementPort") + "?wsdl", plugins=[self.history])
        self.management = self.client.bind("XTAService", "ManagementPort")
        self.send_port = self.client.bind("XTAService", "SendXtaPort")
        self.msgbox = self.client.bind("XTAService", "MsgBoxPort")

    def new_id(self, account: str) -> str:
        return str(self.management.createMessageId(_soapheaders=author(account))["_value_1"])

    def send(self, message_id: str, data: bytes, filename: str, sender: str, reader: str = ARCHIVE) -> None:
        self.send_port.sendMessage(
            ContentContainer={"Message": {"_value_1": data, "contentType": "application/xml", "filename": filename}},
            _soapheaders=[etree.fromstring(meta_xml(message_id, sender, reader))],
        )

    def report(self, account: str, message_id: str) -> Any:
        return self.management.getTransportReport(message_id, _soapheaders=author(account))

    def status_list(self, account: str, **kwargs: Any) -> list[str]:
        listed = self.msgbox.getStatusList(ListForm="MessageMetaData", _soapheaders=author(account), **kwargs)
        return message_ids(listed)

    def fetch(self, account: str, message_id: str) -> Any:
        return self.msgbox.getMessage(
            MsgSelector={"MessageID": [{"_value_1": message_id}]}, _soapheaders=author(account)
        )

    def close(self, account: str, request_id: str, *received: str) -> None:
        self.msgbox.close(
            MsgBoxRequestID=request_id,
            LastMsgReceived=[{"_value_1": r} for r in received],
            _soapheaders=author(account),
        )


def message_ids(listed: Any) -> list[str]:
    body = listed["body"]
    if body is None or not body["MessageMetaData"]:
        return []
    return [m["MsgIdentification"]["MessageID"]["_value_1"] for m in body["MessageMetaData"]]


def fault_of(caught: Fault) -> tuple[str, str]:
    """The XTA exception element's local name and its error code."""
    detail = caught.detail
    assert detail is not None and len(detail), caught
    element = detail[0]
    assert etree.QName(element).namespace == XTA
    return etree.QName(element).localname, str(element.findtext("*/code"))


def source(data: bytes) -> io.BytesIO:
    return io.BytesIO(data)

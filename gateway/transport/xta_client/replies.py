"""Reading XTA 2 replies into the typed values of :mod:`gateway.transport.xta.backend`.

The client and the server speak about the same things -- message metadata, transport reports, status
list pages, fetched messages -- so they share one vocabulary: a report fetched from a peer is the same
:class:`TransportReport` our own server writes. Every element read is first checked against the XTA
schemas, so a peer's malformed answer is refused as a :class:`BadReply` naming the problem instead of
surfacing as a ``KeyError`` somewhere later.
"""

from __future__ import annotations

from dataclasses import dataclass

from lxml import etree

from gateway.transport.xta.backend import (
    FetchedMessage,
    KeyCode,
    PartyId,
    ReportRecord,
    ReportStatus,
    StatusListPage,
    TransportReport,
)
from gateway.transport.xta.container import read_container
from gateway.transport.xta.errors import XtaError
from gateway.transport.xta.metadata import parse_datetime, party, read_meta
from gateway.transport.xta.ns import OSCI, OSCIMETA, WSA, XTA, q
from gateway.transport.xta.schemas import SchemaInvalid, XtaSchemas
from gateway.transport.xta_client.errors import BadReply
from gateway.transport.xta_client.http import Reply


@dataclass(frozen=True, slots=True)
class ServiceAvailability:
    """One answer of lookupService: None when the server does not know."""

    reader: PartyId
    service: str
    available: bool | None


class ReplyReader:
    """Reads the replies of one operation at one peer; errors name both."""

    def __init__(self, schemas: XtaSchemas, peer: str, operation: str) -> None:
        self.schemas = schemas
        self.peer = peer
        self.operation = operation

    def bad(self, detail: str) -> BadReply:
        return BadReply(self.peer, self.operation, detail)

    def checked(self, element: etree._Element) -> etree._Element:
        try:
            self.schemas.check(element)
        except SchemaInvalid as exc:
            raise self.bad(f"the reply does not conform to the XTA schemas: {exc}") from None
        return element

    def body(self, reply: Reply, namespace: str, local: str) -> etree._Element:
        element = reply.envelope.body_element()
        if element is None or element.tag != q(namespace, local):
            found = etree.QName(element).text if element is not None else "an empty Body"
            raise self.bad(f"expected {local} in the reply Body, got {found}")
        return self.checked(element)

    def header(self, reply: Reply, namespace: str, local: str) -> etree._Element:
        element = reply.envelope.header(namespace, local)
        if element is None:
            raise self.bad(f"the reply has no {local} header")
        return self.checked(element)

    # -- operations --------------------------------------------------------------------------------------
    def message_id(self, reply: Reply) -> str:
        value = (self.body(reply, WSA, "MessageID").text or "").strip()
        if not value:
            raise self.bad("createMessageId answered an empty MessageID")
        return value

    def lookup(self, reply: Reply) -> list[ServiceAvailability]:
        response = self.body(reply, XTA, "LookupServiceResponse")
        answers = []
        for result in response.iter(q(XTA, "LookupServiceResult")):
            reader = result.find(q(OSCIMETA, "Reader"))
            assert reader is not None  # schema-checked
            value = result.find(q(XTA, "IsServiceAvailableValue"))
            available: bool | None = None
            if value is not None and value.find(q(XTA, "ServiceIsAvailable")) is not None:
                available = (value.findtext(q(XTA, "ServiceIsAvailable")) or "").strip() in ("true", "1")
            answers.append(
                ServiceAvailability(party(reader), (result.findtext(q(XTA, "ServiceType")) or "").strip(), available)
            )
        return answers

    def report(self, reply: Reply) -> TransportReport:
        element = self.body(reply, XTA, "TransportReport")
        try:
            meta_el = element.find(q(OSCIMETA, "MessageMetaData"))
            status_el = element.find(q(XTA, "MessageStatus"))
            assert meta_el is not None  # schema-checked
            assert status_el is not None
            status = int((status_el.findtext(q(XTA, "Status")) or "").strip())
            return TransportReport(
                meta=read_meta(meta_el),
                report_time=parse_datetime(element.findtext(q(XTA, "ReportTime")) or ""),
                status=ReportStatus(status),
                errors=_records(status_el, "ErrorList", "Error"),
                warnings=_records(status_el, "WarnList", "Warning"),
                infos=_records(status_el, "InfoList", "Info"),
            )
        except (XtaError, ValueError) as exc:
            raise self.bad(f"unreadable TransportReport: {exc}") from None

    def _msgbox_response(self, reply: Reply) -> tuple[str, int]:
        element = reply.envelope.header(OSCI, "MsgBoxResponse")
        if element is None:
            return "", 0
        self.checked(element)
        pending = (element.findtext(q(OSCI, "ItemsPending")) or "0").strip()
        return element.get("MsgBoxRequestID", ""), int(pending) if pending.isdigit() else 0

    def status_list(self, reply: Reply) -> StatusListPage:
        listing = self.body(reply, OSCI, "MsgStatusList")
        request_id, pending = self._msgbox_response(reply)
        try:
            items = tuple(read_meta(m) for m in listing.findall(q(OSCIMETA, "MessageMetaData")))
        except XtaError as exc:
            raise self.bad(f"unreadable MessageMetaData in the status list: {exc}") from None
        return StatusListPage(request_id, items, pending)

    def fetched(self, reply: Reply) -> FetchedMessage:
        meta_el = self.header(reply, OSCIMETA, "MessageMetaData")
        request_id, pending = self._msgbox_response(reply)
        container = reply.envelope.body_element()
        if container is None or container.tag != q(XTA, "GenericContentContainer"):
            raise self.bad("expected GenericContentContainer in the reply Body")
        try:
            message, attachments = read_container(container, reply.attachments, reply.spool)
            meta = read_meta(meta_el)
        except XtaError as exc:
            raise self.bad(f"unreadable message: {exc}") from None
        self.checked(container)
        return FetchedMessage(request_id, meta, message, attachments, pending)


def _records(status: etree._Element, list_name: str, item: str) -> tuple[ReportRecord, ...]:
    holder = status.find(q(XTA, list_name))
    if holder is None:
        return ()
    records = []
    for entry in holder.findall(q(XTA, item)):
        code = entry.find(q(XTA, "Code"))
        assert code is not None  # schema-checked
        records.append(
            ReportRecord(
                timestamp=parse_datetime(entry.findtext(q(XTA, "Timestamp")) or ""),
                code=KeyCode(
                    (code.findtext("code") or "").strip(),
                    code.get("listURI", ""),
                    code.get("listVersionID", ""),
                    (code.findtext("name") or "").strip() or None,
                ),
                reason=(entry.findtext(q(XTA, "Reason")) or "").strip(),
            )
        )
    return tuple(records)

"""One handler per XTA operation: check the request's parts, call the backend, shape the reply.

Handlers are synchronous and run in a worker thread (the backend may block on a database). Each one
first establishes the account -- the ``oscimeta:Author`` header, or for sendMessage the metadata's
``Originators/Author`` -- and lets the backend authorize the caller for it, then checks every request
element it reads against the XTA schemas, so the mapping code never sees malformed structures. The
reply is a list of header blocks, body children and (for getMessage/getNextMessage) MTOM parts; WS-
Addressing headers are added by the server.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field

from lxml import etree

from gateway.transport.xta.addressing import Addressing
from gateway.transport.xta.backend import FetchedMessage, PartyId, XtaBackend
from gateway.transport.xta.container import read_container, write_container
from gateway.transport.xta.errors import ErrorCode, ParameterInvalid, SyncAsyncMismatch
from gateway.transport.xta.identity import CallerIdentity
from gateway.transport.xta.metadata import (
    party,
    read_meta,
    read_selection,
    write_meta,
    write_msgbox_response,
    write_report,
    write_status_list,
)
from gateway.transport.xta.mtom import Attachment, OutPart
from gateway.transport.xta.ns import OSCI, OSCIMETA, PORTS, WSA, XTA, q
from gateway.transport.xta.schemas import SchemaInvalid, XtaSchemas
from gateway.transport.xta.soap import Envelope, new_element, sub
from gateway.transport.xta.spool import Spool

OSCI_ACTIONS = "http://www.osci.eu/ws/2008/05/transport/urn/messageTypes/"


@dataclass(frozen=True, slots=True)
class Context:
    """What handlers share across requests."""

    backend: XtaBackend
    schemas: XtaSchemas
    server_identity: str


@dataclass(frozen=True, slots=True)
class SoapRequest:
    """One parsed request, its spooled attachments and the proven caller."""

    action: str
    envelope: Envelope
    addressing: Addressing
    attachments: dict[str, Attachment]
    spool: Spool
    caller: CallerIdentity


@dataclass(slots=True)
class Reply:
    headers: list[etree._Element] = field(default_factory=list)
    body: list[etree._Element] = field(default_factory=list)
    parts: list[OutPart] = field(default_factory=list)


Handler = Callable[[Context, SoapRequest], Reply]


@dataclass(frozen=True, slots=True)
class Operation:
    name: str
    port: str
    action: str
    handler: Handler


# -- helpers --------------------------------------------------------------------------------------------


def _checked(ctx: Context, element: etree._Element) -> etree._Element:
    try:
        ctx.schemas.check(element)
    except SchemaInvalid as exc:
        raise ParameterInvalid(ErrorCode.INVALID_PARAMETER_COMBINATION, str(exc)) from None
    return element


def _account(ctx: Context, req: SoapRequest) -> PartyId:
    """The account named by the ``Author`` header (MsgBox clients may name it ``Reader``), authorized."""
    header = req.envelope.header(OSCIMETA, "Author")
    if header is None:
        header = req.envelope.header(OSCIMETA, "Reader")
    if header is None:
        raise ParameterInvalid(ErrorCode.NO_PARAMETERS, "the oscimeta:Author header naming the account is missing")
    account = party(_checked(ctx, header))
    ctx.backend.authorize(req.caller, account)
    return account


def _body(ctx: Context, req: SoapRequest, namespace: str, local: str) -> etree._Element:
    element = req.envelope.body_element()
    if element is None or element.tag != q(namespace, local):
        found = etree.QName(element).text if element is not None else "an empty Body"
        raise ParameterInvalid(ErrorCode.NO_PARAMETERS, f"expected {local} in the Body, got {found}")
    return _checked(ctx, element)


def _message_id(ctx: Context, req: SoapRequest) -> str:
    value = (_body(ctx, req, WSA, "MessageID").text or "").strip()
    if not value:
        raise ParameterInvalid(ErrorCode.NO_PARAMETERS, "wsa:MessageID is empty")
    return value


def _received(request: etree._Element) -> list[str]:
    return [(e.text or "").strip() for e in request.findall(q(OSCI, "LastMsgReceived"))]


# -- ManagementPort -------------------------------------------------------------------------------------


def check_account_active(ctx: Context, req: SoapRequest) -> Reply:
    _account(ctx, req)
    return Reply()


def create_message_id(ctx: Context, req: SoapRequest) -> Reply:
    author = _account(ctx, req)
    return Reply(body=[new_element(WSA, "MessageID", ctx.backend.create_message_id(author))])


def lookup_service(ctx: Context, req: SoapRequest) -> Reply:
    author = _account(ctx, req)
    request = _body(ctx, req, XTA, "LookupServiceRequest")
    response = new_element(XTA, "LookupServiceResponse")
    results = sub(response, XTA, "LookupServiceResultList")
    for entry in request.iter(q(XTA, "LookupService")):
        reader_el = entry.find(q(OSCIMETA, "Reader"))
        service = (entry.findtext(q(XTA, "ServiceType")) or "").strip()
        assert reader_el is not None  # guaranteed by the schema check
        available = ctx.backend.lookup_service(author, party(reader_el), service)
        result = sub(results, XTA, "LookupServiceResult")
        result.append(copy.deepcopy(reader_el))
        sub(result, XTA, "ServiceType", service)
        value = sub(result, XTA, "IsServiceAvailableValue")
        if available is None:
            sub(value, XTA, "ServiceIsAvailableUnknown", "true")
        else:
            sub(value, XTA, "ServiceIsAvailable", "true" if available else "false")
    return Reply(body=[response])


def get_transport_report(ctx: Context, req: SoapRequest) -> Reply:
    author = _account(ctx, req)
    report = ctx.backend.transport_report(author, _message_id(ctx, req))
    return Reply(body=[write_report(report, ctx.server_identity)])


def cancel_message(ctx: Context, req: SoapRequest) -> Reply:
    author = _account(ctx, req)
    ctx.backend.cancel_message(author, _message_id(ctx, req))
    return Reply()


# -- SendXtaPort ----------------------------------------------------------------------------------------


def _accept(ctx: Context, req: SoapRequest, *, sync: bool) -> Reply:
    header = req.envelope.header(OSCIMETA, "MessageMetaData")
    if header is None:
        raise ParameterInvalid(ErrorCode.NO_PARAMETERS, "the oscimeta:MessageMetaData header is missing")
    meta = read_meta(_checked(ctx, header))
    ctx.backend.authorize(req.caller, meta.author)
    container = req.envelope.body_element()
    if container is None or container.tag != q(XTA, "GenericContentContainer"):
        raise ParameterInvalid(ErrorCode.NO_PARAMETERS, "expected GenericContentContainer in the Body")
    message, attachments = read_container(container, req.attachments, req.spool)
    _checked(ctx, container)
    if sync:
        raise SyncAsyncMismatch(ErrorCode.ASYNC_ONLY, "the gateway transports asynchronously; use sendMessage")
    ctx.backend.accept_message(meta, message, attachments)
    return Reply()


def send_message(ctx: Context, req: SoapRequest) -> Reply:
    return _accept(ctx, req, sync=False)


def send_message_sync(ctx: Context, req: SoapRequest) -> Reply:
    return _accept(ctx, req, sync=True)


# -- MsgBoxPort -----------------------------------------------------------------------------------------


def _status_reply(request_id: str, items: tuple[object, ...], pending: int, status_list: etree._Element) -> Reply:
    header = write_msgbox_response(request_id, pending if items or pending else None)
    return Reply(headers=[header], body=[status_list])


def get_status_list(ctx: Context, req: SoapRequest) -> Reply:
    reader = _account(ctx, req)
    request = _body(ctx, req, OSCI, "MsgBoxStatusListRequest")
    limit = request.get("maxListItems")
    page = ctx.backend.status_list(reader, read_selection(request), int(limit) if limit else None)
    return _status_reply(page.request_id, page.items, page.pending, write_status_list(page.items))


def get_next_status_list(ctx: Context, req: SoapRequest) -> Reply:
    reader = _account(ctx, req)
    request = _body(ctx, req, OSCI, "MsgBoxGetNextRequest")
    page = ctx.backend.next_status_list(reader, request.get("MsgBoxRequestID", ""))
    return _status_reply(page.request_id, page.items, page.pending, write_status_list(page.items))


def _fetched_reply(fetched: FetchedMessage) -> Reply:
    container, parts = write_container(fetched.message, fetched.attachments)
    headers = [write_meta(fetched.meta), write_msgbox_response(fetched.request_id, fetched.pending)]
    return Reply(headers=headers, body=[container], parts=parts)


def get_message(ctx: Context, req: SoapRequest) -> Reply:
    reader = _account(ctx, req)
    request = _body(ctx, req, OSCI, "MsgBoxFetchRequest")
    return _fetched_reply(ctx.backend.fetch_message(reader, read_selection(request)))


def get_next_message(ctx: Context, req: SoapRequest) -> Reply:
    reader = _account(ctx, req)
    request = _body(ctx, req, OSCI, "MsgBoxGetNextRequest")
    request_id = request.get("MsgBoxRequestID", "")
    return _fetched_reply(ctx.backend.fetch_next_message(reader, request_id, _received(request)))


def close(ctx: Context, req: SoapRequest) -> Reply:
    reader = _account(ctx, req)
    request = _body(ctx, req, OSCI, "MsgBoxCloseRequest")
    ctx.backend.close(reader, request.get("MsgBoxRequestID", ""), _received(request))
    return Reply()


# -- the table ------------------------------------------------------------------------------------------

MANAGEMENT, SEND, MSGBOX = PORTS

OPERATIONS: dict[str, Operation] = {
    op.action: op
    for op in (
        Operation("checkAccountActive", MANAGEMENT, "http://www.xta.de/XTA/CheckAccountActive", check_account_active),
        Operation("createMessageId", MANAGEMENT, "http://www.xta.de/XTA/CreateMessageID", create_message_id),
        Operation("lookupService", MANAGEMENT, "http://www.xta.de/XTA/IsServiceAvailable", lookup_service),
        Operation("getTransportReport", MANAGEMENT, "http://www.xta.de/XTA/GetTransportReport", get_transport_report),
        Operation("cancelMessage", MANAGEMENT, "http://www.xta.de/XTA/CancelMessage", cancel_message),
        Operation("sendMessage", SEND, "http://www.xta.de/XTA/SendMessage", send_message),
        Operation("sendMessageSync", SEND, "http://www.xta.de/XTA/SendMessageSync", send_message_sync),
        Operation("getStatusList", MSGBOX, OSCI_ACTIONS + "MsgBoxStatusListRequest", get_status_list),
        Operation("getMessage", MSGBOX, OSCI_ACTIONS + "MsgBoxFetchRequest", get_message),
        Operation("getNextMessage", MSGBOX, OSCI_ACTIONS + "MsgBoxGetNextMsgRequest", get_next_message),
        Operation("getNextStatusList", MSGBOX, OSCI_ACTIONS + "MsgBoxGetNextListRequest", get_next_status_list),
        Operation("close", MSGBOX, OSCI_ACTIONS + "MsgBoxCloseRequest", close),
    )
}
"""Every operation of XTA.wsdl by its action; in XTA 2 the output action equals the input action."""

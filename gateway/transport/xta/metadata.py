"""Mapping between the OSCI/XTA XML structures and the backend's typed values.

Requests are checked against the XTA schemas *before* they reach this module, so reading can rely on
structure and lexical forms; writing produces elements in schema order that the tests validate. Element
order follows ``OSCI_MessageMetaData_V2.02.xsd`` and ``XTA-Webservice-Datentypen.xsd`` exactly.
"""

from __future__ import annotations

from datetime import date, datetime

from lxml import etree

from gateway.transport.xta.backend import (
    DeliveryTimes,
    KeyCode,
    MessageMeta,
    MsgBoxSelection,
    PartyId,
    ReportRecord,
    TransportReport,
)
from gateway.transport.xta.errors import ErrorCode, ParameterInvalid
from gateway.transport.xta.ns import OSCI, OSCIMETA, WSA, XTA, q
from gateway.transport.xta.soap import new_element, sub

# -- small readers --------------------------------------------------------------------------------------


def _child(parent: etree._Element, namespace: str | None, local: str) -> etree._Element | None:
    return parent.find(q(namespace, local) if namespace else local)


def _children(parent: etree._Element, namespace: str | None, local: str) -> list[etree._Element]:
    return parent.findall(q(namespace, local) if namespace else local)


def _text(parent: etree._Element, namespace: str | None, local: str) -> str | None:
    element = _child(parent, namespace, local)
    if element is None:
        return None
    return (element.text or "").strip()


def _required(parent: etree._Element, namespace: str | None, local: str) -> etree._Element:
    element = _child(parent, namespace, local)
    if element is None:
        raise ParameterInvalid(ErrorCode.NO_PARAMETERS, f"{etree.QName(parent).localname}/{local} is missing")
    return element


def parse_datetime(value: str) -> datetime:
    try:
        return datetime.fromisoformat(value.strip())
    except ValueError:
        raise ParameterInvalid(ErrorCode.INVALID_PARAMETER_COMBINATION, f"not a dateTime: {value!r}") from None


def _datetime(parent: etree._Element, namespace: str, local: str) -> datetime | None:
    value = _text(parent, namespace, local)
    return parse_datetime(value) if value else None


def _date(parent: etree._Element, namespace: str, local: str) -> date | None:
    value = _text(parent, namespace, local)
    if not value:
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        raise ParameterInvalid(ErrorCode.INVALID_PARAMETER_COMBINATION, f"not a date: {value!r}") from None


def party_identifier(identifier: etree._Element) -> PartyId:
    """A ``PartyIdentifierType`` element (``Identifier``, ``OtherReaders``, ``CcReaders``)."""
    return PartyId(
        value=" ".join((identifier.text or "").split()),
        type=identifier.get("type", ""),
        category=identifier.get("category"),
        name=identifier.get("name"),
    )


def party(element: etree._Element) -> PartyId:
    """A ``PartyType`` element (``Author``, ``Reader``, ``Sender``, ``ReplyTo``)."""
    return party_identifier(_required(element, OSCIMETA, "Identifier"))


def _key_code(element: etree._Element) -> KeyCode:
    return KeyCode(
        code=_text(element, None, "code") or "",
        list_uri=element.get("listURI", ""),
        list_version=element.get("listVersionID", ""),
        name=_text(element, None, "name"),
    )


def read_meta(element: etree._Element) -> MessageMeta:
    """An ``oscimeta:MessageMetaData`` element (schema-checked) as :class:`MessageMeta`."""
    delivery_el = _required(element, OSCIMETA, "DeliveryAttributes")
    delivery = DeliveryTimes(
        origin=_datetime(delivery_el, OSCIMETA, "Origin"),
        initial_send=_datetime(delivery_el, OSCIMETA, "InitialSend"),
        not_before=_datetime(delivery_el, OSCIMETA, "NotBefore"),
        obsolete_after=_date(delivery_el, OSCIMETA, "ObsoleteAfter"),
        delivery=_datetime(delivery_el, OSCIMETA, "Delivery"),
        initial_fetch=_datetime(delivery_el, OSCIMETA, "InitialFetch"),
        reception=_datetime(delivery_el, OSCIMETA, "Reception"),
        service_quality=_text(delivery_el, OSCIMETA, "ServiceQuality"),
    )
    originators = _required(element, OSCIMETA, "Originators")
    destinations = _required(element, OSCIMETA, "Destinations")
    ident = _required(element, OSCIMETA, "MsgIdentification")
    qualifier = _required(element, OSCIMETA, "Qualifier")
    scenario_el = _required(qualifier, OSCIMETA, "BusinessScenario")
    defined = _child(scenario_el, OSCIMETA, "Defined")
    scenario: KeyCode | str = (
        _key_code(defined) if defined is not None else (_text(scenario_el, OSCIMETA, "Undefined") or "")
    )
    message_type = _required(qualifier, OSCIMETA, "MessageType")
    others = _child(destinations, OSCIMETA, "OtherDestinations")
    sender = _child(originators, OSCIMETA, "Sender")
    reply_to = _child(originators, OSCIMETA, "ReplyTo")
    process = _child(ident, OSCIMETA, "ProcessRef")
    properties_el = _child(element, OSCIMETA, "MessageProperties")
    size = _text(element, OSCIMETA, "MsgSize")
    return MessageMeta(
        message_id=_text(ident, WSA, "MessageID") or "",
        author=party(_required(originators, OSCIMETA, "Author")),
        reader=party(_required(destinations, OSCIMETA, "Reader")),
        service=_text(qualifier, OSCIMETA, "Service") or "",
        business_scenario=scenario,
        message_type=_key_code(message_type),
        payload_schema=message_type.get("payloadSchema", ""),
        subject=_text(qualifier, OSCIMETA, "Subject"),
        sender=party(sender) if sender is not None else None,
        reply_to=party(reply_to) if reply_to is not None else None,
        other_readers=tuple(party_identifier(e) for e in _children(others, OSCIMETA, "OtherReaders"))
        if others is not None
        else (),
        cc_readers=tuple(party_identifier(e) for e in _children(others, OSCIMETA, "CcReaders"))
        if others is not None
        else (),
        in_reply_to=tuple((e.text or "").strip() for e in _children(ident, OSCIMETA, "In-Reply-To")),
        process_requester=_text(process, OSCIMETA, "Requester") if process is not None else None,
        process_responder=_text(process, OSCIMETA, "Responder") if process is not None else None,
        delivery=delivery,
        properties=tuple(
            (_key_code(_required(p, OSCIMETA, "Key")), _text(p, OSCIMETA, "Value") or "")
            for p in _children(properties_el, OSCIMETA, "Property")
        )
        if properties_el is not None
        else (),
        size=int(size) if size else None,
        test_message=(element.get("TestMsg") or "false").strip() in ("true", "1"),
    )


def read_selection(request: etree._Element) -> MsgBoxSelection:
    """The ``osci:MsgSelector`` of a MsgBox request; none means every open message."""
    selector = _child(request, OSCI, "MsgSelector")
    if selector is None:
        return MsgBoxSelection()
    new_entry = selector.get("newEntry")
    return MsgBoxSelection(
        message_ids=tuple((e.text or "").strip() for e in _children(selector, WSA, "MessageID")),
        new_only=None if new_entry is None else new_entry.strip() in ("true", "1"),
        entry_from=_datetime(selector, OSCI, "MsgBoxEntryTimeFrom"),
        entry_to=_datetime(selector, OSCI, "MsgBoxEntryTimeTo"),
    )


# -- writers --------------------------------------------------------------------------------------------


def _stamp(value: datetime | date) -> str:
    return value.isoformat()


def _opt(parent: etree._Element, namespace: str, local: str, value: datetime | date | str | None) -> None:
    if value is None:
        return
    sub(parent, namespace, local, value if isinstance(value, str) else _stamp(value))


def _write_identifier(element: etree._Element, party_id: PartyId) -> None:
    element.text = party_id.value
    element.set("type", party_id.type)
    if party_id.name:
        element.set("name", party_id.name)
    if party_id.category:
        element.set("category", party_id.category)


def write_party(parent: etree._Element | None, local: str, party_id: PartyId) -> etree._Element:
    """A ``PartyType`` element named ``local`` (``Author``, ``Reader`` ...) below ``parent`` or detached."""
    element = new_element(OSCIMETA, local) if parent is None else sub(parent, OSCIMETA, local)
    _write_identifier(sub(element, OSCIMETA, "Identifier"), party_id)
    return element


def _write_key_code(element: etree._Element, code: KeyCode) -> None:
    element.set("listURI", code.list_uri)
    element.set("listVersionID", code.list_version)
    sub(element, None, "code", code.code)
    if code.name:
        sub(element, None, "name", code.name)


def write_meta(meta: MessageMeta) -> etree._Element:
    """``oscimeta:MessageMetaData`` in schema order."""
    root = new_element(OSCIMETA, "MessageMetaData")
    if meta.test_message:
        root.set("TestMsg", "true")
    times = sub(root, OSCIMETA, "DeliveryAttributes")
    d = meta.delivery
    for local, value in (
        ("Origin", d.origin),
        ("InitialSend", d.initial_send),
        ("NotBefore", d.not_before),
        ("ObsoleteAfter", d.obsolete_after),
        ("Delivery", d.delivery),
        ("InitialFetch", d.initial_fetch),
        ("Reception", d.reception),
        ("ServiceQuality", d.service_quality),
    ):
        _opt(times, OSCIMETA, local, value)
    originators = sub(root, OSCIMETA, "Originators")
    write_party(originators, "Author", meta.author)
    if meta.sender is not None:
        write_party(originators, "Sender", meta.sender)
    if meta.reply_to is not None:
        write_party(originators, "ReplyTo", meta.reply_to)
    destinations = sub(root, OSCIMETA, "Destinations")
    write_party(destinations, "Reader", meta.reader)
    if meta.other_readers:
        others = sub(destinations, OSCIMETA, "OtherDestinations")
        for reader in meta.other_readers:
            _write_identifier(sub(others, OSCIMETA, "OtherReaders"), reader)
        for reader in meta.cc_readers:
            _write_identifier(sub(others, OSCIMETA, "CcReaders"), reader)
    ident = sub(root, OSCIMETA, "MsgIdentification")
    sub(ident, WSA, "MessageID", meta.message_id)
    for ref in meta.in_reply_to:
        sub(ident, OSCIMETA, "In-Reply-To", ref)
    if meta.process_requester or meta.process_responder:
        process = sub(ident, OSCIMETA, "ProcessRef")
        _opt(process, OSCIMETA, "Requester", meta.process_requester)
        _opt(process, OSCIMETA, "Responder", meta.process_responder)
    qualifier = sub(root, OSCIMETA, "Qualifier")
    _opt(qualifier, OSCIMETA, "Subject", meta.subject)
    sub(qualifier, OSCIMETA, "Service", meta.service)
    scenario = sub(qualifier, OSCIMETA, "BusinessScenario")
    if isinstance(meta.business_scenario, KeyCode):
        _write_key_code(sub(scenario, OSCIMETA, "Defined"), meta.business_scenario)
    else:
        sub(scenario, OSCIMETA, "Undefined", meta.business_scenario)
    message_type = sub(qualifier, OSCIMETA, "MessageType")
    _write_key_code(message_type, meta.message_type)
    message_type.set("payloadSchema", meta.payload_schema)
    if meta.properties:
        properties = sub(root, OSCIMETA, "MessageProperties")
        for key, value in meta.properties:
            prop = sub(properties, OSCIMETA, "Property")
            _write_key_code(sub(prop, OSCIMETA, "Key"), key)
            sub(prop, OSCIMETA, "Value", value)
    if meta.size:
        sub(root, OSCIMETA, "MsgSize", str(meta.size))
    return root


def _write_records(parent: etree._Element, list_name: str, item: str, records: tuple[ReportRecord, ...]) -> None:
    if not records:
        return
    holder = sub(parent, XTA, list_name)
    for record in records:
        entry = sub(holder, XTA, item)
        sub(entry, XTA, "Timestamp", _stamp(record.timestamp))
        code = sub(entry, XTA, "Code")
        code.set("listURI", record.code.list_uri)
        code.set("listVersionID", record.code.list_version)
        sub(code, None, "code", record.code.code)
        sub(entry, XTA, "Reason", record.reason)


def write_report(report: TransportReport, server_identity: str) -> etree._Element:
    """``xta:TransportReport``."""
    root = new_element(XTA, "TransportReport")
    root.append(write_meta(report.meta))
    sub(root, XTA, "ReportTime", _stamp(report.report_time))
    sub(root, XTA, "XTAServerIdentity", server_identity)
    status = sub(root, XTA, "MessageStatus")
    sub(status, XTA, "Status", str(int(report.status)))
    _write_records(status, "ErrorList", "Error", report.errors)
    _write_records(status, "WarnList", "Warning", report.warnings)
    _write_records(status, "InfoList", "Info", report.infos)
    return root


def write_status_list(items: tuple[MessageMeta, ...]) -> etree._Element:
    """``osci:MsgStatusList`` -- present even when empty, as clients expect."""
    root = new_element(OSCI, "MsgStatusList")
    for meta in items:
        root.append(write_meta(meta))
    return root


def write_msgbox_response(request_id: str, pending: int | None) -> etree._Element:
    """``osci:MsgBoxResponse``: items still pending, or NoMatch when nothing was found."""
    root = new_element(OSCI, "MsgBoxResponse")
    root.set("MsgBoxRequestID", request_id)
    if pending is None:
        sub(root, OSCI, "NoMessageAvailable").set(
            "reason", "http://www.osci.eu/ws/2008/05/transport/MsgBox/reasons/NoMatch"
        )
    else:
        sub(root, OSCI, "ItemsPending", str(pending))
    return root

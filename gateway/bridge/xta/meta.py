"""The pipeline's messages seen as XTA transport orders: MessageMetaData and TransportReports from rows.

A message that came in through sendMessage keeps the author's transport order (``Message.xta_meta``),
so its reader sees the Qualifier, Subject and party names the author wrote. A message that entered any
other way (REST, a DMS adapter, a receipt the gateway built) gets the order the gateway's own XTA
client would write for it: the xdomea namespace of its version as service and payload schema, the
Nachrichtentyp as message type, and the XÖV identifiers as party identifiers.

The report's traffic light follows the message's state; its lists are the message's history: every
transition is an info, every failed try (an event that kept the state but carries an error) a warning,
and the event that ended the message badly an error.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from gateway.store.models import Message, MessageEvent, MessageState
from gateway.store.payloads import PayloadStore
from gateway.transport.xta.backend import (
    DeliveryTimes,
    KeyCode,
    MessageMeta,
    PartyId,
    ReportRecord,
    ReportStatus,
    TransportReport,
)

MESSAGE_ID_PREFIX = "urn:de:xta:messageid:xoev-gateway:"
"""Ids from createMessageId, and the id of a message that never had one (followed by the message's uuid);
the gateway's XTA client names the messages it pushes to a peer the same way."""
BUSINESS_SCENARIO = KeyCode("XDOMEAGAD_DATA", "urn:de:dataport:codeliste:business.scenario", "1")
MESSAGE_TYPE_LIST = ("urn:de:payloadschema:elementname", "1.0")
RECORD_LIST = ("urn:xoev-gateway:xta:record", "1.0")
"""The gateway's own list of report record codes (XTA leaves the list to the server): the state a
transition led to, ``retry`` for a failed try, or ``fetched``/``closed`` for the reader's MsgBox."""

S = MessageState
OPEN_STATES = frozenset({S.RECEIVED, S.VERIFIED, S.VALIDATED, S.SIGNED, S.QUEUED})
GREEN_STATES = frozenset({S.SENT, S.ACKNOWLEDGED, S.DELIVERED, S.CONFIRMED})
RED_STATES = frozenset({S.FAILED, S.DEAD_LETTERED, S.CANCELLED})


def xdomea_service(version: str) -> str:
    return f"urn:xoev-de:xdomea:schema:{version}"


def derived_message_id(message_id: uuid.UUID) -> str:
    return f"{MESSAGE_ID_PREFIX}{message_id}"


def uuid_of_derived(xta_id: str) -> uuid.UUID | None:
    """The message uuid a derived id names, or None (only the exact form counts, so ids compare as text)."""
    if not xta_id.startswith(MESSAGE_ID_PREFIX):
        return None
    rest = xta_id[len(MESSAGE_ID_PREFIX) :]
    try:
        value = uuid.UUID(rest)
    except ValueError:
        return None
    return value if str(value) == rest else None


def box_message_id(message: Message, source: Message | None) -> str:
    """The XTA MessageID under which ``message`` (inbound) shows in its reader's MsgBox.

    The id it arrived under; for a copy delivered on this gateway, the id of the outbound original
    (so author and reader speak of the same id); otherwise derived from the original's uuid.
    """
    if message.xta_message_id:
        return message.xta_message_id
    if source is not None and source.xta_message_id:
        return source.xta_message_id
    return derived_message_id(message.source_id or message.id)


def payload_size(payloads: PayloadStore, message: Message) -> int | None:
    """The size of the message's payload file (``oscimeta:MsgSize``), or None when it cannot be read."""
    try:
        return payloads.size(message.payload_ref)
    except OSError:
        return None


# -- the stored transport order ----------------------------------------------------------------------------


def _party_json(party: PartyId | None) -> dict[str, str] | None:
    if party is None:
        return None
    data = {"value": party.value, "type": party.type}
    if party.category:
        data["category"] = party.category
    if party.name:
        data["name"] = party.name
    return data


def _party(data: Any) -> PartyId | None:
    if not isinstance(data, dict) or "value" not in data:
        return None
    return PartyId(str(data["value"]), str(data.get("type", "")), data.get("category"), data.get("name"))


def _code_json(code: KeyCode) -> dict[str, str | None]:
    return {"code": code.code, "list_uri": code.list_uri, "list_version": code.list_version, "name": code.name}


def _code(data: Any) -> KeyCode | None:
    if not isinstance(data, dict) or "code" not in data:
        return None
    list_uri, list_version = str(data.get("list_uri", "")), str(data.get("list_version", ""))
    return KeyCode(str(data["code"]), list_uri, list_version, data.get("name"))


def meta_json(meta: MessageMeta) -> dict[str, Any]:
    """What the gateway keeps of an author's transport order (ids and times are the gateway's own)."""
    scenario = meta.business_scenario
    return {
        "author": _party_json(meta.author),
        "reader": _party_json(meta.reader),
        "sender": _party_json(meta.sender),
        "reply_to": _party_json(meta.reply_to),
        "service": meta.service,
        "business_scenario": _code_json(scenario) if isinstance(scenario, KeyCode) else scenario,
        "message_type": _code_json(meta.message_type),
        "payload_schema": meta.payload_schema,
        "subject": meta.subject,
        "in_reply_to": list(meta.in_reply_to),
        "process_requester": meta.process_requester,
        "process_responder": meta.process_responder,
        "origin": meta.delivery.origin.isoformat() if meta.delivery.origin else None,
        "service_quality": meta.delivery.service_quality,
        "test_message": meta.test_message,
    }


def _text(data: dict[str, Any], key: str) -> str | None:
    value = data.get(key)
    return str(value) if value else None


def message_meta(
    message: Message,
    stored: dict[str, Any] | None,
    *,
    message_id: str,
    party_type: str,
    size: int | None,
    delivered: datetime | None = None,
) -> MessageMeta:
    """The transport order of ``message``: the author's as stored, completed with the gateway's facts."""
    data = stored or {}
    service = _text(data, "service") or xdomea_service(message.xdomea_version)
    scenario_data = data.get("business_scenario")
    scenario: KeyCode | str = (
        scenario_data if isinstance(scenario_data, str) else (_code(scenario_data) or BUSINESS_SCENARIO)
    )
    origin = _text(data, "origin")
    return MessageMeta(
        message_id=message_id,
        author=_party(data.get("author")) or PartyId(message.sender_id, party_type),
        reader=_party(data.get("reader")) or PartyId(message.recipient_id, party_type),
        service=service,
        business_scenario=scenario,
        message_type=_code(data.get("message_type")) or KeyCode(message.message_type, *MESSAGE_TYPE_LIST),
        payload_schema=_text(data, "payload_schema") or service,
        subject=_text(data, "subject"),
        sender=_party(data.get("sender")),
        reply_to=_party(data.get("reply_to")),
        in_reply_to=tuple(str(v) for v in data.get("in_reply_to") or ()),
        process_requester=_text(data, "process_requester"),
        process_responder=_text(data, "process_responder"),
        delivery=DeliveryTimes(
            origin=datetime.fromisoformat(origin) if origin else None,
            initial_send=message.created_at,
            delivery=delivered,
            initial_fetch=message.xta_fetched_at,
            reception=message.xta_closed_at,
            service_quality=_text(data, "service_quality"),
        ),
        size=size or None,
        test_message=bool(data.get("test_message")),
    )


# -- transport reports -------------------------------------------------------------------------------------


def _record(event: MessageEvent, code: str, reason: str) -> ReportRecord:
    return ReportRecord(event.created_at, KeyCode(code, *RECORD_LIST), reason)


def report_status(message: Message) -> ReportStatus:
    """0 while the pipeline works on it, 2 when a try failed and it waits to retry, 1 once sent or
    delivered, 3 when it ended badly."""
    if message.state in RED_STATES:
        return ReportStatus.RED
    if message.state in GREEN_STATES:
        return ReportStatus.GREEN
    return ReportStatus.YELLOW if message.error else ReportStatus.OPEN


def transport_report(
    message: Message, events: Sequence[MessageEvent], meta: MessageMeta, now: datetime
) -> TransportReport:
    status = report_status(message)
    infos: list[ReportRecord] = []
    warnings: list[ReportRecord] = []
    errors: list[ReportRecord] = []
    for event in events:
        if event.from_state == event.to_state:
            if event.error:
                warnings.append(_record(event, "retry", f"{event.reason}: {event.error}"))
            continue
        if event.to_state in RED_STATES:
            detail = f"{event.reason}: {event.error}" if event.error else event.reason
            errors.append(_record(event, event.to_state.value, detail))
        else:
            infos.append(_record(event, event.to_state.value, event.reason))
    sent = next((e.created_at for e in events if e.to_state in (S.SENT, S.DELIVERED)), None)
    meta = replace(meta, delivery=replace(meta.delivery, delivery=meta.delivery.delivery or sent))
    return TransportReport(
        meta=meta,
        report_time=now,
        status=status,
        errors=tuple(errors),
        warnings=tuple(warnings),
        infos=tuple(infos),
    )

"""The seam between the XTA protocol layer and the gateway: what the SOAP server needs, in gateway terms.

The SOAP side (parsing, MTOM, faults, WS-Addressing) knows nothing of databases or queues; the pipeline
knows nothing of SOAP. They meet at :class:`XtaBackend`, a small typed protocol in the spirit of httpx's
transport interface: the pipeline implements it for production, and
:class:`~gateway.transport.xta.memory.MemoryBackend` implements it in memory for protocol-level tests.

Every method is synchronous (the server calls it in a worker thread, so a database-backed implementation
may block) and reports failure only by raising one of the exceptions in
:mod:`gateway.transport.xta.errors`; anything else becomes a technical-problem fault (9030).

Content travels as files, never as bytes in memory: an incoming part is a spool file that is valid only
during :meth:`XtaBackend.accept_message` (the backend moves or copies it; the server deletes what is left),
and an outgoing part is a file the server streams to the client.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import IntEnum
from pathlib import Path
from typing import Protocol

from gateway.transport.xta.identity import CallerIdentity


@dataclass(frozen=True, slots=True)
class PartyId:
    """An XTA account address (``oscimeta:PartyIdentifierType``): equal when value and type are."""

    value: str
    type: str
    category: str | None = field(default=None, compare=False)
    name: str | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class KeyCode:
    """A code from a code list (``oscimeta:KeyCodeType`` / ``xta:Code.RecordType``)."""

    code: str
    list_uri: str
    list_version: str
    name: str | None = None


@dataclass(frozen=True, slots=True)
class DeliveryTimes:
    """``oscimeta:DeliveryAttributes``: the points in time of a transport order, all optional."""

    origin: datetime | None = None
    initial_send: datetime | None = None
    not_before: datetime | None = None
    obsolete_after: date | None = None
    delivery: datetime | None = None
    initial_fetch: datetime | None = None
    reception: datetime | None = None
    service_quality: str | None = None


@dataclass(frozen=True, slots=True)
class MessageMeta:
    """The transport order of one message (``oscimeta:MessageMetaData``) as the gateway keeps it.

    ``business_scenario`` is a code (``Defined``) or free text (``Undefined``). Receipt requests and
    security tokens of the OSCI metadata are not kept: the gateway neither issues OSCI receipts nor
    carries tokens in the metadata.
    """

    message_id: str
    author: PartyId
    reader: PartyId
    service: str
    business_scenario: KeyCode | str
    message_type: KeyCode
    payload_schema: str
    subject: str | None = None
    sender: PartyId | None = None
    reply_to: PartyId | None = None
    other_readers: tuple[PartyId, ...] = ()
    cc_readers: tuple[PartyId, ...] = ()
    in_reply_to: tuple[str, ...] = ()
    process_requester: str | None = None
    process_responder: str | None = None
    delivery: DeliveryTimes = DeliveryTimes()
    properties: tuple[tuple[KeyCode, str], ...] = ()
    size: int | None = None
    test_message: bool = False


@dataclass(frozen=True, slots=True)
class ContentInfo:
    """The attributes of one content item (``xta:ContentType``); clients save files under ``filename``."""

    content_type: str
    filename: str | None = None
    description: str | None = None
    encoding: str | None = None
    id: str | None = None
    lang: str | None = None


@dataclass(frozen=True, slots=True)
class Content:
    """One content item's bytes (a file) with its attributes."""

    info: ContentInfo
    path: Path
    size: int


class ReportStatus(IntEnum):
    """The traffic light of a transport report (``MessageStatus/Status``)."""

    OPEN = 0
    GREEN = 1
    YELLOW = 2
    RED = 3


@dataclass(frozen=True, slots=True)
class ReportRecord:
    """One line of a transport report's error, warning or info list."""

    timestamp: datetime
    code: KeyCode
    reason: str


@dataclass(frozen=True, slots=True)
class TransportReport:
    """What the author learns about a transport order; ``status`` follows the pipeline state."""

    meta: MessageMeta
    report_time: datetime
    status: ReportStatus
    errors: tuple[ReportRecord, ...] = ()
    warnings: tuple[ReportRecord, ...] = ()
    infos: tuple[ReportRecord, ...] = ()


@dataclass(frozen=True, slots=True)
class MsgBoxSelection:
    """``osci:MsgSelector``: which messages of the box a request means; empty means all open ones."""

    message_ids: tuple[str, ...] = ()
    new_only: bool | None = None
    entry_from: datetime | None = None
    entry_to: datetime | None = None


@dataclass(frozen=True, slots=True)
class StatusListPage:
    """One page of a status list: the iterator id for getNextStatusList and how many items remain."""

    request_id: str
    items: tuple[MessageMeta, ...]
    pending: int


@dataclass(frozen=True, slots=True)
class FetchedMessage:
    """A message taken from a box, with the iterator id for getNextMessage and how many remain."""

    request_id: str
    meta: MessageMeta
    message: Content
    attachments: tuple[Content, ...]
    pending: int


class XtaBackend(Protocol):
    """What the XTA server needs from the gateway. ``author``/``reader`` are already authorized."""

    def authorize(self, caller: CallerIdentity, party: PartyId) -> None:
        """Allow ``caller`` to act for ``party`` or raise PermissionDenied (9010-9014)."""

    def create_message_id(self, author: PartyId) -> str:
        """A fresh message id (``urn:...``) reserved for ``author``."""

    def lookup_service(self, author: PartyId, reader: PartyId, service: str) -> bool | None:
        """Whether ``reader`` accepts ``service``; None when that is not known."""

    def accept_message(self, meta: MessageMeta, message: Content, attachments: Sequence[Content]) -> None:
        """Queue a message for transport and return at once; raises ParameterInvalid 9024 for a used id.

        The content files belong to the server's spool and vanish after the call: move or copy them.
        """

    def transport_report(self, author: PartyId, message_id: str) -> TransportReport:
        """The report of ``author``'s message, or InvalidMessageId (9070)."""

    def cancel_message(self, author: PartyId, message_id: str) -> None:
        """Withdraw a transport order not yet due, or CancelDenied (9100/9101) / InvalidMessageId."""

    def status_list(self, reader: PartyId, selection: MsgBoxSelection, max_items: int | None) -> StatusListPage:
        """The first page of ``reader``'s open messages matching ``selection``."""

    def next_status_list(self, reader: PartyId, request_id: str) -> StatusListPage:
        """The next page of an earlier status list, as long as that list's ``max_items`` (OSCI's
        MsgBoxGetNextRequest carries no maxListItems: the iterator keeps the one it was opened with)."""

    def fetch_message(self, reader: PartyId, selection: MsgBoxSelection) -> FetchedMessage:
        """The first open message of ``reader`` matching ``selection``, or InvalidMessageId (9070)."""

    def fetch_next_message(self, reader: PartyId, request_id: str, received: Sequence[str]) -> FetchedMessage:
        """The next message of an earlier fetch, or InvalidMessageId when none is left."""

    def close(self, reader: PartyId, request_id: str, received: Sequence[str]) -> None:
        """Confirm receipt of ``received`` (removing them from the box) and end the iterator.

        A message id that is not open in ``reader``'s own box raises InvalidMessageId (9070).
        """

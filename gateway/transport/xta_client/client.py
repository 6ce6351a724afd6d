"""The XTA 2 client: every operation of the WSDL against any XTA 2 server, with retries and a circuit breaker.

Each operation is one :meth:`XtaClient._call`: the peer's circuit breaker is asked first, the request is
rendered by zeep (:mod:`.envelopes`), exchanged over HTTP (:mod:`.http`) and read into typed values
(:mod:`.replies`). Transient errors are retried by tenacity with exponential back-off and full jitter
(``wait_random_exponential``: a random wait below a doubling cap, so that many senders that failed
together do not come back together); permanent errors surface at once.

The two flows of the standard are built on top:

* :meth:`XtaClient.send` -- checkAccountActive, lookupService, createMessageId (unless the caller brings
  its own id), sendMessage, getTransportReport. A retried sendMessage keeps its MessageID, so a send whose
  reply was lost is not duplicated: the peer answers 9024 "MessageID already used", and the client counts
  that as delivered only if the peer's transport report for our account shows the message.
* :meth:`XtaClient.receive` -- getStatusList, then per message getMessage, the caller's handler, close.
  close comes only after the handler returned, so a crash in between fetches the message again rather
  than losing it (at-least-once; the handler de-duplicates by MessageID).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from lxml import etree
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt, wait_random_exponential

from gateway.config import Settings
from gateway.transport.xta.backend import (
    Content,
    FetchedMessage,
    MessageMeta,
    MsgBoxSelection,
    PartyId,
    ReportStatus,
    StatusListPage,
    TransportReport,
)
from gateway.transport.xta.ns import OSCI, PORTS, q
from gateway.transport.xta.schemas import XtaSchemas, bundle_dir, load_schemas
from gateway.transport.xta.spool import Spool
from gateway.transport.xta_client.breaker import BreakerRegistry, CircuitBreaker
from gateway.transport.xta_client.envelopes import (
    Envelopes,
    Request,
    attach_content,
    author_header,
    container_value,
    envelopes_for,
    message_ids,
    meta_header,
    party_value,
    serialise,
)
from gateway.transport.xta_client.errors import (
    MESSAGE_ID_ALREADY_USED,
    CircuitOpen,
    PermanentError,
    PermanentFault,
    XtaClientError,
)
from gateway.transport.xta_client.http import Channel, Reply
from gateway.transport.xta_client.peer import Peer
from gateway.transport.xta_client.replies import ReplyReader, ServiceAvailability

log = logging.getLogger(__name__)

T = TypeVar("T")
MANAGEMENT, SEND, MSGBOX = PORTS

RetryHook = Callable[[XtaClientError, int], None]
"""Called before each retry with the error and the number of the try that failed."""


@dataclass(frozen=True, slots=True)
class SendOutcome:
    """The result of the send flow: the MessageID used, the peer's report, and whether a retry hit 9024."""

    message_id: str
    report: TransportReport
    confirmed_duplicate: bool = False
    availability: ServiceAvailability | None = None


class Fetched:
    """A fetched message whose content files live in a private spool until :meth:`cleanup` (or ``with``)."""

    def __init__(self, message: FetchedMessage, spool: Spool) -> None:
        self.message = message
        self._spool = spool

    @property
    def meta(self) -> MessageMeta:
        return self.message.meta

    @property
    def contents(self) -> tuple[Content, ...]:
        return (self.message.message, *self.message.attachments)

    def cleanup(self) -> None:
        self._spool.cleanup()

    def __enter__(self) -> Fetched:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.cleanup()


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, XtaClientError) and exc.retryable and not isinstance(exc, CircuitOpen)


class XtaClient:
    """A client for one peer. Thread-safe; share one per peer (see :class:`ClientPool`)."""

    def __init__(
        self,
        peer: Peer,
        settings: Settings,
        *,
        breakers: BreakerRegistry | None = None,
        on_retry: RetryHook | None = None,
        sleep: Callable[[float], None] = time.sleep,
        envelopes: Envelopes | None = None,
        schemas: XtaSchemas | None = None,
    ) -> None:
        self.peer = peer
        self.config = settings.xta_client
        folder = bundle_dir(settings.schema_dir)
        self.envelopes = envelopes or envelopes_for(folder)
        self.schemas = schemas or load_schemas(folder)
        spool_root = self.config.spool_dir or settings.data_dir / "xta-client-spool"
        self.channel = Channel(peer, self.config, Path(spool_root))
        registry = breakers or BreakerRegistry(self.config.breaker_threshold, self.config.breaker_cooldown_seconds)
        self.breaker: CircuitBreaker = registry.get(peer.url)
        self._on_retry = on_retry
        self._sleep = sleep

    def close(self) -> None:
        self.channel.close()

    def __enter__(self) -> XtaClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- the call discipline ------------------------------------------------------------------------------
    def _before_sleep(self, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome is not None else None
        if isinstance(exc, XtaClientError):
            log.warning("XTA %s: try %d failed, retrying: %s", exc.operation, state.attempt_number, exc)
            if self._on_retry is not None:
                self._on_retry(exc, state.attempt_number)

    def _once(self, operation: str, attempt: Callable[[], T]) -> T:
        wait = self.breaker.allow()
        if wait is not None:
            raise CircuitOpen(
                self.peer.url, operation, f"circuit open after repeated failures; next try in {wait:.1f} s"
            )
        try:
            result = attempt()
        except XtaClientError as exc:
            if exc.retryable:
                self.breaker.record_failure()
            else:
                self.breaker.record_success()  # the peer answered; it is alive
            raise
        except BaseException:
            self.breaker.record_failure()
            raise
        self.breaker.record_success()
        return result

    def _call(self, operation: str, attempt: Callable[[], T]) -> T:
        """Run ``attempt`` under the breaker, retrying transient errors with jittered exponential back-off."""
        retrying = Retrying(
            stop=stop_after_attempt(max(1, self.config.max_attempts)),
            wait=wait_random_exponential(
                multiplier=self.config.backoff_base_seconds, max=self.config.backoff_max_seconds
            ),
            retry=retry_if_exception(_retryable),
            reraise=True,
            sleep=self._sleep,
            before_sleep=self._before_sleep,
        )
        result: T = retrying(self._once, operation, attempt)
        return result

    def _exchange(self, request: Request) -> Reply:
        return self.channel.exchange(request.operation, request.port, request.action, request.envelope, request.parts)

    def _simple(self, request_of: Callable[[], Request]) -> Reply:
        """Exchange a request whose reply carries no content (its spool is emptied at once)."""
        reply = self._exchange(request_of())
        reply.spool.cleanup()
        return reply

    def _request(
        self, port: str, operation: str, *args: Any, headers: Sequence[etree._Element] = (), **kwargs: Any
    ) -> Request:
        return self.envelopes.request(port, operation, self.peer.port_url(port), *args, headers=headers, **kwargs)

    def _iterator_request(self, op: str, reader: PartyId, request_id: str, received: Sequence[str]) -> Request:
        """getNext*/close: ``LastMsgReceived`` is optional as a whole (``xs:sequence minOccurs=0``), which
        zeep does not model -- it insists on one item -- so an empty list is rendered with a placeholder
        that is then removed."""
        port_url = self.peer.port_url(MSGBOX)
        ids = list(received) or ["urn:placeholder"]
        tree = self.envelopes.render(
            MSGBOX,
            op,
            port_url,
            MsgBoxRequestID=request_id,
            LastMsgReceived=message_ids(ids),
            headers=[author_header(reader)],
        )
        if not received:
            for element in list(tree.iter(q(OSCI, "LastMsgReceived"))):
                parent = element.getparent()
                assert parent is not None
                parent.remove(element)
        return Request(op, MSGBOX, self.envelopes.action(MSGBOX, op), serialise(tree))

    def _reader(self, operation: str) -> ReplyReader:
        return ReplyReader(self.schemas, self.peer.url, operation)

    # -- ManagementPort -----------------------------------------------------------------------------------
    def check_account_active(self, author: PartyId) -> None:
        """Succeeds when the peer accepts ``author`` from us (PermissionDenied otherwise)."""
        op = "checkAccountActive"
        self._call(op, lambda: self._simple(lambda: self._request(MANAGEMENT, op, headers=[author_header(author)])))

    def create_message_id(self, author: PartyId) -> str:
        op = "createMessageId"

        def attempt() -> str:
            reply = self._simple(lambda: self._request(MANAGEMENT, op, headers=[author_header(author)]))
            return self._reader(op).message_id(reply)

        return self._call(op, attempt)

    def lookup_service(self, author: PartyId, readers: Sequence[tuple[PartyId, str]]) -> list[ServiceAvailability]:
        """Whether each ``(reader, service)`` is reachable through the peer."""
        op = "lookupService"
        value = [{"LookupService": {"Reader": party_value(r), "ServiceType": s}} for r, s in readers]

        def attempt() -> list[ServiceAvailability]:
            reply = self._simple(
                lambda: self._request(MANAGEMENT, op, LookupServiceRequestList=value, headers=[author_header(author)])
            )
            return self._reader(op).lookup(reply)

        return self._call(op, attempt)

    def transport_report(self, author: PartyId, message_id: str) -> TransportReport:
        op = "getTransportReport"

        def attempt() -> TransportReport:
            reply = self._simple(lambda: self._request(MANAGEMENT, op, message_id, headers=[author_header(author)]))
            return self._reader(op).report(reply)

        return self._call(op, attempt)

    def cancel_message(self, author: PartyId, message_id: str) -> None:
        op = "cancelMessage"
        self._call(
            op, lambda: self._simple(lambda: self._request(MANAGEMENT, op, message_id, headers=[author_header(author)]))
        )

    # -- SendXtaPort ---------------------------------------------------------------------------------------
    def _send_request(self, op: str, meta: MessageMeta, message: Content, attachments: Sequence[Content]) -> Request:
        port_url = self.peer.port_url(SEND)
        tree = self.envelopes.render(
            SEND, op, port_url, ContentContainer=container_value(message, attachments), headers=[meta_header(meta)]
        )
        parts = attach_content(tree, [message, *attachments], self.config.inline_max_bytes)
        return Request(op, SEND, self.envelopes.action(SEND, op), serialise(tree), parts)

    def send_message(self, meta: MessageMeta, message: Content, attachments: Sequence[Content] = ()) -> None:
        """sendMessage with ``meta.message_id``; every retry sends the same id (see the module docstring)."""
        op = "sendMessage"
        self._call(op, lambda: self._simple(lambda: self._send_request(op, meta, message, attachments)))

    def send_message_sync(self, meta: MessageMeta, message: Content, attachments: Sequence[Content] = ()) -> Fetched:
        """sendMessageSync: the peer's answer message comes back in the reply (clean it up after use)."""
        op = "sendMessageSync"

        def attempt() -> Fetched:
            reply = self._exchange(self._send_request(op, meta, message, attachments))
            try:
                return Fetched(self._reader(op).fetched(reply), reply.spool)
            except BaseException:
                reply.spool.cleanup()
                raise

        return self._call(op, attempt)

    # -- MsgBoxPort ----------------------------------------------------------------------------------------
    def status_list(
        self, reader: PartyId, max_items: int | None = None, selection: MsgBoxSelection | None = None
    ) -> StatusListPage:
        op = "getStatusList"
        kwargs: dict[str, object] = {"ListForm": "MessageMetaData"}
        if max_items:
            kwargs["maxListItems"] = max_items
        if selection is not None:
            kwargs["MsgSelector"] = _selector(selection)

        def attempt() -> StatusListPage:
            reply = self._simple(lambda: self._request(MSGBOX, op, headers=[author_header(reader)], **kwargs))
            return self._reader(op).status_list(reply)

        return self._call(op, attempt)

    def next_status_list(self, reader: PartyId, request_id: str, received: Sequence[str] = ()) -> StatusListPage:
        op = "getNextStatusList"

        def attempt() -> StatusListPage:
            reply = self._simple(lambda: self._iterator_request(op, reader, request_id, received))
            return self._reader(op).status_list(reply)

        return self._call(op, attempt)

    def _fetch(self, op: str, request_of: Callable[[], Request]) -> Fetched:
        def attempt() -> Fetched:
            reply = self._exchange(request_of())
            try:
                return Fetched(self._reader(op).fetched(reply), reply.spool)
            except BaseException:
                reply.spool.cleanup()
                raise

        return self._call(op, attempt)

    def get_message(self, reader: PartyId, message_id: str | None = None) -> Fetched:
        """getMessage: the message ``message_id`` (or the first open one); content streamed to spool files."""
        op = "getMessage"
        kwargs: dict[str, object] = {}
        if message_id is not None:
            kwargs["MsgSelector"] = _selector(MsgBoxSelection(message_ids=(message_id,)))
        return self._fetch(op, lambda: self._request(MSGBOX, op, headers=[author_header(reader)], **kwargs))

    def get_next_message(self, reader: PartyId, request_id: str, received: Sequence[str] = ()) -> Fetched:
        op = "getNextMessage"
        return self._fetch(
            op,
            lambda: self._iterator_request(op, reader, request_id, received),
        )

    def close_messages(self, reader: PartyId, received: Sequence[str], request_id: str | None = None) -> None:
        """close: confirm receipt of ``received`` (removing them from the peer's box)."""
        op = "close"
        request = request_id or f"urn:uuid:{uuid.uuid4()}"
        self._call(
            op,
            lambda: self._simple(lambda: self._iterator_request(op, reader, request, received)),
        )

    # -- flows ---------------------------------------------------------------------------------------------
    def send(
        self,
        meta: MessageMeta,
        message: Content,
        attachments: Sequence[Content] = (),
        *,
        check: bool = True,
    ) -> SendOutcome:
        """The send flow. ``meta.message_id`` empty: a fresh id from createMessageId; else that id is used.

        ``check`` runs checkAccountActive and lookupService first; a reader the peer says it cannot
        reach is a :class:`PermanentError` before anything is sent.
        """
        availability = None
        if check:
            self.check_account_active(meta.author)
            answers = self.lookup_service(meta.author, [(meta.reader, meta.service)])
            availability = answers[0] if answers else None
            if availability is not None and availability.available is False:
                raise PermanentError(
                    self.peer.url,
                    "lookupService",
                    f"the peer does not offer service {meta.service} for {meta.reader.type}:{meta.reader.value}",
                )
        if not meta.message_id:
            meta = replace(meta, message_id=self.create_message_id(meta.author))
        duplicate = False
        try:
            self.send_message(meta, message, attachments)
        except PermanentFault as exc:
            if exc.code != MESSAGE_ID_ALREADY_USED:
                raise
            try:
                report = self.transport_report(meta.author, meta.message_id)
            except PermanentError:
                raise exc from None  # not our message: the id really is taken by someone else
            log.info(
                "XTA %s was already delivered to %s (9024 confirmed by its report)", meta.message_id, self.peer.url
            )
            return SendOutcome(meta.message_id, report, True, availability)
        report = self.transport_report(meta.author, meta.message_id)
        return SendOutcome(meta.message_id, report, duplicate, availability)

    def receive(
        self, reader: PartyId, handler: Callable[[Fetched], None], *, max_items: int | None = None
    ) -> list[str]:
        """The receive flow: every listed message fetched, handed to ``handler``, then closed; returns the ids."""
        page = self.status_list(reader, max_items)
        done: list[str] = []
        for item in page.items:
            with self.get_message(reader, item.message_id) as fetched:
                handler(fetched)
                self.close_messages(reader, [item.message_id], fetched.message.request_id or None)
            done.append(item.message_id)
        return done


def _selector(selection: MsgBoxSelection) -> dict[str, object]:
    value: dict[str, object] = {}
    if selection.message_ids:
        value["MessageID"] = message_ids(selection.message_ids)
    if selection.entry_from is not None:
        value["MsgBoxEntryTimeFrom"] = selection.entry_from
    if selection.entry_to is not None:
        value["MsgBoxEntryTimeTo"] = selection.entry_to
    if selection.new_only is not None:
        value["newEntry"] = selection.new_only
    return value


def is_delivered(report: TransportReport) -> bool:
    """Whether a report says the peer has the message and has not given up on it."""
    return report.status is not ReportStatus.RED

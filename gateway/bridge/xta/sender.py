"""The pipeline's :class:`~gateway.pipeline.transport.Transport` for route ``xta``: push to the peer's XTA server.

The recipient's directory entry gives the peer (``endpoint_url``); the settings give the trust for it
(:mod:`.peer`). A queued message becomes one XTA transport order: Author is the sender's XÖV identifier,
Reader the recipient's (PartyIdentifier type ``xta_client.party_type``), the service is the xdomea
namespace of the message's version, and the MessageID is derived from the message's own id -- so a worker
that was killed after sending, or a send whose reply was lost, repeats the *same* order and the peer
answers 9024 instead of storing a second copy (:meth:`XtaClient.send` turns a confirmed 9024 into
success). The transport report right after sending decides: red means the peer refused the message.

Outcomes map onto the pipeline's: transient errors (peer down, slow, technical fault, circuit open) are
``RETRY`` with the pipeline's back-off; permanent ones (schema, parameter, permission faults, missing
trust configuration) are ``REJECTED`` with the peer's fault code and text, which dead-letters the
message for an operator.
"""

from __future__ import annotations

import threading

from sqlmodel import Session

from gateway.config import Settings
from gateway.pipeline import directory
from gateway.pipeline.transport import SendResult, SendStatus
from gateway.store.models import Message
from gateway.store.payloads import PayloadStore
from gateway.transport.xta.backend import Content, ContentInfo, KeyCode, MessageMeta, PartyId, ReportStatus
from gateway.transport.xta_client.breaker import BreakerRegistry, BreakerSnapshot
from gateway.transport.xta_client.client import RetryHook, XtaClient
from gateway.transport.xta_client.errors import XtaClientError
from gateway.transport.xta_client.peer import PeerNotConfigured, normalise_url, resolve_peer

MESSAGE_ID_PREFIX = "urn:de:xta:messageid:xoev-gateway:"
#: The business scenario and message type code lists the gateway writes (as XTA clients in the field do).
BUSINESS_SCENARIO = KeyCode("XDOMEAGAD_DATA", "urn:de:dataport:codeliste:business.scenario", "1")
MESSAGE_TYPE_LIST = ("urn:de:payloadschema:elementname", "1.0")
_CONTENT_TYPES = {"xml": "application/xml", "zip": "application/zip"}


def xta_message_id(message: Message) -> str:
    """The XTA MessageID of an outbound message: stable across every try."""
    return f"{MESSAGE_ID_PREFIX}{message.id}"


def xdomea_service(version: str) -> str:
    return f"urn:xoev-de:xdomea:schema:{version}"


def transport_meta(message: Message, party_type: str) -> MessageMeta:
    """The transport order (``MessageMetaData``) of ``message``."""
    service = xdomea_service(message.xdomea_version)
    return MessageMeta(
        message_id=xta_message_id(message),
        author=PartyId(message.sender_id, party_type),
        reader=PartyId(message.recipient_id, party_type),
        service=service,
        business_scenario=BUSINESS_SCENARIO,
        message_type=KeyCode(message.message_type, *MESSAGE_TYPE_LIST),
        payload_schema=service,
    )


class XtaTransport:
    """Sends queued messages to remote XTA servers; one client per peer, breakers shared process-wide."""

    def __init__(
        self,
        settings: Settings,
        payloads: PayloadStore,
        *,
        breakers: BreakerRegistry | None = None,
        on_retry: RetryHook | None = None,
    ) -> None:
        self.settings = settings
        self.payloads = payloads
        config = settings.xta_client
        self.breakers = breakers or BreakerRegistry(config.breaker_threshold, config.breaker_cooldown_seconds)
        self._on_retry = on_retry
        self._clients: dict[str, XtaClient] = {}
        self._lock = threading.Lock()

    def client_for(self, endpoint_url: str) -> XtaClient:
        key = normalise_url(endpoint_url)
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                peer = resolve_peer(self.settings.xta_client, key)
                client = XtaClient(peer, self.settings, breakers=self.breakers, on_retry=self._on_retry)
                self._clients[key] = client
            return client

    def health(self) -> list[BreakerSnapshot]:
        """The circuit state of every peer this process has talked to (for /readyz and metrics)."""
        return self.breakers.snapshots()

    def close(self) -> None:
        with self._lock:
            for client in self._clients.values():
                client.close()
            self._clients.clear()

    def send(self, session: Session, message: Message, *, actor: str) -> SendResult:
        recipient = directory.participant(session, message.recipient_id)
        if recipient is None or not recipient.endpoint_url:
            return SendResult(SendStatus.REJECTED, message.recipient_id, "the recipient has no XTA endpoint_url")
        peer_name = normalise_url(recipient.endpoint_url)
        try:
            client = self.client_for(recipient.endpoint_url)
        except PeerNotConfigured as exc:
            return SendResult(SendStatus.REJECTED, peer_name, f"XTA client configuration: {exc}")
        content = Content(
            ContentInfo(
                _CONTENT_TYPES.get(message.content_kind, "application/octet-stream"),
                filename=message.filename or None,
            ),
            self.payloads.path_of(message.payload_ref),
            self.payloads.size(message.payload_ref),
        )
        meta = transport_meta(message, self.settings.xta_client.party_type)
        try:
            outcome = client.send(meta, content)
        except XtaClientError as exc:
            status = SendStatus.RETRY if exc.retryable else SendStatus.REJECTED
            return SendResult(status, peer_name, str(exc))
        report = outcome.report
        if report.status is ReportStatus.RED:
            reasons = "; ".join(f"{e.code.code} {e.reason}" for e in report.errors) or "no reason given"
            return SendResult(SendStatus.REJECTED, peer_name, f"the peer's transport report is red: {reasons}")
        again = " (already there: 9024 confirmed by the report)" if outcome.confirmed_duplicate else ""
        return SendResult(
            SendStatus.SENT,
            peer_name,
            f"XTA {outcome.message_id} accepted by {peer_name}, report status {int(report.status)}{again}",
        )

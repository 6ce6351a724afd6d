"""The production :class:`~gateway.transport.xta.backend.XtaBackend`: XTA accounts and boxes over the pipeline.

Accounts are participants of the directory: a PartyIdentifier names one by its XÖV identifier
(``psw:16077000``; an identifier of type ``psw`` with value ``16077000`` is read the same way). A caller
proves it may act for an account with its TLS client certificate, pinned for that participant with
usage ``tls``; a certificate pinned for a participant that is reached through a peer gateway (route
``xta``) speaks for every participant routed to that same gateway, since that gateway sends on behalf of
all of them. Loopback callers pass without a certificate only when the server's development switch
allows it (the transport layer decides that before the backend is asked).

sendMessage is intake with channel ``xta``: the message part is streamed from the spool file into
:func:`gateway.pipeline.intake.submit` and the call returns as soon as the message is stored; the
workers sign, route and deliver it. A participant of this gateway sends ``out``; a participant of a
peer gateway (its gateway pushing to us) sends ``in``, to be delivered to one of ours. Intake's
refusals become the XTA faults a client can act on, and leave nothing behind (the MessageID included).

The MsgBox is :mod:`.box`, the transport order and report are :mod:`.meta`, the
MessageID ledger is :mod:`.ids`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from sqlmodel import Session, col, select, update

from gateway.bridge.xta import box, ids
from gateway.bridge.xta.meta import (
    message_meta,
    meta_json,
    transport_report,
    uuid_of_derived,
    xdomea_service,
)
from gateway.pipeline.context import PipelineContext
from gateway.pipeline.errors import (
    Conflict,
    ForgedSender,
    Invalid,
    Rejected,
    TooLarge,
    UnknownRecipient,
    VersionNotAccepted,
)
from gateway.pipeline.intake import submit
from gateway.pipeline.states import NEVER, allowed
from gateway.store.models import (
    Certificate,
    CertificateUsage,
    Direction,
    Message,
    MessageEvent,
    MessageState,
    Participant,
    RouteKind,
)
from gateway.store.types import utcnow
from gateway.transport.xta.backend import (
    Content,
    ContentInfo,
    FetchedMessage,
    MessageMeta,
    MsgBoxSelection,
    PartyId,
    StatusListPage,
    TransportReport,
)
from gateway.transport.xta.errors import (
    CancelDenied,
    ErrorCode,
    InvalidMessageId,
    ParameterInvalid,
    PermissionDenied,
    SchemaViolation,
    XtaError,
)
from gateway.transport.xta.identity import CallerIdentity

log = logging.getLogger(__name__)

CONTENT_TYPES = {"xml": "application/xml", "zip": "application/zip"}
REPORTED_ERRORS = 3


def account_ids(party: PartyId) -> list[str]:
    """The XÖV identifiers a PartyIdentifier may mean: its value, or ``type:value`` for a bare Kennung."""
    candidates = [party.value]
    if ":" not in party.value and party.type:
        candidates.append(f"{party.type}:{party.value}")
    return candidates


def _same_peer(a: Participant, b: Participant) -> bool:
    if a.route_kind is not RouteKind.XTA or b.route_kind is not RouteKind.XTA:
        return False
    if not a.endpoint_url or not b.endpoint_url:
        return False
    return a.endpoint_url.rstrip("/") == b.endpoint_url.rstrip("/")


def refusal_fault(refusal: Rejected) -> XtaError:
    """The XTA fault for one of intake's refusals; its text is intake's, which says what to fix."""
    if isinstance(refusal, Invalid):
        errors = refusal.report.errors
        shown = "; ".join(
            f"{e.rule} {e.message}" + (f" ({e.location})" if str(e.location) else "") for e in errors[:REPORTED_ERRORS]
        )
        more = f" and {len(errors) - REPORTED_ERRORS} more" if len(errors) > REPORTED_ERRORS else ""
        return SchemaViolation(ErrorCode.SCHEMA_VIOLATION, f"{len(errors)} error(s): {shown}{more}")
    if isinstance(refusal, ForgedSender):
        return PermissionDenied(ErrorCode.IDENTITY_MISMATCH, refusal.detail)
    if isinstance(refusal, TooLarge):
        return ParameterInvalid(ErrorCode.MESSAGE_TOO_LARGE, refusal.detail)
    if isinstance(refusal, Conflict):
        return ParameterInvalid(ErrorCode.MESSAGE_ID_ALREADY_USED, refusal.detail)
    if isinstance(refusal, UnknownRecipient):
        return ParameterInvalid(ErrorCode.INVALID_PARAMETER_COMBINATION, refusal.detail)
    if isinstance(refusal, VersionNotAccepted):
        # the Reader has not booked the service of this xdomea version (the service URI names the version)
        return PermissionDenied(ErrorCode.SERVICE_NOT_BOOKED, refusal.detail)
    return ParameterInvalid(ErrorCode.INVALID_PARAMETER_COMBINATION, refusal.detail)


class PipelineXtaBackend:
    """XTA accounts, transport orders and message boxes of one gateway, stored by its pipeline."""

    def __init__(self, ctx: PipelineContext) -> None:
        self.ctx = ctx
        self.party_type = ctx.settings.xta_client.party_type

    # -- accounts -------------------------------------------------------------------------------------

    def _participant(self, session: Session, party: PartyId) -> Participant | None:
        for xoev_id in account_ids(party):
            row = session.exec(select(Participant).where(col(Participant.xoev_id) == xoev_id)).first()
            if row is not None:
                return row
        return None

    def _account(self, session: Session, party: PartyId) -> Participant:
        row = self._participant(session, party)
        if row is None:
            raise PermissionDenied(ErrorCode.ACCOUNT_UNKNOWN, f"no account {party.type}:{party.value}")
        return row

    def authorize(self, caller: CallerIdentity, party: PartyId) -> None:
        with self.ctx.session() as session:
            account = self._account(session, party)
            if caller.trusted_without_certificate:
                return
            pin = session.exec(
                select(Certificate).where(
                    col(Certificate.fingerprint_sha256) == (caller.certificate_sha256 or ""),
                    col(Certificate.usage) == CertificateUsage.TLS,
                )
            ).first()
            holder = session.get(Participant, pin.participant_id) if pin is not None else None
            if pin is None or holder is None or not (holder.id == account.id or _same_peer(holder, account)):
                raise PermissionDenied(
                    ErrorCode.IDENTITY_MISMATCH,
                    f"the client certificate is not bound to {account.xoev_id}",
                )
            now = utcnow()
            if not pin.not_before <= now <= pin.not_after:
                raise PermissionDenied(
                    ErrorCode.CERTIFICATE_EXPIRED, f"the certificate is pinned until {pin.not_after.isoformat()}"
                )

    # -- ManagementPort --------------------------------------------------------------------------------

    def create_message_id(self, author: PartyId) -> str:
        with self.ctx.session() as session:
            account = self._account(session, author)
            return ids.reserve(session, account.xoev_id)

    def lookup_service(self, author: PartyId, reader: PartyId, service: str) -> bool | None:
        with self.ctx.session() as session:
            row = self._participant(session, reader)
        if row is None:
            return False
        return any(service == xdomea_service(version) for version in row.accepted_versions)

    def _sent(self, session: Session, author: PartyId, message_id: str) -> Message:
        """``author``'s message known by ``message_id``, or 9070 (also for another account's message)."""
        account = self._account(session, author)
        found = ids.message_of(session, message_id, account.xoev_id)
        if found is None:
            derived = uuid_of_derived(message_id)
            candidate = session.get(Message, derived) if derived is not None else None
            if candidate is not None and candidate.sender_id == account.xoev_id and candidate.xta_message_id is None:
                found = candidate.id
        message = session.get(Message, found) if found is not None else None
        if message is None:
            raise InvalidMessageId(ErrorCode.MESSAGE_ID_UNKNOWN, message_id)
        return message

    def transport_report(self, author: PartyId, message_id: str) -> TransportReport:
        with self.ctx.session() as session:
            message = self._sent(session, author, message_id)
            events = session.exec(
                select(MessageEvent).where(col(MessageEvent.message_id) == message.id).order_by(col(MessageEvent.id))
            ).all()
            meta = message_meta(
                message,
                message.xta_meta,
                message_id=message_id,
                party_type=self.party_type,
                size=self._size(message),
            )
            copy = session.exec(select(Message).where(col(Message.source_id) == message.id)).first()
            if copy is not None:  # delivered on this gateway: the reader's side of the times
                delivered = session.exec(
                    select(MessageEvent.created_at)
                    .where(
                        col(MessageEvent.message_id) == copy.id, col(MessageEvent.to_state) == MessageState.DELIVERED
                    )
                    .order_by(col(MessageEvent.id))
                ).first()
                times = replace(
                    meta.delivery, delivery=delivered, initial_fetch=copy.xta_fetched_at, reception=copy.xta_closed_at
                )
                meta = replace(meta, delivery=times)
            return transport_report(message, events, meta, utcnow())

    def cancel_message(self, author: PartyId, message_id: str) -> None:
        now = utcnow()
        with self.ctx.session() as session:
            message = self._sent(session, author, message_id)
            state = message.state
            if message.direction is not Direction.OUTBOUND or not allowed(
                message.direction, state, MessageState.CANCELLED
            ):
                raise CancelDenied(ErrorCode.UNSPECIFIED, f"the message is already {state.value}, too late to withdraw")
            lease_free = (col(Message.lease_owner).is_(None)) | (col(Message.lease_expires_at) <= now)
            matched = session.exec(
                update(Message)
                .where(col(Message.id) == message.id, col(Message.state) == state, lease_free)
                .values(
                    state=MessageState.CANCELLED,
                    updated_at=now,
                    next_attempt_at=NEVER,
                    lease_owner=None,
                    lease_expires_at=None,
                )
                .execution_options(synchronize_session=False)
            ).rowcount
            if matched != 1:
                session.rollback()
                raise CancelDenied(
                    ErrorCode.UNSPECIFIED, "the gateway is sending the message right now; ask for its report"
                )
            session.add(
                MessageEvent(
                    message_id=message.id,
                    from_state=state,
                    to_state=MessageState.CANCELLED,
                    actor=f"xta:{message.sender_id}",
                    reason=f"withdrawn by its author (XTA cancelMessage {message_id})",
                    created_at=now,
                )
            )
            session.commit()

    # -- SendXtaPort ------------------------------------------------------------------------------------

    def accept_message(self, meta: MessageMeta, message: Content, attachments: Sequence[Content]) -> None:
        if attachments:
            raise ParameterInvalid(
                ErrorCode.INVALID_PARAMETER_COMBINATION,
                "the gateway carries one xdomea message per transport order: send a package (ZIP) as the Message "
                "and no Attachment",
            )
        ids.check_message_id(meta.message_id)
        limit = self.ctx.settings.pipeline.max_submit_bytes
        if message.size > limit:
            raise ParameterInvalid(ErrorCode.MESSAGE_TOO_LARGE, f"{message.size} bytes is more than {limit} bytes")
        with self.ctx.session() as session:
            account = self._account(session, meta.author)
            reader = self._participant(session, meta.reader)
            if reader is None:
                raise ParameterInvalid(
                    ErrorCode.INVALID_PARAMETER_COMBINATION,
                    f"the Reader {meta.reader.type}:{meta.reader.value} is not in the participant directory",
                )
            sender = account.xoev_id
            addressed = reader.xoev_id  # the Empfaenger must agree, or name it when it names nobody
            inbound = account.route_kind is RouteKind.XTA
            if inbound and reader.route_kind is not RouteKind.MAILBOX:
                raise ParameterInvalid(
                    ErrorCode.INVALID_PARAMETER_COMBINATION,
                    f"{reader.xoev_id} has no mailbox on this gateway; the gateway does not relay between peers",
                )
            claim = ids.claim(session, meta.message_id, sender)
        try:
            with message.path.open("rb") as source:
                result = submit(
                    self.ctx,
                    source,
                    sender=sender,
                    filename=message.info.filename,
                    channel="xta",
                    direction=Direction.INBOUND if inbound else Direction.OUTBOUND,
                    actor=f"xta:{sender}",
                    recipient=addressed,
                )
        except BaseException as exc:
            with self.ctx.session() as session:
                ids.release(session, claim)
            if isinstance(exc, Rejected):
                raise refusal_fault(exc) from None
            raise
        stored = result.message.id
        with self.ctx.session() as session:
            ids.link(session, claim, stored, meta_json(meta))
        log.info(
            "XTA %s from %s accepted as message %s%s",
            meta.message_id,
            sender,
            stored,
            "" if result.created else " (submitted before)",
        )

    # -- MsgBoxPort -------------------------------------------------------------------------------------

    def _size(self, message: Message) -> int | None:
        try:
            return self.ctx.payloads.size(message.payload_ref)
        except OSError:
            return None

    def _meta(self, entry: box.BoxEntry) -> MessageMeta:
        message = entry.message
        stored = message.xta_meta or (entry.source.xta_meta if entry.source is not None else None)
        return message_meta(
            message,
            stored,
            message_id=entry.xta_id,
            party_type=self.party_type,
            size=self._size(message),
            delivered=entry.entered,
        )

    def _status_page(self, session: Session, account: str, cursor: box.Cursor, limit: int | None) -> StatusListPage:
        entries, pending, rest = box.page(session, account, cursor, limit)
        return StatusListPage(rest.encode(), tuple(self._meta(e) for e in entries), pending)

    def status_list(self, reader: PartyId, selection: MsgBoxSelection, max_items: int | None) -> StatusListPage:
        with self.ctx.session() as session:
            account = self._account(session, reader).xoev_id
            cursor = box.Cursor(account, selection, limit=max_items)
            return self._status_page(session, account, cursor, max_items)

    def next_status_list(self, reader: PartyId, request_id: str) -> StatusListPage:
        with self.ctx.session() as session:
            account = self._account(session, reader).xoev_id
            cursor = box.Cursor.decode(request_id, account)
            return self._status_page(session, account, cursor, cursor.limit)

    def _fetch(self, session: Session, account: str, cursor: box.Cursor) -> FetchedMessage:
        entries, pending, rest = box.page(session, account, cursor, 1)
        if not entries:
            wanted = ", ".join(cursor.selection.message_ids) or "any further message"
            raise InvalidMessageId(ErrorCode.MESSAGE_ID_UNKNOWN, f"{wanted} is not open in this box")
        entry = entries[0]
        message = entry.message
        now = utcnow()
        first = session.exec(
            update(Message)
            .where(col(Message.id) == message.id, col(Message.xta_fetched_at).is_(None))
            .values(xta_fetched_at=now)
            .execution_options(synchronize_session=False)
        ).rowcount
        if first == 1:
            current = session.get(Message, message.id, populate_existing=True)
            state = current.state if current is not None else message.state
            session.add(
                MessageEvent(
                    message_id=message.id,
                    from_state=state,
                    to_state=state,
                    actor=f"xta:{account}",
                    reason=f"fetched by {account} from its XTA MsgBox as {entry.xta_id}",
                    created_at=now,
                )
            )
            session.commit()
            session.refresh(message)
        name = message.filename or f"{message.id}.{message.content_kind}"
        content = Content(
            ContentInfo(CONTENT_TYPES.get(message.content_kind, "application/octet-stream"), filename=name),
            self.ctx.payloads.path_of(message.payload_ref),
            self._size(message) or 0,
        )
        return FetchedMessage(rest.encode(), self._meta(entry), content, (), pending)

    def fetch_message(self, reader: PartyId, selection: MsgBoxSelection) -> FetchedMessage:
        with self.ctx.session() as session:
            account = self._account(session, reader).xoev_id
            return self._fetch(session, account, box.Cursor(account, selection))

    def fetch_next_message(self, reader: PartyId, request_id: str, received: Sequence[str]) -> FetchedMessage:
        with self.ctx.session() as session:
            account = self._account(session, reader).xoev_id
            return self._fetch(session, account, box.Cursor.decode(request_id, account))

    def close(self, reader: PartyId, request_id: str, received: Sequence[str]) -> None:
        """Confirm receipt: each message leaves the box; one nobody else needs to act on becomes ``confirmed``.

        Iterators hold no state, so ``request_id`` needs no ending (and a client's stale one does no harm).
        A delivered message the pipeline still has to answer (its Empfangsbestaetigung) keeps its state
        and is confirmed by the worker once the answer is made; the close is recorded either way.
        """
        now = utcnow()
        with self.ctx.session() as session:
            account = self._account(session, reader).xoev_id
            wanted = list(dict.fromkeys(received))
            found = box.entries_by_id(session, account, wanted)
            missing = [i for i in wanted if i not in found]
            if missing:
                raise InvalidMessageId(ErrorCode.MESSAGE_ID_UNKNOWN, f"{missing[0]} is not open in this box")
            for message_id in wanted:
                self._close_one(session, found[message_id], account, now)
            session.commit()

    def _close_one(self, session: Session, entry: box.BoxEntry, account: str, now: datetime) -> None:
        message = entry.message
        reason = f"receipt confirmed by {account} (XTA close of {entry.xta_id})"
        lease_free = (col(Message.lease_owner).is_(None)) | (col(Message.lease_expires_at) <= now)
        confirmed = session.exec(
            update(Message)
            .where(
                col(Message.id) == message.id,
                col(Message.state) == MessageState.DELIVERED,
                col(Message.xta_closed_at).is_(None),
                col(Message.next_attempt_at) >= NEVER,
                lease_free,
            )
            .values(state=MessageState.CONFIRMED, xta_closed_at=now, updated_at=now)
            .execution_options(synchronize_session=False)
        ).rowcount
        if confirmed == 1:
            from_state: MessageState = MessageState.DELIVERED
            to_state = MessageState.CONFIRMED
        else:
            closed = session.exec(
                update(Message)
                .where(col(Message.id) == message.id, col(Message.xta_closed_at).is_(None))
                .values(xta_closed_at=now)
                .execution_options(synchronize_session=False)
            ).rowcount
            if closed != 1:
                return  # closed by a concurrent request of the same reader
            current = session.get(Message, message.id, populate_existing=True)
            from_state = to_state = current.state if current is not None else message.state
            if from_state is MessageState.DELIVERED:
                reason += "; the pipeline confirms it once its answer is made"
        session.add(
            MessageEvent(
                message_id=message.id,
                from_state=from_state,
                to_state=to_state,
                actor=f"xta:{account}",
                reason=reason,
                created_at=now,
            )
        )

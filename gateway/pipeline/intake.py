"""Intake: the one door through which every message enters the pipeline (REST, XTA, adapters, receipts).

A message is streamed into the payload store's staging area (memory stays flat whatever its size),
verified and validated from that file, checked against the authenticated sender and the participant
directory, and de-duplicated; only then does it get its content address and, in one transaction, its
row and first events. Every refusal raises a :class:`~gateway.pipeline.errors.Rejected` and leaves no
row and nothing in the store (the staged file is removed). If the process dies between giving the
payload its address and committing the row, the payload is an orphan that :mod:`gateway.pipeline.gc`
removes after the grace period; no row ever references a missing payload.

Who sent a message is decided by the authenticated channel (the token's participant, the XTA account of
the TLS certificate, the participant whose own adapter exported it); the Absender may confirm it with its
Behoerdenkennung, never contradict it, and names none in real DMS exports and x-man's answers -- then the
sender's ``sender_identification`` policy decides (docs/receipts.md). The recipient must accept the
message's xdomea version. A receipt the gateway made on a recipient's behalf (channel ``receipt``) is
kept apart from the recipient's own answer of the same type, which is therefore never refused for it.
"""

from __future__ import annotations

import logging
import posixpath
import uuid
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import sqlalchemy as sa
from lxml import etree
from sqlmodel import Session, col, select

from gateway.pipeline import directory, lifecycle
from gateway.pipeline.checks import (
    Checked,
    ContentKind,
    SignatureMode,
    check_file,
    content_kind,
    note_channel_sender,
    note_named_recipient,
)
from gateway.pipeline.context import PipelineContext
from gateway.pipeline.errors import (
    Conflict,
    ForgedSender,
    Invalid,
    TooLarge,
    UnknownRecipient,
    VersionNotAccepted,
)
from gateway.pipeline.logs import message_logger
from gateway.store.models import Direction, Message, MessageState, Participant, SenderIdentification
from gateway.store.payloads import PayloadTooLarge, StagedPayload
from gateway.store.types import utcnow
from gateway.xoev.model import Message as XdomeaMessage
from gateway.xoev.validation.package import is_message_name

log = logging.getLogger(__name__)

CHANNELS = ("rest", "xta", "adapter", "local", "receipt")
MAX_FILENAME = 255


BeforeCommit = Callable[[Session, Message], None]
"""Called with intake's session and the new message (flushed, events added) right before the commit."""


@dataclass(frozen=True, slots=True)
class SubmitResult:
    """The stored message; ``created`` is False when an identical message was submitted before."""

    message: Message
    created: bool


def submit(
    ctx: PipelineContext,
    source: BinaryIO | Iterable[bytes],
    *,
    sender: str,
    filename: str | None,
    channel: str,
    direction: Direction = Direction.OUTBOUND,
    actor: str | None = None,
    reply_to_id: uuid.UUID | None = None,
    recipient: str | None = None,
    parsed: etree._ElementTree | None = None,
    before_commit: BeforeCommit | None = None,
) -> SubmitResult:
    """Take in one message from the authenticated participant ``sender`` (its XÖV identifier).

    ``recipient`` is the participant the channel addressed the message to (the XTA Reader, the REST
    ``recipient`` parameter, the sender of the message a receipt answers): it routes a message whose
    Empfaenger names no Behoerdenkennung, and must agree with one that does.

    Outbound messages (submitted by one of our participants) start in ``validated`` and are signed and
    sent by the workers; inbound ones (arriving for one of our participants) have their signature checked
    against the sender's pinned certificates here and start in ``validated`` as well, to be delivered.
    Raises :class:`Invalid`, :class:`ForgedSender`, :class:`UnknownRecipient`, :class:`VersionNotAccepted`,
    :class:`Conflict` or :class:`TooLarge`.

    ``parsed`` is the message as the tree the caller built and serialised into ``source`` (a receipt the
    gateway makes): it is validated as it is, not parsed again.

    ``before_commit`` lets the channel write its own rows in the message's transaction, so that a durable
    intake stays one commit (the XTA MessageID ledger). It runs only for a new message; whatever it
    raises aborts the intake (nothing is committed; the payload, already addressed, is an orphan for
    :mod:`gateway.pipeline.gc`) and reaches the caller. An identical message submitted before is
    returned with ``created`` False without calling it.
    """
    if channel not in CHANNELS:
        raise ValueError(f"unknown channel {channel!r} (one of {', '.join(CHANNELS)})")
    name = safe_filename(filename)
    limit = ctx.settings.pipeline.max_submit_bytes
    try:
        with ctx.payloads.stage(source, limit, name=name) as staged:
            return _take(
                ctx,
                staged,
                sender,
                name,
                channel,
                direction,
                actor or channel,
                reply_to_id,
                recipient,
                parsed,
                before_commit,
            )
    except PayloadTooLarge:
        raise TooLarge(limit) from None


def safe_filename(filename: str | None) -> str | None:
    """The last path component of a client-supplied name, or None when nothing usable is left."""
    if not filename:
        return None
    base = posixpath.basename(filename.replace("\\", "/")).strip()
    if not base or base in (".", "..") or "\0" in base or len(base.encode("utf-8")) > MAX_FILENAME:
        return None
    return base


def package_name(path: Path, limit: int) -> str | None:
    """The name the naming rule expects for a package given without one: its one message XML's, as .zip."""
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
            if len(infos) > limit:
                return None
            top = [i.filename for i in infos if "/" not in i.filename and is_message_name(i.filename)]
    except (zipfile.BadZipFile, OSError, ValueError):
        return None
    if len(top) != 1:
        return None
    stem = top[0][: -len(".xml")] if top[0].lower().endswith(".xml") else top[0]
    return stem + ".zip"


def name_package(staged: StagedPayload, limit: int) -> str | None:
    """A package staged without a name is named after its message XML, which the layout rule expects."""
    name = package_name(staged.path, limit)
    if name is None:
        return None
    staged.rename(name)
    return staged.path.name


def _take(
    ctx: PipelineContext,
    staged: StagedPayload,
    sender: str,
    name: str | None,
    channel: str,
    direction: Direction,
    actor: str,
    reply_to_id: uuid.UUID | None,
    addressed: str | None,
    parsed: etree._ElementTree | None,
    before_commit: BeforeCommit | None,
) -> SubmitResult:
    kind = content_kind(staged.path)
    check_name = name
    if kind is ContentKind.ZIP and name is None:
        check_name = name_package(staged, ctx.settings.limits.max_package_entries)
    mode = SignatureMode.IF_PRESENT if direction is Direction.OUTBOUND else SignatureMode.POLICY
    with ctx.session() as session:
        # one session and each participant read once for the whole intake; no transaction stays open
        # across the checks (the reads end before them, and the only write is the final INSERT)
        parties = _Parties(session)
        trust = directory.trust_directory(session, [sender])
        session.rollback()
        checked = check_file(
            ctx.validator, staged.path, name=check_name, directory=trust, mode=mode, sender=sender, tree=parsed
        )
        model = checked.model
        if not checked.valid or model is None:
            raise Invalid(checked.report)
        process_id = model.kopf.process_id
        message_type = checked.report.message_type or model.code
        gateway_made = channel == "receipt"
        _identify_sender(parties, checked, sender, channel)
        recipient = _identify_recipient(parties, checked, sender, addressed, reply_to_id)
        _check_version(parties, recipient, model.version)
        existing, anticipated = _find_both(session, direction, sender, process_id, message_type, gateway_made)
        if existing is not None:
            return _resubmitted(existing, staged.sha256)
        session.rollback()
        staged.commit()
        row = _row(staged, checked, direction, sender, recipient, name, channel, reply_to_id)
        row.gateway_made = gateway_made
        # An identical submit racing this one may insert first: the unique identity then fails the INSERT
        # (at the flush on PostgreSQL and SQLite alike, or at the commit), and the twin is the answer.
        try:
            lifecycle.arrive(session, row, _first_history(row, checked, channel), actor=actor)
            if anticipated is not None:
                _note_own_answer(session, anticipated, row, actor)
            if before_commit is not None:
                before_commit(session, row)
            session.commit()
        except sa.exc.IntegrityError:
            session.rollback()
            existing = _find(session, direction, sender, process_id, message_type, gateway_made)
            if existing is None:
                raise
            return _resubmitted(existing, staged.sha256)
    message_logger(log, row).info("accepted %s %s from %s via %s", row.xdomea_version, message_type, sender, channel)
    return SubmitResult(row, created=True)


class _Parties:
    """Directory entries read once per intake (sender and recipient are looked at several times)."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._rows: dict[str, Participant | None] = {}

    def get(self, xoev_id: str) -> Participant | None:
        if xoev_id not in self._rows:
            self._rows[xoev_id] = directory.participant(self.session, xoev_id)
        return self._rows[xoev_id]


def _identify_sender(parties: _Parties, checked: Checked, sender: str, channel: str) -> None:
    """The Absender confirms the channel's sender, or names none where the sender's policy allows that.

    Every channel that reaches intake is authenticated (API token, XTA account by TLS certificate, the
    participant's own adapter, the gateway itself for receipts), so an Absender without Behoerdenkennung
    claims nothing against it; it is accepted with a warning in the report unless the sender's policy is
    ``kennung``. An unknown sender gets the strict rule.
    """
    assert checked.model is not None
    party = checked.model.kopf.sender
    claimed = party.xoev_identifier if party else None
    if claimed is not None:
        if claimed != sender:
            raise ForgedSender(sender, claimed)
        return
    row = parties.get(sender)
    if row is None or row.sender_identification is not SenderIdentification.CHANNEL:
        raise ForgedSender(sender, None)
    note_channel_sender(checked, sender, channel)


def _identify_recipient(
    parties: _Parties, checked: Checked, sender: str, addressed: str | None, reply_to_id: uuid.UUID | None
) -> str:
    """The participant the message goes to: its Empfaenger's Behoerdenkennung, else the one the channel
    addressed, else the one the process names (the only participant that sent ``sender`` a message in
    this ProzessID: how x-man's answers, which name the Institution only, find the district)."""
    assert checked.model is not None
    party = checked.model.kopf.recipient
    named = party.xoev_identifier if party else None
    recipient: str | None
    source: str | None
    if named is not None:
        if addressed is not None and addressed != named:
            raise UnknownRecipient(named, named=addressed)
        recipient, source = named, None
    elif addressed is not None:
        recipient, source = addressed, ("answered" if reply_to_id is not None else "channel")
    else:
        recipient, source = _counterpart(parties.session, checked.model.kopf.process_id, sender), "process"
    if recipient is None or parties.get(recipient) is None:
        raise UnknownRecipient(recipient)
    if source is not None:
        note_named_recipient(checked, recipient, source)
    return recipient


def _counterpart(session: Session, process_id: str, sender: str) -> str | None:
    """The one participant that sent ``sender`` a message in this process; None if none or several did."""
    senders = session.exec(
        select(Message.sender_id)
        .where(
            col(Message.process_id) == process_id,
            col(Message.recipient_id) == sender,
            col(Message.sender_id) != sender,
        )
        .distinct()
        .limit(2)
    ).all()
    return senders[0] if len(senders) == 1 else None


def _check_version(parties: _Parties, recipient: str, version: str) -> None:
    """A recipient gets only the xdomea versions its directory entry accepts (conversion is not done here)."""
    row = parties.get(recipient)
    accepted = list(row.accepted_versions) if row is not None else []
    if version not in accepted:
        raise VersionNotAccepted(recipient, version, accepted)


def _note_own_answer(session: Session, anticipated: Message, own: Message, actor: str) -> None:
    """On the gateway's receipt: the recipient's own answer of the same type arrived (and is delivered too)."""
    lifecycle.note(
        session,
        anticipated.id,
        anticipated.state,
        actor=actor,
        reason=f"the participant's own {own.message_type} arrived as message {own.id}; this one was made by the "
        f"gateway on its behalf",
        now=own.created_at,
    )


def _find(
    session: Session, direction: Direction, sender: str, process_id: str, message_type: str, gateway_made: bool
) -> Message | None:
    return session.exec(
        select(Message).where(
            col(Message.direction) == direction,
            col(Message.sender_id) == sender,
            col(Message.process_id) == process_id,
            col(Message.message_type) == message_type,
            col(Message.gateway_made) == gateway_made,
        )
    ).first()


def _find_both(
    session: Session, direction: Direction, sender: str, process_id: str, message_type: str, gateway_made: bool
) -> tuple[Message | None, Message | None]:
    """In one query: the message with this identity, and (for a participant's own message) the one the
    gateway made on its behalf, which the own answer is noted on."""
    rows = session.exec(
        select(Message).where(
            col(Message.direction) == direction,
            col(Message.sender_id) == sender,
            col(Message.process_id) == process_id,
            col(Message.message_type) == message_type,
            col(Message.gateway_made).in_([gateway_made, True]),
        )
    ).all()
    existing = next((r for r in rows if r.gateway_made == gateway_made), None)
    anticipated = None if gateway_made else next((r for r in rows if r.gateway_made), None)
    return existing, anticipated


def _resubmitted(existing: Message, sha256: str) -> SubmitResult:
    if existing.content_hash != sha256:
        raise Conflict(existing.id, existing.sender_id, existing.process_id, existing.message_type)
    return SubmitResult(existing, created=False)


def _row(
    staged: StagedPayload,
    checked: Checked,
    direction: Direction,
    sender: str,
    recipient: str,
    name: str | None,
    channel: str,
    reply_to_id: uuid.UUID | None,
) -> Message:
    model = checked.model
    assert model is not None
    kopf = model.kopf
    now = utcnow()
    return Message(
        direction=direction,
        process_id=kopf.process_id,
        message_type=checked.report.message_type or model.code,
        xdomea_version=model.version,
        sender_id=sender,
        recipient_id=recipient,
        state=MessageState.VALIDATED,
        size=staged.size,
        sha256=staged.sha256,
        payload_ref=staged.sha256,
        content_hash=staged.sha256,
        created_at=now,
        updated_at=now,
        next_attempt_at=now,
        filename=name,
        channel=channel,
        content_kind=checked.kind.value,
        message_uuid=kopf.message_uuid,
        origin_message_uuid=kopf.origin_message_uuid,
        receipt_requested=kopf.receipt_requested,
        validation_report=checked.report.to_json(),
        signature_status=checked.signature.value,
        signer_fingerprint=checked.signer_fingerprint,
        reply_to_id=reply_to_id,
        search_text=search_summary(model),
    )


SEARCH_TEXT_CHARS = 4000


def search_summary(model: XdomeaMessage) -> str | None:
    """Betreff and Aktenzeichen of every object, casefolded: what the console's free-text search looks in."""
    parts: list[str] = []
    for top in (*model.objects, *model.cover_letters):
        for obj in top.walk():
            parts.extend(text for text in (obj.kennzeichen, obj.betreff) if text)
    joined = " | ".join(dict.fromkeys(" ".join(p.split()) for p in parts)).casefold()
    return joined[:SEARCH_TEXT_CHARS] or None


def _first_history(row: Message, checked: Checked, channel: str) -> list[tuple[MessageState, str]]:
    """received -> (verified ->) validated, recorded together: the message is never visible half-checked."""
    shown = f" as {row.filename}" if row.filename else ""
    history = [(MessageState.RECEIVED, f"received via {channel}{shown} ({row.size} bytes, SHA-256 {row.sha256})")]
    if row.direction is Direction.INBOUND:
        history.append(
            (
                MessageState.VERIFIED,
                f"signature {checked.signature.value}"
                + (f" by certificate {checked.signer_fingerprint}" if checked.signer_fingerprint else ""),
            )
        )
    warnings = len(checked.report.warnings)
    history.append(
        (MessageState.VALIDATED, f"valid xdomea {row.xdomea_version} {row.message_type} ({warnings} warning(s))")
    )
    return history


def stored_path(ctx: PipelineContext, message: Message) -> Path:
    """Where the message's current payload lives (read-only for callers)."""
    return ctx.payloads.path_of(message.payload_ref)

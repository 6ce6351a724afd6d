"""The gateway's tables: messages and their history, participants, credentials, delivery attempts.

Message bytes are never stored here, only their hash and a reference into the payload store
(:mod:`gateway.store.payloads`). Participants are referenced from messages by their XÖV identifier
(e.g. ``psw:16077000``) rather than by a foreign key, so that a message's record keeps saying who sent
it even after the directory entry was changed or removed.

Enumerations are stored as their values in VARCHAR columns (see :func:`gateway.store.types.str_enum`):
adding a state is a code change, not a migration. Every schema change needs an Alembic migration in
``gateway/store/migrations/versions``; ``tests/store/test_migrations.py`` fails when they drift apart.
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from gateway.store.types import UTCDateTime, json_type, str_enum, utcnow

# Deterministic constraint names, so that migrations (and SQLite batch migrations) can address them.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

XOEV_ID_LENGTH = 128
"""XÖV identifiers are prefix + Behördenkennung (``psw:16077000``); 128 leaves room for long prefixes."""
WORKER_ID_LENGTH = 128
SHA256_HEX_LENGTH = 64
XTA_MESSAGE_ID_LENGTH = 255
"""XTA MessageIDs are URIs (``urn:de:xta:messageid:...``); longer ones are refused at the XTA server."""

# SQLite only auto-numbers a column declared exactly ``INTEGER PRIMARY KEY``; PostgreSQL gets 64 bits.
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


class Direction(enum.StrEnum):
    """Seen from this gateway: ``out`` was submitted by one of our participants, ``in`` arrived for one."""

    INBOUND = "in"
    OUTBOUND = "out"


class MessageState(enum.StrEnum):
    """Where a message is in its lifecycle (issue 3); the pipeline decides which transitions are allowed.

    Outbound: received -> validated -> signed -> queued -> sent -> acknowledged | failed | dead_lettered.
    Inbound: received -> verified -> validated -> delivered -> confirmed.
    """

    RECEIVED = "received"
    VERIFIED = "verified"
    VALIDATED = "validated"
    SIGNED = "signed"
    QUEUED = "queued"
    SENT = "sent"
    ACKNOWLEDGED = "acknowledged"
    DELIVERED = "delivered"
    CONFIRMED = "confirmed"
    FAILED = "failed"
    DEAD_LETTERED = "dead_lettered"
    CANCELLED = "cancelled"


class RouteKind(enum.StrEnum):
    MAILBOX = "mailbox"  # the participant fetches its messages from a mailbox on this gateway
    XTA = "xta"  # messages are pushed to a remote XTA 2 endpoint


class SignaturePolicy(enum.StrEnum):
    """What inbound messages from a participant must carry."""

    REQUIRE = "require"  # unsigned messages are refused
    ACCEPT = "accept"  # signatures are verified when present, unsigned messages pass
    REJECT = "reject"  # the participant must not sign (e.g. a system that cannot)


class SenderIdentification(enum.StrEnum):
    """How intake knows who sent a message submitted by a participant (docs/receipts.md)."""

    KENNUNG = "kennung"  # the Absender must carry the participant's Behoerdenkennung
    CHANNEL = "channel"  # an Absender without Behoerdenkennung is identified by the authenticated channel


class ReceiptMaker(enum.StrEnum):
    """Who makes a kind of answer for messages delivered to a participant (docs/receipts.md)."""

    GATEWAY = "gateway"  # this gateway makes it (import confirmations only from the DMS adapter's facts)
    RECIPIENT = "recipient"  # the recipient's own system makes it; the gateway never does


class CertificateUsage(enum.StrEnum):
    SIGNING = "signing"
    ENCRYPTION = "encryption"
    TLS = "tls"


class DeliveryOutcome(enum.StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # transient: the pipeline may retry
    REJECTED = "rejected"  # the peer refused the message: retrying will not help


class Message(SQLModel, table=True):
    """One xdomea message passing through the gateway, in one direction.

    ``sha256`` and ``size`` describe the bytes as they were received and never change. ``payload_ref``
    names the payload that is delivered; it starts equal to ``sha256`` and changes when a step (such as
    signing) produces new bytes. ``content_hash`` is the pipeline's idempotency key for the content; the
    identity (direction, sender, ProzessID, Nachrichtentyp, gateway_made) is unique, so a resubmission finds
    its twin; ``gateway_made`` keeps a receipt the gateway made for a recipient apart from the recipient's
    own answer of the same type, which must never be refused because of it (docs/receipts.md).

    A worker owns a message while ``lease_owner`` is set and ``lease_expires_at`` is in the future;
    a message is due for work once ``next_attempt_at`` has passed (see :mod:`gateway.store.queue`).
    """

    __tablename__ = "message"
    __table_args__ = (
        sa.Index("ix_message_queue", "state", "next_attempt_at"),
        sa.Index("ix_message_sender_created", "sender_id", "created_at"),
        sa.Index("ix_message_recipient_created", "recipient_id", "created_at"),
        sa.Index("ix_message_state_direction_created", "state", "direction", "created_at"),
        sa.Index("ix_message_created_id", "created_at", "id"),
        sa.Index(
            "uq_message_identity",
            "direction",
            "sender_id",
            "process_id",
            "message_type",
            "gateway_made",
            unique=True,
        ),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    direction: Direction = Field(sa_type=str_enum(Direction, length=8))
    process_id: str = Field(max_length=64, index=True, description="xdomea ProzessID of the Kopf.")
    message_type: str = Field(max_length=4, description="Nachrichtentyp code, e.g. 0501.")
    xdomea_version: str = Field(max_length=16, description="e.g. 3.0.0")
    sender_id: str = Field(max_length=XOEV_ID_LENGTH)
    recipient_id: str = Field(max_length=XOEV_ID_LENGTH)
    state: MessageState = Field(sa_type=str_enum(MessageState))
    size: int = Field(sa_type=sa.BigInteger)
    sha256: str = Field(max_length=SHA256_HEX_LENGTH, index=True)
    payload_ref: str = Field(max_length=SHA256_HEX_LENGTH, index=True)
    content_hash: str = Field(max_length=SHA256_HEX_LENGTH)
    error: str | None = Field(default=None, sa_type=sa.Text)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    lease_owner: str | None = Field(default=None, max_length=WORKER_ID_LENGTH)
    lease_expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    attempts: int = Field(default=0)
    next_attempt_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    # -- added by revision 0002 (pipeline) --
    filename: str | None = Field(default=None, max_length=255, description="File name given at submission.")
    channel: str = Field(
        default="rest",
        max_length=16,
        sa_column_kwargs={"server_default": "rest"},
        description="How the message arrived: rest, xta, adapter, local (delivery on this gateway), receipt.",
    )
    content_kind: str = Field(
        default="xml", max_length=8, sa_column_kwargs={"server_default": "xml"}, description="xml or zip."
    )
    message_uuid: str | None = Field(default=None, max_length=64, index=True, description="4.0 nachrichtenUUID.")
    origin_message_uuid: str | None = Field(
        default=None, max_length=64, index=True, description="4.0 UUIDUrsprungsnachricht of a reply."
    )
    receipt_requested: bool = Field(default=False, sa_column_kwargs={"server_default": sa.false()})
    validation_report: dict[str, Any] | None = Field(default=None, sa_type=json_type())
    signature_status: str | None = Field(
        default=None, max_length=16, description="signed, unsigned, verified, refused (see the pipeline)."
    )
    signer_fingerprint: str | None = Field(default=None, max_length=SHA256_HEX_LENGTH)
    source_id: uuid.UUID | None = Field(
        default=None,
        foreign_key="message.id",
        ondelete="SET NULL",
        index=True,
        description="The outbound message this inbound row is the locally delivered copy of.",
    )
    reply_to_id: uuid.UUID | None = Field(
        default=None,
        foreign_key="message.id",
        ondelete="SET NULL",
        index=True,
        description="The message this one answers (correlated by ProzessID and UUIDUrsprungsnachricht).",
    )
    # -- added by revision 0003 (XTA server) --
    xta_message_id: str | None = Field(
        default=None,
        max_length=XTA_MESSAGE_ID_LENGTH,
        unique=True,
        description="The XTA MessageID the message arrived under through the XTA server.",
    )
    xta_meta: dict[str, Any] | None = Field(
        default=None, sa_type=json_type(), description="The XTA transport order (MessageMetaData) as sent."
    )
    xta_fetched_at: datetime | None = Field(
        default=None, sa_type=UTCDateTime, description="First fetched from the recipient's XTA MsgBox."
    )
    xta_closed_at: datetime | None = Field(
        default=None, sa_type=UTCDateTime, description="Receipt confirmed by the recipient (XTA close)."
    )
    # -- added by revision 0005 (console) --
    search_text: str | None = Field(
        default=None,
        sa_type=sa.Text,
        description="Betreff and Aktenzeichen of the message's objects, casefolded, for free-text search.",
    )
    # -- added by revision 0006 (participant policies) --
    gateway_made: bool = Field(
        default=False,
        sa_column_kwargs={"server_default": sa.false()},
        description="A receipt the gateway made on the recipient's behalf (not the recipient's own answer).",
    )


class MessageEvent(SQLModel, table=True):
    """One entry of a message's history: every state change, and leases lost, with who and why."""

    __tablename__ = "message_event"
    __table_args__ = (
        sa.Index("ix_message_event_message", "message_id", "id"),
        sa.Index("ix_message_event_to_state_created", "to_state", "created_at"),
    )

    id: int | None = Field(default=None, primary_key=True, sa_type=BIG_ID)
    message_id: uuid.UUID = Field(foreign_key="message.id", ondelete="CASCADE")
    from_state: MessageState | None = Field(default=None, sa_type=str_enum(MessageState))
    to_state: MessageState = Field(sa_type=str_enum(MessageState))
    actor: str = Field(max_length=WORKER_ID_LENGTH, description="Worker id, token name or 'api'.")
    reason: str = Field(sa_type=sa.Text)
    error: str | None = Field(default=None, sa_type=sa.Text)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Participant(SQLModel, table=True):
    """An entry of the participant directory: an authority or system with an XÖV identifier."""

    __tablename__ = "participant"

    id: int | None = Field(default=None, primary_key=True)
    xoev_id: str = Field(max_length=XOEV_ID_LENGTH, unique=True)
    display_name: str = Field(max_length=256)
    accepted_versions: list[str] = Field(default_factory=list, sa_type=json_type())
    route_kind: RouteKind = Field(sa_type=str_enum(RouteKind, length=16))
    endpoint_url: str | None = Field(default=None, max_length=2048, description="XTA endpoint for route xta.")
    signature_policy: SignaturePolicy = Field(
        default=SignaturePolicy.REQUIRE, sa_type=str_enum(SignaturePolicy, length=16)
    )
    adapter_config: dict[str, Any] = Field(default_factory=dict, sa_type=json_type())
    # -- added by revision 0006 (participant policies) --
    sender_identification: SenderIdentification = Field(
        default=SenderIdentification.CHANNEL,
        sa_type=str_enum(SenderIdentification, length=16),
        sa_column_kwargs={"server_default": SenderIdentification.CHANNEL.value},
    )
    receipt_policy: dict[str, Any] = Field(
        default_factory=dict,
        sa_type=json_type(),
        description="Who makes receipts for messages delivered here ({} = derived from route and adapter).",
    )
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Certificate(SQLModel, table=True):
    """A participant's pinned certificate; the fingerprint is unique so that a signer names one participant."""

    __tablename__ = "certificate"

    id: int | None = Field(default=None, primary_key=True)
    participant_id: int = Field(foreign_key="participant.id", ondelete="CASCADE", index=True)
    pem: str = Field(sa_type=sa.Text)
    fingerprint_sha256: str = Field(max_length=SHA256_HEX_LENGTH, unique=True)
    not_before: datetime = Field(sa_type=UTCDateTime)
    not_after: datetime = Field(sa_type=UTCDateTime)
    usage: CertificateUsage = Field(sa_type=str_enum(CertificateUsage, length=16))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class ApiToken(SQLModel, table=True):
    """An API token bound to a participant; only the SHA-256 of the (random, high-entropy) token is kept."""

    __tablename__ = "api_token"

    id: int | None = Field(default=None, primary_key=True)
    participant_id: int = Field(foreign_key="participant.id", ondelete="CASCADE", index=True)
    name: str = Field(max_length=128, description="Label shown in listings; never the token itself.")
    token_hash: str = Field(max_length=SHA256_HEX_LENGTH, unique=True)
    scopes: list[str] = Field(default_factory=list, sa_type=json_type())
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class DeliveryAttempt(SQLModel, table=True):
    """One try to hand a message to its next hop (XTA peer, mailbox or DMS adapter)."""

    __tablename__ = "delivery_attempt"

    id: int | None = Field(default=None, primary_key=True, sa_type=BIG_ID)
    message_id: uuid.UUID = Field(foreign_key="message.id", ondelete="CASCADE", index=True)
    peer: str = Field(max_length=2048, description="XÖV identifier or endpoint the message went to.")
    started_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    outcome: DeliveryOutcome | None = Field(default=None, sa_type=str_enum(DeliveryOutcome, length=16))
    error: str | None = Field(default=None, sa_type=sa.Text)


class XtaMessageId(SQLModel, table=True):
    """Every XTA MessageID this gateway handed out (createMessageId) or accepted (sendMessage), for good.

    The primary key makes an id usable once across all accounts, durably: ``used_at`` is set when a
    sendMessage takes the id, and ``message_id`` names the message it carries (SET NULL when the
    message is pruned, so the id stays used).
    """

    __tablename__ = "xta_message_id"

    id: str = Field(primary_key=True, max_length=XTA_MESSAGE_ID_LENGTH)
    account: str = Field(max_length=XOEV_ID_LENGTH, index=True, description="XÖV identifier of the author.")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    message_id: uuid.UUID | None = Field(default=None, foreign_key="message.id", ondelete="SET NULL", index=True)


class DeliveryObject(SQLModel, table=True):
    """Where one Schriftgutobjekt of a message went in the recipient's DMS (issue 5), or why it did not.

    Written by the pipeline's deliver step from the adapter's per-object results, in the transaction of
    the state change; a redelivery replaces the message's rows. The 0402/0506 import confirmation is
    built from these rows, so the answer survives a worker dying between import and confirmation.
    """

    __tablename__ = "delivery_object"
    __table_args__ = (sa.UniqueConstraint("message_id", "xdomea_id"),)

    id: int | None = Field(default=None, primary_key=True, sa_type=BIG_ID)
    message_id: uuid.UUID = Field(foreign_key="message.id", ondelete="CASCADE", index=True)
    xdomea_id: str = Field(max_length=128, index=True, description="Identifikation/ID or 4.0 xdomeaUUID.")
    kind: str = Field(max_length=32, description="Akte, Teilakte, Vorgang, Teilvorgang, Dokument.")
    parent_xdomea_id: str | None = Field(
        default=None, max_length=128, description="The enclosing object; None for the objects handed over."
    )
    adapter: str = Field(max_length=64, description="The adapter kind that imported it, e.g. hotfolder.")
    dms_id: str | None = Field(default=None, max_length=2048, description="The object's id or path in the DMS.")
    outcome: str = Field(max_length=16, description="imported, duplicate, handed-over, failed or not-attempted.")
    reason: str | None = Field(default=None, sa_type=sa.Text)
    recorded_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class ConsoleRole(enum.StrEnum):
    """What a console user may do: everything, one participant's messages, or look only."""

    GATEWAY_ADMIN = "gateway-admin"
    PARTICIPANT_ADMIN = "participant-admin"
    READ_ONLY = "read-only"


class ConsoleUser(SQLModel, table=True):
    """A person who signs in to the admin console; only an Argon2id hash of the password is kept."""

    __tablename__ = "console_user"

    id: int | None = Field(default=None, primary_key=True)
    uid: uuid.UUID = Field(
        default_factory=uuid.uuid4,
        unique=True,
        description="The identity a session cookie names: random, so never reused as a removed user's numeric id is.",
    )
    session_generation: int = Field(
        default=0,
        sa_column_kwargs={"server_default": "0"},
        description="Raised on sign-out, role or password change: every cookie naming an older one is dead.",
    )
    name: str = Field(max_length=128, unique=True)
    password_hash: str = Field(max_length=256)
    role: ConsoleRole = Field(sa_type=str_enum(ConsoleRole, length=32))
    participant: str | None = Field(
        default=None, max_length=XOEV_ID_LENGTH, description="The authority a participant admin acts for."
    )
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    disabled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # -- added by revision 0009 (directory sign-in and alerts) --
    source: str = Field(
        default="local",
        max_length=16,
        sa_column_kwargs={"server_default": "local"},
        description="local (password kept here) or ldap (the directory decides; no password kept).",
    )
    email: str | None = Field(default=None, max_length=320, description="Where the user's alerts go.")
    directory_checked_at: datetime | None = Field(
        default=None, sa_type=UTCDateTime, description="When the directory last confirmed a directory user."
    )


class AuditEntry(SQLModel, table=True):
    """One admin action or authentication failure: who did what to which target, when, and how it ended."""

    __tablename__ = "audit_entry"
    __table_args__ = (
        sa.Index("ix_audit_entry_at", "at"),
        sa.Index("ix_audit_entry_actor_at", "actor", "at"),
        sa.Index("ix_audit_entry_client_at", "client", "at"),
    )

    id: int | None = Field(default=None, primary_key=True, sa_type=BIG_ID)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    actor: str = Field(max_length=128, description="The console user (or the name tried at a failed sign-in).")
    action: str = Field(max_length=64, description="e.g. sign-in, retry, participant.edit.")
    target: str | None = Field(default=None, max_length=2048, description="Message id, participant, user ...")
    result: str = Field(max_length=16, description="ok, refused or failed.")
    detail: str | None = Field(default=None, sa_type=sa.Text)
    client: str | None = Field(default=None, max_length=64, description="The client's address.")


# -- added by revision 0008 (dashboard rollups, issue 12) --
# Figures kept as messages move, so that the dashboard reads a few hundred rows whatever the size of the
# message table. Written only by :mod:`gateway.pipeline.rollups`, derived from ``message_event`` rows.


class RollupCursor(SQLModel, table=True):
    """How far the rollups have read ``message_event``: every event up to ``last_event_id`` is applied once."""

    __tablename__ = "rollup_cursor"

    name: str = Field(primary_key=True, max_length=32)
    last_event_id: int = Field(default=0, sa_type=sa.BigInteger)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class RollupStateCount(SQLModel, table=True):
    """Messages per (state, direction, sender, recipient) now; the sum over all rows is the message count."""

    __tablename__ = "rollup_state_count"

    state: MessageState = Field(primary_key=True, sa_type=str_enum(MessageState))
    direction: Direction = Field(primary_key=True, sa_type=str_enum(Direction, length=8))
    sender_id: str = Field(primary_key=True, max_length=XOEV_ID_LENGTH)
    recipient_id: str = Field(primary_key=True, max_length=XOEV_ID_LENGTH)
    count: int = Field(default=0, sa_type=sa.BigInteger)


class RollupTraffic(SQLModel, table=True):
    """Messages received, sent (or delivered), failed and retried per minute or hour bucket."""

    __tablename__ = "rollup_traffic"

    grain: int = Field(primary_key=True, description="Bucket length in seconds: 60 or 3600.")
    bucket: datetime = Field(primary_key=True, sa_type=UTCDateTime, description="Start of the bucket (UTC).")
    kind: str = Field(primary_key=True, max_length=16, description="received, sent, failed or retry.")
    direction: Direction = Field(primary_key=True, sa_type=str_enum(Direction, length=8))
    sender_id: str = Field(primary_key=True, max_length=XOEV_ID_LENGTH)
    recipient_id: str = Field(primary_key=True, max_length=XOEV_ID_LENGTH)
    count: int = Field(default=0, sa_type=sa.BigInteger)


class RollupFailure(SQLModel, table=True):
    """Messages that failed or were dead-lettered per hour, by rule id or fault."""

    __tablename__ = "rollup_failure"

    bucket: datetime = Field(primary_key=True, sa_type=UTCDateTime)
    fault: str = Field(primary_key=True, max_length=80)
    direction: Direction = Field(primary_key=True, sa_type=str_enum(Direction, length=8))
    sender_id: str = Field(primary_key=True, max_length=XOEV_ID_LENGTH)
    recipient_id: str = Field(primary_key=True, max_length=XOEV_ID_LENGTH)
    count: int = Field(default=0, sa_type=sa.BigInteger)


class RollupRetrying(SQLModel, table=True):
    """Messages whose last try failed and that wait for the next one (a delivery retry), until they move on."""

    __tablename__ = "rollup_retrying"

    message_id: uuid.UUID = Field(primary_key=True)
    direction: Direction = Field(sa_type=str_enum(Direction, length=8))
    sender_id: str = Field(max_length=XOEV_ID_LENGTH)
    recipient_id: str = Field(max_length=XOEV_ID_LENGTH)
    state: MessageState = Field(sa_type=str_enum(MessageState))
    since: datetime = Field(sa_type=UTCDateTime)
    error: str | None = Field(default=None, sa_type=sa.Text)


class RollupQueueAge(SQLModel, table=True):
    """The largest age of a queue's oldest message seen in a minute or hour bucket (sampled)."""

    __tablename__ = "rollup_queue_age"

    grain: int = Field(primary_key=True)
    bucket: datetime = Field(primary_key=True, sa_type=UTCDateTime)
    queue: str = Field(primary_key=True, max_length=32)
    age_seconds: float = Field(default=0.0)


class RollupProcessWait(SQLModel, table=True):
    """An answer a process waits for (code), since when, between whom; gone once a message of that code exists."""

    __tablename__ = "rollup_process_wait"
    __table_args__ = (sa.Index("ix_rollup_process_wait_code_since", "code", "since"),)

    process_id: str = Field(primary_key=True, max_length=64)
    code: str = Field(primary_key=True, max_length=4)
    since: datetime = Field(sa_type=UTCDateTime)
    sender_id: str = Field(max_length=XOEV_ID_LENGTH)
    recipient_id: str = Field(max_length=XOEV_ID_LENGTH)


# -- added by revision 0009 (directory sign-in and alerts) --


class AlertRun(SQLModel, table=True):
    """The alert run's cursor and lease: one row, so that of several processes one collects at a time.

    ``last_event_id`` is the newest ``message_event`` whose failure was turned into alert items; it moves
    in the transaction that writes those items, so a restart neither repeats nor loses them.
    """

    __tablename__ = "alert_run"

    name: str = Field(primary_key=True, max_length=32)
    last_event_id: int = Field(default=0, sa_type=sa.BigInteger)
    lease_owner: str | None = Field(default=None, max_length=WORKER_ID_LENGTH)
    lease_expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_run_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class AlertItem(SQLModel, table=True):
    """One thing worth telling somebody: a failed message, a passed deadline, a peer down, a certificate expiring.

    ``participant`` is whose it is (a participant admin receives only its own); None for the gateway's
    (peers, adapters' participant is set). Items are sent in digests and pruned after they were sent.
    """

    __tablename__ = "alert_item"

    id: int | None = Field(default=None, primary_key=True, sa_type=BIG_ID)
    kind: str = Field(max_length=32, description="failed, dead-lettered, overdue, peer-down, adapter-down, cert")
    participant: str | None = Field(default=None, max_length=XOEV_ID_LENGTH, index=True)
    subject: str = Field(max_length=2048, description="The message id, process id, peer, adapter or fingerprint.")
    detail: str = Field(sa_type=sa.Text)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)


class AlertCondition(SQLModel, table=True):
    """A standing condition already alerted (a process overdue, a peer down, a certificate expiring).

    It is alerted once while it lasts; when it is gone the row is removed, so it is alerted again if it
    comes back.
    """

    __tablename__ = "alert_condition"

    key: str = Field(primary_key=True, max_length=512)
    kind: str = Field(max_length=32)
    first_seen_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class AlertRecipient(SQLModel, table=True):
    """How far one recipient (an e-mail address or a webhook) has been told: a cursor over ``alert_item``.

    A digest that could not be sent leaves the cursor where it was, so the next run sends it again with
    whatever happened since: nothing is lost while a mail server is down.
    """

    __tablename__ = "alert_recipient"

    address: str = Field(primary_key=True, max_length=2048, description="mail:<address> or webhook:<url>")
    last_item_id: int = Field(default=0, sa_type=sa.BigInteger)
    last_sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_error: str | None = Field(default=None, sa_type=sa.Text)

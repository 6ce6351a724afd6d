"""Initial schema: messages and their events, participants, certificates, API tokens, delivery attempts.

Revision ID: 0001
Revises:
Create Date: 2026-11-25

Types are spelled out as plain SQLAlchemy types (enumerations are VARCHARs, timestamps are
``timestamptz``) so that this script keeps meaning the same when the models change.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _timestamp(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "message",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("direction", sa.String(length=8), nullable=False),
        sa.Column("process_id", sa.String(length=64), nullable=False),
        sa.Column("message_type", sa.String(length=4), nullable=False),
        sa.Column("xdomea_version", sa.String(length=16), nullable=False),
        sa.Column("sender_id", sa.String(length=128), nullable=False),
        sa.Column("recipient_id", sa.String(length=128), nullable=False),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("payload_ref", sa.String(length=64), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        _timestamp("created_at"),
        _timestamp("updated_at"),
        sa.Column("lease_owner", sa.String(length=128), nullable=True),
        _timestamp("lease_expires_at", nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        _timestamp("next_attempt_at"),
        sa.PrimaryKeyConstraint("id", name="pk_message"),
    )
    op.create_index("ix_message_created_at", "message", ["created_at"])
    op.create_index("ix_message_lease_expires_at", "message", ["lease_expires_at"])
    op.create_index("ix_message_payload_ref", "message", ["payload_ref"])
    op.create_index("ix_message_process_id", "message", ["process_id"])
    op.create_index("ix_message_sha256", "message", ["sha256"])
    op.create_index("ix_message_queue", "message", ["state", "next_attempt_at"])
    op.create_index("ix_message_recipient_created", "message", ["recipient_id", "created_at"])
    op.create_index("ix_message_sender_created", "message", ["sender_id", "created_at"])
    op.create_index(
        "uq_message_identity", "message", ["direction", "sender_id", "process_id", "message_type"], unique=True
    )

    op.create_table(
        "message_event",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("message_id", sa.Uuid(), nullable=False),
        sa.Column("from_state", sa.String(length=32), nullable=True),
        sa.Column("to_state", sa.String(length=32), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        _timestamp("created_at"),
        sa.ForeignKeyConstraint(
            ["message_id"], ["message.id"], name="fk_message_event_message_id_message", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_message_event"),
    )
    op.create_index("ix_message_event_message", "message_event", ["message_id", "id"])

    op.create_table(
        "delivery_attempt",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("message_id", sa.Uuid(), nullable=False),
        sa.Column("peer", sa.String(length=2048), nullable=False),
        _timestamp("started_at"),
        _timestamp("finished_at", nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["message_id"], ["message.id"], name="fk_delivery_attempt_message_id_message", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_delivery_attempt"),
    )
    op.create_index("ix_delivery_attempt_message_id", "delivery_attempt", ["message_id"])

    op.create_table(
        "participant",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("xoev_id", sa.String(length=128), nullable=False),
        sa.Column("display_name", sa.String(length=256), nullable=False),
        sa.Column("accepted_versions", sa.JSON(), nullable=False),
        sa.Column("route_kind", sa.String(length=16), nullable=False),
        sa.Column("endpoint_url", sa.String(length=2048), nullable=True),
        sa.Column("signature_policy", sa.String(length=16), nullable=False),
        sa.Column("adapter_config", sa.JSON(), nullable=False),
        _timestamp("created_at"),
        _timestamp("updated_at"),
        sa.PrimaryKeyConstraint("id", name="pk_participant"),
        sa.UniqueConstraint("xoev_id", name="uq_participant_xoev_id"),
    )

    op.create_table(
        "certificate",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("participant_id", sa.Integer(), nullable=False),
        sa.Column("pem", sa.Text(), nullable=False),
        sa.Column("fingerprint_sha256", sa.String(length=64), nullable=False),
        _timestamp("not_before"),
        _timestamp("not_after"),
        sa.Column("usage", sa.String(length=16), nullable=False),
        _timestamp("created_at"),
        sa.ForeignKeyConstraint(
            ["participant_id"], ["participant.id"], name="fk_certificate_participant_id_participant", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_certificate"),
        sa.UniqueConstraint("fingerprint_sha256", name="uq_certificate_fingerprint_sha256"),
    )
    op.create_index("ix_certificate_participant_id", "certificate", ["participant_id"])

    op.create_table(
        "api_token",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("participant_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("scopes", sa.JSON(), nullable=False),
        _timestamp("created_at"),
        _timestamp("revoked_at", nullable=True),
        sa.ForeignKeyConstraint(
            ["participant_id"], ["participant.id"], name="fk_api_token_participant_id_participant", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_api_token"),
        sa.UniqueConstraint("token_hash", name="uq_api_token_token_hash"),
    )
    op.create_index("ix_api_token_participant_id", "api_token", ["participant_id"])


def downgrade() -> None:
    op.drop_table("api_token")
    op.drop_table("certificate")
    op.drop_table("participant")
    op.drop_table("delivery_attempt")
    op.drop_table("message_event")
    op.drop_table("message")

"""Pipeline columns on message: submission facts, 4.0 UUIDs, validation report, signature, correlation.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25

``source_id`` links a locally delivered inbound copy to its outbound original; ``reply_to_id`` links a
reply (receipt, appraisal) to the message it answers. Both are SET NULL on delete so that pruning one
message never takes its correspondent with it.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_INDEXED = ("message_uuid", "origin_message_uuid", "reply_to_id", "source_id")
_LINKS = ("source_id", "reply_to_id")


def upgrade() -> None:
    with op.batch_alter_table("message") as batch_op:
        batch_op.add_column(sa.Column("filename", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("channel", sa.String(length=16), server_default="rest", nullable=False))
        batch_op.add_column(sa.Column("content_kind", sa.String(length=8), server_default="xml", nullable=False))
        batch_op.add_column(sa.Column("message_uuid", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("origin_message_uuid", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("receipt_requested", sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column("validation_report", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("signature_status", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("signer_fingerprint", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("source_id", sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column("reply_to_id", sa.Uuid(), nullable=True))
        for column in _INDEXED:
            batch_op.create_index(f"ix_message_{column}", [column], unique=False)
        for column in _LINKS:
            batch_op.create_foreign_key(
                f"fk_message_{column}_message", "message", [column], ["id"], ondelete="SET NULL"
            )


def downgrade() -> None:
    with op.batch_alter_table("message") as batch_op:
        for column in _LINKS:
            batch_op.drop_constraint(f"fk_message_{column}_message", type_="foreignkey")
        for column in _INDEXED:
            batch_op.drop_index(f"ix_message_{column}")
        for column in (
            "reply_to_id",
            "source_id",
            "signer_fingerprint",
            "signature_status",
            "validation_report",
            "receipt_requested",
            "origin_message_uuid",
            "message_uuid",
            "content_kind",
            "channel",
            "filename",
        ):
            batch_op.drop_column(column)

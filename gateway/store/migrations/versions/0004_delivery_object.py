"""DMS adapters: which DMS object each delivered Schriftgutobjekt became, with its outcome.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28

One row per (message, xdomea object id): the adapter kind, the DMS id, the outcome (imported,
duplicate, failed, not-attempted) and the reason. The import confirmations (0402/0506) are built from
these rows, and the REST API shows them per message.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "delivery_object",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("message_id", sa.Uuid(), nullable=False),
        sa.Column("xdomea_id", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("parent_xdomea_id", sa.String(length=128), nullable=True),
        sa.Column("adapter", sa.String(length=64), nullable=False),
        sa.Column("dms_id", sa.String(length=2048), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["message_id"], ["message.id"], name="fk_delivery_object_message_id_message", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_delivery_object"),
        sa.UniqueConstraint("message_id", "xdomea_id", name="uq_delivery_object_message_id_xdomea_id"),
    )
    op.create_index("ix_delivery_object_message_id", "delivery_object", ["message_id"], unique=False)
    op.create_index("ix_delivery_object_xdomea_id", "delivery_object", ["xdomea_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_delivery_object_xdomea_id", table_name="delivery_object")
    op.drop_index("ix_delivery_object_message_id", table_name="delivery_object")
    op.drop_table("delivery_object")

"""XTA server: MessageIDs handed out or used, and each message's XTA transport order and MsgBox times.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27

``xta_message_id`` keeps every XTA MessageID for good (its primary key is what makes an id usable once,
fault 9024 otherwise), with the account it belongs to and the message it carries. On ``message``,
``xta_message_id`` is the id the message arrived under, ``xta_meta`` the transport order as the author
sent it, and ``xta_fetched_at``/``xta_closed_at`` when the recipient first fetched it from its MsgBox
and when it confirmed receipt.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "xta_message_id",
        sa.Column("id", sa.String(length=255), nullable=False),
        sa.Column("account", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("message_id", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(
            ["message_id"], ["message.id"], name="fk_xta_message_id_message_id_message", ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_xta_message_id"),
    )
    op.create_index("ix_xta_message_id_account", "xta_message_id", ["account"], unique=False)
    op.create_index("ix_xta_message_id_message_id", "xta_message_id", ["message_id"], unique=False)
    with op.batch_alter_table("message") as batch_op:
        batch_op.add_column(sa.Column("xta_message_id", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("xta_meta", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("xta_fetched_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("xta_closed_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_unique_constraint("uq_message_xta_message_id", ["xta_message_id"])


def downgrade() -> None:
    with op.batch_alter_table("message") as batch_op:
        batch_op.drop_constraint("uq_message_xta_message_id", type_="unique")
        for column in ("xta_closed_at", "xta_fetched_at", "xta_meta", "xta_message_id"):
            batch_op.drop_column(column)
    op.drop_index("ix_xta_message_id_message_id", table_name="xta_message_id")
    op.drop_index("ix_xta_message_id_account", table_name="xta_message_id")
    op.drop_table("xta_message_id")

"""Directory sign-in and alerts: where a console user comes from, its alert address, the alert run's state.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03

``console_user.source`` says whether the gateway keeps the user's password (``local``) or the directory
decides (``ldap``; the record exists so that audit and sessions work, its password hash is a marker that
never verifies). ``email`` is where a user's alerts go; ``directory_checked_at`` when the directory last
confirmed a directory user. The four ``alert_*`` tables hold the alert run's cursor over
``message_event``, the items to tell, the standing conditions already told, and each recipient's cursor.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("console_user") as batch:
        batch.add_column(sa.Column("source", sa.String(length=16), server_default="local", nullable=False))
        batch.add_column(sa.Column("email", sa.String(length=320), nullable=True))
        batch.add_column(sa.Column("directory_checked_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "alert_run",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("last_event_id", sa.BigInteger(), nullable=False),
        sa.Column("lease_owner", sa.String(length=128), nullable=True),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_run_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("name", name="pk_alert_run"),
    )
    op.create_table(
        "alert_item",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("participant", sa.String(length=128), nullable=True),
        sa.Column("subject", sa.String(length=2048), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_alert_item"),
    )
    op.create_index("ix_alert_item_participant", "alert_item", ["participant"], unique=False)
    op.create_index("ix_alert_item_created_at", "alert_item", ["created_at"], unique=False)
    op.create_table(
        "alert_condition",
        sa.Column("key", sa.String(length=512), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_alert_condition"),
    )
    op.create_table(
        "alert_recipient",
        sa.Column("address", sa.String(length=2048), nullable=False),
        sa.Column("last_item_id", sa.BigInteger(), nullable=False),
        sa.Column("last_sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("address", name="pk_alert_recipient"),
    )


def downgrade() -> None:
    op.drop_table("alert_recipient")
    op.drop_table("alert_condition")
    op.drop_index("ix_alert_item_created_at", table_name="alert_item")
    op.drop_index("ix_alert_item_participant", table_name="alert_item")
    op.drop_table("alert_item")
    op.drop_table("alert_run")
    with op.batch_alter_table("console_user") as batch:
        batch.drop_column("directory_checked_at")
        batch.drop_column("email")
        batch.drop_column("source")

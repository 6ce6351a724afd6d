"""Admin console: its users, the audit log, the messages' search summary and the indexes the console reads by.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29

``console_user`` holds the people who sign in (Argon2id hashes only), ``audit_entry`` every admin action
and authentication failure. ``message.search_text`` is filled at intake with the Betreff and Aktenzeichen
of the message's objects; messages taken in before this revision have none. The indexes serve the
dashboard (per state and direction: count, oldest; events per state in the last hour) and keyset pagination.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "console_user",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("password_hash", sa.String(length=256), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("participant", sa.String(length=128), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_console_user"),
        sa.UniqueConstraint("name", name="uq_console_user_name"),
    )
    op.create_table(
        "audit_entry",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("target", sa.String(length=2048), nullable=True),
        sa.Column("result", sa.String(length=16), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("client", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_audit_entry"),
    )
    op.create_index("ix_audit_entry_at", "audit_entry", ["at"], unique=False)
    op.create_index("ix_audit_entry_actor_at", "audit_entry", ["actor", "at"], unique=False)
    with op.batch_alter_table("message") as batch:
        batch.add_column(sa.Column("search_text", sa.Text(), nullable=True))
    op.create_index("ix_message_state_direction_created", "message", ["state", "direction", "created_at"], unique=False)
    op.create_index("ix_message_created_id", "message", ["created_at", "id"], unique=False)
    op.create_index("ix_message_event_to_state_created", "message_event", ["to_state", "created_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_message_event_to_state_created", table_name="message_event")
    op.drop_index("ix_message_created_id", table_name="message")
    op.drop_index("ix_message_state_direction_created", table_name="message")
    with op.batch_alter_table("message") as batch:
        batch.drop_column("search_text")
    op.drop_index("ix_audit_entry_actor_at", table_name="audit_entry")
    op.drop_index("ix_audit_entry_at", table_name="audit_entry")
    op.drop_table("audit_entry")
    op.drop_table("console_user")

"""Console sessions bound to a user's identity and session generation; sign-in throttle per client address.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03

A session cookie used to carry only ``console_user.id``, which SQLite hands out again after a user is
removed, so an old cookie could wake up as somebody else. ``uid`` is a random UUID per user (filled here
for existing users) and ``session_generation`` is raised whenever a user's sessions must end; the cookie
carries both. ``ix_audit_entry_client_at`` serves the count of failed sign-ins per client address.
"""

import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("console_user") as batch:
        batch.add_column(sa.Column("uid", sa.Uuid(), nullable=True))
        batch.add_column(sa.Column("session_generation", sa.Integer(), server_default="0", nullable=False))
    users = sa.table("console_user", sa.column("id", sa.Integer()), sa.column("uid", sa.Uuid()))
    connection = op.get_bind()
    for (user_id,) in connection.execute(sa.select(users.c.id)).all():
        connection.execute(sa.update(users).where(users.c.id == user_id).values(uid=uuid.uuid4()))
    with op.batch_alter_table("console_user") as batch:
        batch.alter_column("uid", existing_type=sa.Uuid(), nullable=False)
        batch.create_unique_constraint("uq_console_user_uid", ["uid"])
    op.create_index("ix_audit_entry_client_at", "audit_entry", ["client", "at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_audit_entry_client_at", table_name="audit_entry")
    with op.batch_alter_table("console_user") as batch:
        batch.drop_constraint("uq_console_user_uid", type_="unique")
        batch.drop_column("session_generation")
        batch.drop_column("uid")

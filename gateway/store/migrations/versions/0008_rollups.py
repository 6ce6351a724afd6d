"""Dashboard rollups: figures kept as messages move, so the console reads the same few rows at any size.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03

``rollup_cursor`` says how far :mod:`gateway.pipeline.rollups` has applied ``message_event``; the other
tables hold what it derived: messages per state (``rollup_state_count``), messages received, sent, failed
and retried per minute and hour (``rollup_traffic``), failures by cause per hour (``rollup_failure``),
messages waiting for their next try (``rollup_retrying``), sampled queue ages (``rollup_queue_age``) and
the answers processes wait for (``rollup_process_wait``). Nothing is backfilled here: the cursor starts at
0 and the first rollup steps replay the existing history, a bounded batch per step.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = 128


def _parties() -> list[sa.Column[str]]:
    return [
        sa.Column("direction", sa.String(length=8), nullable=False),
        sa.Column("sender_id", sa.String(length=_ID), nullable=False),
        sa.Column("recipient_id", sa.String(length=_ID), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "rollup_cursor",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("last_event_id", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_rollup_cursor"),
    )
    op.create_table(
        "rollup_state_count",
        sa.Column("state", sa.String(length=32), nullable=False),
        *_parties(),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("state", "direction", "sender_id", "recipient_id", name="pk_rollup_state_count"),
    )
    op.create_table(
        "rollup_traffic",
        sa.Column("grain", sa.Integer(), nullable=False),
        sa.Column("bucket", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        *_parties(),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "grain", "bucket", "kind", "direction", "sender_id", "recipient_id", name="pk_rollup_traffic"
        ),
    )
    op.create_table(
        "rollup_failure",
        sa.Column("bucket", sa.DateTime(timezone=True), nullable=False),
        sa.Column("fault", sa.String(length=80), nullable=False),
        *_parties(),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("bucket", "fault", "direction", "sender_id", "recipient_id", name="pk_rollup_failure"),
    )
    op.create_table(
        "rollup_retrying",
        sa.Column("message_id", sa.Uuid(), nullable=False),
        *_parties(),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("message_id", name="pk_rollup_retrying"),
    )
    op.create_table(
        "rollup_queue_age",
        sa.Column("grain", sa.Integer(), nullable=False),
        sa.Column("bucket", sa.DateTime(timezone=True), nullable=False),
        sa.Column("queue", sa.String(length=32), nullable=False),
        sa.Column("age_seconds", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("grain", "bucket", "queue", name="pk_rollup_queue_age"),
    )
    op.create_table(
        "rollup_process_wait",
        sa.Column("process_id", sa.String(length=64), nullable=False),
        sa.Column("code", sa.String(length=4), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sender_id", sa.String(length=_ID), nullable=False),
        sa.Column("recipient_id", sa.String(length=_ID), nullable=False),
        sa.PrimaryKeyConstraint("process_id", "code", name="pk_rollup_process_wait"),
    )
    op.create_index("ix_rollup_process_wait_code_since", "rollup_process_wait", ["code", "since"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_rollup_process_wait_code_since", table_name="rollup_process_wait")
    for table in (
        "rollup_process_wait",
        "rollup_queue_age",
        "rollup_retrying",
        "rollup_failure",
        "rollup_traffic",
        "rollup_state_count",
        "rollup_cursor",
    ):
        op.drop_table(table)

"""Participant policies: how a sender is identified, who makes receipts; gateway-made receipts kept apart.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03

``participant.sender_identification`` says whether an Absender without Behoerdenkennung is identified by
the authenticated channel ("channel", the default for existing rows too: real DMS exports and x-man name
the Institution only) or refused ("kennung"). ``participant.receipt_policy`` holds the entry's
``receipts`` table ({} = derived from route and adapter, see docs/receipts.md). ``message.gateway_made``
marks a receipt the gateway made on a recipient's behalf; it joins the message identity, so that the
recipient's own answer of the same type is stored beside it instead of being refused as a conflict.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

IDENTITY = ["direction", "sender_id", "process_id", "message_type"]


def upgrade() -> None:
    with op.batch_alter_table("participant") as batch:
        batch.add_column(
            sa.Column("sender_identification", sa.String(length=16), server_default="channel", nullable=False)
        )
        batch.add_column(sa.Column("receipt_policy", sa.JSON(), server_default=sa.text("'{}'"), nullable=False))
    with op.batch_alter_table("message") as batch:
        batch.add_column(sa.Column("gateway_made", sa.Boolean(), server_default=sa.false(), nullable=False))
    # receipts made before this revision came through the "receipt" channel: they were the gateway's
    op.execute(sa.text("UPDATE message SET gateway_made = :yes WHERE channel = 'receipt'").bindparams(yes=True))
    op.execute(
        sa.text(
            "UPDATE message SET gateway_made = :yes WHERE source_id IN "
            "(SELECT id FROM message WHERE channel = 'receipt')"
        ).bindparams(yes=True)
    )
    op.drop_index("uq_message_identity", table_name="message")
    op.create_index("uq_message_identity", "message", [*IDENTITY, "gateway_made"], unique=True)


def downgrade() -> None:
    op.drop_index("uq_message_identity", table_name="message")
    # the narrower identity cannot hold a gateway-made receipt beside the recipient's own answer: the
    # recipient's own is kept
    op.execute(
        sa.text(
            "DELETE FROM message WHERE gateway_made = :yes AND EXISTS (SELECT 1 FROM message AS own "
            "WHERE own.direction = message.direction AND own.sender_id = message.sender_id "
            "AND own.process_id = message.process_id AND own.message_type = message.message_type "
            "AND own.gateway_made = :no)"
        ).bindparams(yes=True, no=False)
    )
    op.create_index("uq_message_identity", "message", IDENTITY, unique=True)
    with op.batch_alter_table("message") as batch:
        batch.drop_column("gateway_made")
    with op.batch_alter_table("participant") as batch:
        batch.drop_column("receipt_policy")
        batch.drop_column("sender_identification")

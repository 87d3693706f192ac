"""ledger tables

Revision ID: 0001
Revises:
Create Date: 2026-11-22 00:23:27.994515
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "balance",
        sa.Column("user_id", sa.String(length=200), nullable=False),
        sa.Column("amount_micro", sa.BigInteger(), nullable=False),
        sa.Column("auto_refill_enabled", sa.Boolean(), nullable=False),
        sa.Column("refill_interval_value", sa.Integer(), nullable=False),
        sa.Column("refill_interval_unit", sa.String(length=10), nullable=False),
        sa.Column("refill_amount_micro", sa.BigInteger(), nullable=False),
        sa.Column("last_refill_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_balance")),
    )
    op.create_table(
        "ledger_entry",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.INTEGER(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("user_id", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("amount_micro", sa.BigInteger(), nullable=False),
        sa.Column("token_type", sa.String(length=20), nullable=True),
        sa.Column("tokens", sa.BigInteger(), nullable=True),
        sa.Column("rate", sa.String(length=64), nullable=True),
        sa.Column("value_key", sa.String(length=200), nullable=True),
        sa.Column("priced_by", sa.String(length=20), nullable=True),
        sa.Column("context", sa.String(length=100), nullable=True),
        sa.Column("endpoint", sa.String(length=200), nullable=True),
        sa.Column("model", sa.String(length=200), nullable=True),
        sa.Column("conversation_id", sa.String(length=200), nullable=True),
        sa.Column("message_id", sa.String(length=200), nullable=True),
        sa.Column("event_id", sa.String(length=200), nullable=True),
        sa.Column("idempotency_key", sa.String(length=300), nullable=True),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_entry")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_ledger_entry_idempotency_key")),
    )
    with op.batch_alter_table("ledger_entry", schema=None) as batch_op:
        batch_op.create_index("ix_ledger_entry_conversation_id", ["conversation_id"], unique=False)
        batch_op.create_index("ix_ledger_entry_created_at", ["created_at"], unique=False)
        batch_op.create_index("ix_ledger_entry_event_id", ["event_id"], unique=False)
        batch_op.create_index("ix_ledger_entry_user_id_id", ["user_id", "id"], unique=False)

    op.create_table(
        "reservation",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=200), nullable=False),
        sa.Column("endpoint", sa.String(length=200), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("amount_micro", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("settled_event_id", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reservation")),
    )
    with op.batch_alter_table("reservation", schema=None) as batch_op:
        batch_op.create_index("ix_reservation_user_id_status", ["user_id", "status"], unique=False)

    op.create_table(
        "usage_event",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.INTEGER(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("event_id", sa.String(length=200), nullable=False),
        sa.Column("user_id", sa.String(length=200), nullable=False),
        sa.Column("endpoint", sa.String(length=200), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("context", sa.String(length=100), nullable=False),
        sa.Column("conversation_id", sa.String(length=200), nullable=True),
        sa.Column("message_id", sa.String(length=200), nullable=True),
        sa.Column("reservation_id", sa.String(length=64), nullable=True),
        sa.Column("prompt_tokens", sa.BigInteger(), nullable=False),
        sa.Column("completion_tokens", sa.BigInteger(), nullable=False),
        sa.Column("cache_write_tokens", sa.BigInteger(), nullable=False),
        sa.Column("cache_read_tokens", sa.BigInteger(), nullable=False),
        sa.Column("value_key", sa.String(length=200), nullable=True),
        sa.Column("priced_by", sa.String(length=20), nullable=False),
        sa.Column("total_micro", sa.BigInteger(), nullable=False),
        sa.Column("cost_json", sa.Text(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_usage_event")),
        sa.UniqueConstraint("event_id", name=op.f("uq_usage_event_event_id")),
    )
    with op.batch_alter_table("usage_event", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_usage_event_user_id"), ["user_id"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("usage_event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_usage_event_user_id"))

    op.drop_table("usage_event")
    with op.batch_alter_table("reservation", schema=None) as batch_op:
        batch_op.drop_index("ix_reservation_user_id_status")

    op.drop_table("reservation")
    with op.batch_alter_table("ledger_entry", schema=None) as batch_op:
        batch_op.drop_index("ix_ledger_entry_user_id_id")
        batch_op.drop_index("ix_ledger_entry_event_id")
        batch_op.drop_index("ix_ledger_entry_created_at")
        batch_op.drop_index("ix_ledger_entry_conversation_id")

    op.drop_table("ledger_entry")
    op.drop_table("balance")

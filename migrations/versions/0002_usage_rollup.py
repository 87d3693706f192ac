"""usage rollup for cost reports

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 00:45:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "usage_rollup",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.INTEGER(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("slot", sa.BigInteger(), nullable=False),
        sa.Column("endpoint", sa.String(length=200), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("context", sa.String(length=100), nullable=False),
        sa.Column("prompt_tokens", sa.BigInteger(), nullable=False),
        sa.Column("completion_tokens", sa.BigInteger(), nullable=False),
        sa.Column("cache_write_tokens", sa.BigInteger(), nullable=False),
        sa.Column("cache_read_tokens", sa.BigInteger(), nullable=False),
        sa.Column("prompt_micro", sa.BigInteger(), nullable=False),
        sa.Column("completion_micro", sa.BigInteger(), nullable=False),
        sa.Column("cache_write_micro", sa.BigInteger(), nullable=False),
        sa.Column("cache_read_micro", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_usage_rollup")),
    )
    with op.batch_alter_table("usage_rollup", schema=None) as batch_op:
        batch_op.create_index("ix_usage_rollup_slot", ["slot"], unique=False)
    _fill_from_ledger()


def _fill_from_ledger() -> None:
    """Roll up the usage already in the ledger (what `billing rebuild-rollups` does)."""
    if op.get_bind().dialect.name == "postgresql":
        slot = "floor(extract(epoch from created_at) / 900)::bigint"
    else:
        slot = "cast(strftime('%s', created_at) as integer) / 900"
    types = ("prompt", "completion", "cache_write", "cache_read")
    # Spend as billing/reports/spend.py defines it, written out: migrations stay frozen.
    spend = f"kind IN ('usage', 'import') AND token_type IN ({', '.join(repr(t) for t in types)})"
    tokens = [
        f"sum(case when token_type = '{t}' then coalesce(tokens, 0) else 0 end)" for t in types
    ]
    costs = [f"sum(case when token_type = '{t}' then -amount_micro else 0 end)" for t in types]
    columns = [f"{t}_tokens" for t in types] + [f"{t}_micro" for t in types]
    op.execute(
        f"INSERT INTO usage_rollup (slot, endpoint, model, context, {', '.join(columns)}) "
        f"SELECT {slot}, coalesce(endpoint, ''), coalesce(model, ''), coalesce(context, ''), "
        f"{', '.join(tokens + costs)} FROM ledger_entry WHERE {spend} "
        "GROUP BY 1, 2, 3, 4"
    )


def downgrade() -> None:
    with op.batch_alter_table("usage_rollup", schema=None) as batch_op:
        batch_op.drop_index("ix_usage_rollup_slot")
    op.drop_table("usage_rollup")

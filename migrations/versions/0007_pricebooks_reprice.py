"""price book versions, repricing and voids

price_book records each distinct set of effective rates the service priced
with (a new row whenever a loaded config's prices differ from the last one).
usage_event gains the price book it is currently priced with, its current
cost lines once a reprice changed them (NULL: cost_json's lines are current),
and its void. ledger_entry gains the reprice run and the rate a reprice row
replaced. New table and nullable columns only.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05 17:15:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# SQLite only auto-increments INTEGER PRIMARY KEY, not BIGINT.
_BIGINT_PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "price_book",
        sa.Column("id", _BIGINT_PK, autoincrement=True, nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("rates_json", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_price_book")),
    )
    with op.batch_alter_table("usage_event") as batch:
        batch.add_column(sa.Column("price_book", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("lines_json", sa.Text(), nullable=True))
        batch.add_column(sa.Column("voided_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("void_reason", sa.String(length=500), nullable=True))
    with op.batch_alter_table("ledger_entry") as batch:
        batch.add_column(sa.Column("run_id", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("old_rate", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("ledger_entry") as batch:
        batch.drop_column("old_rate")
        batch.drop_column("run_id")
    with op.batch_alter_table("usage_event") as batch:
        batch.drop_column("void_reason")
        batch.drop_column("voided_at")
        batch.drop_column("lines_json")
        batch.drop_column("price_book")
    op.drop_table("price_book")

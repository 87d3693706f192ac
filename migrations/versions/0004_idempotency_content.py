"""idempotency bound to content: usage_event.fingerprint, reservation idempotency_key

A repeated event_id is a duplicate only with the same billing-relevant
content; ``fingerprint`` (blake2b) makes that comparison cheap. Events
recorded before this migration keep NULL: their stored columns hold the same
content and are compared instead (billing/usage/rows.py), so nothing needs
backfilling and the column is added without rewriting the table.

Reservations gain an optional client ``idempotency_key`` (unique), with the
request's canonical JSON and the answered cost, so a retried POST returns the
same hold.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05 15:45:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Nullable, no default: instant on PostgreSQL, ADD COLUMN on SQLite.
    op.add_column("usage_event", sa.Column("fingerprint", sa.LargeBinary(), nullable=True))
    # Batch mode: SQLite adds a unique constraint only by copying the table.
    with op.batch_alter_table("reservation", schema=None) as batch_op:
        batch_op.add_column(sa.Column("idempotency_key", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("request_json", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("cost_json", sa.Text(), nullable=True))
        batch_op.create_unique_constraint(
            batch_op.f("uq_reservation_idempotency_key"), ["idempotency_key"]
        )


def downgrade() -> None:
    with op.batch_alter_table("reservation", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_reservation_idempotency_key"), type_="unique")
        batch_op.drop_column("cost_json")
        batch_op.drop_column("request_json")
        batch_op.drop_column("idempotency_key")
    with op.batch_alter_table("usage_event", schema=None) as batch_op:
        batch_op.drop_column("fingerprint")

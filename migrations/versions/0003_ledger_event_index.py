"""drop the ledger's event_id index (ingest write cost)

No query reads ledger rows by event_id alone: usage_event holds the event
(unique event_id), and an event's ledger rows are found with its user
(ix_ledger_entry_user_id_id). Each usage ledger row paid one more index
insert for it: ~30% of the ledger's write time on PostgreSQL (make bench).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 03:20:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_ledger_entry_event_id", table_name="ledger_entry")


def downgrade() -> None:
    op.create_index("ix_ledger_entry_event_id", "ledger_entry", ["event_id"])

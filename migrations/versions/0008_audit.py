"""audit: the audit trail of admin actions (one new table)

Revision ID: 0008
Revises: 0006
Create Date: 2026-12-05 17:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# SQLite only auto-increments INTEGER PRIMARY KEY, not BIGINT.
_BIGINT_PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "audit_entry",
        sa.Column("id", _BIGINT_PK, autoincrement=True, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("target", sa.String(length=300), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.Column("key_id", sa.String(length=64), nullable=True),
        sa.Column("details", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_entry")),
    )
    op.create_index(op.f("ix_audit_entry_action_id"), "audit_entry", ["action", "id"])
    op.create_index(op.f("ix_audit_entry_target_id"), "audit_entry", ["target", "id"])
    op.create_index(op.f("ix_audit_entry_created_at"), "audit_entry", ["created_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_audit_entry_created_at"), table_name="audit_entry")
    op.drop_index(op.f("ix_audit_entry_target_id"), table_name="audit_entry")
    op.drop_index(op.f("ix_audit_entry_action_id"), table_name="audit_entry")
    op.drop_table("audit_entry")

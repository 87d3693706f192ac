"""budgets and roles: user_profile, budget_alert, usage_event (user_id, occurred_at)

``user_profile`` holds a user's optional role and own spend limit;
``budget_alert`` remembers which budget events a period has already had, so
each fires once per period. A user's spend in a period is summed from
usage_event over (user_id, occurred_at): that index replaces the one on
user_id alone, which it also serves.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05 16:30:00.000000
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
        "user_profile",
        sa.Column("user_id", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=100), nullable=True),
        sa.Column("budget_limit_micro", sa.BigInteger(), nullable=True),
        sa.Column("budget_period", sa.String(length=10), nullable=True),
        sa.Column("budget_tz", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_user_profile")),
    )
    op.create_table(
        "budget_alert",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.INTEGER(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("user_id", sa.String(length=200), nullable=False),
        sa.Column("period_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("alert", sa.String(length=40), nullable=False),
        sa.Column("spent_micro", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_budget_alert")),
        sa.UniqueConstraint(
            "user_id",
            "period_start",
            "alert",
            name=op.f("uq_budget_alert_user_id_period_start_alert"),
        ),
    )
    with op.batch_alter_table("usage_event", schema=None) as batch_op:
        batch_op.create_index(
            "ix_usage_event_user_id_occurred_at", ["user_id", "occurred_at"], unique=False
        )
        batch_op.drop_index(batch_op.f("ix_usage_event_user_id"))


def downgrade() -> None:
    with op.batch_alter_table("usage_event", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_usage_event_user_id"), ["user_id"], unique=False)
        batch_op.drop_index("ix_usage_event_user_id_occurred_at")
    op.drop_table("budget_alert")
    op.drop_table("user_profile")

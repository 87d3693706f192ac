"""reservation.kind: hold (one call's estimate) or lease (a gateway worker's credit)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 04:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Every existing row is a hold: the server default fills them in place.
    with op.batch_alter_table("reservation") as batch:
        batch.add_column(
            sa.Column("kind", sa.String(length=20), nullable=False, server_default="hold")
        )


def downgrade() -> None:
    with op.batch_alter_table("reservation") as batch:
        batch.drop_column("kind")

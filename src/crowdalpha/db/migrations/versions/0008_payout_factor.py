"""rounds.payout_factor: room for the factor's exact digits

Revision ID: payout_factor_1
Revises: fairplay_1
Create Date: 2026-12-02

The payout factor (``min(1, threshold / total at risk)``) is computed and stored to 100
significant digits, so that payouts can be recomputed from it exactly; a factor whose
decimal does not terminate (36,000 / 41,000) has more than the 64 characters the column
held, which PostgreSQL refused at resolution. The column widens to 128 characters (100
digits, the point and an exponent); stored values are unchanged.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "payout_factor_1"
down_revision = "fairplay_1"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("rounds") as batch_op:
        batch_op.alter_column(
            "payout_factor", existing_type=sa.String(length=64), type_=sa.String(length=128)
        )


def downgrade() -> None:
    with op.batch_alter_table("rounds") as batch_op:
        batch_op.alter_column(
            "payout_factor", existing_type=sa.String(length=128), type_=sa.String(length=64)
        )

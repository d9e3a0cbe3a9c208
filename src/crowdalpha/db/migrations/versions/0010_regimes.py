"""rounds.regime: the market regime of a round's live era

Revision ID: regimes_1
Revises: chain_send_1
Create Date: 2026-12-02

The operator's label of the live era's market conditions over its target's window (e.g.
``up_calm``, ``down_volatile``), recorded when the round resolves, so that a model's scores
can be split by regime. NULL for rounds resolved before, and for data sources that do not
label eras.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "regimes_1"
down_revision = "chain_send_1"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("rounds") as batch_op:
        batch_op.add_column(sa.Column("regime", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("rounds") as batch_op:
        batch_op.drop_column("regime")

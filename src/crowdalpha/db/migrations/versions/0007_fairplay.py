"""fair play: each closed round's clusters of near-identical submissions

Revision ID: fairplay_1
Revises: jobs_1
Create Date: 2026-12-02

One new table, nothing existing touched: ``duplicate_members`` (one row per model of a
cluster, with the stake at risk before and after the round's duplicate policy). Rounds
opened before it keep their stored configuration; a configuration without ``duplicates``
reads as report only at 0.99.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import crowdalpha.db.types

revision = "fairplay_1"
down_revision = "jobs_1"
branch_labels = None
depends_on = None

_TIME = crowdalpha.db.types.UtcDateTime(timezone=True)
_AMOUNT = crowdalpha.db.types.Amount(precision=78, scale=0)


def upgrade() -> None:
    op.create_table(
        "duplicate_members",
        sa.Column("round_id", sa.Integer(), nullable=False),
        sa.Column("model_id", sa.Integer(), nullable=False),
        sa.Column("cluster", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("min_correlation", sa.Float(), nullable=False),
        sa.Column("max_correlation", sa.Float(), nullable=False),
        sa.Column("across_accounts", sa.Boolean(), nullable=False),
        sa.Column("constant", sa.Boolean(), nullable=False),
        sa.Column("stake_before", _AMOUNT, nullable=False),
        sa.Column("stake_at_risk", _AMOUNT, nullable=False),
        sa.Column("found_at", _TIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["round_id"], ["rounds.id"], name=op.f("fk_duplicate_members_round_id_rounds")
        ),
        sa.ForeignKeyConstraint(
            ["model_id"], ["models.id"], name=op.f("fk_duplicate_members_model_id_models")
        ),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_duplicate_members_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint("round_id", "model_id", name=op.f("pk_duplicate_members")),
    )


def downgrade() -> None:
    op.drop_table("duplicate_members")

"""governance: proposals, votes and their audit trail

Revision ID: governance_1
Revises: numerapi_1
Create Date: 2026-12-02

Adds three tables and changes nothing else (the ledger's new ``escrow:<id>`` accounts are
rows of the existing tables).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import crowdalpha.db.types

revision = "governance_1"
down_revision = "numerapi_1"
branch_labels = None
depends_on = None


def upgrade() -> None:
    amount = crowdalpha.db.types.Amount(precision=78, scale=0)
    when = crowdalpha.db.types.UtcDateTime(timezone=True)
    op.create_table(
        "governance_proposals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("proposer_id", sa.Integer(), nullable=False),
        sa.Column("competition_id", sa.Integer(), nullable=True),
        sa.Column("changes", sa.Text(), nullable=False),
        sa.Column("grant_to", sa.Integer(), nullable=True),
        sa.Column("grant_amount", amount, nullable=True),
        sa.Column("deposit", amount, nullable=False),
        sa.Column("quorum", sa.String(length=32), nullable=False),
        sa.Column("approval", sa.String(length=32), nullable=False),
        sa.Column("snapshot", sa.Integer(), nullable=False),
        sa.Column("total_power", amount, nullable=False),
        sa.Column("deposit_entry_id", sa.Integer(), nullable=False),
        sa.Column("created_at", when, nullable=False),
        sa.Column("voting_ends_at", when, nullable=False),
        sa.Column("executable_at", when, nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("votes_for", amount, nullable=True),
        sa.Column("votes_against", amount, nullable=True),
        sa.Column("votes_abstain", amount, nullable=True),
        sa.Column("tallied_at", when, nullable=True),
        sa.Column("settlement_entry_id", sa.Integer(), nullable=True),
        sa.Column("executed_at", when, nullable=True),
        sa.Column("execution_entry_id", sa.Integer(), nullable=True),
        sa.Column("failure", sa.String(length=500), nullable=True),
        sa.ForeignKeyConstraint(
            ["grant_to"], ["accounts.id"], name=op.f("fk_governance_proposals_grant_to_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["proposer_id"],
            ["accounts.id"],
            name=op.f("fk_governance_proposals_proposer_id_accounts"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_governance_proposals")),
    )
    with op.batch_alter_table("governance_proposals") as batch_op:
        batch_op.create_index(batch_op.f("ix_governance_proposals_proposer_id"), ["proposer_id"])
        batch_op.create_index(batch_op.f("ix_governance_proposals_state"), ["state"])

    op.create_table(
        "governance_votes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("proposal_id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("choice", sa.String(length=8), nullable=False),
        sa.Column("power", amount, nullable=False),
        sa.Column("cast_at", when, nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_governance_votes_account_id_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["proposal_id"],
            ["governance_proposals.id"],
            name=op.f("fk_governance_votes_proposal_id_governance_proposals"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_governance_votes")),
    )
    with op.batch_alter_table("governance_votes") as batch_op:
        batch_op.create_index("ix_governance_votes_proposal_account", ["proposal_id", "account_id"])

    op.create_table(
        "governance_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("proposal_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=True),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("entry_id", sa.Integer(), nullable=True),
        sa.Column("created_at", when, nullable=False),
        sa.ForeignKeyConstraint(
            ["proposal_id"],
            ["governance_proposals.id"],
            name=op.f("fk_governance_events_proposal_id_governance_proposals"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_governance_events")),
    )
    with op.batch_alter_table("governance_events") as batch_op:
        batch_op.create_index(batch_op.f("ix_governance_events_proposal_id"), ["proposal_id"])


def downgrade() -> None:
    op.drop_table("governance_events")
    op.drop_table("governance_votes")
    op.drop_table("governance_proposals")

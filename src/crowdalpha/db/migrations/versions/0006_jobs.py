"""jobs: background jobs with their state (queued, running, succeeded, failed)

Revision ID: jobs_1
Revises: governance_1
Create Date: 2026-12-02

One new table, nothing existing touched: ``jobs`` (see :mod:`crowdalpha.jobs`).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import crowdalpha.db.types

revision = "jobs_1"
down_revision = "governance_1"
branch_labels = None
depends_on = None

_TIME = crowdalpha.db.types.UtcDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=200), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("claimed_by", sa.String(length=200), nullable=True),
        sa.Column("lease_until", _TIME, nullable=True),
        sa.Column("result", sa.Text(), nullable=True),
        sa.Column("error_code", sa.String(length=64), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("updated_at", _TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_jobs")),
    )
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_jobs_state"), ["state"], unique=False)


def downgrade() -> None:
    op.drop_table("jobs")

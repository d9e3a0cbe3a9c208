"""submissions.predictions_sha256: the hash of the stored predictions

Revision ID: predictions_hash_1
Revises: regimes_1
Create Date: 2026-12-02

Each upload keeps two files: the file as uploaded (its SHA-256 in ``sha256``) and its
predictions over the live ids (``.npy``), which closing and resolution score. The new
column holds the SHA-256 of the second, so that a truncated or damaged predictions file is
detected and never scored. Rows written before this migration have NULL (not checked).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "predictions_hash_1"
down_revision = "regimes_1"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("submissions") as batch_op:
        batch_op.add_column(sa.Column("predictions_sha256", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("submissions") as batch_op:
        batch_op.drop_column("predictions_sha256")

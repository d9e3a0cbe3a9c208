"""numerapi: model profiles (bio, link), submission webhooks and their delivery queue

Revision ID: numerapi_1
Revises: chain_1
Create Date: 2026-12-02

Three new tables, nothing existing touched: ``model_profiles`` (numerapi's set_bio and
set_link), ``model_webhooks`` (set_submission_webhook: the URL and its signing secret) and
``webhook_deliveries`` (one row per model and opened round, retried with backoff).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import crowdalpha.db.types

revision = "numerapi_1"
down_revision = "chain_1"
branch_labels = None
depends_on = None

_TIME = crowdalpha.db.types.UtcDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "model_profiles",
        sa.Column("model_id", sa.Integer(), nullable=False),
        sa.Column("bio", sa.Text(), nullable=True),
        sa.Column("link_text", sa.String(length=200), nullable=True),
        sa.Column("link_url", sa.String(length=2000), nullable=True),
        sa.Column("updated_at", _TIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["model_id"], ["models.id"], name=op.f("fk_model_profiles_model_id_models")
        ),
        sa.PrimaryKeyConstraint("model_id", name=op.f("pk_model_profiles")),
    )
    op.create_table(
        "model_webhooks",
        sa.Column("model_id", sa.Integer(), nullable=False),
        sa.Column("url", sa.String(length=2000), nullable=False),
        sa.Column("secret", sa.String(length=128), nullable=False),
        sa.Column("updated_at", _TIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["model_id"], ["models.id"], name=op.f("fk_model_webhooks_model_id_models")
        ),
        sa.PrimaryKeyConstraint("model_id", name=op.f("pk_model_webhooks")),
    )
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("model_id", sa.Integer(), nullable=False),
        sa.Column("round_id", sa.Integer(), nullable=False),
        sa.Column("url", sa.String(length=2000), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", _TIME, nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("delivered_at", _TIME, nullable=True),
        sa.ForeignKeyConstraint(
            ["model_id"], ["models.id"], name=op.f("fk_webhook_deliveries_model_id_models")
        ),
        sa.ForeignKeyConstraint(
            ["round_id"], ["rounds.id"], name=op.f("fk_webhook_deliveries_round_id_rounds")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_deliveries")),
        sa.UniqueConstraint("model_id", "round_id", name="uq_webhook_deliveries_model_round"),
    )
    with op.batch_alter_table("webhook_deliveries", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_webhook_deliveries_model_id"), ["model_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_webhook_deliveries_state"), ["state"], unique=False)


def downgrade() -> None:
    op.drop_table("webhook_deliveries")
    op.drop_table("model_webhooks")
    op.drop_table("model_profiles")

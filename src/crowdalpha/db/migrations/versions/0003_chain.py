"""chain: indexed events and blocks, posted settlements, linked wallets, chain transfers

Revision ID: chain_1
Revises: 0002
Create Date: 2026-12-02

New tables only (crowdalpha.db.chain_tables); they stay empty while the chain is off.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import crowdalpha.db.types

revision = "chain_1"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "chain_blocks",
        sa.Column("number", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("is_head", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("number", name=op.f("pk_chain_blocks")),
    )
    op.create_table(
        "chain_events",
        sa.Column("block_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("tx_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("contract", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("args", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("block_hash", "log_index", name=op.f("pk_chain_events")),
    )
    op.create_index(
        op.f("ix_chain_events_block_number"), "chain_events", ["block_number"], unique=False
    )
    op.create_table(
        "chain_settlements",
        sa.Column("round_id", sa.BigInteger(), nullable=False),
        sa.Column("round_number", sa.Integer(), nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("created_at", crowdalpha.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("tx_hash", sa.String(length=66), nullable=True),
        sa.PrimaryKeyConstraint("round_id", name=op.f("pk_chain_settlements")),
    )
    op.create_table(
        "chain_wallet_links",
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("address", sa.String(length=42), nullable=False),
        sa.Column("signature", sa.String(length=140), nullable=False),
        sa.Column("linked_at", crowdalpha.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_chain_wallet_links_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_chain_wallet_links")),
        sa.UniqueConstraint("address", name=op.f("uq_chain_wallet_links_address")),
    )
    op.create_table(
        "chain_transfers",
        sa.Column("ledger_key", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("address", sa.String(length=42), nullable=False),
        sa.Column("amount", crowdalpha.db.types.Amount(precision=78, scale=0), nullable=False),
        sa.Column("created_at", crowdalpha.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("tx_hash", sa.String(length=66), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_chain_transfers_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint("ledger_key", name=op.f("pk_chain_transfers")),
    )
    op.create_index(
        op.f("ix_chain_transfers_account_id"), "chain_transfers", ["account_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_chain_transfers_account_id"), table_name="chain_transfers")
    op.drop_table("chain_transfers")
    op.drop_table("chain_wallet_links")
    op.drop_table("chain_settlements")
    op.drop_index(op.f("ix_chain_events_block_number"), table_name="chain_events")
    op.drop_table("chain_events")
    op.drop_table("chain_blocks")

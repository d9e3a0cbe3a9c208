"""chain_transfers: a withdrawal's signed transaction, stored before it is sent

Revision ID: chain_send_1
Revises: payout_factor_1
Create Date: 2026-12-02

A withdrawal used to send its on-chain transfer and only then store the transaction's hash:
a crash in between made the retry sign and send a second transfer. The transfer is now
signed first and its bytes, hash and nonce stored with the row (``raw_transaction``,
``nonce``); the retry broadcasts the same bytes, which can be mined once.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "chain_send_1"
down_revision = "payout_factor_1"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("chain_transfers") as batch_op:
        batch_op.add_column(sa.Column("raw_transaction", sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column("nonce", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("chain_transfers") as batch_op:
        batch_op.drop_column("nonce")
        batch_op.drop_column("raw_transaction")

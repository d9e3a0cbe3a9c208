"""The tables of the optional chain integration (crowdalpha.chain): indexed events, the
settlements posted, wallets linked to accounts, and deposits/withdrawals between a
linked wallet and the platform's wallet.

They live here (not in crowdalpha.chain) so that the schema and its migrations never
need the chain's dependencies (web3, vyper); they stay empty while the chain is off.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, ForeignKey, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from crowdalpha.db.base import Base
from crowdalpha.db.types import Amount, UtcDateTime

__all__ = [
    "ChainBlockRow",
    "ChainEventRow",
    "ChainSettlementRow",
    "ChainTransferRow",
    "ChainWalletLink",
]


class ChainEventRow(Base):
    """One confirmed log of crowdalpha's contracts (keyed by block hash and log index, so
    indexing a range twice adds nothing)."""

    __tablename__ = "chain_events"

    block_hash: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    log_index: Mapped[int] = mapped_column(Integer, primary_key=True)
    block_number: Mapped[int] = mapped_column(BigInteger, index=True)
    tx_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    contract: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(64))
    # ints as decimal strings, bytes as 0x-hex (JSON has neither uint256 nor bytes)
    args: Mapped[dict[str, object]] = mapped_column(JSON)


class ChainBlockRow(Base):
    """The hash of an indexed block (each block with an event, and the head): what the
    indexer compares with the chain to notice a reorganization."""

    __tablename__ = "chain_blocks"

    number: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    is_head: Mapped[bool] = mapped_column(default=False)


class ChainSettlementRow(Base):
    """A round's settlement as the platform computed it (the tree, to serve proofs) and
    the transaction that posted its root (None until posted)."""

    __tablename__ = "chain_settlements"

    round_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)  # the on-chain id
    round_number: Mapped[int] = mapped_column(Integer)
    document: Mapped[dict[str, object]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    tx_hash: Mapped[str | None] = mapped_column(String(66))


class ChainWalletLink(Base):
    """An account's wallet, linked by a message the wallet signed."""

    __tablename__ = "chain_wallet_links"

    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), primary_key=True)
    address: Mapped[str] = mapped_column(String(42), unique=True)
    signature: Mapped[str] = mapped_column(String(140))
    linked_at: Mapped[datetime] = mapped_column(UtcDateTime())


class ChainTransferRow(Base):
    """NMR between a linked wallet and the platform's wallet, with its ledger entry's
    idempotency key: a deposit (seen by the indexer) credits the account's SQL wallet, a
    withdrawal debits it and then pays on chain. A withdrawal's transfer is signed and
    stored (``raw_transaction``, ``tx_hash``, ``nonce``) before it is broadcast, so a retry
    after a crash sends the same transaction again, never a second one."""

    __tablename__ = "chain_transfers"

    ledger_key: Mapped[str] = mapped_column(String(200), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # "deposit" or "withdrawal"
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    address: Mapped[str] = mapped_column(String(42))
    amount: Mapped[int] = mapped_column(Amount())
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    tx_hash: Mapped[str | None] = mapped_column(String(66))
    raw_transaction: Mapped[bytes | None] = mapped_column(LargeBinary)
    nonce: Mapped[int | None] = mapped_column(BigInteger)

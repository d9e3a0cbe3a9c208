"""The ledger's tables: entries, their postings, and one balance row per account."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crowdalpha.db.base import Base
from crowdalpha.db.types import Amount, UtcDateTime

__all__ = ["LedgerBalance", "LedgerEntry", "LedgerPosting"]


class LedgerEntry(Base):
    """One balanced movement of NMR (its postings sum to zero)."""

    __tablename__ = "ledger_entries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    # Retried operations carry the same key; the unique index makes the retry a no-op.
    idempotency_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    memo: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())

    postings: Mapped[list[LedgerPosting]] = relationship(
        back_populates="entry", order_by="LedgerPosting.id", lazy="selectin"
    )


class LedgerPosting(Base):
    """One leg of an entry: ``amount`` (signed) added to ``account``."""

    __tablename__ = "ledger_postings"
    __table_args__ = (Index("ix_ledger_postings_account_entry", "account", "entry_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("ledger_entries.id"), index=True)
    account: Mapped[str] = mapped_column(String(64))
    amount: Mapped[int] = mapped_column(Amount())

    entry: Mapped[LedgerEntry] = relationship(back_populates="postings")


class LedgerBalance(Base):
    """The running balance of one account (always the sum of its postings)."""

    __tablename__ = "ledger_balances"

    account: Mapped[str] = mapped_column(String(64), primary_key=True)
    balance: Mapped[int] = mapped_column(Amount())
    # Counts postings; lets the check spot a balance row edited behind the ledger's back.
    postings: Mapped[int] = mapped_column(Integer, default=0)

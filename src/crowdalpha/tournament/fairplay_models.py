"""The table of fair play: each round's clusters of near-identical submissions."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Float, ForeignKey, Integer
from sqlalchemy.orm import Mapped, mapped_column

from crowdalpha.db.base import Base
from crowdalpha.db.types import Amount, UtcDateTime

__all__ = ["DuplicateMember"]


class DuplicateMember(Base):
    """One model of one cluster of near-identical submissions, found when its round closed.

    ``cluster`` numbers the round's clusters from 1 (largest first); the cluster's weakest
    and strongest links and whether it spans several accounts repeat on each member row.
    ``stake_before`` is the model's stake at risk as the close froze it, ``stake_at_risk``
    what the round's duplicate policy left at risk (equal under ``report``).
    """

    __tablename__ = "duplicate_members"

    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id"), primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id"), primary_key=True)
    cluster: Mapped[int] = mapped_column(Integer)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    min_correlation: Mapped[float] = mapped_column(Float)
    max_correlation: Mapped[float] = mapped_column(Float)
    across_accounts: Mapped[bool] = mapped_column(Boolean)
    constant: Mapped[bool] = mapped_column(Boolean)
    stake_before: Mapped[int] = mapped_column(Amount())
    stake_at_risk: Mapped[int] = mapped_column(Amount())
    found_at: Mapped[datetime] = mapped_column(UtcDateTime())

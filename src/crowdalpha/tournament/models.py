"""The tournament's tables: accounts, competitions, models, rounds, submissions, stakes,
scores, payouts.

Accounts (and their wallets, in the ledger) are shared; a model and a round belong to one
competition, and round numbers are unique within it. Money columns are
:class:`~crowdalpha.db.types.Amount` (exact integers of base units); balances themselves
live only in the ledger. Scores are floats (they are statistics), one row per metric, so a
competition's metric set is data.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from crowdalpha.db.base import Base
from crowdalpha.db.types import Amount, UtcDateTime

__all__ = [
    "Account",
    "ApiKey",
    "CompetitionState",
    "IdempotencyRecord",
    "Model",
    "Payout",
    "PendingRelease",
    "Round",
    "RoundStake",
    "RoundState",
    "Score",
    "Submission",
    "SubmissionState",
]


class RoundState(StrEnum):
    """open → closed → scoring → resolved."""

    OPEN = "open"
    CLOSED = "closed"
    SCORING = "scoring"
    RESOLVED = "resolved"


class SubmissionState(StrEnum):
    """Every submission is visibly in exactly one of these."""

    RECEIVED = "received"
    VALIDATED = "validated"
    SCORED = "scored"
    RESOLVED = "resolved"
    FAILED = "failed"


class Account(Base):
    """A participant (or the operator): owns a wallet and any number of models."""

    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    wallet_address: Mapped[str | None] = mapped_column(String(64))
    is_operator: Mapped[bool] = mapped_column(Boolean, default=False)
    # Risk limits the article recommends; None means no limit.
    max_stake: Mapped[int | None] = mapped_column(Amount())
    max_stake_share_ppm: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class ApiKey(Base):
    """An API key: a public id plus a secret of which only a hash is kept."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    public_id: Mapped[str] = mapped_column(String(64), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(100), default="")
    scopes: Mapped[str] = mapped_column(String(200))  # space-separated
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class CompetitionState(Base):
    """A competition the database knows (its rules are code: tournament/competitions.py),
    with what the core keeps about it."""

    __tablename__ = "competitions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    slug: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(64))
    # Calendar slots before round 1 (round n is the schedule's slot n + offset), set when
    # its first round opens; NULL before. 0 for databases made while rounds were numbered
    # from the calendar anchor (their rounds keep their numbers).
    numbering_offset: Mapped[int | None] = mapped_column(Integer)


class Model(Base):
    """One model of an account, in one competition; names are unique across the platform."""

    __tablename__ = "models"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    competition_id: Mapped[int] = mapped_column(ForeignKey("competitions.id"), index=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class Round(Base):
    """A round of one competition: its schedule, its dataset, the scoring and payout
    configuration fixed when it opened, and what resolution found."""

    __tablename__ = "rounds"
    __table_args__ = (
        UniqueConstraint("competition_id", "number", name="uq_rounds_competition_number"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    competition_id: Mapped[int] = mapped_column(ForeignKey("competitions.id"))
    number: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16), index=True)
    opens_at: Mapped[datetime] = mapped_column(UtcDateTime())
    closes_at: Mapped[datetime] = mapped_column(UtcDateTime())
    resolves_at: Mapped[datetime] = mapped_column(UtcDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    resolved_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    dataset_version: Mapped[str] = mapped_column(String(64))
    live_ids_key: Mapped[str] = mapped_column(String(300))
    live_rows: Mapped[int] = mapped_column(Integer)
    # The RoundConfig (metrics, payout policy and parameters, stake gate) in force when the
    # round opened, as JSON (decimals and amounts as exact strings); resolution uses it.
    config: Mapped[str] = mapped_column(Text)
    # Filled at close and at resolution.
    total_at_risk: Mapped[int | None] = mapped_column(Amount())
    payout_factor: Mapped[str | None] = mapped_column(String(128))
    meta_model_key: Mapped[str | None] = mapped_column(String(300))
    # The market regime of the live era over its target's window (the operator's label,
    # e.g. ``up_calm``), recorded at resolution when the data source labels eras.
    regime: Mapped[str | None] = mapped_column(String(32))


class Submission(Base):
    """One uploaded prediction file, with its hash and its visible state."""

    __tablename__ = "submissions"
    __table_args__ = (Index("ix_submissions_model_round", "model_id", "round_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id"))
    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    filename: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(String(64))
    storage_key: Mapped[str | None] = mapped_column(String(300))
    # SHA-256 of the stored predictions (the .npy scored at resolution; NULL before 0009)
    predictions_sha256: Mapped[str | None] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(Integer)
    rows: Mapped[int] = mapped_column(Integer, default=0)
    unknown_ids: Mapped[int] = mapped_column(Integer, default=0)
    state: Mapped[str] = mapped_column(String(16))
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(Text)
    late: Mapped[bool] = mapped_column(Boolean, default=False)
    selected: Mapped[bool] = mapped_column(Boolean, default=False)


class RoundStake(Base):
    """A model's stake at risk in a round, frozen when the round closes."""

    __tablename__ = "round_stakes"

    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id"), primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id"), primary_key=True)
    submission_id: Mapped[int | None] = mapped_column(ForeignKey("submissions.id"))
    stake_at_risk: Mapped[int] = mapped_column(Amount())


class Score(Base):
    """One score of a model in a round (provisional until the round resolves); ``value``
    is NULL when the metric could not be computed (not finite)."""

    __tablename__ = "scores"

    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id"), primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id"), primary_key=True)
    metric: Mapped[str] = mapped_column(String(32), primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id"))
    value: Mapped[float | None] = mapped_column(Float)
    final: Mapped[bool] = mapped_column(Boolean, default=False)
    scored_at: Mapped[datetime] = mapped_column(UtcDateTime())


class Payout(Base):
    """What resolution did to a model's stake in a round (negative: burned)."""

    __tablename__ = "payouts"

    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id"), primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id"), primary_key=True)
    stake_at_risk: Mapped[int] = mapped_column(Amount())
    amount: Mapped[int] = mapped_column(Amount())
    entry_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_entries.id"))


class PendingRelease(Base):
    """A stake decrease waiting for the last round it was at risk in to resolve."""

    __tablename__ = "pending_releases"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id"), index=True)
    requested: Mapped[int] = mapped_column(Amount())
    # What burns left of it: to be returned to the wallet, or (once released) returned.
    remaining: Mapped[int] = mapped_column(Amount())
    requested_at: Mapped[datetime] = mapped_column(UtcDateTime())
    # Released when this round (of the model's competition) resolves.
    release_round_id: Mapped[int | None] = mapped_column(ForeignKey("rounds.id"))
    released_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class IdempotencyRecord(Base):
    """The result of a retried-safe operation, stored under the caller's key."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("key", name="uq_idempotency_keys_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(200))
    operation: Mapped[str] = mapped_column(String(64))
    fingerprint: Mapped[str] = mapped_column(String(64))
    result: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())

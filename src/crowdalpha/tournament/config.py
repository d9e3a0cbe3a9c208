"""A tournament's configuration: its schedule, payout rules and risk limits."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from crowdalpha.errors import InvalidParameterError
from crowdalpha.payouts import PayoutRules

__all__ = ["Schedule", "TournamentConfig"]


@dataclass(frozen=True)
class Schedule:
    """When rounds open, close and (at the earliest) resolve.

    Round ``n`` opens at ``anchor + (n − 1) × period``; submissions are staked until
    ``opens + window``; it resolves once the target is known, expected ``resolution_delay``
    after the close (20 trading days plus a 2-day lag ≈ four weeks). Weekly by default, as
    the article describes; ``Schedule.daily()`` for a daily tournament.
    """

    anchor: datetime = datetime(2026, 1, 3, 18, 0, tzinfo=UTC)  # a Saturday, 18:00 UTC
    period: timedelta = timedelta(days=7)
    window: timedelta = timedelta(days=7)
    resolution_delay: timedelta = timedelta(days=28)

    def __post_init__(self) -> None:
        if self.anchor.tzinfo is None:
            raise InvalidParameterError("the schedule's anchor must be timezone-aware")
        if self.period <= timedelta(0) or self.window <= timedelta(0):
            raise InvalidParameterError("period and window must be positive")
        if self.resolution_delay < timedelta(0):
            raise InvalidParameterError("resolution_delay must not be negative")

    @classmethod
    def daily(cls, anchor: datetime | None = None) -> Schedule:
        return cls(
            anchor=anchor or cls.anchor,
            period=timedelta(days=1),
            window=timedelta(days=1),
            resolution_delay=timedelta(days=30),
        )

    def opens(self, number: int) -> datetime:
        return self.anchor + (number - 1) * self.period

    def closes(self, number: int) -> datetime:
        return self.opens(number) + self.window

    def resolves(self, number: int) -> datetime:
        return self.closes(number) + self.resolution_delay

    def latest_due(self, now: datetime) -> int:
        """The number of the newest round whose opening time has come (0: none yet)."""
        if now < self.anchor:
            return 0
        return (now - self.anchor) // self.period + 1


@dataclass(frozen=True)
class TournamentConfig:
    """Everything an operator can tune; each round copies its payout rules when it opens."""

    schedule: Schedule = field(default_factory=Schedule)
    payout: PayoutRules = field(default_factory=PayoutRules)
    mint_cap: int | None = None
    max_upload_bytes: int = 200 * 1024 * 1024
    reputation_window: timedelta = timedelta(days=365)

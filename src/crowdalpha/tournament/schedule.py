"""When a competition's rounds open, close and resolve, and how they are numbered.

The schedule is a calendar of *slots*: slot ``s`` opens at ``anchor + (s − 1) × period``.
Rounds are numbered from the competition's own start, not from the calendar: the first
slot a fresh competition opens is its round 1, and round ``n`` is slot ``n + offset``, the
``offset`` being stored with the competition when its first round opens
(:meth:`Schedule.numbered_from` gives the schedule of round numbers). A database made
before rounds were numbered this way keeps its calendar numbers (offset 0).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from crowdalpha.errors import InvalidParameterError

__all__ = ["Schedule"]


@dataclass(frozen=True)
class Schedule:
    """When rounds open, close and (at the earliest) resolve.

    Round ``n`` opens at ``anchor + (n − 1) × period``; submissions are staked until
    ``opens + window``; it resolves once the target is known, expected ``resolution_delay``
    after the close (20 trading days plus a 2-day lag ≈ four weeks). Weekly by default, as
    the article describes; ``Schedule.daily()`` for a daily tournament. The ``anchor`` of a
    competition's configured schedule fixes the calendar (the weekday and hour rounds open
    at); the schedule of its round numbers is :meth:`numbered_from` its start.
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

    def numbered_from(self, offset: int) -> Schedule:
        """The schedule whose round 1 is this one's slot ``offset + 1``."""
        if offset == 0:
            return self
        return dataclasses.replace(self, anchor=self.anchor + offset * self.period)

    def first_slot(self, now: datetime) -> int | None:
        """The slot a competition starting at ``now`` opens as its round 1: the slot due now
        if it still takes submissions (None: none is due, or the due one has closed — the
        next one will be)."""
        slot = self.latest_due(now)
        if slot == 0 or self.closes(slot) <= now:
            return None
        return slot

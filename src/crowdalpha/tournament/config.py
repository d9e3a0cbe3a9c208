"""A tournament's configuration: the competitions it runs, and platform-wide limits."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import timedelta

from crowdalpha.compute import ComputeBackend
from crowdalpha.errors import InvalidParameterError
from crowdalpha.payouts import PayoutRules
from crowdalpha.tournament.competitions import CLASSIC, CLASSIC_METRICS, Competition
from crowdalpha.tournament.round_config import DuplicateRules, RoundConfig
from crowdalpha.tournament.schedule import Schedule

__all__ = ["Schedule", "TournamentConfig"]


@dataclass(frozen=True)
class TournamentConfig:
    """Everything an operator can tune.

    ``schedule``, ``payout`` and ``duplicates`` (fair play) are Classic's (every
    tournament runs Classic);
    ``competitions`` are the further competitions run beside it, each a
    :class:`~crowdalpha.tournament.competitions.Competition` with its own schedule, round
    configuration and plugged-in source, rules and scorer (e.g. ``SIGNALS.plug(…)``). Each
    round copies its competition's configuration when it opens. ``mint_cap``,
    ``max_upload_bytes`` and ``reputation_window`` hold for every competition.
    ``compute``: where rounds are scored — None (the default) scores each round in one
    frame in this process; a backend (``Settings.compute()``: a Dask cluster, a local pool)
    scores it in column blocks on that backend, through each competition's
    ``block_scorer`` (the same numbers); the settlement stays in this process.
    """

    schedule: Schedule = field(default_factory=Schedule)
    payout: PayoutRules = field(default_factory=PayoutRules)
    duplicates: DuplicateRules = field(default_factory=DuplicateRules)
    mint_cap: int | None = None
    max_upload_bytes: int = 200 * 1024 * 1024
    reputation_window: timedelta = timedelta(days=365)
    competitions: tuple[Competition, ...] = ()
    compute: ComputeBackend | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        ids = [CLASSIC.id, *(c.id for c in self.competitions)]
        if len(set(ids)) != len(ids):
            raise InvalidParameterError(
                "each competition runs once (Classic always does: configure it with "
                "schedule and payout)"
            )
        for c in self.competitions:
            if not c.runnable:
                raise InvalidParameterError(
                    f"{c.name} cannot run yet: plug in its {', '.join(c.missing())} "
                    "(Competition.plug)",
                    details={"competition": c.slug, "missing": c.missing()},
                )

    @property
    def classic(self) -> Competition:
        """Classic as configured here (its source is the tournament's ``data``)."""
        return CLASSIC.configured(
            schedule=self.schedule,
            round_config=dataclasses.replace(
                RoundConfig.from_rules(self.payout, CLASSIC_METRICS), duplicates=self.duplicates
            ),
        )

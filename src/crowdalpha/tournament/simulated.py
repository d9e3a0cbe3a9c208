"""Rounds on a simulated market through the real pipeline: the embedded default source.

:class:`SimulatedRoundData` is what a tournament with no data settings runs on (and what
``crowdalpha demo`` plays its rounds on): a stock market simulated by
:func:`crowdalpha.market.simulate_market`, turned into each round's obfuscated train,
validation and live files, features and example predictions by
:class:`~crowdalpha.tournament.pipeline.PipelineRoundData` — everything a participant
needs to train a model, exactly as on an operator's own prices.

**Calendar.** The market is fixed when the tournament opens its first round: its round 1's
live era is the last Friday (a week's last trading day: its era) before that opening, with
``history_days`` trading days of history before it and ``future_days`` after it for later
rounds and their targets (about five years of weekly rounds by default; after that no new
round opens). So the market's dates run alongside the
real ones: the live era of the round open now is last week's, as on Numerai.

**State.** The market's parameters (seed, stocks, dates) are saved in
``workdir/market.json`` on that first opening; the market itself is simulated again from
them — deterministic — when a process first needs it, so every process (server, ``tick``,
operator commands) sees the same market, and commands that touch no data never simulate.

**Skill.** :data:`SIMULATED_MARKET` strengthens the simulator's hidden alpha over its
defaults (expected return per unit alpha 0.05 instead of 0.012, its volume leak 0.3 instead
of 0.15) so that, on a few hundred stocks, a trained model's skill shows within a handful
of rounds: on the simulator's defaults and 300 stocks the example models' validation CORR
is about 0 (LightGBM −0.017); here the ridge example's is about 0.09, Sharpe 1.6, but the
LightGBM example's only 0.01–0.03, per-era Sharpe 0.2–0.5. The demo doubles the alpha
(``alpha_strength``, saved with the plan; :class:`crowdalpha.demo.DemoConfig`) so that the
LightGBM example's shows too (``tests/test_demo_skill.py`` pins it on the demo's
defaults).
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from crowdalpha.dataset.build import BuildConfig
from crowdalpha.errors import InvalidParameterError
from crowdalpha.market import MarketConfig, SimulatedMarket, simulate_market
from crowdalpha.tournament.config import Schedule
from crowdalpha.tournament.data import Outcome, PublishedDataset
from crowdalpha.tournament.pipeline import PipelineRoundData

__all__ = [
    "MARKET_FILE",
    "SIMULATED_BUILD",
    "SIMULATED_MARKET",
    "MarketPlan",
    "SimulatedRoundData",
    "plan_market",
]

_FRIDAY = 4
#: The file in the source's folder that fixes the market.
MARKET_FILE = "market.json"
#: A short history: 20 validation eras instead of a year, so a few hundred weeks suffice.
SIMULATED_BUILD = BuildConfig(validation_eras=20)
#: The simulator's parameters that differ from its defaults (see the module docstring).
SIMULATED_MARKET: dict[str, Any] = {"alpha_strength": 0.05, "alpha_volume_leak": 0.3}


@dataclass(frozen=True)
class MarketPlan:
    """A simulated market fixed on a calendar: its seed, size, dates and round 1's era."""

    seed: int
    stocks: int
    start: str  # the first trading day, ISO date
    days: int  # trading days from start
    first_live: str  # round 1's live era, ISO date
    #: Expected daily return per unit of hidden alpha (None: :data:`SIMULATED_MARKET`'s).
    alpha_strength: float | None = None

    def market_config(self) -> MarketConfig:
        params = dict(SIMULATED_MARKET)
        if self.alpha_strength is not None:
            params["alpha_strength"] = self.alpha_strength
        return MarketConfig(
            n_stocks=self.stocks,
            n_days=self.days,
            seed=self.seed,
            start=self.start,
            **params,
        )

    def simulate(self) -> SimulatedMarket:
        return simulate_market(self.market_config())


def plan_market(
    first_open: datetime,
    *,
    stocks: int,
    seed: int,
    history_days: int = 800,
    future_days: int = 1300,
    alpha_strength: float | None = None,
) -> MarketPlan:
    """The market of a tournament whose round 1 opens at ``first_open``: round 1's live era
    is the last Friday before that day (a week's era), after ``history_days`` trading days
    of history; ``alpha_strength`` overrides :data:`SIMULATED_MARKET`'s."""
    if history_days < 300 or future_days < 30:
        raise InvalidParameterError(
            "a simulated market needs at least 300 trading days of history (features and "
            "train eras) and 30 after round 1 (its target)"
        )
    opening = pd.Timestamp(first_open)
    if opening.tzinfo is not None:
        opening = opening.tz_convert(None)
    live = opening.normalize() - pd.Timedelta(days=1)
    while live.weekday() != _FRIDAY:  # eras end on a week's last trading day
        live -= pd.Timedelta(days=1)
    start = pd.bdate_range(end=live, periods=history_days + 1)[0]
    return MarketPlan(
        seed=seed,
        stocks=stocks,
        start=str(start.date()),
        days=history_days + 1 + future_days,
        first_live=str(live.date()),
        alpha_strength=alpha_strength,
    )


class SimulatedRoundData:
    """A :class:`~crowdalpha.tournament.data.RoundData` source on a simulated market.

    ``workdir`` holds ``market.json`` and the pipeline's folders. ``stocks`` and ``seed``
    size the market fixed at the first opening (a saved market keeps its own);
    ``history_days`` / ``future_days`` place it around that opening (:func:`plan_market`);
    ``alpha_strength`` (None: :data:`SIMULATED_MARKET`'s) sets how strong its hidden alpha is.
    """

    def __init__(
        self,
        workdir: str | Path,
        *,
        stocks: int = 300,
        seed: int = 0,
        schedule: Schedule | None = None,
        config: BuildConfig | None = None,
        history_days: int = 800,
        future_days: int = 1300,
        alpha_strength: float | None = None,
    ) -> None:
        self.workdir = Path(workdir)
        self.alpha_strength = alpha_strength
        self.stocks = stocks
        self.seed = seed
        self.schedule = schedule if schedule is not None else Schedule()
        self.config = config if config is not None else SIMULATED_BUILD
        self.history_days = history_days
        self.future_days = future_days
        self._pipeline: PipelineRoundData | None = None
        self._market: SimulatedMarket | None = None

    @property
    def plan(self) -> MarketPlan | None:
        """The market's plan, once the first round has fixed it (None before)."""
        path = self.workdir / MARKET_FILE
        if not path.exists():
            return None
        return MarketPlan(**json.loads(path.read_text()))

    def fix_market(self, first_open: datetime) -> MarketPlan:
        """The saved plan, or a new one for a round 1 opening at ``first_open``, saved."""
        plan = self.plan
        if plan is not None:
            return plan
        plan = plan_market(
            first_open,
            stocks=self.stocks,
            seed=self.seed,
            history_days=self.history_days,
            future_days=self.future_days,
            alpha_strength=self.alpha_strength,
        )
        self.workdir.mkdir(parents=True, exist_ok=True)
        path = self.workdir / MARKET_FILE
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        tmp.write_text(json.dumps(dataclasses.asdict(plan), indent=1))
        tmp.replace(path)
        return plan

    @property
    def market(self) -> SimulatedMarket:
        """The simulated market (simulated on first use from the saved plan)."""
        if self._market is None:
            plan = self.plan
            if plan is None:
                raise InvalidParameterError("the market is fixed when round 1 opens; none has")
            self._market = plan.simulate()
        return self._market

    @property
    def pipeline(self) -> PipelineRoundData:
        """The pipeline source on the market (the market must be fixed)."""
        if self._pipeline is None:
            plan = self.plan
            if plan is None:
                raise InvalidParameterError("the market is fixed when round 1 opens; none has")
            self._pipeline = PipelineRoundData(
                self.market.prices,
                workdir=self.workdir,
                first_live=plan.first_live,
                schedule=self.schedule,
                config=self.config,
            )
        return self._pipeline

    # -- what readers of the operator's source use (the fund: crowdalpha.fund.tournament) --

    def live_date(self, number: int) -> pd.Timestamp | None:
        return self.pipeline.live_date(number)

    def live_tickers(self, number: int) -> pd.Series:
        return self.pipeline.live_tickers(number)

    def known_prices(self, now: datetime) -> pd.DataFrame:
        return self.pipeline.known_prices(now)

    def skill_signal(self, number: int) -> pd.Series:
        """The market's hidden alpha at round ``number``'s live date, per live id — what the
        simulator's skilled bots see (plus noise). Secret: never published."""
        pipeline = self.pipeline
        live_date = pipeline.live_date(number)
        tickers = pipeline.live_tickers(number)
        alpha = self.market.alpha
        alpha = alpha[alpha["date"] <= live_date]
        latest = alpha.sort_values("date").groupby("ticker")["alpha"].last()
        return pd.Series(tickers.map(latest).fillna(0.0).to_numpy(), index=tickers.index)

    def publish(self, number: int, opens_at: datetime) -> PublishedDataset | None:
        self.fix_market(opens_at - (number - 1) * self.schedule.period)
        return self.pipeline.publish(number, opens_at)

    def outcome(
        self, number: int, live_ids: Sequence[str], *, closes_at: datetime, now: datetime
    ) -> Outcome | None:
        if self.plan is None:
            return None  # nothing was ever published
        return self.pipeline.outcome(number, live_ids, closes_at=closes_at, now=now)

"""Bots of known skill on a simulated market: the fund's test bench and demo input.

The market simulator's hidden alpha (dated at a close, it drives the returns after it) is
the truth. A bot of skill ``ρ`` scores ``ρ·α + √(1−ρ²)·ε``, where its noise ``ε`` mixes a
noise shared by the whole crowd (weight ``herding``) with its own; so a bot's scores
correlate with the alpha by ``ρ`` exactly in expectation. Noise persists from round to
round per stock (AR(1), ``persistence`` per round), as a real model's errors do — fresh
noise every week would make every model churn its whole book. Each bot's score is available one
hour after the close of its date, the round's deadline.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from crowdalpha.errors import InvalidParameterError
from crowdalpha.market.simulator import SimulatedMarket

__all__ = ["DEFAULT_BOTS", "Bot", "bot_predictions"]

_NMR = 10**18


@dataclass(frozen=True)
class Bot:
    """A model of known skill with a stake (whole NMR)."""

    name: str
    skill: float
    stake_nmr: int

    def __post_init__(self) -> None:
        if not -1.0 <= self.skill <= 1.0:
            raise InvalidParameterError(f"skill must lie in [−1, 1]; got {self.skill}")
        if self.stake_nmr < 0:
            raise InvalidParameterError(f"stake_nmr cannot be negative; got {self.stake_nmr}")


#: A crowd from useless to good, one adversarial, the skilled ones staking more.
DEFAULT_BOTS = (
    Bot("noise_a", 0.0, 300),
    Bot("noise_b", 0.0, 100),
    Bot("weak_a", 0.1, 200),
    Bot("weak_b", 0.15, 150),
    Bot("fair_a", 0.25, 400),
    Bot("fair_b", 0.3, 250),
    Bot("good_a", 0.4, 800),
    Bot("good_b", 0.5, 600),
    Bot("anti", -0.15, 100),
)


def bot_predictions(
    market: SimulatedMarket,
    bots: Sequence[Bot] = DEFAULT_BOTS,
    *,
    seed: int = 0,
    herding: float = 0.2,
    persistence: float = 0.8,
    available_after: str = "17:00",
    every: int = 1,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The bots' predictions (a signal frame with a ``model`` column) and stakes (a stake
    frame, NMR base units), one round per sampled alpha date (``every``-th of them)."""
    if not 0.0 <= herding < 1.0:
        raise InvalidParameterError(f"herding must lie in [0, 1); got {herding}")
    if not 0.0 <= persistence < 1.0:
        raise InvalidParameterError(f"persistence must lie in [0, 1); got {persistence}")
    alpha = market.alpha
    dates = pd.DatetimeIndex(alpha["date"].unique())[::every]
    alpha = alpha[alpha["date"].isin(dates)]
    rng = np.random.default_rng(seed)
    a = alpha["alpha"].to_numpy(dtype=np.float64)
    a = (a - a.mean()) / a.std()
    row = dates.get_indexer(pd.DatetimeIndex(alpha["date"]))
    col, tickers = pd.factorize(alpha["ticker"])

    def persistent() -> np.ndarray:
        """Unit-variance noise per (round, ticker), AR(1) across rounds."""
        fresh = rng.standard_normal((len(dates), len(tickers)))
        for k in range(1, len(dates)):
            fresh[k] = persistence * fresh[k - 1] + math.sqrt(1 - persistence**2) * fresh[k]
        return np.asarray(fresh[row, col])

    shared = persistent()
    hours, minutes = (int(p) for p in available_after.split(":"))
    available = alpha["date"].to_numpy() + np.timedelta64(hours * 60 + minutes, "m")
    parts = []
    stake_rows = []
    for bot in bots:
        own = persistent()
        noise = math.sqrt(herding) * shared + math.sqrt(1.0 - herding) * own
        score = bot.skill * a + math.sqrt(1.0 - bot.skill**2) * noise
        parts.append(
            pd.DataFrame(
                {
                    "signal_date": alpha["date"].to_numpy(),
                    "model": bot.name,
                    "ticker": alpha["ticker"].to_numpy(),
                    "score": score,
                    "available_at": available,
                }
            )
        )
        for d in dates:
            stake_rows.append({"signal_date": d, "model": bot.name, "stake": bot.stake_nmr * _NMR})
    predictions = pd.concat(parts, ignore_index=True)
    return predictions, pd.DataFrame(stake_rows)

"""Market regimes of eras: the operator's labels of each era's market conditions.

The market index is the equal-weighted mean of the universe's daily close-to-close returns
(the market return the ``beta``/``ivol`` features regress on). An era's regime describes
the index over the era's **target window** — the days its main target measures (``lag``
days after the era's date, then ``horizon`` days) — so only eras whose targets are known
get one, never the live era:

- ``up`` or ``down``: the index's compounded return over the window is positive or not;
- ``calm`` or ``volatile``: the standard deviation of the index's daily returns over the
  window is at most, or above, the median of every *earlier* era's (the first era is
  ``calm``). Only earlier eras count, so an era keeps its label in every later round.

Labels read ``up_calm``, ``up_volatile``, ``down_calm``, ``down_volatile``. They are
published per published era label (``era_regimes.parquet``: ``era``, ``regime``) — two
bits per era and no date, price or index level.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from crowdalpha.dataset.features import era_dates
from crowdalpha.errors import InvalidParameterError, MissingColumnsError

__all__ = ["REGIMES", "REGIMES_FILE", "era_regimes", "market_returns", "price_regimes"]

#: The published file of a round's era → regime labels.
REGIMES_FILE = "era_regimes.parquet"
#: Every label, in display order.
REGIMES: tuple[str, ...] = ("up_calm", "up_volatile", "down_calm", "down_volatile")


def market_returns(prices: pd.DataFrame) -> pd.Series:
    """The equal-weighted index's daily return, by date (the first day: no return)."""
    missing = [c for c in ("date", "ticker", "close") if c not in prices.columns]
    if missing:
        raise MissingColumnsError(f"prices lack {missing}", details={"missing": missing})
    # (date, ticker) is unique in validated prices (crowdalpha.market.validate_prices)
    wide = prices.pivot(index="date", columns="ticker", values="close").sort_index()
    returns = wide / wide.shift(1) - 1.0
    out = returns.mean(axis=1, skipna=True).iloc[1:]
    out.index = pd.DatetimeIndex(out.index, name="date")
    return out.rename("market_return")


def era_regimes(
    returns: pd.Series, eras: Sequence[pd.Timestamp], *, lag: int, horizon: int
) -> pd.Series:
    """The regime of each era date whose target window (``lag`` days after it, then
    ``horizon`` days) lies within ``returns``' days: era date → label, in date order; eras
    whose window runs past the data are left out.

    ``returns``: the index's daily returns by trading day (:func:`market_returns`), from the
    start of the history, so every era's earlier eras are in it.
    """
    if lag < 0 or horizon < 2:
        raise InvalidParameterError("a regime needs lag >= 0 and a horizon of at least 2 days")
    days = pd.DatetimeIndex(returns.index)
    values = returns.to_numpy(dtype=np.float64)
    trends: list[float] = []
    vols: list[float] = []
    dates: list[pd.Timestamp] = []
    for era in sorted(pd.Timestamp(e) for e in eras):
        # returns are dated by the day they end on: day d's return is close_d / close_{d-1}
        start = int(days.searchsorted(era, side="right")) + lag
        stop = start + horizon
        if stop > len(values):
            continue
        window = values[start:stop]
        window = window[np.isfinite(window)]
        if len(window) < 2:
            continue
        trends.append(float(np.log1p(window).sum()))
        vols.append(float(window.std()))
        dates.append(era)
    labels = []
    for i, (trend, vol) in enumerate(zip(trends, vols, strict=True)):
        volatile = i > 0 and vol > float(np.median(vols[:i]))
        labels.append(f"{'up' if trend > 0 else 'down'}_{'volatile' if volatile else 'calm'}")
    return pd.Series(labels, index=pd.DatetimeIndex(dates, name="date"), name="regime")


def price_regimes(prices: pd.DataFrame, *, lag: int, horizon: int) -> pd.Series:
    """:func:`era_regimes` of every era of ``prices`` (:func:`~crowdalpha.dataset.features.
    era_dates`) whose target window the prices cover."""
    return era_regimes(market_returns(prices), list(era_dates(prices)), lag=lag, horizon=horizon)

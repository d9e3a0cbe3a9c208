"""The Signals universe: the stocks tradable on a date, and the map between their ids.

A stock is in the universe of trading day ``t`` when, using the prices up to ``t`` only:

* it trades on ``t`` (a close that day: a stock not yet listed, or delisted, is out);
* it has traded for at least ``min_history_days`` trading days (its first close is that
  many days back or more);
* its close on ``t`` is at least ``min_price``;
* its average daily dollar volume (close × volume) over the last ``adv_days`` days — with
  at least 80 % of them traded — is at least ``min_adv`` (skipped when the prices have no
  volume);
* with ``max_tickers``, it is among the ``max_tickers`` largest by market cap on ``t`` (by
  dollar volume without market caps), ties by ticker.

The universe frame (:func:`signals_universe`) has one row per stock, sorted by
``numerai_ticker``, with every id type (:data:`~crowdalpha.dataset.signals.ids.ID_COLUMNS`)
and the operator's own columns: ``country``, ``sector`` and ``price_ticker`` (the stock's
ticker in the price frame). It is the map a submission keyed by any id type is translated
through (numerai-tools' ``clean_submission`` joins on such a frame).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from crowdalpha.dataset.obfuscate import Vault
from crowdalpha.dataset.signals.ids import ID_COLUMNS
from crowdalpha.dataset.signals.panel import PricePanel
from crowdalpha.errors import InvalidParameterError, MarketDataError

__all__ = [
    "UNIVERSE_COLUMNS",
    "UniverseConfig",
    "signals_universe",
    "universe_frame",
    "universe_rows",
]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

#: Columns of the universe frame, in order.
UNIVERSE_COLUMNS = ("date", *ID_COLUMNS, "country", "sector", "price_ticker")
#: Share of a window's days a window statistic needs.
MIN_COVERAGE = 0.8


@dataclass(frozen=True)
class UniverseConfig:
    """Which stocks are tradable on a date (see the module docstring)."""

    #: Lowest close (in the prices' currency).
    min_price: float = 1.0
    #: Lowest average daily dollar volume over ``adv_days``; 0 turns the filter off.
    min_adv: float = 1_000_000.0
    #: Trading days the dollar volume is averaged over.
    adv_days: int = 20
    #: Trading days a stock must have traded, counting its first day, to enter.
    min_history_days: int = 60
    #: Keep only this many stocks, the largest (None: no limit).
    max_tickers: int | None = None

    def __post_init__(self) -> None:
        for name in ("min_price", "min_adv"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int | float) or not v >= 0:
                raise InvalidParameterError(f"{name} must be a number ≥ 0, not {v!r}")
            if not math.isfinite(v):
                raise InvalidParameterError(f"{name} must be finite, not {v!r}")
        for name, lo in (("adv_days", 1), ("min_history_days", 1)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < lo:
                raise InvalidParameterError(f"{name} must be an int ≥ {lo}, not {v!r}")
        n = self.max_tickers
        if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
            raise InvalidParameterError(f"max_tickers must be a positive int or None, not {n!r}")


def dollar_volume(panel: PricePanel, t: int, rows: I64, days: int) -> F64:
    """Mean close × volume of ``rows`` over days ``t − days + 1 … t`` (NaN with fewer than
    80 % of the days traded, or without volume)."""
    if panel.volume is None:
        return np.full(len(rows), np.nan)
    dv = panel.window(panel.close, t, days, rows) * panel.window(panel.volume, t, days, rows)
    ok = np.isfinite(dv)
    n = ok.sum(axis=0)
    total = np.where(ok, dv, 0.0).sum(axis=0)
    need = max(1, math.ceil(MIN_COVERAGE * days - 1e-9))
    out: F64 = np.where(n >= need, total / np.maximum(n, 1), np.nan)
    return out


def universe_rows(panel: PricePanel, t: int, config: UniverseConfig) -> I64:
    """Positions (in :attr:`PricePanel.tickers`, ascending) of the universe on day ``t``."""
    close = panel.close[t]
    rows = np.flatnonzero(np.isfinite(close)).astype(np.int64)
    rows = rows[(t - panel.first_day[rows] + 1 >= config.min_history_days)]
    rows = rows[close[rows] >= config.min_price]
    adv = dollar_volume(panel, t, rows, config.adv_days)
    if panel.volume is not None and config.min_adv > 0:
        keep = adv >= config.min_adv
        rows, adv = rows[keep], adv[keep]
    if config.max_tickers is not None and len(rows) > config.max_tickers:
        size = panel.market_cap[t, rows] if panel.market_cap is not None else adv
        size = np.where(np.isfinite(size), size, -np.inf)
        order = np.lexsort((rows, -size))  # largest first, ties by ticker
        rows = np.sort(rows[order[: config.max_tickers]])
    return rows


def universe_frame(panel: PricePanel, t: int, rows: I64) -> pd.DataFrame:
    """The universe frame of the stocks ``rows`` on day ``t``, sorted by ``numerai_ticker``.

    Raises :class:`~crowdalpha.errors.MarketDataError` if two stocks would share an id
    (e.g. price tickers ``ABC.T`` in the US and ``ABC`` in Japan have one Yahoo ticker).
    """
    frame = panel.ids(t, rows)
    frame.insert(0, "date", panel.days[t])
    for column in ID_COLUMNS:
        values = frame[column].tolist()
        if len(set(values)) == len(values):
            continue
        dup = frame[column].duplicated(keep=False)
        clash = frame.loc[dup, ["price_ticker", column]].head(4).to_dict("records")
        raise MarketDataError(
            f"two stocks of the universe on {panel.days[t]:%Y-%m-%d} share a {column}: "
            f"{clash}; rename one of their tickers in the prices",
            details={"column": column},
        )
    return frame.sort_values("numerai_ticker", kind="stable", ignore_index=True)


def signals_universe(
    prices: pd.DataFrame,
    date: pd.Timestamp | str,
    *,
    vault: Vault,
    config: UniverseConfig | None = None,
) -> pd.DataFrame:
    """The Signals universe on ``date`` (a trading day of ``prices``), from prices up to it.

    ``prices`` is a validated price frame; rows after ``date`` are ignored. Columns
    :data:`UNIVERSE_COLUMNS`; see the module docstring.
    """
    cfg = config if config is not None else UniverseConfig()
    day = pd.Timestamp(date)
    cut = prices[prices["date"] <= day]
    calendar = np.unique(cut["date"].to_numpy(dtype="datetime64[ns]"))
    start = calendar[max(0, len(calendar) - 1 - cfg.adv_days)] if len(calendar) else None
    panel = PricePanel(cut, vault, start=None if start is None else pd.Timestamp(start))
    t = panel.day_index(day)
    return universe_frame(panel, t, universe_rows(panel, t, cfg))

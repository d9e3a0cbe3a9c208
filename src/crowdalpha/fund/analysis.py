"""Signal diagnostics on the fund's schedule: information coefficient (IC), its decay, the
decile spread, and the book's realized exposures.

The IC of a rebalance is the Spearman rank correlation, over its universe, between the
scores and the names' realized returns from that fill to the next one (the period the book
is held). Decay at lag ``L`` correlates the scores with the returns ``L`` periods later.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from crowdalpha.fund.backtest import Constructor, Schedule
from crowdalpha.fund.market import MarketPanel
from crowdalpha.fund.signals import average_rank
from crowdalpha.fund.trading import Ledger

__all__ = [
    "DECAY_LAGS",
    "decile_spread",
    "ic_series",
    "ic_summary",
    "market_returns",
    "realized_exposures",
]

Float = npt.NDArray[np.float64]
#: Lags (in rebalances) of the IC decay.
DECAY_LAGS = tuple(range(1, 9))


def _spearman(a: Float, b: Float) -> float:
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 3:
        return math.nan
    ra = average_rank(a[ok])
    rb = average_rank(b[ok])
    if ra.std() == 0 or rb.std() == 0:
        return math.nan
    return float(np.corrcoef(ra, rb)[0, 1])


def ic_series(
    panel: MarketPanel, schedule: Schedule, scores: Sequence[Float], *, lag: int = 0
) -> pd.Series:
    """IC per rebalance (lag 0), or of the scores against the returns ``lag`` periods on."""
    values = []
    # The later period's returns on this period's names, through one ticker-indexed array.
    scratch = np.full(len(panel.tickers), np.nan)
    for j, s in enumerate(scores):
        k = j + lag
        if k >= len(schedule.forward):
            values.append(math.nan)
            continue
        if lag == 0:
            values.append(_spearman(np.asarray(s, dtype=np.float64), schedule.forward[j]))
            continue
        later = schedule.names(k)
        scratch[later] = schedule.forward[k]
        values.append(_spearman(np.asarray(s, dtype=np.float64), scratch[schedule.names(j)]))
        scratch[later] = np.nan
    return pd.Series(values, index=schedule.signal_dates, name=f"ic_lag{lag}")


def ic_summary(ic: pd.Series, periods_per_year: float) -> dict[str, float]:
    """Mean, spread, t-statistic and annualized information ratio of an IC series."""
    x = ic.dropna().to_numpy()
    if x.size < 2:
        return {"mean": math.nan, "std": math.nan, "t_stat": math.nan, "ir": math.nan, "n": 0}
    mean, sd = float(x.mean()), float(x.std(ddof=1))
    return {
        "mean": mean,
        "std": sd,
        "t_stat": mean / sd * math.sqrt(x.size) if sd > 0 else math.nan,
        "ir": mean / sd * math.sqrt(periods_per_year) if sd > 0 else math.nan,
        "n": int(x.size),
    }


def decile_spread(schedule: Schedule, scores: Sequence[Float]) -> pd.Series:
    """Per rebalance: mean return of the top score decile minus the bottom decile's."""
    out = []
    for j, s in enumerate(scores):
        r = schedule.forward[j]
        ok = np.isfinite(s) & np.isfinite(r)
        if ok.sum() < 20:
            out.append(math.nan)
            continue
        lo, hi = np.quantile(s[ok], [0.1, 0.9])
        out.append(float(r[ok][s[ok] >= hi].mean() - r[ok][s[ok] <= lo].mean()))
    return pd.Series(out, index=schedule.signal_dates, name="decile_spread")


def market_returns(panel: MarketPanel, start: int) -> pd.Series:
    """The equal-weighted close-to-close return of all listed names, from session ``start``."""
    with np.errstate(invalid="ignore", divide="ignore"):
        r = panel.close[start:] / panel.close[start - 1 : -1] - 1.0
    r = np.where(np.isfinite(r), r, np.nan)
    values = np.nanmean(r, axis=1)
    return pd.Series(values, index=panel.sessions[start:], name="market").fillna(0.0)


def realized_exposures(constructor: Constructor, ledger: Ledger, rows: Any) -> pd.DataFrame:
    """The drifted book's exposures (weights × standardized exposures) going into each
    rebalance; ``rows`` is the diagnostics' ``j`` column (the rebalances traded)."""
    records = []
    for j, pre in zip(rows, ledger.pre_trade, strict=True):
        snap = constructor.schedule.snaps[int(j)]
        pos = constructor.schedule.universe[int(j)]
        values = pre @ snap.exposures[pos] if snap.exposures.size else np.zeros(0)
        records.append(
            {
                "date": constructor.schedule.signal_dates[int(j)],
                **dict(zip(snap.exposure_names, values.tolist(), strict=True)),
                "net": float(pre.sum()),
            }
        )
    return pd.DataFrame(records).set_index("date") if records else pd.DataFrame()

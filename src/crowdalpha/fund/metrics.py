"""Performance metrics of a return series, with the periods per year always explicit.

Definitions match empyrical-reloaded's (the tests cross-check them): arithmetic mean and
``ddof=1`` standard deviation, annualized by ``periods_per_year`` (√ for volatility);
the annual return is the geometric (compound) one; the drawdown is measured from the
running peak of the wealth curve, the starting capital included; the Sortino ratio divides
the annualized mean by the annualized root-mean-square of the negative returns.

Interval estimates use a circular block bootstrap (blocks keep the autocorrelation of the
series), paired across series when comparing two strategies.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

__all__ = [
    "alpha_beta",
    "annual_return",
    "annual_volatility",
    "block_bootstrap_indices",
    "drawdown",
    "max_drawdown_duration",
    "performance",
    "sharpe_difference",
    "sharpe_interval",
    "sharpe_ratio",
    "sortino_ratio",
    "to_weekly",
]

Float = npt.NDArray[np.float64]


def _arr(r: pd.Series | Float) -> Float:
    return np.asarray(r, dtype=np.float64)


def annual_return(r: pd.Series | Float, periods_per_year: float) -> float:
    """Compound annual growth rate."""
    x = _arr(r)
    if x.size == 0:
        return math.nan
    final = float(np.prod(1.0 + x))
    return float(final ** (periods_per_year / x.size) - 1.0) if final > 0 else -1.0


def annual_volatility(r: pd.Series | Float, periods_per_year: float) -> float:
    x = _arr(r)
    return float(x.std(ddof=1) * math.sqrt(periods_per_year)) if x.size > 1 else math.nan


def sharpe_ratio(r: pd.Series | Float, periods_per_year: float) -> float:
    x = _arr(r)
    if x.size < 2:
        return math.nan
    sd = float(x.std(ddof=1))
    return float(x.mean() / sd * math.sqrt(periods_per_year)) if sd > 0 else math.nan


def sortino_ratio(r: pd.Series | Float, periods_per_year: float) -> float:
    x = _arr(r)
    if x.size < 2:
        return math.nan
    downside = math.sqrt(float(np.mean(np.minimum(x, 0.0) ** 2))) * math.sqrt(periods_per_year)
    return float(x.mean() * periods_per_year / downside) if downside > 0 else math.nan


def drawdown(r: pd.Series | Float) -> Float:
    """Drawdown after each period, from the running peak (the start counts as a peak)."""
    wealth = np.cumprod(np.concatenate([[1.0], 1.0 + _arr(r)]))
    peak = np.maximum.accumulate(wealth)
    return (wealth / peak - 1.0)[1:]


def max_drawdown_duration(r: pd.Series | Float) -> int:
    """The longest run of periods spent below a previous peak."""
    under = drawdown(r) < 0
    longest = run = 0
    for flag in under:
        run = run + 1 if flag else 0
        longest = max(longest, run)
    return int(longest)


def alpha_beta(
    r: pd.Series | Float, benchmark: pd.Series | Float, periods_per_year: float
) -> tuple[float, float]:
    """OLS beta to the benchmark, and the annualized alpha ``(1 + mean(r − β·b))^ppy − 1``."""
    x, b = _arr(r), _arr(benchmark)
    bc = b - b.mean()
    var = float(np.mean(bc**2))
    if var < 1e-30:
        return math.nan, math.nan
    beta = float(np.mean(bc * x)) / var
    alpha = (1.0 + float(np.mean(x - beta * b))) ** periods_per_year - 1.0
    return float(alpha), beta


def block_bootstrap_indices(
    n: int, *, samples: int, block: int, seed: int
) -> npt.NDArray[np.int64]:
    """``samples`` resamplings of ``range(n)`` made of circular blocks of ``block``."""
    rng = np.random.default_rng(seed)
    blocks = -(-n // block)
    starts = rng.integers(0, n, size=(samples, blocks))
    idx = (starts[:, :, None] + np.arange(block)[None, None, :]) % n
    return idx.reshape(samples, -1)[:, :n]


def _sharpes(x: Float, idx: npt.NDArray[np.int64], ppy: float) -> Float:
    draws = x[idx]
    sd = draws.std(axis=1, ddof=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.asarray(draws.mean(axis=1) / sd * math.sqrt(ppy))


def _block(n: int) -> int:
    return max(1, round(math.pow(n, 1.0 / 3.0)))


def sharpe_interval(
    r: pd.Series | Float,
    periods_per_year: float,
    *,
    level: float = 0.95,
    samples: int = 2000,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile interval of the Sharpe ratio by circular block bootstrap."""
    x = _arr(r)
    if x.size < 4:
        return math.nan, math.nan
    idx = block_bootstrap_indices(x.size, samples=samples, block=_block(x.size), seed=seed)
    s = _sharpes(x, idx, periods_per_year)
    lo, hi = np.nanquantile(s, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


def sharpe_difference(
    a: pd.Series | Float,
    b: pd.Series | Float,
    periods_per_year: float,
    *,
    level: float = 0.95,
    samples: int = 2000,
    seed: int = 0,
) -> dict[str, float]:
    """Sharpe(a) − Sharpe(b) over the same periods, with a paired block-bootstrap interval."""
    x, y = _arr(a), _arr(b)
    diff = sharpe_ratio(x, periods_per_year) - sharpe_ratio(y, periods_per_year)
    if x.size < 4:
        return {"difference": diff, "low": math.nan, "high": math.nan}
    idx = block_bootstrap_indices(x.size, samples=samples, block=_block(x.size), seed=seed)
    d = _sharpes(x, idx, periods_per_year) - _sharpes(y, idx, periods_per_year)
    lo, hi = np.nanquantile(d, [(1 - level) / 2, (1 + level) / 2])
    return {"difference": diff, "low": float(lo), "high": float(hi)}


def to_weekly(daily: pd.Series) -> pd.Series:
    """Compound daily returns into calendar weeks ending on Friday."""
    grouped = (1.0 + daily).groupby(pd.Grouper(freq="W-FRI"))
    weekly = grouped.prod() - 1.0
    return weekly[grouped.size() > 0]


def performance(
    r: pd.Series,
    periods_per_year: float,
    *,
    benchmark: pd.Series | None = None,
    seed: int = 0,
    samples: int = 2000,
) -> dict[str, Any]:
    """The standard set of metrics of one return series (``periods_per_year`` stated)."""
    x = _arr(r)
    n = x.size
    sd = float(x.std(ddof=1)) if n > 1 else math.nan
    dd = drawdown(x) if n else np.zeros(0)
    max_dd = float(dd.min()) if n else math.nan
    ann = annual_return(x, periods_per_year)
    lo, hi = sharpe_interval(x, periods_per_year, samples=samples, seed=seed)
    out: dict[str, Any] = {
        "periods": n,
        "periods_per_year": periods_per_year,
        "annual_return": ann,
        "mean_annual_return": float(x.mean() * periods_per_year) if n else math.nan,
        "annual_volatility": annual_volatility(x, periods_per_year),
        "sharpe": sharpe_ratio(x, periods_per_year),
        "sharpe_low": lo,
        "sharpe_high": hi,
        "t_stat": float(x.mean() / sd * math.sqrt(n)) if n > 1 and sd > 0 else math.nan,
        "sortino": sortino_ratio(x, periods_per_year),
        "max_drawdown": max_dd,
        "max_drawdown_periods": max_drawdown_duration(x),
        "calmar": ann / abs(max_dd) if n and max_dd < 0 else math.nan,
        "hit_rate": float((x > 0).mean()) if n else math.nan,
    }
    if benchmark is not None:
        b = benchmark.reindex(r.index).fillna(0.0).to_numpy(dtype=np.float64)
        alpha, beta = alpha_beta(x, b, periods_per_year)
        out["beta"] = beta
        out["alpha"] = alpha
        out["correlation"] = float(np.corrcoef(x, b)[0, 1]) if n > 2 else math.nan
    return out

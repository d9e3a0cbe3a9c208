"""The public Signals features: standard factors computed point-in-time from prices.

Named after Numerai's Signals V1 features. For a date ``t`` and its universe, from the
prices of days ``t − 260 … t`` only (``r`` a daily log return, windows in trading days, a
week = 5 days; a window statistic needs 80 % of its days):

========================================  ===============================================
``feature_adv_20d_factor``                log mean dollar volume (close × volume), 20 days
``feature_beta_factor``                   OLS beta of ``r`` on the universe's equal-weighted
                                          mean ``r``, 252 days (at least half of them)
``feature_impact_cost_factor``            log mean ``|r| / dollar volume`` (Amihud), 20 days
``feature_market_cap_factor``             log market cap
``feature_momentum_{12,26,52}w_factor``   ``log(close_t / close_{t−60|130|260})``
``feature_momentum_52w_less_4w_factor``   ``log(close_{t−20} / close_{t−260})``
``feature_volatility_factor``             standard deviation of ``r``, 60 days
``feature_price_factor``                  log close, ranked within its country
``feature_ppo_60d_{90,130}d_country_…``   ``(SMA60 − SMAb) / SMAb`` of closes
``feature_rsi_{60,90,130}d_country_…``    ``100 · gains / (gains + losses)`` of ``r``
``feature_country``                       the ISO country code (a string)
========================================  ===============================================

``_factor`` features are z-scored across the date's universe and winsorized at ±3;
``feature_price_factor`` is the tie-kept rank ``(rank − ½) / n`` within the country;
``_country_ranknorm`` features are ranked within the country and gaussianized (the normal
quantile of the rank), as Numerai describes its own. A value is NaN where the stock lacks
the history or the column (no volume: no ADV or impact cost; no market cap: none).
Numerai's fundamentals (book-to-price, earnings yield…) and TRIX are not made: prices
alone do not give them.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy.special import ndtri

from crowdalpha.dataset.signals.panel import PricePanel
from crowdalpha.dataset.signals.universe import MIN_COVERAGE, dollar_volume

__all__ = [
    "FACTOR_FEATURES",
    "FEATURE_NAMES",
    "LOOKBACK_DAYS",
    "NUMERIC_FEATURES",
    "compute_features",
    "country_rank",
    "zscore",
]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

#: Features z-scored across the universe (the risk factors participants may neutralize to).
FACTOR_FEATURES = (
    "feature_adv_20d_factor",
    "feature_beta_factor",
    "feature_impact_cost_factor",
    "feature_market_cap_factor",
    "feature_momentum_12w_factor",
    "feature_momentum_26w_factor",
    "feature_momentum_52w_factor",
    "feature_momentum_52w_less_4w_factor",
    "feature_volatility_factor",
)
_RANKNORM = (
    "feature_ppo_60d_90d_country_ranknorm",
    "feature_ppo_60d_130d_country_ranknorm",
    "feature_rsi_60d_country_ranknorm",
    "feature_rsi_90d_country_ranknorm",
    "feature_rsi_130d_country_ranknorm",
)
#: Every numeric feature, in published order.
NUMERIC_FEATURES = (*FACTOR_FEATURES, "feature_price_factor", *_RANKNORM)
#: Every published feature: the numeric ones, then ``feature_country`` (a string).
FEATURE_NAMES = (*NUMERIC_FEATURES, "feature_country")
#: Trading days before the date that the features read (the 52-week momentum's start).
LOOKBACK_DAYS = 260

_BETA_DAYS = 252  # the longest return window: the others are its tails
_VOL_DAYS = 60
_ADV_DAYS = 20
_WINSOR = 3.0


def _need(days: int) -> int:
    return max(2, math.ceil(MIN_COVERAGE * days - 1e-9))


def zscore(x: F64) -> F64:
    """Standardize over the finite values and clip at ±3; NaN stays NaN (all NaN without
    two finite values or any spread)."""
    ok = np.isfinite(x)
    out = np.full(x.shape, np.nan)
    if ok.sum() < 2:
        return out
    mu = x[ok].mean()
    sd = x[ok].std()
    if not sd > 1e-12 * max(1.0, abs(mu)):
        return out
    out[ok] = np.clip((x[ok] - mu) / sd, -_WINSOR, _WINSOR)
    return out


def country_rank(x: F64, countries: npt.NDArray[np.integer]) -> F64:
    """Tie-kept rank ``(rank − ½) / n`` within each country over the finite values
    (average ranks for ties, as ``scipy.stats.rankdata``)."""
    out = np.full(x.shape, np.nan)
    idx = np.flatnonzero(np.isfinite(x))
    n = len(idx)
    if n == 0:
        return out
    order = np.lexsort((x[idx], countries[idx]))
    xs, gs = x[idx][order], countries[idx][order]
    new_group = np.r_[True, gs[1:] != gs[:-1]]
    group = np.cumsum(new_group) - 1
    starts = np.flatnonzero(new_group)
    sizes = np.diff(np.r_[starts, n])
    new_run = new_group | np.r_[True, xs[1:] != xs[:-1]]
    run = np.cumsum(new_run) - 1
    run_starts = np.flatnonzero(new_run)
    run_ends = np.r_[run_starts[1:], n]
    # the average 1-based rank of a run of ties, within its country
    average = (run_starts + run_ends - 1) / 2.0 + 1.0
    ranks = average[run] - starts[group]
    out[idx[order]] = (ranks - 0.5) / sizes[group]
    return out


def _window_mean(values: F64, days: int) -> F64:
    """Mean over the last ``days`` rows of a window (NaN below 80 % coverage)."""
    tail = values[-days:]
    ok = np.isfinite(tail)
    n = ok.sum(axis=0)
    s = np.where(ok, tail, 0.0).sum(axis=0)
    out: F64 = np.where(n >= _need(days), s / np.maximum(n, 1), np.nan)
    return out


def _raw(panel: PricePanel, t: int, rows: I64) -> dict[str, F64]:
    """The features before standardization, ranking and gaussianizing."""
    k = LOOKBACK_DAYS + 1
    close = panel.window(panel.close, t, k, rows)
    with np.errstate(divide="ignore", invalid="ignore"):
        lc = np.log(close)
        r = lc[1:] - lc[:-1]
        out: dict[str, F64] = {}
        adv = dollar_volume(panel, t, rows, _ADV_DAYS)
        out["feature_adv_20d_factor"] = np.where(adv > 0, np.log(adv), np.nan)

        tail = r[-_BETA_DAYS:]
        ok = np.isfinite(tail)
        okf = ok.astype(np.float64)
        n_day = okf.sum(axis=1)
        y = np.where(ok, tail, 0.0)
        market = np.where(n_day > 0, y.sum(axis=1) / np.maximum(n_day, 1.0), 0.0)
        # per stock, over its days with a return: sums of m, y, m², m·y (matrix products)
        n = okf.sum(axis=0)
        s_m = market @ okf
        s_mm = (market * market) @ okf
        s_y = y.sum(axis=0)
        s_my = market @ y
        nn = np.maximum(n, 1.0)
        cov = s_my - s_m * s_y / nn
        var = s_mm - s_m * s_m / nn
        good = (n >= max(3, _BETA_DAYS // 2)) & (var > 1e-20)
        out["feature_beta_factor"] = np.where(good, cov / np.where(good, var, 1.0), np.nan)

        if panel.volume is not None:
            dv = close[-_ADV_DAYS:] * panel.window(panel.volume, t, _ADV_DAYS, rows)
            impact = np.abs(r[-_ADV_DAYS:]) / np.where(dv > 0, dv, np.nan)
            illiquidity = _window_mean(impact, _ADV_DAYS)
            out["feature_impact_cost_factor"] = np.where(
                illiquidity > 0, np.log(illiquidity), np.nan
            )
        else:
            out["feature_impact_cost_factor"] = np.full(len(rows), np.nan)
        if panel.market_cap is not None:
            cap = panel.market_cap[t, rows]
            out["feature_market_cap_factor"] = np.where(cap > 0, np.log(cap), np.nan)
        else:
            out["feature_market_cap_factor"] = np.full(len(rows), np.nan)
        now = lc[-1]
        for weeks, days in ((12, 60), (26, 130), (52, 260)):
            out[f"feature_momentum_{weeks}w_factor"] = now - lc[-1 - days]
        out["feature_momentum_52w_less_4w_factor"] = lc[-1 - 20] - lc[-1 - 260]
        # volatility: one pass over the last 60 returns (y is 0 where a return is missing)
        vy, vn = y[-_VOL_DAYS:], okf[-_VOL_DAYS:].sum(axis=0)
        s1, s2 = vy.sum(axis=0), (vy * vy).sum(axis=0)
        var_r = np.maximum(s2 - s1 * s1 / np.maximum(vn, 1.0), 0.0) / np.maximum(vn - 1.0, 1.0)
        out["feature_volatility_factor"] = np.where(vn >= _need(_VOL_DAYS), np.sqrt(var_r), np.nan)
        out["feature_price_factor"] = now
        sma60 = _window_mean(close, 60)
        for b in (90, 130):
            smab = _window_mean(close, b)
            out[f"feature_ppo_60d_{b}d_country_ranknorm"] = (sma60 - smab) / smab
        up = np.maximum(y[-130:], 0.0)
        down = np.maximum(-y[-130:], 0.0)
        for w in (60, 90, 130):
            gains = up[-w:].sum(axis=0)
            total = gains + down[-w:].sum(axis=0)
            rsi = np.where(total > 0, 100.0 * gains / np.where(total > 0, total, 1.0), 50.0)
            out[f"feature_rsi_{w}d_country_ranknorm"] = np.where(
                okf[-w:].sum(axis=0) >= _need(w), rsi, np.nan
            )
    return out


def compute_features(panel: PricePanel, t: int, rows: I64) -> pd.DataFrame:
    """The public features of the stocks ``rows`` on day ``t``, in ``rows`` order.

    Numeric columns (:data:`NUMERIC_FEATURES`) are float64; ``feature_country`` holds the
    country codes. The values read the prices of days ``t − 260 … t`` and nothing else.
    """
    raw = _raw(panel, t, rows)
    countries = panel.country_code[t, rows]
    values = np.empty((len(rows), len(NUMERIC_FEATURES)))
    for j, name in enumerate(NUMERIC_FEATURES):
        if name in FACTOR_FEATURES:
            values[:, j] = zscore(raw[name])
        elif name == "feature_price_factor":
            values[:, j] = country_rank(raw[name], countries)
        else:
            values[:, j] = ndtri(country_rank(raw[name], countries))
    frame = pd.DataFrame(values, columns=list(NUMERIC_FEATURES))
    names = np.asarray(panel.country_names, dtype=object)
    frame["feature_country"] = pd.Series(names[countries], dtype=object)
    return frame

"""Public Signals features against straightforward pandas/scipy computations."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm, rankdata

from crowdalpha.dataset.obfuscate import Vault
from crowdalpha.dataset.signals import FEATURE_NAMES, NUMERIC_FEATURES
from crowdalpha.dataset.signals.features import compute_features, country_rank, zscore
from crowdalpha.dataset.signals.panel import PricePanel
from crowdalpha.market import validate_prices

N_DAYS = 300
TICKERS = [f"S{i:02d}" for i in range(12)]


@pytest.fixture(scope="module")
def tiny() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, PricePanel]:
    """Twelve stocks, two countries; S11 lists 100 days before the end (too young for
    the long windows)."""
    rng = np.random.default_rng(5)
    days = pd.bdate_range("2019-01-01", periods=N_DAYS)
    close = pd.DataFrame(
        50 * np.exp(np.cumsum(rng.normal(0, 0.02, (N_DAYS, len(TICKERS))), axis=0)),
        index=days,
        columns=TICKERS,
    )
    volume = pd.DataFrame(
        rng.lognormal(12, 0.5, (N_DAYS, len(TICKERS))), index=days, columns=TICKERS
    )
    close.iloc[:-100, -1] = np.nan
    long = pd.DataFrame({"close": close.stack(), "volume": volume.stack()}).dropna()
    long = long.rename_axis(["date", "ticker"]).reset_index()
    long["market_cap"] = long["close"] * 1e6
    long["country"] = np.where(long["ticker"].str[-1].astype(int) % 2 == 0, "US", "JP")
    prices = validate_prices(long)
    return prices, close, volume, PricePanel(prices, Vault(bytes(range(32))))


def _reference(close: pd.DataFrame, volume: pd.DataFrame) -> dict[str, pd.Series]:
    r = np.log(close).diff()
    dv = close * volume
    market = r.iloc[-252:].mean(axis=1)
    beta = {}
    for t in close.columns:
        pair = pd.concat([r[t].iloc[-252:], market], axis=1).dropna()
        beta[t] = np.polyfit(pair.iloc[:, 1], pair.iloc[:, 0], 1)[0] if len(pair) >= 126 else np.nan
    raw = {
        "feature_adv_20d_factor": np.log(dv.iloc[-20:].mean()),
        "feature_beta_factor": pd.Series(beta),
        "feature_impact_cost_factor": np.log((r.abs() / dv).iloc[-20:].mean()),
        "feature_market_cap_factor": np.log(close.iloc[-1] * 1e6),
        "feature_momentum_12w_factor": np.log(close.iloc[-1] / close.iloc[-61]),
        "feature_momentum_26w_factor": np.log(close.iloc[-1] / close.iloc[-131]),
        "feature_momentum_52w_factor": np.log(close.iloc[-1] / close.iloc[-261]),
        "feature_momentum_52w_less_4w_factor": np.log(close.iloc[-21] / close.iloc[-261]),
        "feature_volatility_factor": r.iloc[-60:].std(ddof=1),
        "feature_price_factor": np.log(close.iloc[-1]),
    }
    for b in (90, 130):
        sma = close.iloc[-b:].mean().where(close.iloc[-b:].count() >= 0.8 * b)
        raw[f"feature_ppo_60d_{b}d_country_ranknorm"] = (close.iloc[-60:].mean() - sma) / sma
    for w in (60, 90, 130):
        tail = r.iloc[-w:]
        gains, losses = tail.clip(lower=0).sum(), (-tail).clip(lower=0).sum()
        rsi = 100 * gains / (gains + losses)
        raw[f"feature_rsi_{w}d_country_ranknorm"] = rsi.where(tail.count() >= 0.8 * w)
    return raw


def test_features_match_a_direct_computation(
    tiny: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, PricePanel],
) -> None:
    _, close, volume, panel = tiny
    rows = np.arange(len(TICKERS), dtype=np.int64)
    t = N_DAYS - 1
    got = compute_features(panel, t, rows)
    assert list(got.columns) == list(FEATURE_NAMES)
    countries = np.asarray(["US" if int(x[-1]) % 2 == 0 else "JP" for x in TICKERS])
    assert list(got["feature_country"]) == list(countries)
    reference = _reference(close, volume)
    for name in NUMERIC_FEATURES:
        raw = reference[name].reindex(TICKERS).to_numpy(np.float64)
        ok = np.isfinite(raw)
        if name.endswith("_factor") and name != "feature_price_factor":
            z = (raw[ok] - raw[ok].mean()) / raw[ok].std()
            expected = np.full(len(raw), np.nan)
            expected[ok] = np.clip(z, -3, 3)
        else:
            expected = np.full(len(raw), np.nan)
            for country in ("US", "JP"):
                members = ok & (countries == country)
                expected[members] = (rankdata(raw[members]) - 0.5) / members.sum()
            if name != "feature_price_factor":
                expected = norm.ppf(expected)
        np.testing.assert_allclose(got[name], expected, rtol=1e-9, atol=1e-12, err_msg=name)
    # the young stock lacks the long windows but has the short ones
    young = got.iloc[-1]
    assert np.isnan(young["feature_momentum_52w_factor"])
    assert np.isnan(young["feature_beta_factor"])
    assert np.isfinite(young["feature_rsi_60d_country_ranknorm"])


def test_features_read_only_the_lookback_window(
    tiny: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, PricePanel],
) -> None:
    prices, _, _, panel = tiny
    rows = np.arange(len(TICKERS) - 1, dtype=np.int64)
    t = N_DAYS - 30
    before = compute_features(panel, t, rows)
    # change every price after t and before t − 260: nothing changes
    changed = prices.copy()
    day = panel.days
    outside = (changed["date"] > day[t]) | (changed["date"] < day[t - 260])
    changed.loc[outside, "close"] *= 1.7
    changed.loc[outside, "volume"] *= 0.3
    other = PricePanel(changed, Vault(bytes(range(32))))
    pd.testing.assert_frame_equal(compute_features(other, t, rows), before)


def test_zscore_and_country_rank_edge_cases() -> None:
    assert np.isnan(zscore(np.array([1.0, np.nan]))).all()
    assert np.isnan(zscore(np.array([2.0, 2.0, 2.0]))).all()
    z = zscore(np.r_[np.zeros(99), 1000.0])
    assert z.max() == 3.0
    ranks = country_rank(np.array([3.0, 1.0, 1.0, np.nan, 5.0]), np.array([0, 0, 0, 0, 1]))
    np.testing.assert_allclose(ranks, [5 / 6, 1 / 3, 1 / 3, np.nan, 0.5])

"""The fund's fast paths give the numbers of the plain ones they replaced: average ranks
without scipy's checks, windowed sums from the prefixes asked for only, a forward fill
without pandas, and the IC decay without a pandas reindex per rebalance. Each is compared
with its plain version directly, and a whole small backtest run through the plain versions
gives the same ledger and metrics to 1e-12."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest
from scipy.stats import rankdata

from crowdalpha.fund import (
    BacktestOptions,
    FundConfig,
    MarketPanel,
    analysis,
    run_backtest,
    runner,
    signals,
)
from crowdalpha.fund import market as fund_market
from crowdalpha.fund.backtest import build_schedule, scores_on
from crowdalpha.fund.signals import average_rank, meta_signal
from crowdalpha.market import SimulatedMarket

Float = npt.NDArray[np.float64]


def _plain_window(x: Float, ends: npt.NDArray[np.int64], width: int) -> Float:
    total = np.zeros((x.shape[0] + 1, x.shape[1]))
    np.cumsum(np.nan_to_num(x, nan=0.0), axis=0, out=total[1:])
    lo = np.maximum(ends + 1 - width, 0)
    return total[ends + 1] - total[lo]


def _plain_carry(values: Float, listed: npt.NDArray[np.bool_]) -> Float:
    out = pd.DataFrame(values).ffill().to_numpy(copy=True)
    out[~listed] = np.nan
    return out


def _plain_carry_int(
    values: npt.NDArray[np.int32], listed: npt.NDArray[np.bool_]
) -> npt.NDArray[np.int32]:
    as_float = np.where(values >= 0, values, np.nan).astype(np.float64)
    out = pd.DataFrame(as_float).ffill().to_numpy(copy=True)
    out[~listed] = np.nan
    return np.where(np.isfinite(out), out, -1).astype(np.int32)


def _plain_rank(x: Float) -> Float:
    return np.asarray(rankdata(x, method="average"), dtype=np.float64)


def _plain_ic_series(
    panel: MarketPanel, schedule: Any, scores: list[Float], *, lag: int = 0
) -> pd.Series:
    values = []
    for j, s in enumerate(scores):
        k = j + lag
        if k >= len(schedule.forward):
            values.append(math.nan)
            continue
        later = pd.Series(schedule.forward[k], index=schedule.names(k))
        values.append(
            analysis._spearman(
                np.asarray(s, dtype=np.float64),
                np.asarray(later.reindex(schedule.names(j)), dtype=np.float64),
            )
        )
    return pd.Series(values, index=schedule.signal_dates, name=f"ic_lag{lag}")


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_average_rank_is_scipys(seed: int) -> None:
    rng = np.random.default_rng(seed)
    # Heavy ties (few distinct values), no ties, and a single value.
    for x in (
        rng.integers(0, 7, 500).astype(np.float64),
        rng.standard_normal(301),
        np.array([2.5]),
        np.full(4, -1.0),
    ):
        assert np.array_equal(average_rank(x), _plain_rank(x))


def test_windows_and_carries_are_the_plain_ones() -> None:
    rng = np.random.default_rng(5)
    x = rng.standard_normal((400, 30))
    x[rng.random(x.shape) < 0.2] = np.nan
    x[:7] = np.nan
    ends = np.sort(rng.choice(np.arange(399), 40, replace=False)).astype(np.int64)
    for width in (1, 5, 63, 1000):
        assert np.array_equal(fund_market._window(x, ends, width), _plain_window(x, ends, width))
    listed = np.ones(x.shape, dtype=bool)
    listed[:50, :5] = False
    listed[300:, 5:9] = False
    assert np.array_equal(fund_market._carry(x, listed), _plain_carry(x, listed), equal_nan=True)
    codes = rng.integers(-1, 4, x.shape).astype(np.int32)
    codes[rng.random(x.shape) < 0.5] = -1
    assert np.array_equal(fund_market._carry_int(codes, listed), _plain_carry_int(codes, listed))


def test_the_ic_decay_is_the_plain_one(
    market: SimulatedMarket, bots: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    preds, stakes = bots
    panel = MarketPanel.from_prices(market.prices)
    meta = meta_signal(preds, stakes)
    schedule = build_schedule(panel, meta, FundConfig())
    scores = scores_on(panel, schedule, meta)
    for lag in (0, 1, 3):
        fast = analysis.ic_series(panel, schedule, scores, lag=lag)
        plain = _plain_ic_series(panel, schedule, scores, lag=lag)
        assert fast.notna().sum() > 10
        pd.testing.assert_series_equal(fast, plain, check_exact=True)


def _flat(value: Any, path: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            out.update(_flat(v, f"{path}.{k}"))
        return out
    if isinstance(value, list):
        out = {}
        for i, v in enumerate(value):
            out.update(_flat(v, f"{path}[{i}]"))
        return out
    return {path: value}


def test_a_small_backtest_matches_its_plain_run(
    market: SimulatedMarket,
    bots: tuple[pd.DataFrame, pd.DataFrame],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    preds, stakes = bots
    config = FundConfig(aum=5e6, max_weight=0.02)
    options = BacktestOptions(
        placebo_seeds=2,
        momentum=True,
        oracle=False,
        capacity_aums=(5e8,),
        cost_multipliers=(2.0,),
        bootstrap_samples=50,
        keep_stock_pnl=True,
    )

    def run() -> Any:
        return run_backtest(market.prices, preds, stakes=stakes, config=config, options=options)

    fast = run()
    monkeypatch.setattr(fund_market, "_window", _plain_window)
    monkeypatch.setattr(fund_market, "_carry", _plain_carry)
    monkeypatch.setattr(fund_market, "_carry_int", _plain_carry_int)
    monkeypatch.setattr(signals, "average_rank", _plain_rank)
    monkeypatch.setattr(analysis, "average_rank", _plain_rank)
    monkeypatch.setattr(runner, "ic_series", _plain_ic_series)
    plain = run()

    assert set(fast.runs) == set(plain.runs) and len(fast.runs) > 5
    for name, run_fast in fast.runs.items():
        a, b = run_fast.ledger.daily, plain.runs[name].ledger.daily
        assert a.index.equals(b.index) and len(a) > 100
        assert np.abs(a.to_numpy() - b.to_numpy()).max() <= 1e-12 * max(
            1.0, float(np.abs(b.to_numpy()).max())
        ), name
        for t_fast, t_plain in zip(run_fast.targets, plain.runs[name].targets, strict=True):
            assert np.array_equal(t_fast.names, t_plain.names)
            assert np.abs(t_fast.weights - t_plain.weights).max() <= 1e-12
    assert fast.fund.ledger.stock_pnl is not None and plain.fund.ledger.stock_pnl is not None
    assert np.abs(fast.fund.ledger.stock_pnl - plain.fund.ledger.stock_pnl).max() <= 1e-12
    got, want = _flat(fast.metrics), _flat(plain.metrics)
    assert got.keys() == want.keys()
    for key, value in want.items():
        if key.endswith(".seconds"):
            continue
        if isinstance(value, float):
            assert got[key] == pytest.approx(value, rel=1e-12, abs=1e-12), key
        else:
            assert got[key] == value, key

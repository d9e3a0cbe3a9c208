"""Performance metrics, cross-checked against empyrical-reloaded (the reference)."""

from __future__ import annotations

import empyrical
import numpy as np
import pandas as pd
import pytest

from crowdalpha.fund import metrics


@pytest.fixture(params=[(252, 0), (52, 1), (252, 2)], ids=["daily", "weekly", "daily-losing"])
def case(request: pytest.FixtureRequest) -> tuple[pd.Series, pd.Series, int]:
    ppy, seed = request.param
    rng = np.random.default_rng(seed)
    n = 600
    bench = pd.Series(rng.standard_t(4, n) * 0.01, index=pd.bdate_range("2020-01-01", periods=n))
    drift = -0.0004 if seed == 2 else 0.0006
    r = 0.3 * bench + drift + rng.standard_t(5, n) * 0.008
    return r, bench, ppy


def test_metrics_match_empyrical(case: tuple[pd.Series, pd.Series, int]) -> None:
    r, bench, ppy = case
    same = {"rel": 1e-10, "abs": 1e-12}
    assert metrics.sharpe_ratio(r, ppy) == pytest.approx(
        empyrical.sharpe_ratio(r, annualization=ppy), **same
    )
    assert metrics.sortino_ratio(r, ppy) == pytest.approx(
        empyrical.sortino_ratio(r, annualization=ppy), **same
    )
    assert metrics.annual_return(r, ppy) == pytest.approx(
        empyrical.annual_return(r, annualization=ppy), **same
    )
    assert metrics.annual_volatility(r, ppy) == pytest.approx(
        empyrical.annual_volatility(r, annualization=ppy), **same
    )
    assert float(metrics.drawdown(r).min()) == pytest.approx(empyrical.max_drawdown(r), **same)
    perf = metrics.performance(r, ppy, benchmark=bench, samples=200)
    assert perf["calmar"] == pytest.approx(empyrical.calmar_ratio(r, annualization=ppy), **same)
    alpha, beta = empyrical.alpha_beta(r, bench, annualization=ppy)
    assert perf["beta"] == pytest.approx(beta, **same)
    assert perf["alpha"] == pytest.approx(alpha, **same)
    assert perf["periods_per_year"] == ppy


def test_bootstrap_intervals_bracket_the_estimate_and_pair_identical_series() -> None:
    rng = np.random.default_rng(5)
    r = rng.standard_normal(1000) * 0.01 + 0.0005
    lo, hi = metrics.sharpe_interval(r, 252, samples=500, seed=1)
    assert lo < metrics.sharpe_ratio(r, 252) < hi
    # The interval of a Sharpe estimated on 1000 days is about ±2·√(252/1000)·… wide:
    # at least 1 and at most 4 Sharpe units here (the estimate's spread is ~0.5).
    assert 1.0 < hi - lo < 4.0
    same = metrics.sharpe_difference(r, r, 252, samples=200)
    assert same == {"difference": 0.0, "low": 0.0, "high": 0.0}
    better = metrics.sharpe_difference(r + 0.001, r, 252, samples=300)
    assert better["low"] > 0


def test_drawdown_duration_and_weekly_compounding() -> None:
    r = np.array([0.1, -0.05, -0.05, 0.02, 0.2, -0.01])
    assert metrics.max_drawdown_duration(r) == 3
    daily = pd.Series(
        [0.01, 0.02, -0.01], index=pd.to_datetime(["2024-01-04", "2024-01-05", "2024-01-08"])
    )
    weekly = metrics.to_weekly(daily)
    assert weekly.tolist() == pytest.approx([1.01 * 1.02 - 1, -0.01])

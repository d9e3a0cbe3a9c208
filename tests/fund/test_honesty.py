"""The honesty checks: the timing guard catches look-ahead, the oracle wins big and
placebos do not, and a planted IC is recovered."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from crowdalpha.errors import LookAheadError
from crowdalpha.fund import FundConfig, FundResult, MarketPanel, run_backtest, validate_signals
from crowdalpha.fund.analysis import ic_series, ic_summary
from crowdalpha.fund.backtest import build_schedule, scores_on
from crowdalpha.market import SimulatedMarket


def test_a_signal_shifted_one_week_earlier_is_caught(
    market: SimulatedMarket, bots: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    preds, stakes = bots
    shifted = preds.assign(available_at=preds["available_at"] - pd.Timedelta(weeks=1))
    with pytest.raises(LookAheadError, match="before the close of their signal date"):
        run_backtest(market.prices, shifted, stakes=stakes)
    # So is a signal dated a week later than the data it was available with.
    relabelled = preds.assign(signal_date=preds["signal_date"] + pd.Timedelta(weeks=1))
    with pytest.raises(LookAheadError):
        run_backtest(market.prices, relabelled, stakes=stakes)
    # And one model alone doing it spoils the run: the guard applies before the meta model.
    one = preds.copy()
    rows = one["model"] == "good_b"
    one.loc[rows, "available_at"] = one.loc[rows, "available_at"] - pd.Timedelta(weeks=1)
    with pytest.raises(LookAheadError):
        run_backtest(market.prices, one, stakes=stakes)


def test_trades_never_precede_availability(result: FundResult) -> None:
    panel = result.constructor.panel
    schedule = result.constructor.schedule
    for j, snap in enumerate(schedule.snaps):
        assert snap.asof < snap.fill
        open_at = panel.sessions[snap.fill] + pd.Timedelta("09:30:00")
        # Bots' scores are available at 17:00 on their date.
        assert open_at >= schedule.signal_dates[j] + pd.Timedelta("17:00:00")


def test_the_oracle_is_very_high_and_placebos_are_not_significant(result: FundResult) -> None:
    comparisons = result.metrics["comparisons"]
    oracle = comparisons["oracle"]
    assert oracle["investable"] is False and oracle["look_ahead"] is True
    # The oracle knows each period's returns: net Sharpe far above any real fund (here
    # ~10–20; the bound 5 leaves room for any machine's rounding).
    assert oracle["net_sharpe"] > 5
    placebos = [s for s in comparisons.values() if s["kind"] == "placebo"]
    assert len(placebos) == 10
    # |t| ≥ 2 happens to 5 % of honest placebos; 3 or more of 10 has probability ~1 %.
    assert sum(abs(s["gross_weekly_t_stat"]) >= 2 for s in placebos) <= 2
    assert result.metrics["placebo"]["significant"] <= 2
    # A placebo earns nothing before costs, so it loses about its costs after them.
    for s in placebos:
        run = result.runs[s["name"]].ledger.daily
        costs = (run["cost"] + run["borrow"]).mean()
        assert abs(run["gross"].mean()) < costs
        assert s["net_sharpe"] < 0


def _planted(n: int, periods: int, ic: float, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Prices whose open-to-open returns over each holding period have a Spearman
    correlation of ``ic`` (in expectation) with the scores dated the session before."""
    rng = np.random.default_rng(seed)
    warmup = 25  # sessions of history before the first signal (volatility needs 20)
    total = warmup + periods + 1
    rho = 2 * np.sin(np.pi * ic / 6)  # Pearson ρ whose Gaussian Spearman is `ic`
    latent = rng.standard_normal((total, n))
    noise = rng.standard_normal((total, n))
    ret = 0.01 * (rho * latent + np.sqrt(1 - rho**2) * noise)
    # The open of session t+1 over the open of t is 1 + ret[t]; closes equal opens.
    opens = 50.0 * np.cumprod(np.vstack([np.ones((1, n)), 1 + ret[:-1]]), axis=0)
    sessions = pd.bdate_range("2020-01-06", periods=total)
    tickers = np.array([f"S{i:04d}" for i in range(n)])
    prices = pd.DataFrame(
        {
            "date": np.repeat(sessions, n),
            "ticker": np.tile(tickers, total),
            "open": opens.ravel(),
            "close": opens.ravel(),
            "volume": 1e6,
        }
    )
    # The score dated session t (known at its close) predicts the return from the open of
    # t+1 (its fill) to the open of t+2: latent[t+1].
    dates = sessions[warmup - 1 : warmup - 1 + periods]
    scores = latent[warmup : warmup + periods]
    signals = pd.DataFrame(
        {
            "signal_date": np.repeat(dates, n),
            "ticker": np.tile(tickers, periods),
            "score": scores.ravel(),
            "available_at": np.repeat(dates + pd.Timedelta("16:30:00"), n),
        }
    )
    return prices, signals


def test_a_planted_ic_is_recovered() -> None:
    prices, signals = _planted(n=3000, periods=260, ic=0.03, seed=11)
    panel = MarketPanel.from_prices(prices)
    cfg = FundConfig(min_history=21, min_adv=0.0, exposures=())
    sig = validate_signals(signals)
    schedule = build_schedule(panel, sig, cfg)
    assert len(schedule.fills) == 260 and min(u.size for u in schedule.universe) == 3000
    ic = ic_series(panel, schedule, scores_on(panel, schedule, sig))
    summary = ic_summary(ic, 52)
    # Per-period IC spreads by 1/√3000 ≈ 0.018, so the mean of 260 by ≈ 0.0011: ±0.005 is
    # over 4 standard errors, far beyond any machine's rounding.
    assert summary["mean"] == pytest.approx(0.03, abs=0.005)
    assert summary["n"] == 260
    # And it is the next period that is predicted, not the one after (no leak across periods).
    later = ic_summary(ic_series(panel, schedule, scores_on(panel, schedule, sig), lag=1), 52)
    assert abs(later["mean"]) < 0.005

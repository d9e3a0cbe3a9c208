"""A small simulated market with bots of known skill, and one full fund run on it, built
once per package and shared by its tests."""

from __future__ import annotations

import pandas as pd
import pytest

from crowdalpha.fund import (
    DEFAULT_BOTS,
    BacktestOptions,
    FundConfig,
    FundResult,
    bot_predictions,
    run_backtest,
)
from crowdalpha.market import MarketConfig, SimulatedMarket, simulate_market


@pytest.fixture(scope="package")
def market() -> SimulatedMarket:
    return simulate_market(MarketConfig(n_stocks=250, n_days=440, seed=3, delisting_rate=0.1))


@pytest.fixture(scope="package")
def bots(market: SimulatedMarket) -> tuple[pd.DataFrame, pd.DataFrame]:
    return bot_predictions(market, seed=1)


#: A fund small enough that 250 names trade cheaply (costs scale with size over ADV).
SMALL = FundConfig(aum=5e6, max_weight=0.02)


@pytest.fixture(scope="package")
def result(market: SimulatedMarket, bots: tuple[pd.DataFrame, pd.DataFrame]) -> FundResult:
    preds, stakes = bots
    return run_backtest(
        market.prices,
        preds,
        stakes=stakes,
        config=SMALL,
        options=BacktestOptions(
            placebo_seeds=10,
            capacity_aums=(5e6, 5e8),
            cost_multipliers=(0.0, 1.0, 2.0),
            bootstrap_samples=400,
            keep_stock_pnl=True,
            keep_trades=True,
            best_window=26,
        ),
        truth={b.name: b.skill for b in DEFAULT_BOTS},
    )

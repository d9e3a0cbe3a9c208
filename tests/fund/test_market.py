"""Stage 2: point-in-time data — what the fund knew at a rebalance cannot change with the
future — and delistings."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from crowdalpha.errors import FundInputError
from crowdalpha.fund import FundConfig, MarketPanel
from crowdalpha.fund.market import snapshots
from crowdalpha.market import SimulatedMarket


def test_snapshots_use_nothing_after_their_as_of_close(market: SimulatedMarket) -> None:
    prices = market.prices
    cfg = FundConfig()
    panel = MarketPanel.from_prices(prices)
    fill = 300
    before = snapshots(panel, [fill], cfg)[0]
    # Scramble every price from the fill session on: nothing known at the as-of close moves.
    cut = panel.sessions[fill]
    later = prices["date"] >= cut
    scrambled = prices.copy()
    rng = np.random.default_rng(0)
    for col in ("open", "high", "low", "close", "volume", "market_cap"):
        scrambled.loc[later, col] = scrambled.loc[later, col] * rng.uniform(0.5, 2.0, later.sum())
    scrambled["high"] = scrambled[["open", "high", "low", "close"]].max(axis=1)
    scrambled["low"] = scrambled[["open", "high", "low", "close"]].min(axis=1)
    after = snapshots(MarketPanel.from_prices(scrambled), [fill], cfg)[0]
    assert before.asof == fill - 1
    assert np.array_equal(before.names, after.names)
    for field in ("exposures", "adv", "vol", "beta"):
        assert np.array_equal(getattr(before, field), getattr(after, field)), field
    assert before.exposure_names == (
        "beta",
        "size",
        "momentum",
        "reversal",
        "volatility",
        "liquidity",
    )
    # Standardized exposures: mean 0, spread 1 before clipping at ±3.
    assert np.abs(before.exposures.mean(axis=0)).max() < 0.05


def test_delisted_tickers_stay_in_the_panel(market: SimulatedMarket) -> None:
    panel = MarketPanel.from_prices(market.prices)
    dead = set(market.universe.loc[market.universe["delisted"], "ticker"])
    assert dead and set(panel.tickers[panel.delisted]) == dead
    # The universe is point in time: a name delisted later is tradable before it goes.
    cfg = FundConfig()
    last = panel.last[panel.delisted]
    j = int(np.median(last))
    snap = snapshots(panel, [j], cfg)[0]
    assert np.isin(np.flatnonzero(panel.delisted & (panel.last >= j)), snap.names).any()


def test_a_price_file_without_volume_is_refused(market: SimulatedMarket) -> None:
    with pytest.raises(FundInputError, match="volume"):
        MarketPanel.from_prices(market.prices.drop(columns="volume"))
    bad = pd.DataFrame({"ticker": ["NOPE"], "delisting_return": [-0.5]})
    with pytest.raises(FundInputError, match="not in the prices"):
        MarketPanel.from_prices(market.prices, delistings=bad)

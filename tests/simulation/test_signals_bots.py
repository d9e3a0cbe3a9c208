"""Signals bots: public price factors computed as their definitions say, stable skilled
signals, and names and stakes from the roster."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from crowdalpha.errors import InvalidParameterError
from crowdalpha.ledger import nmr
from crowdalpha.market import MarketConfig, simulate_market
from crowdalpha.simulation.signals_bots import (
    SignalsBot,
    SignalsView,
    make_signals_bots,
    price_signal,
)


@pytest.fixture(scope="module")
def prices() -> pd.DataFrame:
    return simulate_market(MarketConfig(n_stocks=30, n_days=300, seed=5)).prices


def test_price_factors_follow_their_definitions(prices: pd.DataFrame) -> None:
    closes = prices.pivot_table(index="date", columns="ticker", values="close")
    ticker = closes.columns[closes.notna().all()][0]
    series = closes[ticker].to_numpy()
    momentum = price_signal(prices, "momentum")[ticker]
    assert momentum == pytest.approx(np.log(series[-22] / series[-253]))
    reversal = price_signal(prices, "reversal")[ticker]
    assert reversal == pytest.approx(-np.log(series[-1] / series[-6]))
    volatility = price_signal(prices, "volatility")[ticker]
    assert volatility == pytest.approx(-np.diff(np.log(series[-61:])).std(ddof=1))
    with pytest.raises(InvalidParameterError):
        price_signal(prices, "astrology")


def test_bots_sign_their_signals_and_skilled_ones_keep_them_stable(prices: pd.DataFrame) -> None:
    tickers = sorted(prices["ticker"].unique())
    universe = pd.DataFrame({"numerai_ticker": [f"{t} US" for t in tickers]})
    rng = np.random.default_rng(0)
    private = pd.Series(rng.normal(size=len(tickers)), index=tickers)
    bots = make_signals_bots((("momentum", 1), ("skilled", 2)), seed=3)
    assert [b.name for b in bots] == [
        "signals_momentum_1",
        "signals_skilled_1",
        "signals_skilled_2",
    ]
    assert [b.stake for b in bots] == [nmr(500), nmr(500), nmr(50)]
    week1 = SignalsView(1, universe, prices, private)
    moved = private + 0.05 * rng.normal(size=len(private))
    week2 = SignalsView(2, universe, prices, moved)
    skilled = bots[1]
    first, second = skilled.signal(week1), skilled.signal(week2)
    assert list(first.index) == list(universe["numerai_ticker"])
    assert first.between(0, 1).all() and first.nunique() == len(first)
    assert first.corr(second, method="spearman") > 0.9  # the noise is fixed per stock
    assert first.corr(private.set_axis(first.index), method="spearman") > 0.3  # skill
    with pytest.raises(InvalidParameterError, match="private"):
        SignalsBot("x", "skilled", nmr(1)).signal(SignalsView(1, universe, prices))
    with pytest.raises(InvalidParameterError, match="unknown Signals bot kind"):
        make_signals_bots((("astrology", 1),))


def test_smoothed_bots_average_their_weekly_ranks_and_reversal_stays_raw(
    prices: pd.DataFrame,
) -> None:
    tickers = sorted(prices["ticker"].unique())
    universe = pd.DataFrame({"numerai_ticker": [f"{t} US" for t in tickers]})
    rng = np.random.default_rng(1)
    week1 = SignalsView(1, universe, prices, pd.Series(rng.normal(size=len(tickers)), tickers))
    week2 = SignalsView(2, universe, prices, pd.Series(rng.normal(size=len(tickers)), tickers))
    skilled, reversal = make_signals_bots((("skilled", 1), ("reversal", 1)))
    assert (skilled.smoothing, reversal.smoothing) == (0.8, 0.0)
    first = skilled.signal(week1)
    fresh = skilled.signal(week2)  # no earlier submission: this week's ranks
    smoothed = skilled.signal(week2, first)
    # λ = 0.8 on last week's ranks: the submission stays close to it, closer than this
    # week's ranks are, and still moves towards them
    stay = smoothed.corr(first, method="spearman")
    assert stay > 0.9 > fresh.corr(first, method="spearman")
    assert smoothed.corr(fresh, method="spearman") > fresh.corr(first, method="spearman")
    assert smoothed.between(0, 1).all() and smoothed.nunique() == len(smoothed)
    # a ticker the last submission lacks starts from this week's rank
    partial = skilled.signal(week2, first.iloc[1:])
    assert partial.index.equals(fresh.index) and partial.notna().all()
    # reversal submits its raw signal whatever it sent before
    assert reversal.signal(week2, first).equals(reversal.signal(week2))

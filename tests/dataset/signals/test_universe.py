"""The Signals universe: filters, listings and delistings, the id map, point-in-time."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from crowdalpha.dataset.obfuscate import Vault
from crowdalpha.dataset.signals import UNIVERSE_COLUMNS, UniverseConfig, signals_universe
from crowdalpha.dataset.signals.ids import derive_country, is_figi, is_sedol
from crowdalpha.dataset.signals.panel import PricePanel
from crowdalpha.dataset.signals.universe import universe_rows
from crowdalpha.errors import InvalidInputError, InvalidParameterError, MarketDataError
from crowdalpha.market import SimulatedMarket, validate_prices

KEY = bytes(range(32))


def _frame(n_days: int = 120) -> pd.DataFrame:
    """Five stocks: A passes; B is cheap; C is illiquid; D lists on day 50; E leaves after
    day 80."""
    days = pd.bdate_range("2020-01-01", periods=n_days)
    rows = []
    for i, day in enumerate(days):
        for ticker, close, volume, first, last in (
            ("A", 20.0, 1e6, 0, n_days),
            ("B", 0.5, 1e8, 0, n_days),
            ("C", 20.0, 10.0, 0, n_days),
            ("D", 30.0, 1e6, 50, n_days),
            ("E", 40.0, 1e6, 0, 80),
        ):
            if first <= i <= last:
                rows.append((day, ticker, close * (1 + 0.001 * i), volume, close * 1e7))
    frame = pd.DataFrame(rows, columns=["date", "ticker", "close", "volume", "market_cap"])
    return validate_prices(frame)


def test_filters_listings_and_delistings() -> None:
    prices = _frame()
    days = prices["date"].unique()
    vault = Vault(KEY)

    def members(i: int, **kwargs: object) -> list[str]:
        cfg = UniverseConfig(**kwargs)  # type: ignore[arg-type]
        frame = signals_universe(prices, days[i], vault=vault, config=cfg)
        return sorted(frame["price_ticker"])

    # day 70: D has traded 21 days (< 60), E is still listed; B too cheap, C too illiquid
    assert members(70) == ["A", "E"]
    # day 109: D has 60 days of history; E left after day 80
    assert members(109) == ["A", "D"]
    assert members(108) == ["A"]
    # the filters can be turned down
    assert members(70, min_price=0.1, min_adv=0.0) == ["A", "B", "C", "E"]
    assert members(70, min_history_days=1) == ["A", "D", "E"]
    # the largest by market cap: E (40 × 1e7 × growth) before A
    assert members(70, max_tickers=1) == ["E"]
    # too young for the history filter on the first day
    assert members(0) == []


def test_the_universe_frame_maps_every_id_type() -> None:
    prices = _frame()
    frame = signals_universe(prices, prices["date"].iloc[-1], vault=Vault(KEY))
    assert tuple(frame.columns) == UNIVERSE_COLUMNS
    assert frame["numerai_ticker"].is_monotonic_increasing
    for column in ("numerai_ticker", "composite_figi", "bloomberg_ticker", "ticker", "sedol"):
        assert frame[column].is_unique
    assert frame["composite_figi"].map(is_figi).all() and frame["sedol"].map(is_sedol).all()
    for _, row in frame.iterrows():
        country = derive_country(row["price_ticker"])
        assert row["country"] == country
        assert row["numerai_ticker"] == f"{row['price_ticker']} {country}"


def test_a_country_column_is_used_where_given() -> None:
    prices = _frame()
    prices["country"] = np.where(prices["ticker"] == "A", "JP", "")
    frame = signals_universe(prices, prices["date"].iloc[-1], vault=Vault(KEY))
    by_ticker = frame.set_index("price_ticker")
    assert by_ticker.loc["A", "numerai_ticker"] == "A JP"
    assert by_ticker.loc["A", "bloomberg_ticker"] == "A JT"
    assert by_ticker.loc["A", "ticker"] == "A.T"
    assert by_ticker.loc["D", "country"] == derive_country("D")


def test_ids_that_would_clash_are_refused() -> None:
    days = pd.bdate_range("2020-01-01", periods=70)
    frame = pd.DataFrame(
        [(d, t, 10.0, 1e6, c) for d in days for t, c in (("ABC.T", "US"), ("ABC", "JP"))],
        columns=["date", "ticker", "close", "volume", "country"],
    )
    with pytest.raises(MarketDataError, match="share a ticker"):
        signals_universe(validate_prices(frame), days[-1], vault=Vault(KEY))


def test_the_universe_is_point_in_time_and_keyed(
    market: SimulatedMarket, prices: pd.DataFrame, days: pd.DatetimeIndex, vault: Vault
) -> None:
    day = days[400]
    full = signals_universe(prices, day, vault=vault)
    cut = signals_universe(prices[prices["date"] <= day], day, vault=vault)
    pd.testing.assert_frame_equal(full, cut)
    other = signals_universe(prices, day, vault=Vault(bytes(32)))
    assert (other["numerai_ticker"] == full["numerai_ticker"]).all()
    assert not (other["composite_figi"] == full["composite_figi"]).any()
    # a stock keeps its ids from one date to the next
    later = signals_universe(prices, days[450], vault=vault).set_index("price_ticker")
    both = full.set_index("price_ticker").index.intersection(later.index)
    assert len(both) > 100
    for column in ("composite_figi", "sedol", "numerai_ticker"):
        assert (full.set_index("price_ticker").loc[both, column] == later.loc[both, column]).all()


def test_simulated_listings_and_delistings_are_respected(
    market: SimulatedMarket, prices: pd.DataFrame, days: pd.DatetimeIndex, vault: Vault
) -> None:
    panel = PricePanel(prices, vault)
    cfg = UniverseConfig(min_adv=0, min_price=0)

    def members(i: int) -> set[str]:
        return {str(panel.tickers[r]) for r in universe_rows(panel, i, cfg)}

    universe = market.universe
    delisted = universe[universe["delisted"] & (universe["last_date"] < days[600])]
    listed = universe[
        (universe["first_date"] > days[300])
        & (universe["first_date"] < days[500])
        & (universe["last_date"] > days[600])
    ]
    assert len(delisted) and len(listed)
    assert not set(delisted["ticker"]) & members(600)
    for _, stock in listed.iterrows():
        first = days.get_loc(stock["first_date"])
        assert stock["ticker"] not in members(first + 58)
        assert stock["ticker"] in members(first + 59)


def test_bad_settings_and_dates_are_refused(prices: pd.DataFrame) -> None:
    with pytest.raises(InvalidParameterError):
        UniverseConfig(min_price=-1)
    with pytest.raises(InvalidParameterError):
        UniverseConfig(max_tickers=0)
    with pytest.raises(InvalidInputError, match="not a trading day"):
        signals_universe(prices, "2011-01-01", vault=Vault(KEY))

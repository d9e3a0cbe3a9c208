"""Market regimes: the operator's era labels, computed from the equal-weighted index,
published without dates (era_regimes.parquet), and recorded with each resolved round."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
from tests.tournament.test_pipeline import SCHEDULE, at_round, first_live, market, source

from crowdalpha.dataset.features import era_dates
from crowdalpha.dataset.regimes import REGIMES, REGIMES_FILE, era_regimes, price_regimes
from crowdalpha.market import SimulatedMarket

__all__ = ["first_live", "market"]


def test_regimes_match_a_direct_computation(market: SimulatedMarket) -> None:
    prices = market.prices
    lag, horizon = 2, 20
    got = price_regimes(prices, lag=lag, horizon=horizon)
    close = prices.pivot(index="date", columns="ticker", values="close").sort_index()
    days = list(close.index)
    index = (close / close.shift(1) - 1.0).mean(axis=1).to_numpy()
    eras = list(era_dates(prices))
    trends, vols, dates = [], [], []
    for era in eras:
        p = days.index(era)
        window = index[p + lag + 1 : p + lag + horizon + 1]
        if p + lag + horizon >= len(days):
            continue
        trends.append(np.prod(1 + window) - 1)
        vols.append(np.std(window))
        dates.append(era)
    assert list(got.index) == dates and len(dates) > 20
    for i, era in enumerate(dates):
        volatile = i > 0 and vols[i] > np.median(vols[:i])
        want = ("up" if trends[i] > 0 else "down") + ("_volatile" if volatile else "_calm")
        assert got[era] == want
    assert set(got) <= set(REGIMES) and len(set(got)) >= 3  # the labels vary
    # an era keeps its label when later prices arrive (only earlier eras set the median)
    cut = prices[prices["date"] <= dates[len(dates) // 2 + lag + horizon + 5]]
    shorter = price_regimes(cut, lag=lag, horizon=horizon)
    pd.testing.assert_series_equal(shorter, got.loc[shorter.index])


def test_eras_past_the_data_have_no_regime(market: SimulatedMarket) -> None:
    returns = pd.Series([0.01] * 30, index=pd.bdate_range("2024-01-01", periods=30))
    eras = [returns.index[5], returns.index[20]]
    got = era_regimes(returns, eras, lag=2, horizon=20)
    assert list(got.index) == [returns.index[5]] and got.iloc[0] == "up_calm"


def test_rounds_publish_their_regimes_without_dates_and_record_the_live_one(
    tmp_path: Path, market: SimulatedMarket, first_live: pd.Timestamp
) -> None:
    prices = market.prices
    data = source(prices, tmp_path / "pipeline", first_live)
    one = data.publish(1, SCHEDULE.opens(1))
    assert one is not None
    regimes = pd.read_parquet(io.BytesIO(one.files[REGIMES_FILE]))
    assert list(regimes.columns) == ["era", "regime"]  # labels only: no date, no index level
    assert set(regimes["regime"]) <= set(REGIMES)
    known = set()
    for split in ("train", "validation"):
        frame = pd.read_parquet(io.BytesIO(one.files[f"{split}.parquet"]), columns=["era"])
        known |= set(frame["era"])
    live = pd.read_parquet(io.BytesIO(one.files["live.parquet"]), columns=["era"])
    assert set(regimes["era"]) == known and not set(live["era"]) & known
    # the published labels are the operator's, era by era
    maps = pd.read_parquet(data.maps_dir(1) / "eras.parquet")
    by_date = price_regimes(prices[prices["date"] <= first_live], lag=2, horizon=20)
    dates = dict(zip(maps["era"], pd.to_datetime(maps["date"]), strict=True))
    for era, label in zip(regimes["era"], regimes["regime"], strict=True):
        assert by_date[dates[era]] == label

    # the round's live era: no regime until the outcome is final, then the label that a
    # later round publishes for that era
    ids = list(one.live_ids)
    early = data.outcome(1, ids, closes_at=SCHEDULE.closes(1), now=at_round(3))
    assert early is not None and not early.final and early.regime is None
    final = data.outcome(1, ids, closes_at=SCHEDULE.closes(1), now=at_round(6))
    assert final is not None and final.final and final.regime in REGIMES
    later = data.publish(7, SCHEDULE.opens(7))
    assert later is not None
    published = pd.read_parquet(io.BytesIO(later.files[REGIMES_FILE])).set_index("era")
    maps = pd.read_parquet(data.maps_dir(7) / "eras.parquet")
    label = maps.loc[pd.to_datetime(maps["date"]) == first_live, "era"].item()
    assert published.at[label, "regime"] == final.regime

"""A tournament on real round datasets: prices → obfuscated rounds → real targets → scores.

A tiny simulated market (150 stocks, 300 trading days) and a small feature set keep each
build under a second; the time cells (``block_days=100``) put round 1's live era in a cell
that starts after the first day, so the outcome's mirror of the build's cells is exercised.
"""

from __future__ import annotations

import io
import json
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine
from tests.tournament.conftest import predictions_csv

from crowdalpha.dataset.build import BuildConfig, build_round
from crowdalpha.dataset.features import FeatureConfig, FeatureEngine, era_dates
from crowdalpha.dataset.obfuscate import Vault
from crowdalpha.dataset.targets import TargetConfig
from crowdalpha.errors import InvalidParameterError
from crowdalpha.ledger import TREASURY, nmr
from crowdalpha.market import MarketConfig, SimulatedMarket, simulate_market
from crowdalpha.scoring import score_submissions
from crowdalpha.storage import LocalFileStore
from crowdalpha.tournament import (
    ManualClock,
    PipelineRoundData,
    Schedule,
    Tournament,
    TournamentConfig,
    pipeline,
)

WEEK = timedelta(days=7)
SCHEDULE = Schedule()
KEY = b"pipeline-test-key-0123456789abcdef"
FEATURES = FeatureConfig(
    momentum_windows=(5, 20, 60),
    skip_momentum=((60, 5),),
    reversal_windows=(5,),
    volatility_windows=(20, 60),
    downside_windows=(20,),
    skew_windows=(20,),
    volume_windows=(5, 20),
    volume_trends=((5, 20),),
    turnover_windows=(20,),
    dollar_volume_windows=(20,),
    amihud_windows=(20,),
    drawdown_windows=(20,),
    beta_windows=(60,),
    range_windows=(5,),
    intraday_windows=(5,),
    lags=(0, 1),
    small_set_size=10,
)
CONFIG = BuildConfig(
    features=FEATURES,
    targets=TargetConfig(
        styles=("size", "momskip_60_5", "vol_60", "beta_60"), beta_style="beta_60"
    ),
    validation_eras=4,
    block_days=100,
)


@pytest.fixture(scope="module")
def market() -> SimulatedMarket:
    # A strong alpha, so that a model knowing it wins on 150 stocks in a single round.
    return simulate_market(MarketConfig(n_stocks=150, n_days=300, seed=11, alpha_strength=0.1))


@pytest.fixture(scope="module")
def first_live(market: SimulatedMarket) -> pd.Timestamp:
    return pd.Timestamp(era_dates(market.prices)[32])


def source(
    prices: pd.DataFrame, folder: Path, first_live: pd.Timestamp, **kwargs: object
) -> PipelineRoundData:
    options: dict[str, object] = {"config": CONFIG, "vault": Vault(KEY), "schedule": SCHEDULE}
    options.update(kwargs)
    return PipelineRoundData(prices, workdir=folder, first_live=first_live, **options)  # type: ignore[arg-type]


def at_round(number: int) -> pd.Timestamp:
    """A tournament time at which round ``number`` is the newest round due."""
    return SCHEDULE.opens(number) + timedelta(hours=1)


def parquet(content: bytes) -> pd.DataFrame:
    return pd.read_parquet(io.BytesIO(content))


def ridge_predictions(train: pd.DataFrame, live: pd.DataFrame, features: list[str]) -> np.ndarray:
    """What a participant does with the public files: a ridge model on the train data."""
    x = train[features].to_numpy(np.float64) - 2.0
    y = train["target"].to_numpy(np.float64) - 0.5
    ok = np.isfinite(y)
    coef = np.linalg.solve(x[ok].T @ x[ok] + 10.0 * np.eye(len(features)), x[ok].T @ y[ok])
    raw = (live[features].to_numpy(np.float64) - 2.0) @ coef
    return (pd.Series(raw).rank().to_numpy() - 0.5) / len(raw)


def oracle_predictions(
    market: SimulatedMarket, tickers: pd.Series, day: pd.Timestamp
) -> np.ndarray:
    """A skilled model: the simulator's hidden alpha at the live date, mapped by the vault."""
    alpha = market.alpha[market.alpha["date"] <= day]
    latest = alpha[alpha["date"] == alpha["date"].max()].set_index("ticker")["alpha"]
    raw = latest.reindex(tickers.to_numpy()).fillna(0.0).to_numpy()
    return (pd.Series(raw).rank().to_numpy() - 0.5) / len(raw)


def test_a_tournament_runs_on_pipeline_rounds(
    engine: Engine, tmp_path: Path, market: SimulatedMarket, first_live: pd.Timestamp
) -> None:
    config = TournamentConfig(schedule=SCHEDULE)
    clock = ManualClock(SCHEDULE.anchor - timedelta(hours=1))
    data = source(market.prices, tmp_path / "pipeline", first_live)
    t = Tournament(engine, LocalFileStore(tmp_path / "files"), data, config=config, clock=clock)
    t.mint(nmr(100_000), to=TREASURY)
    ann = t.create_account("ann", "ann@example.org")
    t.grant(ann.id, nmr(1_000))
    oracle, ridge, contrarian = (t.create_model(ann.id, n) for n in ("oracle", "ridge", "contra"))
    for model in (oracle, ridge, contrarian):
        t.increase_stake(model.id, nmr(100))

    clock.advance(timedelta(hours=1))
    assert t.tick().opened == [1]
    ids = t.live_ids(1)
    files = {n: t.store.get(t.dataset_key(1, n)) for n in data.publish(1, clock.now()).files}
    assert sorted(files) == [
        "era_regimes.parquet",
        "features.json",
        "live.parquet",
        "live_example_preds.parquet",
        "train.parquet",
        "validation.parquet",
        "validation_example_preds.parquet",
    ]
    # the example predictions are a valid submission for the live ids as they stand
    example = parquet(files["live_example_preds.parquet"])
    assert sorted(example.index) == sorted(ids)
    assert example["prediction"].between(0, 1).all() and example["prediction"].std() > 0
    live = parquet(files["live.parquet"])
    assert list(live.index) == ids and len(ids) == len(set(ids)) > 100
    assert set(live["data_type"]) == {"live"} and live["target"].isna().all()
    features = json.loads(files["features.json"])["feature_sets"]["small"]
    assert all(live[f].dtype == np.int8 for f in features)
    train = parquet(files["train.parquet"])
    assert train["target"].notna().all() and not set(train.index) & set(ids)

    preds = {
        oracle.id: oracle_predictions(market, data.live_tickers(1).reindex(ids), first_live),
        ridge.id: ridge_predictions(train, live, features),
    }
    preds[contrarian.id] = 1.0 - preds[oracle.id]
    for model_id, values in preds.items():
        t.submit(model_id, predictions_csv(ids, values))

    clock.advance(WEEK)
    report = t.tick()
    assert report.closed == [1] and report.opened == [2] and not report.scored
    clock.advance(WEEK)  # round 3's live date: 8 of the 20 target days are known
    report = t.tick()
    assert report.scored == [1] and t.round(1).state == "scoring"
    assert not any(s.final for s in t.scores(round_number=1))

    clock.set(t.round(1).closes_at + timedelta(days=28))  # round 6 is due: 25 days known
    report = t.tick()
    assert report.opened == [6] and [r.round_number for r in report.resolved] == [1]
    outcome = data.outcome(1, ids, closes_at=t.round(1).closes_at, now=clock.now())
    assert outcome is not None and outcome.final and outcome.features is not None
    assert outcome.benchmarks is not None and list(outcome.benchmarks.index) == ids

    # -- scores: crowdalpha.scoring on the targets the source returned ----------------------
    frame = pd.DataFrame(preds, index=pd.Index(ids, name="id")).sort_index()
    ref = score_submissions(
        frame,
        outcome.targets.reindex(frame.index),
        meta_model=t.meta_model(1),
        features=outcome.features.reindex(frame.index),
    )
    finals = {s.model_id: s for s in t.scores(round_number=1)}
    assert set(finals) == set(preds) and all(s.final for s in finals.values())
    for model_id, score in finals.items():
        assert score.corr == pytest.approx(ref.loc[model_id, "corr"], abs=1e-12)
        assert score.mmc == pytest.approx(ref.loc[model_id, "mmc"], abs=1e-12)
        assert score.fnc == pytest.approx(ref.loc[model_id, "fnc"], abs=1e-9)
        assert score.bmc is not None and np.isfinite(score.bmc)
    assert finals[oracle.id].corr is not None and finals[contrarian.id].corr is not None
    # one era of 150 stocks: the oracle's CORR is 0.21 at seed 11 and 0.05-0.33 over
    # market seeds 1-7 and 11 (a single era's draw); floating-point noise moves it by far
    # less than the 0.15 between it and the bound
    assert finals[oracle.id].corr > 0.05 > -0.05 > finals[contrarian.id].corr
    assert t.check_ledger().ok

    # -- the outcome is what later rounds publish for that era ------------------------------
    validation = parquet(t.store.get(t.dataset_key(6, "validation.parquet")))
    eras = pd.read_parquet(data.maps_dir(6) / "eras.parquet")
    label = eras.loc[eras["date"] == first_live, "era"].item()
    published = validation.loc[validation["era"] == label, "target"]
    tickers = data.live_tickers(1).reindex(ids)
    history_ids = data.vault.row_ids(first_live, list(tickers))
    np.testing.assert_array_equal(
        published.reindex(history_ids).to_numpy(np.float64), outcome.targets.to_numpy()
    )
    # … and the round records its live era's market regime: the label round 6 publishes
    regimes = parquet(t.store.get(t.dataset_key(6, "era_regimes.parquet"))).set_index("era")
    assert t.round(1).regime == outcome.regime == regimes.at[label, "regime"]


def test_published_rounds_never_see_future_prices(
    tmp_path: Path, market: SimulatedMarket, first_live: pd.Timestamp
) -> None:
    prices = market.prices
    full = source(prices, tmp_path / "full", first_live)
    cut = source(prices[prices["date"] <= first_live], tmp_path / "cut", first_live)
    # Future prices scrambled: every later close (and high, low, open) × a random factor.
    later = prices["date"] > first_live
    factor = np.random.default_rng(0).uniform(0.5, 2.0, int(later.sum()))
    scrambled = prices.copy()
    for column in ("open", "high", "low", "close"):
        scrambled.loc[later, column] = scrambled.loc[later, column] * factor
    other = source(scrambled, tmp_path / "scrambled", first_live)

    one = full.publish(1, SCHEDULE.opens(1))
    assert one is not None and one.live_ids
    for rival in (cut, other):
        again = rival.publish(1, SCHEDULE.opens(1))
        assert again is not None
        assert again.version == one.version and list(again.live_ids) == list(one.live_ids)
        assert dict(again.files) == dict(one.files)
    assert cut.publish(2, SCHEDULE.opens(2)) is None  # its prices stop at round 1
    # A week that is not over in the data gives no live date yet.
    days = pd.DatetimeIndex(prices["date"].unique())
    wednesday = days[days.get_loc(first_live) + 3]
    assert wednesday.weekday() == 2
    midweek = source(prices[prices["date"] <= wednesday], tmp_path / "midweek", first_live)
    assert midweek.live_date(2) is None and midweek.publish(2, SCHEDULE.opens(2)) is None
    assert midweek.known_through(at_round(2)) == wednesday
    assert full.known_through(at_round(2)) == full.live_date(2) > wednesday
    assert full.known_through(SCHEDULE.anchor - timedelta(seconds=1)) is None
    assert full.known_prices(at_round(1))["date"].max() == first_live


def test_outcomes_wait_for_the_horizon_and_read_no_later_price(
    tmp_path: Path,
    market: SimulatedMarket,
    first_live: pd.Timestamp,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    prices = market.prices
    data = source(prices, tmp_path / "full", first_live)
    read_through: list[pd.Timestamp] = []

    class Spy(FeatureEngine):
        def __init__(self, window: pd.DataFrame, config: FeatureConfig | None = None) -> None:
            read_through.append(window["date"].max())
            super().__init__(window, config)

    monkeypatch.setattr(pipeline, "FeatureEngine", Spy)
    published = data.publish(1, SCHEDULE.opens(1))
    assert published is not None
    ids = list(published.live_ids)

    def outcome(src: PipelineRoundData, k: int):  # type: ignore[no-untyped-def]
        return src.outcome(1, ids, closes_at=SCHEDULE.closes(1), now=at_round(k))

    # Known at round k: 5(k − 1) trading days after the live date; the target needs 2 + 20.
    assert outcome(data, 1) is None and outcome(data, 2) is None
    early = outcome(data, 3)  # 10 days known: a provisional 8-day target
    assert early is not None and not early.final
    assert set(early.targets.dropna().unique()) <= {0.0, 0.25, 0.5, 0.75, 1.0}
    assert outcome(data, 5) is not None and not outcome(data, 5).final
    final = outcome(data, 6)
    assert final is not None and final.final
    assert not final.targets.equals(early.targets)
    strict = source(prices, tmp_path / "strict", first_live, provisional_min_days=None)
    assert outcome(strict, 5) is None and outcome(strict, 6).final

    # Final targets are binned 5/20/50/20/5 over the era and read no price after the horizon.
    counts = final.targets.value_counts(normalize=True).sort_index()
    assert list(counts.index) == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert counts[0.5] == pytest.approx(0.5, abs=0.02)
    end = data.horizon_end(1)
    assert end is not None
    horizon = source(prices[prices["date"] <= end], tmp_path / "horizon", first_live)
    short = source(prices[prices["date"] < end], tmp_path / "short", first_live)
    for k in (6, 7, 30):
        again = outcome(horizon, k)
        assert again is not None and again.final
        pd.testing.assert_series_equal(again.targets, final.targets)
        pd.testing.assert_frame_equal(again.features, final.features)
        late = outcome(short, k)
        assert late is not None and not late.final  # one day short of the horizon
    later = outcome(data, 30)
    assert later is not None
    pd.testing.assert_series_equal(later.targets, final.targets)
    # Every outcome computation read prices up to its target's last day, never beyond.
    days = pd.DatetimeIndex(prices["date"].unique())
    live_at = days.get_loc(first_live)
    assert read_through and max(read_through) == end
    assert days[live_at + 10] in read_through  # the provisional one at round 3

    # Exactly the targets a build whose prices end on the horizon publishes for that era.
    vault = Vault(KEY)
    build_round(
        prices[prices["date"] <= end],
        out_dir=tmp_path / "check" / "public",
        operator_dir=tmp_path / "check" / "operator",
        vault=vault,
        round_number=99,
        config=CONFIG,
    )
    validation = pd.read_parquet(tmp_path / "check" / "public" / "validation.parquet")
    eras = pd.read_parquet(tmp_path / "check" / "operator" / "eras.parquet")
    label = eras.loc[eras["date"] == first_live, "era"].item()
    targets = data.live_targets(1)
    history_ids = vault.row_ids(first_live, list(targets.index))
    rows = validation.loc[validation["era"] == label, "target"]
    assert len(rows) == len(targets)
    np.testing.assert_array_equal(rows.reindex(history_ids).to_numpy(np.float64), targets)
    # … mapped to the live ids through the operator's map.
    tickers = data.live_tickers(1)
    assert list(tickers.index) == ids
    np.testing.assert_array_equal(final.targets.to_numpy(), targets.reindex(tickers).to_numpy())


def test_rounds_are_read_back_after_a_restart_and_reuse_the_era_cache(
    tmp_path: Path, market: SimulatedMarket, first_live: pd.Timestamp
) -> None:
    folder = tmp_path / "pipeline"
    first = source(market.prices, folder, first_live, vault=None)
    one = first.publish(1, SCHEDULE.opens(1))
    two = first.publish(2, SCHEDULE.opens(2))
    assert one is not None and two is not None and one.version != two.version
    assert (folder / "operator" / "vault.json").exists()
    assert first.build_reports[2].reused  # the era cache spared most of round 2
    assert len(first.build_reports[2].computed) < len(first.build_reports[1].computed)
    assert not set(one.live_ids) & set(two.live_ids)  # ids are re-keyed every round

    restarted = source(market.prices, folder, first_live, vault=None)
    assert restarted.vault == first.vault
    assert restarted.publish(1, SCHEDULE.opens(1)) == one
    assert restarted.build_reports == {}  # read back, not rebuilt
    assert not list((folder / "public").glob(".*"))  # no temporary folder left behind
    with pytest.raises(InvalidParameterError):
        restarted.publish(0, SCHEDULE.opens(1))


def test_the_source_follows_the_tournament_s_numbering(
    tmp_path: Path, market: SimulatedMarket, first_live: pd.Timestamp
) -> None:
    """A tournament that starts mid-calendar numbers its first round 1: the source learns
    where round 1 falls from the tournament's calls, so what the market is known through
    follows the tournament's rounds (not the calendar's slots)."""
    fresh = source(market.prices, tmp_path / "fresh", first_live)
    start = SCHEDULE.opens(48)  # the tournament's round 1 opens in the calendar's slot 48
    assert fresh.known_through(start + timedelta(hours=1)) == pd.Timestamp(
        market.prices["date"].max()
    )
    fresh.align(1, start)
    assert fresh.schedule.opens(1) == start and fresh.schedule.period == SCHEDULE.period
    assert fresh.known_through(start + timedelta(hours=1)) == fresh.live_date(1) == first_live
    assert fresh.known_through(start + WEEK + timedelta(hours=1)) == fresh.live_date(2)
    assert fresh.outcome(1, [], closes_at=start + WEEK, now=start + WEEK) is None  # not yet

"""A Signals round's files: Numerai's layout, read by numerapi and numerai-tools; byte-stable
and point-in-time."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from numerai_tools.submissions import clean_submission, validate_submission_signals

from crowdalpha.dataset.obfuscate import Vault
from crowdalpha.dataset.signals import (
    FEATURE_NAMES,
    ID_COLUMNS,
    NUMERIC_FEATURES,
    OPERATOR_FILES,
    PUBLIC_FILES,
    UNIVERSE_COLUMNS,
    SignalsConfig,
    build_signals_round,
    signals_splits,
    target_names,
)
from crowdalpha.errors import ConflictError, InvalidInputError

from .conftest import CONFIG, Built

V2 = "signals/v2.0"
#: A short round for the byte-level tests: 3 train and 3 validation eras.
SHORT = SignalsConfig(validation_eras=3, max_train_eras=3)


def test_the_round_has_numerais_files_and_columns(built: Built) -> None:
    report = built.report
    assert report.files == PUBLIC_FILES
    for name in PUBLIC_FILES:
        assert (built.public / name).is_file(), name
    assert sorted(p.name for p in built.operator.iterdir()) == sorted(OPERATOR_FILES)
    assert not [p for p in built.public.iterdir() if p.name != "signals"]  # no temp left

    targets = list(target_names((20, 60)))
    train = pd.read_parquet(built.public / f"{V2}/train.parquet")
    validation = pd.read_parquet(built.public / f"{V2}/validation.parquet")
    live = pd.read_parquet(built.public / f"{V2}/live.parquet")
    head = ["date", "numerai_ticker", "composite_figi"]
    assert list(train.columns) == [*head, *FEATURE_NAMES, *targets]
    assert list(validation.columns) == list(train.columns)
    assert list(live.columns) == [*head, *FEATURE_NAMES]
    assert train["date"].dtype == "datetime64[ns]"
    assert (train[list(NUMERIC_FEATURES)].dtypes == "float32").all()
    assert (train[targets].dtypes == "float32").all()
    # one row group per weekly era, rows sorted by date then ticker, dates all Fridays here
    assert pq.ParquetFile(built.public / f"{V2}/train.parquet").num_row_groups == len(
        report.eras["train"]
    )
    for frame in (train, validation, live):
        assert frame.equals(frame.sort_values(["date", "numerai_ticker"], ignore_index=True))
        assert not frame.duplicated(["date", "numerai_ticker"]).any()
    assert (train["date"].dt.day_of_week == 4).mean() > 0.95
    assert list(train["date"].unique()) == report.eras["train"]
    assert list(validation["date"].unique()) == report.eras["validation"]
    assert live["date"].unique().tolist() == [report.live_date]
    # targets binned 5/20/50/20/5 per era; every train and validation main target known
    assert train["target"].notna().all() and validation["target"].notna().all()
    shares = train["target"].value_counts(normalize=True).sort_index()
    np.testing.assert_allclose(shares.to_numpy(), [0.05, 0.2, 0.5, 0.2, 0.05], atol=0.01)
    np.testing.assert_array_equal(train["target"], train["target_factor_feat_neutral_20"])
    # history only: the last validation target ends by the live date
    days = pd.DatetimeIndex(sorted(set(train["date"]) | set(validation["date"])))
    assert days.max() < report.live_date
    assert len(report.eras["validation"]) == CONFIG.validation_eras
    gap = (report.eras["validation"][0] - report.eras["train"][-1]).days // 7
    assert gap == CONFIG.embargo + 1


def test_the_splits_are_known_before_building(built: Built, prices: pd.DataFrame) -> None:
    assert signals_splits(prices, built.report.live_date, CONFIG) == built.report.eras
    with pytest.raises(InvalidInputError, match="not a trading day"):
        signals_splits(prices, "2011-06-05", CONFIG)


def test_the_v21_files_hold_n_and_v_of_every_history_row(built: Built) -> None:
    for split in ("train", "validation"):
        data = pd.read_parquet(
            built.public / f"{V2}/{split}.parquet", columns=["date", "numerai_ticker"]
        )
        n = pd.read_parquet(built.public / f"signals/v2.1/{split}_neutralizer.parquet")
        v = pd.read_parquet(built.public / f"signals/v2.1/{split}_sample_weights.parquet")
        assert list(n.columns[:2]) == ["date", "numerai_ticker"]
        assert all(c.startswith("neutralizer_") for c in n.columns[2:])
        assert list(n.columns[2:]) == list(built.report.neutralizers)
        assert list(v.columns) == ["date", "numerai_ticker", "sample_weights"]
        pd.testing.assert_frame_equal(n[["date", "numerai_ticker"]], data)
        pd.testing.assert_frame_equal(v[["date", "numerai_ticker"]], data)
        np.testing.assert_allclose(v.groupby("date")["sample_weights"].mean(), 1.0, rtol=1e-6)


def test_numerapi_reads_the_ticker_universe(built: Built, monkeypatch: pytest.MonkeyPatch) -> None:
    from numerapi import SignalsAPI

    api = SignalsAPI()
    asked: list[str] = []

    def download(filename: str, *args: object, **kwargs: object) -> str:
        asked.append(filename)
        return str(built.public / filename)

    monkeypatch.setattr(api, "download_dataset", download)
    tickers = api.ticker_universe()
    assert asked == ["signals/v1.0/live.parquet"]
    live = pd.read_parquet(built.public / f"{V2}/live.parquet")
    assert tickers == live["numerai_ticker"].tolist()
    ids = pd.read_parquet(built.public / "signals/v1.0/live.parquet")
    assert list(ids.columns) == ["date", *ID_COLUMNS]
    operator = pd.read_parquet(built.operator / "universe.parquet")
    assert list(operator.columns) == list(UNIVERSE_COLUMNS)
    at_live = operator[operator["date"] == built.report.live_date].reset_index(drop=True)
    pd.testing.assert_frame_equal(ids, at_live[["date", *ID_COLUMNS]])


# numerai-tools' own DataFrame.drop(inplace=True), deprecated by pandas 3
@pytest.mark.filterwarnings("ignore:The inplace keyword")
def test_the_example_predictions_are_valid_submissions(built: Built) -> None:
    live = pd.read_parquet(built.public / f"{V2}/live.parquet")
    preds = pd.read_parquet(built.public / f"{V2}/live_example_preds.parquet")
    assert list(preds.columns) == ["numerai_ticker", "signal"]
    ticker_col, signal_col, _, filtered, invalid = validate_submission_signals(live, preds)
    assert (ticker_col, signal_col, invalid) == ("numerai_ticker", "signal", [])
    assert len(filtered) == len(live)
    csv = pd.read_csv(built.public / f"{V2}/live_example_preds.csv")
    pd.testing.assert_frame_equal(csv, preds.astype({"signal": "float64"}), check_dtype=False)
    # any id type maps back through the universe frame (numerai-tools' own cleaning)
    universe = pd.read_parquet(built.operator / "universe.parquet")
    universe = universe[universe["date"] == built.report.live_date]
    by_figi = preds.merge(universe[["numerai_ticker", "composite_figi"]])[
        ["composite_figi", "signal"]
    ]
    cleaned = clean_submission(universe, by_figi, "composite_figi", "signal", "numerai_ticker")
    np.testing.assert_array_equal(
        cleaned.to_numpy(), preds.set_index("numerai_ticker")["signal"].sort_index().to_numpy()
    )
    validation = pd.read_parquet(built.public / f"{V2}/validation.parquet")
    vpreds = pd.read_parquet(built.public / f"{V2}/validation_example_preds.parquet")
    assert list(vpreds.columns) == ["date", "numerai_ticker", "signal"]
    pd.testing.assert_frame_equal(
        vpreds[["date", "numerai_ticker"]], validation[["date", "numerai_ticker"]]
    )
    last = vpreds[vpreds["date"] == vpreds["date"].max()]
    era = validation[validation["date"] == last["date"].iloc[0]]
    assert validate_submission_signals(era, last, assert_date_col=True)[2] == "date"
    assert ((vpreds["signal"] > 0) & (vpreds["signal"] < 1)).all()


def _digests(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_builds_are_byte_stable_and_point_in_time(
    prices: pd.DataFrame, days: pd.DatetimeIndex, vault: Vault, tmp_path: Path
) -> None:
    live = days[-80]
    calls: list[tuple[int, int]] = []

    def build(frame: pd.DataFrame, name: str) -> dict[str, str]:
        build_signals_round(
            frame,
            live_date=live,
            out_dir=tmp_path / name,
            operator_dir=tmp_path / name / "operator",
            vault=vault,
            config=SHORT,
            progress=lambda done, total: calls.append((done, total)),
        )
        return _digests(tmp_path / name)

    first = build(prices, "full")
    # progress after each of the 3 + 3 history eras and the live one
    assert calls == [(i, 7) for i in range(1, 8)]
    # every price after the live date changed (and a stock listed after it): same bytes
    later = prices["date"] > live
    perturbed = prices.copy()
    rng = np.random.default_rng(0)
    for column in ("open", "high", "low", "close", "volume", "market_cap"):
        perturbed.loc[later, column] *= rng.uniform(0.5, 2.0, int(later.sum()))
    extra = perturbed[perturbed["date"] > live].drop_duplicates("date").assign(ticker="ZZZNEW")
    perturbed = pd.concat([perturbed, extra]).sort_values(["date", "ticker"], ignore_index=True)
    assert build(perturbed, "perturbed") == first
    assert build(prices[prices["date"] <= live], "cut") == first
    # and a price on the live date does change the files
    moved = prices.copy()
    moved.loc[moved["date"] == live, "close"] *= 1.01
    assert build(moved, "moved") != first


def test_bad_calls_are_refused(
    built: Built, prices: pd.DataFrame, days: pd.DatetimeIndex, vault: Vault, tmp_path: Path
) -> None:
    with pytest.raises(ConflictError, match="already holds"):
        build_signals_round(
            prices, live_date=days[-70], out_dir=built.public, operator_dir=tmp_path, vault=vault
        )
    with pytest.raises(InvalidInputError, match="not a trading day"):
        build_signals_round(
            prices,
            live_date="2011-06-05",
            out_dir=tmp_path / "a",
            operator_dir=tmp_path / "b",
            vault=vault,
        )
    with pytest.raises(InvalidInputError, match="weekly eras"):
        build_signals_round(
            prices,
            live_date=days[300],
            out_dir=tmp_path / "c",
            operator_dir=tmp_path / "d",
            vault=vault,
        )
    assert not (tmp_path / "c").exists() and not (tmp_path / "d").exists()


def test_a_failed_build_leaves_nothing_behind(
    prices: pd.DataFrame,
    days: pd.DatetimeIndex,
    vault: Vault,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from crowdalpha.dataset.signals import build

    def fail(*args: object) -> None:
        raise RuntimeError("disk full")

    # the example model predicts the first validation era, after every train era is written
    monkeypatch.setattr(build.RidgeExample, "predict", fail)
    with pytest.raises(RuntimeError, match="disk full"):
        build_signals_round(
            prices,
            live_date=days[-80],
            out_dir=tmp_path / "public",
            operator_dir=tmp_path / "operator",
            vault=vault,
            config=SHORT,
        )
    assert list((tmp_path / "public").iterdir()) == []
    assert list((tmp_path / "operator").iterdir()) == []

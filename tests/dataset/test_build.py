"""End to end: a simulated market becomes a round dataset a model can learn from."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from crowdalpha import scoring
from crowdalpha.cli import app
from crowdalpha.dataset import build as build_module
from crowdalpha.dataset.build import BuildConfig, build_round
from crowdalpha.dataset.example import (
    EXAMPLE_FILES,
    ExampleSums,
    fit_example_model,
    table_bins,
    write_example_predictions,
)
from crowdalpha.dataset.obfuscate import Vault
from crowdalpha.errors import (
    ConflictError,
    InvalidInputError,
    MarketDataError,
)
from crowdalpha.market import MarketConfig, simulate_market


@pytest.fixture(scope="module")
def market_prices() -> pd.DataFrame:
    return simulate_market(MarketConfig(n_stocks=400, n_days=900, seed=3)).prices


@pytest.fixture(scope="module")
def built(
    market_prices: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, object]:
    root = tmp_path_factory.mktemp("round")
    vault = Vault.create()
    calls: list[tuple[int, int]] = []
    report = build_round(
        market_prices,
        out_dir=root / "public",
        operator_dir=root / "operator",
        vault=vault,
        round_number=1,
        config=BuildConfig(validation_eras=30),
        progress=lambda done, total: calls.append((done, total)),
    )
    return {"root": root, "report": report, "vault": vault, "calls": calls}


def test_the_round_has_the_v5_layout(built: dict[str, object]) -> None:
    root = Path(str(built["root"]))
    meta = json.loads((root / "public" / "features.json").read_text())
    features = meta["feature_sets"]["all"]
    assert len(features) >= 100 and meta["targets"][0] == "target"
    assert (
        set(meta["feature_sets"]["small"]) <= set(meta["feature_sets"]["medium"]) <= set(features)
    )
    train = pd.read_parquet(root / "public" / "train.parquet")
    validation = pd.read_parquet(root / "public" / "validation.parquet")
    live = pd.read_parquet(root / "public" / "live.parquet")
    assert train.index.name == "id"
    assert (train[features].dtypes == "int8").all()
    # five equal-count bins per feature and era (a feature missing for an era is all 2)
    shares = train[features[:20]].apply(lambda c: c.value_counts(normalize=True)).fillna(0)
    assert ((shares.loc[[0, 1, 3, 4]] < 0.25) | (shares.loc[2] == 1.0)).all().all()
    # targets binned 5/20/50/20/5 per era, unknown for live
    counts = train["target"].value_counts(normalize=True).sort_index()
    np.testing.assert_allclose(counts.to_numpy(), [0.05, 0.2, 0.5, 0.2, 0.05], atol=0.02)
    assert live["target"].isna().all() and live["era"].nunique() == 1
    assert live["era"].iloc[0] > validation["era"].max() > train["era"].max()
    # ids never repeat: no id links two eras
    ids = pd.concat([train.index.to_series(), validation.index.to_series(), live.index.to_series()])
    assert ids.is_unique
    calls = built["calls"]
    assert isinstance(calls, list) and calls[-1][0] == calls[-1][1]


def test_a_simple_model_trained_on_train_scores_positive_corr_on_validation(
    built: dict[str, object],
) -> None:
    root = Path(str(built["root"]))
    meta = json.loads((root / "public" / "features.json").read_text())
    features = meta["feature_sets"]["all"]
    train = pd.read_parquet(root / "public" / "train.parquet").dropna(subset=["target"])
    validation = pd.read_parquet(root / "public" / "validation.parquet")
    x = train[features].to_numpy(np.float32) - 2.0
    y = train["target"].to_numpy(np.float64) - 0.5
    ridge = 10.0 * len(x)
    weights = np.linalg.solve(x.T @ x + ridge * np.eye(x.shape[1]), x.T @ y)
    preds = pd.DataFrame(
        {"ridge": (validation[features].to_numpy(np.float32) - 2.0) @ weights},
        index=validation.index,
    )
    per_era = scoring.numerai_corr_by_era(preds, validation["target"], validation["era"])
    summary = scoring.summarize(per_era)["ridge"]
    # weak but real structure: a per-era CORR of roughly 0.01-0.05, positive in most eras.
    # On this market (seed 3) the mean is 0.0297 over 30 eras (per-era std 0.049): 0.02 from
    # each bound, thousands of times what another BLAS or CPU changes in a ridge solve. It is
    # one draw, though: seeds 1, 2, 4, 5 give 0.015, 0.026, 0.010, -0.019 (the signal a
    # 400-stock market leaves in 30 weekly eras varies that much), so a change of the
    # simulator's random streams calls for a new look at this bound, not a new seed.
    assert 0.01 < summary["mean"] < 0.05, summary
    assert summary["positive_share"] > 0.5, summary
    # an overfit model (no regularization, fitted on the last 8 train eras) does much worse
    few = train[train["era"].isin(sorted(train["era"].unique())[-8:])]
    x_few = few[features].to_numpy(np.float64) - 2.0
    w_few = np.linalg.lstsq(x_few, few["target"].to_numpy(np.float64) - 0.5, rcond=None)[0]
    overfit = pd.DataFrame(
        {"overfit": (validation[features].to_numpy(np.float64) - 2.0) @ w_few},
        index=validation.index,
    )
    bad = scoring.numerai_corr_by_era(overfit, validation["target"], validation["era"])
    # 0.0094 against a bound of 0.0149; a least-squares fit moves by far less than 0.005
    # between machines. (On seed 5, where the ridge finds nothing, both are near -0.02: the
    # comparison needs a market whose signal survives the pipeline, as this one's does.)
    assert float(bad["overfit"].mean()) < summary["mean"] / 2


def test_too_little_history_is_refused(market_prices: pd.DataFrame, tmp_path: Path) -> None:
    short = market_prices[market_prices["date"] < market_prices["date"].unique()[300]]
    with pytest.raises(InvalidInputError, match="known targets"):
        build_round(
            short.reset_index(drop=True),
            out_dir=tmp_path / "p",
            operator_dir=tmp_path / "o",
            vault=Vault.create(),
            round_number=1,
        )


def test_the_cli_simulates_and_builds_with_progress(tmp_path: Path) -> None:
    runner = CliRunner()
    prices = tmp_path / "prices.parquet"
    result = runner.invoke(
        app, ["data", "simulate", "--out", str(prices), "--stocks", "150", "--days", "700"]
    )
    assert result.exit_code == 0, result.output
    assert "Wrote" in result.output and prices.exists()
    result = runner.invoke(
        app,
        [
            "data",
            "build",
            "--prices",
            str(prices),
            "--out",
            str(tmp_path / "public"),
            "--operator",
            str(tmp_path / "operator"),
            "--validation-eras",
            "10",
        ],
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "public" / "live.parquet").exists()
    assert (tmp_path / "operator" / "vault.json").exists()
    assert "features" in result.output
    # refusals come before any work: an existing round, a missing price file (no vault made)
    again = [*result_args(prices, tmp_path / "public", tmp_path / "operator")]
    with pytest.raises(ConflictError):
        runner.invoke(app, again, catch_exceptions=False)
    with pytest.raises(MarketDataError):
        runner.invoke(
            app,
            result_args(tmp_path / "missing.parquet", tmp_path / "p2", tmp_path / "o2"),
            catch_exceptions=False,
        )
    assert not (tmp_path / "o2" / "vault.json").exists()


def result_args(prices: Path, out: Path, operator: Path) -> list[str]:
    return [
        "data",
        "build",
        "--prices",
        str(prices),
        "--out",
        str(out),
        "--operator",
        str(operator),
    ]


def test_building_in_time_blocks_changes_nothing(
    market_prices: pd.DataFrame, tmp_path: Path
) -> None:
    """Memory is bounded by building eras in blocks of days; the files must not notice."""
    vault = Vault(bytes(range(32)))
    prices = market_prices[market_prices["date"] < market_prices["date"].unique()[600]]
    prices = prices.reset_index(drop=True)
    outs = {}
    for name, block_days in (("whole", None), ("blocks", 45)):
        build_round(
            prices,
            out_dir=tmp_path / name / "public",
            operator_dir=tmp_path / name / "operator",
            vault=vault,
            round_number=4,
            config=BuildConfig(validation_eras=10, block_days=block_days),
        )
        outs[name] = tmp_path / name / "public"
    for file in ("train.parquet", "validation.parquet", "live.parquet"):
        pd.testing.assert_frame_equal(
            pd.read_parquet(outs["whole"] / file), pd.read_parquet(outs["blocks"] / file)
        )
    whole = (outs["whole"] / "features.json").read_text()
    assert whole == (outs["blocks"] / "features.json").read_text()


def test_the_round_publishes_the_example_models_predictions(built: dict[str, object]) -> None:
    from crowdalpha import scoring
    from crowdalpha.dataset.audit import example_model_corr
    from crowdalpha.submissions import load_and_validate

    public = Path(str(built["root"])) / "public"
    live = pd.read_parquet(public / "live.parquet", columns=["era"])
    validation = pd.read_parquet(public / "validation.parquet", columns=["era", "target"])
    # the live example predictions are a valid submission as they stand
    raw = (public / "live_example_preds.parquet").read_bytes()
    accepted = load_and_validate(raw, list(live.index), filename="live_example_preds.parquet")
    assert accepted.live_rows == len(live)
    preds = pd.read_parquet(public / "validation_example_preds.parquet")
    assert list(preds.columns) == ["prediction"] and preds.index.name == "id"
    assert sorted(preds.index) == sorted(validation.index)
    assert preds["prediction"].between(0, 1).all()
    # they are the example model's: the same validation CORR as the audit's measurement
    # (ranking within an era changes no era's CORR)
    corr = scoring.numerai_corr_by_era(
        preds.rename(columns={"prediction": "example"}),
        validation["target"].reindex(preds.index),
        validation["era"].reindex(preds.index),
    )["example"].mean()
    assert corr == pytest.approx(example_model_corr(public), abs=1e-6)
    assert corr > 0


def test_the_builds_example_model_is_the_fit_on_its_train_file(
    market_prices: pd.DataFrame, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sums the cells add while they publish are, to the last bit, those of a fit that
    reads the train file era by era — whatever the cells."""
    prices = market_prices[market_prices["date"] < market_prices["date"].unique()[500]]
    kept: list[ExampleSums] = []
    original = build_module.write_example_predictions

    def keep(public: Path, **kwargs: Any) -> dict[str, Path]:
        kept.append(kwargs["sums"])
        return original(public, **kwargs)

    monkeypatch.setattr(build_module, "write_example_predictions", keep)
    for block_days in (45, None):
        build_round(
            prices.reset_index(drop=True),
            out_dir=tmp_path / str(block_days) / "public",
            operator_dir=tmp_path / str(block_days) / "operator",
            vault=Vault(bytes(range(32))),
            round_number=2,
            config=BuildConfig(validation_eras=10, block_days=block_days),
        )
    public = tmp_path / "45" / "public"
    names = json.loads((public / "features.json").read_text())["feature_sets"]["all"]
    sums = ExampleSums.empty(names)
    train = pq.ParquetFile(public / "train.parquet")
    for group in range(train.num_row_groups):
        table = train.read_row_group(group)
        sums.add_era(table_bins(table, sums.names), table.column("target").to_numpy())
    assert len(kept) == 2
    for built_sums in kept:
        assert built_sums.names == sums.names and built_sums.rows == sums.rows
        assert np.array_equal(built_sums.xtx, sums.xtx)
        assert np.array_equal(built_sums.xty, sums.xty)
    fitted = fit_example_model(public)
    assert np.array_equal(kept[0].model().weights, fitted.weights)
    # and the published predictions are that model's
    elsewhere = tmp_path / "again"
    elsewhere.mkdir()
    for name in ("features.json", "train.parquet", "validation.parquet", "live.parquet"):
        (elsewhere / name).write_bytes((public / name).read_bytes())
    write_example_predictions(elsewhere)
    for name in EXAMPLE_FILES.values():
        assert (elsewhere / name).read_bytes() == (public / name).read_bytes()
    with pytest.raises(InvalidInputError, match="feature set 'small'"):
        write_example_predictions(elsewhere, feature_set="small", sums=kept[0])

"""score_signals_round: each metric equals numerai-tools 0.7.2 (and our single functions)."""

from __future__ import annotations

import warnings

import numerai_tools.scoring as nt
import numpy as np
import pandas as pd
import pytest

import crowdalpha.scoring as ca
from crowdalpha.errors import (
    DegenerateDataError,
    IndexMismatchError,
    InvalidParameterError,
    MissingValuesError,
)
from crowdalpha.scoring import signals_blocks

from .conftest import ATOL_CORR, ATOL_NEUTRAL, make_targets

TARGETS = ("target", "target_factor_neutral_20", "target_chili_60")


def _round(
    seed: int = 0, tickers: int = 400, models: int = 9, nan_targets: bool = True
) -> dict[str, object]:
    rng = np.random.default_rng(seed)
    ids = pd.Index([f"T{i:04d} US" for i in range(tickers)], name="numerai_ticker")
    signal = rng.standard_normal(tickers)
    targets = pd.DataFrame(
        {
            name: make_targets(rng, ids)
            if name != "target_chili_60"
            else pd.Series(
                np.digitize(signal + rng.standard_normal(tickers), [-1.5, -0.5, 0.5, 1.5]) / 4,
                index=ids,
            )
            for name in TARGETS
        }
    )
    if nan_targets:  # delisted stocks: some targets unknown, not the same for every target
        targets.iloc[rng.choice(tickers, 12, replace=False), 0] = np.nan
        targets.iloc[rng.choice(tickers, 5, replace=False), 2] = np.nan
    raw = {}
    for m in range(models):
        submitted = rng.choice(tickers, rng.integers(150, tickers), replace=False)
        values = signal[submitted] + rng.uniform(0.5, 4) * rng.standard_normal(len(submitted))
        raw[f"model_{m}"] = pd.Series(values, index=ids[submitted]).rank(pct=True)
    signals = ca.clean_signals(pd.DataFrame(raw), ids)
    v = pd.Series(rng.lognormal(0, 0.5, tickers), index=ids)
    q, _ = np.linalg.qr(rng.standard_normal((tickers, 15)) * np.sqrt(v.to_numpy())[:, None])
    n = pd.DataFrame(q / np.sqrt(v.to_numpy())[:, None], index=ids).add_prefix("neutralizer_")
    features = pd.DataFrame(rng.integers(0, 5, (tickers, 8)), index=ids).add_prefix("feature_")
    stakes = pd.Series(rng.integers(0, 1000, models).astype(float), index=signals.columns)
    stakes.iloc[2] = 0.0
    return {
        "signals": signals,
        "targets": targets,
        "n": n,
        "v": v,
        "features": features.iloc[::-1],  # any order: aligned by ticker
        "stakes": stakes.drop("model_5", errors="ignore"),  # a model nobody staked on
    }


METRICS = {
    "corr": "target",
    "mmc": "target_factor_neutral_20",
    "fnc": "target",
    "alpha": "target_chili_60",
    "mpc": "target_chili_60",
    "neutral_corr": "target_factor_neutral_20",
    "neutral_mmc": "target_factor_neutral_20",
}


@pytest.fixture(scope="module")
def scored() -> tuple[dict[str, object], ca.SignalsRoundScores]:
    d = _round()
    result = ca.score_signals_round(
        d["signals"],  # type: ignore[arg-type]
        d["targets"],  # type: ignore[arg-type]
        metrics=METRICS,
        stakes=d["stakes"],  # type: ignore[arg-type]
        features=d["features"],  # type: ignore[arg-type]
        neutralizers=d["n"],  # type: ignore[arg-type]
        sample_weights=d["v"],  # type: ignore[arg-type]
    )
    return d, result


def _reference(d: dict[str, object], meta: pd.Series, metric: str) -> pd.Series:
    signals: pd.DataFrame = d["signals"]  # type: ignore[assignment]
    t: pd.Series = d["targets"][METRICS[metric]]  # type: ignore[index]
    n, v = d["n"], d["v"]
    features: pd.DataFrame = d["features"].loc[signals.index]  # type: ignore[attr-defined]
    stakes = d["stakes"].reindex(signals.columns).fillna(0.0)  # type: ignore[attr-defined]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        match metric:
            case "corr":
                return nt.numerai_corr(signals, t)
            case "mmc":
                return nt.correlation_contribution(signals, meta, t)
            case "fnc":
                return nt.feature_neutral_corr(signals, features, t)
            case "alpha":
                return nt.alpha(signals, n, v, t)
            case "mpc":
                return nt.meta_portfolio_contribution(signals, stakes, n, v, t)
            case "neutral_corr":
                return nt.neutral_correlation(signals, n, t)
            case "neutral_mmc":
                return nt.neutral_contribution(signals, meta, n, t)
    raise AssertionError(metric)


@pytest.mark.parametrize("metric", list(METRICS))
def test_each_metric_equals_the_reference(
    scored: tuple[dict[str, object], ca.SignalsRoundScores], metric: str
) -> None:
    d, result = scored
    assert result.meta_model is not None
    atol = ATOL_NEUTRAL if metric in ("fnc", "neutral_corr", "neutral_mmc") else ATOL_CORR
    expected = _reference(d, result.meta_model, metric)
    np.testing.assert_allclose(
        result.scores[metric].to_numpy(), expected.to_numpy(), rtol=0, atol=atol, err_msg=metric
    )
    assert list(result.scores.index) == list(d["signals"].columns)  # type: ignore[attr-defined]


def test_the_meta_model_is_the_stake_weighted_one(
    scored: tuple[dict[str, object], ca.SignalsRoundScores],
) -> None:
    d, result = scored
    signals: pd.DataFrame = d["signals"]  # type: ignore[assignment]
    stakes: pd.Series = d["stakes"]  # type: ignore[assignment]
    staked = stakes[stakes > 0]
    expected = nt.tie_kept_rank(
        nt.stake_weight(nt.gaussian(nt.tie_kept_rank(signals[staked.index])), staked).to_frame()
    ).iloc[:, 0]
    assert result.meta_model is not None
    np.testing.assert_allclose(result.meta_model, expected, rtol=0, atol=1e-12)
    assert result.meta_model.name == ca.SIGNALS_META_MODEL_NAME


def test_blocks_of_models_give_the_same_numbers(
    scored: tuple[dict[str, object], ca.SignalsRoundScores], monkeypatch: pytest.MonkeyPatch
) -> None:
    d, whole = scored
    monkeypatch.setattr(signals_blocks, "_BLOCK_MODELS", 2)
    blocked = ca.score_signals_round(
        d["signals"],  # type: ignore[arg-type]
        d["targets"],  # type: ignore[arg-type]
        metrics=METRICS,
        stakes=d["stakes"],  # type: ignore[arg-type]
        features=d["features"],  # type: ignore[arg-type]
        neutralizers=d["n"],  # type: ignore[arg-type]
        sample_weights=d["v"],  # type: ignore[arg-type]
    )
    pd.testing.assert_frame_equal(blocked.scores, whole.scores, rtol=0, atol=1e-14)


def test_defaults_compute_what_the_inputs_allow_on_the_main_target() -> None:
    d = _round(seed=1, nan_targets=False)
    signals: pd.DataFrame = d["signals"]  # type: ignore[assignment]
    main: pd.Series = d["targets"]["target"]  # type: ignore[index]
    only_corr = ca.score_signals_round(signals, main)
    assert list(only_corr.scores.columns) == ["corr"] and only_corr.meta_model is None
    np.testing.assert_allclose(only_corr.scores["corr"], ca.numerai_corr(signals, main), atol=0)
    given_meta = signals.mean(axis=1)
    with_meta = ca.score_signals_round(
        signals,
        d["targets"],  # type: ignore[arg-type]
        meta_model=given_meta,
        neutralizers=d["n"],  # type: ignore[arg-type]
    )
    assert list(with_meta.scores.columns) == ["corr", "mmc", "neutral_corr", "neutral_mmc"]
    np.testing.assert_allclose(
        with_meta.scores["mmc"],
        ca.correlation_contribution(signals, given_meta, main),
        rtol=0,
        atol=1e-15,
    )
    pd.testing.assert_series_equal(with_meta.meta_model, given_meta)  # type: ignore[arg-type]
    listed = ca.score_signals_round(
        signals,
        main,
        metrics=["alpha"],
        neutralizers=d["n"],
        sample_weights=d["v"],  # type: ignore[arg-type]
    )
    np.testing.assert_allclose(
        listed.scores["alpha"],
        ca.alpha(signals, d["n"], d["v"], main),
        rtol=0,
        atol=1e-15,  # type: ignore[arg-type]
    )


def test_refusals() -> None:
    d = _round(seed=2, models=4)
    signals: pd.DataFrame = d["signals"]  # type: ignore[assignment]
    main: pd.Series = d["targets"]["target"]  # type: ignore[index]
    with pytest.raises(InvalidParameterError, match="need inputs"):
        ca.score_signals_round(signals, main, metrics=["mpc"])
    with pytest.raises(InvalidParameterError, match="unknown metric"):
        ca.score_signals_round(signals, main, metrics=["tc"])
    with pytest.raises(InvalidParameterError, match="no target 'target_x'"):
        ca.score_signals_round(signals, d["targets"], metrics={"corr": "target_x"})  # type: ignore[arg-type]
    with pytest.raises(MissingValuesError, match="clean them first"):
        ca.score_signals_round(signals.where(signals > 0.05), main)
    with pytest.raises(IndexMismatchError, match="stakes name models"):
        ca.score_signals_round(signals, main, stakes=pd.Series({"nobody": 1.0}))
    with pytest.raises(InvalidParameterError, match="not negative"):
        ca.score_signals_round(signals, main, stakes=pd.Series(-1.0, index=signals.columns))
    with pytest.raises(IndexMismatchError, match="features must hold"):
        ca.score_signals_round(signals, main, features=d["features"].iloc[:-1])  # type: ignore[attr-defined]
    with pytest.raises(IndexMismatchError, match="cover every scored ticker"):
        ca.score_signals_round(
            signals,
            main,
            metrics=["alpha"],
            neutralizers=d["n"].iloc[:-3],  # type: ignore[attr-defined]
            sample_weights=d["v"],  # type: ignore[arg-type]
        )


def test_a_model_constant_over_the_scored_tickers_gets_nan_not_a_failed_round() -> None:
    d = _round(seed=3, models=4)
    signals: pd.DataFrame = d["signals"].copy()  # type: ignore[attr-defined]
    targets: pd.DataFrame = d["targets"]  # type: ignore[assignment]
    unknown = targets["target"].isna()
    # a model that ranked only stocks whose target is unknown: 0.5 on every scored one
    signals["odd"] = 0.5
    signals.loc[unknown, "odd"] = np.linspace(0.1, 0.9, int(unknown.sum()))
    result = ca.score_signals_round(
        signals,
        targets,
        metrics={"corr": "target", "neutral_corr": "target"},
        neutralizers=d["n"],  # type: ignore[arg-type]
    )
    assert result.scores.loc["odd"].isna().all()
    assert result.scores.drop("odd").notna().all().all()
    with pytest.raises(DegenerateDataError):  # the single function refuses that column
        ca.neutral_correlation(signals[["odd"]], d["n"], targets["target"])  # type: ignore[arg-type]

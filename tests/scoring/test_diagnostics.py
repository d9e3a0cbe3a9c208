"""Correlation with the meta model, maximum feature exposure and means by regime, against
numerai-tools 0.7.2 and direct numpy/pandas computations."""

from __future__ import annotations

import numerai_tools.scoring as nt
import numpy as np
import pandas as pd
import pytest

from crowdalpha.errors import IndexMismatchError, InvalidInputError
from crowdalpha.scoring.diagnostics import (
    corr_with_meta_model,
    max_feature_exposure,
    max_feature_exposure_by_era,
    mean_by_regime,
)


def _data(seed: int, n: int = 400, k: int = 12) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    ids = pd.Index([f"id{i:05d}" for i in range(n)], name="id")
    feats = pd.DataFrame(
        rng.integers(0, 5, size=(n, k)).astype(np.int8),
        index=ids,
        columns=[f"feature_{j}" for j in range(k)],
    )
    base = feats.to_numpy(np.float64)
    preds = pd.DataFrame(
        {
            "exposed": 0.4 * base[:, 3] + rng.normal(size=n),
            "neutral": rng.normal(size=n),
            "ties": np.round(rng.uniform(size=n), 1),
        },
        index=ids,
    )
    return preds, feats


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_max_feature_exposure_equals_numerai_tools(seed: int) -> None:
    preds, feats = _data(seed)
    ours = max_feature_exposure(preds, feats)
    for column in preds.columns:
        _, reference = nt.max_feature_correlation(preds[column], feats)
        assert ours[column] == pytest.approx(reference, abs=1e-12)
    # the exposed column really is exposed, the pure-noise one is not
    assert ours["exposed"] > 0.3 > 0.15 > ours["neutral"]


def test_constant_features_are_skipped_as_numerai_tools_does() -> None:
    preds, feats = _data(4)
    feats["feature_0"] = 2
    ours = max_feature_exposure(preds, feats)
    _, reference = nt.max_feature_correlation(preds["exposed"], feats)
    assert ours["exposed"] == pytest.approx(reference, abs=1e-12)
    assert np.isnan(max_feature_exposure(preds.assign(exposed=1.0), feats)["exposed"])


def test_by_era_is_each_era_alone() -> None:
    preds, feats = _data(5, n=600)
    eras = pd.Series(np.repeat(["0001", "0002", "0003"], 200), index=preds.index)
    by_era = max_feature_exposure_by_era(preds, feats, eras)
    assert list(by_era.index) == ["0001", "0002", "0003"]
    for era in by_era.index:
        rows = eras == era
        for column in preds.columns:
            _, reference = nt.max_feature_correlation(preds.loc[rows, column], feats[rows])
            assert by_era.at[era, column] == pytest.approx(reference, abs=1e-12)


@pytest.mark.parametrize("seed", [6, 7])
def test_corr_with_meta_model_is_pearson_of_gaussian_ranks(seed: int) -> None:
    preds, _ = _data(seed)
    rng = np.random.default_rng(seed)
    meta = pd.Series(0.5 * preds["neutral"].to_numpy() + rng.normal(size=len(preds)))
    meta.index = preds.index
    ours = corr_with_meta_model(preds, meta)
    g_meta = nt.gaussian(nt.tie_kept_rank(meta.to_frame("m")))["m"]
    g_preds = nt.gaussian(nt.tie_kept_rank(preds))
    for column in preds.columns:
        reference = np.corrcoef(g_preds[column], g_meta)[0, 1]
        assert ours[column] == pytest.approx(reference, abs=1e-12)
    assert corr_with_meta_model(meta.to_frame("same"), meta)["same"] == pytest.approx(1.0)
    assert ours["neutral"] > 0.3 > abs(ours["exposed"])


def test_missing_rows_are_left_out() -> None:
    preds, _ = _data(8)
    meta = preds["neutral"] + 0.1
    holes = preds.copy()
    holes.iloc[:10, 0] = np.nan
    got = corr_with_meta_model(holes, meta)["exposed"]
    want = corr_with_meta_model(preds.iloc[10:], meta.iloc[10:])["exposed"]
    assert got == pytest.approx(want, abs=1e-12)
    _, feats = _data(8)
    exposure = max_feature_exposure(holes, feats)
    _, reference = nt.max_feature_correlation(preds["exposed"].iloc[10:], feats.iloc[10:])
    assert exposure["exposed"] == pytest.approx(reference, abs=1e-12)
    assert exposure["neutral"] == pytest.approx(max_feature_exposure(preds, feats)["neutral"])


def test_mismatched_ids_are_refused() -> None:
    preds, feats = _data(9)
    with pytest.raises(IndexMismatchError):
        max_feature_exposure(preds, feats.iloc[::-1])
    with pytest.raises(IndexMismatchError):
        corr_with_meta_model(preds, preds["neutral"].iloc[1:])
    with pytest.raises(InvalidInputError):
        corr_with_meta_model(preds, preds)  # type: ignore[arg-type]


def test_mean_by_regime() -> None:
    scores = pd.DataFrame(
        {"corr": [0.1, 0.2, np.nan, -0.1, 0.3], "mmc": [0.0, 0.01, 0.02, 0.03, 0.04]},
        index=["e1", "e2", "e3", "e4", "e5"],
    )
    regimes = pd.Series({"e1": "up_calm", "e2": "down_volatile", "e3": "up_calm", "e4": "up_calm"})
    out = mean_by_regime(scores, regimes)
    assert list(out.index) == ["down_volatile", "up_calm"]  # e5 has no label
    assert out.at["up_calm", "corr"] == pytest.approx((0.1 - 0.1) / 2)
    assert out.at["up_calm", "mmc"] == pytest.approx((0.0 + 0.02 + 0.03) / 3)
    assert out.at["up_calm", "count"] == 3
    assert out.at["down_volatile", "corr"] == pytest.approx(0.2)

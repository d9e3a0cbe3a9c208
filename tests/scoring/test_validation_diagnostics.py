"""validation_diagnostics: per era, summaries, cumulative and by regime, against
numerai-tools and direct computations."""

from __future__ import annotations

import numerai_tools.scoring as nt
import numpy as np
import pandas as pd
import pytest

from crowdalpha.errors import InvalidInputError
from crowdalpha.scoring.validation import validation_diagnostics


def _validation(seed: int = 0, eras: int = 4, n: int = 150) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(seed)
    rows = eras * n
    ids = pd.Index([f"id{i:05d}" for i in range(rows)], name="id")
    feats = rng.integers(0, 5, size=(rows, 6)).astype(np.int8)
    frame = pd.DataFrame(feats, index=ids, columns=[f"feature_{j}" for j in range(6)])
    frame.insert(0, "era", np.repeat([f"{e + 1:04d}" for e in range(eras)], n))
    signal = feats[:, 0] + rng.normal(size=rows) * 2
    frame["target"] = pd.Series(signal).rank(pct=True).round(2).clip(0, 1).to_numpy()
    preds = pd.Series(
        pd.Series(signal + rng.normal(size=rows)).rank(pct=True).to_numpy(), index=ids
    )
    return frame, preds


def test_per_era_values_match_numerai_tools() -> None:
    validation, preds = _validation()
    meta = pd.Series(
        preds.to_numpy() + np.random.default_rng(1).normal(size=len(preds)), index=preds.index
    ).rank(pct=True)
    regimes = pd.Series({"0001": "up_calm", "0002": "down_calm", "0003": "up_calm"})
    out = validation_diagnostics(preds, validation, meta_model=meta, regimes=regimes)
    features = [c for c in validation.columns if c.startswith("feature_")]
    corr, mmc, exposure = {}, {}, {}
    for era, rows in validation.groupby("era"):
        p = preds[rows.index].to_frame("p")
        corr[era] = nt.numerai_corr(p, rows["target"])["p"]
        mmc[era] = nt.correlation_contribution(p, meta[rows.index], rows["target"])["p"]
        _, exposure[era] = nt.max_feature_correlation(preds[rows.index], rows[features])
    assert [r["era"] for r in out["per_era"]] == sorted(corr)
    for row in out["per_era"]:
        era = row["era"]
        assert row["validation_corr"] == pytest.approx(corr[era], abs=1e-9)
        assert row["validation_mmc"] == pytest.approx(mmc[era], abs=1e-9)
        assert row["validation_feature_corr_max"] == pytest.approx(exposure[era], abs=1e-12)
        assert row["validation_fnc_v4"] is not None
        assert -1 <= row["validation_corr_meta"] <= 1
    values = np.array([corr[e] for e in sorted(corr)])
    summary = out["summary"]
    assert summary["corr_mean"] == pytest.approx(values.mean(), abs=1e-9)
    assert summary["corr_std"] == pytest.approx(values.std(), abs=1e-9)
    assert summary["feature_exposure_mean"] == pytest.approx(
        np.mean(list(exposure.values())), abs=1e-12
    )
    cumulative = np.cumsum(values)
    drawdown = np.maximum.accumulate(cumulative) - cumulative
    for i, row in enumerate(out["cumulative"]):
        assert row["cumulative"]["corr"] == pytest.approx(cumulative[i], abs=1e-9)
        assert row["drawdown"]["corr"] == pytest.approx(drawdown[i], abs=1e-9)
    # era 0004 has no label: in no regime
    assert sorted(out["by_regime"]) == ["down_calm", "up_calm"]
    up = out["by_regime"]["up_calm"]
    assert up["eras"] == 2
    assert up["corr"] == pytest.approx((corr["0001"] + corr["0003"]) / 2, abs=1e-9)
    assert up["mmc"] == pytest.approx((mmc["0001"] + mmc["0003"]) / 2, abs=1e-9)


def test_without_meta_model_or_regimes() -> None:
    validation, preds = _validation(2)
    out = validation_diagnostics(preds, validation)
    assert out["by_regime"] == {}
    assert all(
        r["validation_mmc"] is None and r["validation_corr_meta"] is None for r in out["per_era"]
    )
    assert "mmc_mean" not in out["summary"]
    with pytest.raises(InvalidInputError):
        validation_diagnostics(preds, validation.drop(columns="era"))

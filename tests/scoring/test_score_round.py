"""score_round: the meta model it builds and the scores it gives equal the separate calls."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from numerai_tools import scoring as nt

from crowdalpha.errors import IndexMismatchError, InvalidParameterError, MissingValuesError
from crowdalpha.metamodel import build_meta_model
from crowdalpha.scoring import correlation_contribution, score_round, score_submissions


def _round(
    rng: np.random.Generator, rows: int = 500, models: int = 12
) -> tuple[pd.DataFrame, pd.Series, pd.DataFrame, pd.Series]:
    ids = pd.Index([f"n{i:06d}" for i in rng.permutation(rows)], name="id").sort_values()
    signal = rng.normal(size=rows)
    targets = pd.Series(
        np.digitize(signal + rng.normal(size=rows), [-1.5, -0.5, 0.5, 1.5]) / 4.0, index=ids
    )
    preds = pd.DataFrame(
        {m: signal + rng.uniform(0.5, 5) * rng.normal(size=rows) for m in range(models)},
        index=ids,
    ).rank(pct=True)
    preds[3] = preds[3].round(1)  # ties
    features = pd.DataFrame(rng.integers(0, 5, size=(rows, 10)), index=ids).add_prefix("f")
    bench = pd.Series(signal + rng.normal(size=rows), index=ids).rank(pct=True)
    return preds, targets, features, bench


def test_score_round_equals_the_separate_calls() -> None:
    rng = np.random.default_rng(5)
    preds, targets, features, bench = _round(rng)
    stakes = pd.Series(rng.integers(0, 1000, size=preds.shape[1]).astype(float), preds.columns)
    stakes.iloc[[2, 7]] = 0.0
    result = score_round(
        preds, targets, stakes=stakes, features=features, benchmark_meta_model=bench
    )
    expected_meta = build_meta_model(preds, stakes)
    assert result.meta_model is not None
    np.testing.assert_allclose(result.meta_model, expected_meta, atol=1e-12)
    # …and the reference's own recipe
    staked = stakes[stakes > 0]
    ref_meta = nt.tie_kept_rank(
        nt.stake_weight(nt.gaussian(nt.tie_kept_rank(preds[staked.index])), staked).to_frame()
    ).iloc[:, 0]
    np.testing.assert_allclose(result.meta_model, ref_meta, atol=1e-12)
    separate = score_submissions(
        preds,
        targets,
        meta_model=result.meta_model,
        features=features,
        benchmark_meta_model=bench,
    )
    pd.testing.assert_frame_equal(result.scores, separate, atol=1e-12, rtol=0)
    np.testing.assert_allclose(
        result.scores["bmc"], correlation_contribution(preds, bench, targets), atol=1e-12
    )
    np.testing.assert_allclose(
        result.scores["mmc"], nt.correlation_contribution(preds, ref_meta, targets), atol=1e-9
    )


def test_score_round_with_missing_targets_and_no_stakes() -> None:
    rng = np.random.default_rng(6)
    preds, targets, _, _ = _round(rng)
    targets.iloc[::9] = np.nan  # a few stocks left the universe
    result = score_round(preds, targets, stakes=pd.Series(1.0, index=preds.columns))
    meta = build_meta_model(preds, pd.Series(1.0, index=preds.columns))
    assert result.meta_model is not None
    np.testing.assert_allclose(result.meta_model, meta, atol=1e-12)
    separate = score_submissions(preds, targets, meta_model=result.meta_model)
    pd.testing.assert_frame_equal(result.scores, separate, atol=1e-12, rtol=0)
    unstaked = score_round(preds, targets)
    assert unstaked.meta_model is None and list(unstaked.scores.columns) == ["corr"]


def test_score_round_refusals() -> None:
    rng = np.random.default_rng(7)
    preds, targets, _, _ = _round(rng)
    with pytest.raises(IndexMismatchError):
        score_round(preds, targets, stakes=pd.Series({99: 1.0}))
    with pytest.raises(InvalidParameterError):
        score_round(preds, targets, stakes=pd.Series(-1.0, index=preds.columns))
    holey = preds.copy()
    holey.iloc[0, 0] = np.nan
    with pytest.raises(MissingValuesError):
        score_round(holey, targets, stakes=pd.Series(1.0, index=preds.columns))

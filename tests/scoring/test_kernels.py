"""The numpy kernels on their own: ranks per era, neutralization paths, segment sums."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crowdalpha import scoring
from crowdalpha.errors import InvalidInputError
from crowdalpha.scoring import kernels
from crowdalpha.scoring.kernels import Segments


def _pandas_rank(x: np.ndarray, lengths: list[int]) -> np.ndarray:
    """Reference: pandas' average rank per era, as numerai-tools computes it."""
    era = np.repeat(np.arange(len(lengths)), lengths)
    out = []
    for row in x:
        s = pd.Series(row)
        grouped = s.groupby(era)
        out.append(((grouped.rank(method="average") - 0.5) / grouped.transform("count")).to_numpy())
    return np.array(out)


@settings(max_examples=40, deadline=None)
@given(
    lengths=st.lists(st.integers(1, 40), min_size=1, max_size=6),
    k=st.integers(1, 4),
    levels=st.integers(1, 8),
    nan_share=st.sampled_from([0.0, 0.2]),
    seed=st.integers(0, 2**16),
)
def test_ranks_per_era_are_bit_identical_to_pandas(
    lengths: list[int], k: int, levels: int, nan_share: float, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    n = sum(lengths)
    x = rng.integers(0, levels, size=(k, n)).astype(np.float64)  # many ties
    x[rng.random((k, n)) < nan_share] = np.nan
    seg = Segments.from_lengths(lengths)
    expected = _pandas_rank(x, lengths)
    np.testing.assert_array_equal(kernels.tie_kept_rank(x, seg), expected)
    if nan_share == 0.0:
        rc = kernels.rank_codes(x, seg)
        np.testing.assert_array_equal(rc.ranks(), expected)
        np.testing.assert_array_equal(rc.table_input[rc.codes], expected)
        assert rc.has_ties.tolist() == [
            any(
                len(np.unique(r[a:b])) < b - a
                for a, b in zip(seg.starts, seg.starts[1:], strict=False)
            )
            for r in x
        ]


def test_segments_refuse_empty_eras() -> None:
    with pytest.raises(InvalidInputError, match="at least one row"):
        Segments.from_lengths([3, 0, 2])
    seg = Segments.from_lengths([2, 3])
    assert seg.sum(np.array([[1.0, 2.0, 3.0, 4.0, 5.0]])).tolist() == [[3.0, 12.0]]
    assert seg.sum(np.array([True, True, False, True, True])).tolist() == [2, 2]


def _lstsq_reference(x: np.ndarray, f: np.ndarray, proportion: float = 1.0) -> np.ndarray:
    design = np.hstack([f.astype(np.float64), np.ones((f.shape[0], 1))])
    beta = np.linalg.lstsq(design, x.T, rcond=1e-6)[0]
    return x - proportion * (design @ beta).T


@pytest.mark.parametrize(
    "case",
    [
        "int8",
        "float",
        "constant_feature",
        "duplicated_feature",
        "few_rows",
        "collinear",
        "near_collinear",
    ],
)
def test_neutralize_matches_the_svd_least_squares_on_every_path(case: str) -> None:
    rng = np.random.default_rng(3)
    n, nf = 400, 30
    f: np.ndarray = rng.integers(0, 5, size=(n, nf), dtype=np.int8)
    if case == "float":
        f = rng.normal(size=(n, nf))
    elif case == "constant_feature":
        f[:, 4] = 2  # a feature missing for the era: all 2
    elif case == "duplicated_feature":
        f[:, 7] = f[:, 3]
    elif case == "few_rows":
        f = f[:20]
        n = 20
    elif case == "collinear":
        f = f.astype(np.float64)
        f[:, 5] = f[:, 1] + 2 * f[:, 2] - f[:, 3]
    elif case == "near_collinear":  # ill-conditioned but full rank: the refined path
        f = rng.normal(size=(n, nf))
        f[:, 5] = f[:, 1] + 1e-4 * rng.normal(size=n)
    x = rng.normal(size=(6, n))
    seg = Segments.single(n)
    for proportion in (1.0, 0.5):
        ours = kernels.neutralize(x, f, seg, proportion)
        np.testing.assert_allclose(ours, _lstsq_reference(x, f, proportion), atol=1e-9, rtol=0)


def test_neutralized_rows_are_orthogonal_to_the_features_and_constant_rows_nan() -> None:
    rng = np.random.default_rng(5)
    f = rng.integers(0, 5, size=(300, 12), dtype=np.int8)
    x = rng.normal(size=(3, 300))
    x[1] = 0.25
    out = kernels.neutralize(x, f, Segments.single(300))
    assert np.isnan(out[1]).all()
    live = out[[0, 2]]
    np.testing.assert_allclose(live @ f.astype(np.float64), 0.0, atol=1e-9)
    np.testing.assert_allclose(live.sum(axis=1), 0.0, atol=1e-9)


def test_neutralize_per_era_uses_each_eras_features() -> None:
    rng = np.random.default_rng(6)
    lengths = [120, 200, 90]
    f = rng.integers(0, 5, size=(sum(lengths), 8), dtype=np.int8)
    x = rng.normal(size=(2, sum(lengths)))
    seg = Segments.from_lengths(lengths)
    out = kernels.neutralize(x, f, seg)
    for a, b in zip(seg.starts, seg.starts[1:], strict=False):
        np.testing.assert_allclose(out[:, a:b], _lstsq_reference(x[:, a:b], f[a:b]), atol=1e-9)
    # the same with rows given through an index map instead of in era order
    perm = rng.permutation(sum(lengths))
    shuffled = np.empty_like(f)
    shuffled[perm] = f
    np.testing.assert_allclose(kernels.neutralize(x, shuffled, seg, rows=perm), out, atol=1e-12)


def test_integer_peak_decides_the_float32_paths() -> None:
    assert kernels._int_peak(np.full((5000, 3), 4, dtype=np.int8)) == 4
    assert kernels._int_peak(np.full((10, 3), -100, dtype=np.int16)) == 100
    assert kernels._int_peak(np.zeros((10, 3))) is None


def test_neutralize_beyond_the_float32_exact_size_switches_to_float64() -> None:
    rng = np.random.default_rng(8)
    f = rng.integers(-100, 101, size=(2000, 5)).astype(np.int16)  # exact up to 1677 rows
    x = rng.normal(size=(2, 2000))
    ours = kernels.neutralize(x, f, Segments.single(2000))
    np.testing.assert_allclose(ours, _lstsq_reference(x, f), atol=1e-9, rtol=0)


def test_score_submissions_equals_the_separate_metrics() -> None:
    rng = np.random.default_rng(11)
    n = 500
    idx = pd.Index([f"n{i:015x}" for i in range(n)])
    preds = pd.DataFrame(rng.random((n, 4)), index=idx, columns=list("abcd"))
    target = pd.Series(rng.choice([0, 0.25, 0.5, 0.75, 1.0], n), index=idx)
    feats = pd.DataFrame(rng.integers(0, 5, (n, 15), dtype=np.int8), index=idx)
    meta = scoring.stake_weight(preds, pd.Series([1.0, 2.0, 3.0, 4.0], index=preds.columns))
    for m, t in (
        (meta, target),
        (meta.mask(rng.random(n) < 0.1), target.mask(rng.random(n) < 0.1)),
    ):
        got = scoring.score_submissions(preds, t, meta_model=m, features=feats)
        assert list(got.columns) == ["corr", "mmc", "fnc"]
        pd.testing.assert_series_equal(
            got["corr"], scoring.numerai_corr(preds, t), check_names=False
        )
        pd.testing.assert_series_equal(
            got["mmc"], scoring.correlation_contribution(preds, m, t), check_names=False
        )
        pd.testing.assert_series_equal(
            got["fnc"], scoring.feature_neutral_corr(preds, feats, t), check_names=False
        )


def test_score_by_era_equals_the_separate_per_era_metrics() -> None:
    rng = np.random.default_rng(12)
    lengths = [150, 220, 90, 300]
    n = sum(lengths)
    idx = pd.Index([f"n{i:015x}" for i in rng.permutation(n)])
    eras = pd.Series(np.repeat(["0001", "0002", "0003", "0004"], lengths), index=idx)
    preds = pd.DataFrame(rng.random((n, 3)), index=idx, columns=["a", "b", "c"])
    target = pd.Series(rng.choice([0, 0.25, 0.5, 0.75, 1.0], n), index=idx)
    feats = pd.DataFrame(rng.integers(0, 5, (n, 12), dtype=np.int8), index=idx)
    meta = scoring.stake_weight(preds, pd.Series([1.0, 1.0, 2.0], index=preds.columns))
    shuffled = rng.permutation(n)
    for t, m in (
        (target, meta),
        (target.mask(rng.random(n) < 0.05), meta.mask(rng.random(n) < 0.05)),
    ):
        args = [x.iloc[shuffled] for x in (preds, t, eras, m, feats)]
        p_, t_, e_, m_, f_ = args
        got = scoring.score_by_era(p_, t_, e_, meta_model=m_, features=f_)
        assert sorted(got) == ["corr", "fnc", "mmc"]
        pd.testing.assert_frame_equal(got["corr"], scoring.numerai_corr_by_era(p_, t_, e_))
        pd.testing.assert_frame_equal(
            got["mmc"], scoring.correlation_contribution_by_era(p_, m_, t_, e_)
        )
        pd.testing.assert_frame_equal(
            got["fnc"], scoring.feature_neutral_corr_by_era(p_, f_, t_, e_)
        )
    assert list(scoring.score_by_era(preds, target, eras)) == ["corr"]

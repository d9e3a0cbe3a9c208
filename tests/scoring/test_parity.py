"""Parity of ``crowdalpha.scoring`` with numerai-tools 0.7.2, one era at a time.

Every parity case states whether the reference accepts or refuses it (so that a case written
for one path cannot silently test the other), and, where the kind of refusal is unambiguous,
which ``crowdalpha.errors`` class ours must raise. Golden values on tiny hand-made inputs and
the MMC identity from the reference's docstring are derived here without numerai-tools.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numerai_tools.scoring as nt
import numpy as np
import pandas as pd
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st
from scipy import stats

import crowdalpha.scoring as ca
from crowdalpha.errors import (
    DegenerateDataError,
    DuplicateIdsError,
    IndexMismatchError,
    InvalidInputError,
    InvalidParameterError,
    MissingValuesError,
    NotEnoughOverlapError,
    ScoringInputError,
    UnsortedIndexError,
)

from .conftest import (
    ATOL_CORR,
    ATOL_NEUTRAL,
    Builder,
    Case,
    assert_parity,
    assert_same,
    call_reference,
    drop_rows,
    make_features,
    make_ids,
    make_meta_model,
    make_predictions,
    make_targets,
    repeated_feature_rows,
    run_case,
    with_nans,
)


def _run_case(
    builders: dict[str, Builder],
    name: str,
    ours: Callable[..., Any],
    ref: Callable[..., Any],
    atol: float,
) -> tuple[Case, Any]:
    return run_case(builders, name, ours, ref, atol, seed_base=1000)


# ============================================================================================
# tie_kept_rank and gaussian
# ============================================================================================


def _rank_input(rng: np.random.Generator, name: str) -> Any:
    ids = make_ids(rng, 300)
    frame = make_predictions(rng, ids, 6, levels=None).sort_index()
    match name:
        case "series_continuous":
            return frame.iloc[:, 0]
        case "series_ties":
            return make_predictions(rng, ids, 1, levels=4).sort_index().iloc[:, 0]
        case "series_binary":
            return make_predictions(rng, ids, 1, levels=2).sort_index().iloc[:, 0]
        case "series_nan":
            return with_nans(rng, frame.iloc[:, 0], 0.2)
        case "series_all_nan":
            return frame.iloc[:, 0] * np.nan
        case "series_one_row":
            return frame.iloc[:1, 0]
        case "series_two_rows":
            return frame.iloc[:2, 0]
        case "series_int":
            return pd.Series(rng.integers(0, 5, 300), index=ids).sort_index()
        case "frame_ties_nan_constant":
            tied = make_predictions(rng, ids, 8, levels=3, nan_share=0.3, constant_cols=(2,))
            return tied.sort_index()
        case "frame_many_columns":
            return make_predictions(rng, ids, 50, levels=20).sort_index()
        case "frame_with_all_nan_column":
            return frame.assign(model_3=np.nan)
        case "series_unsorted":
            return make_predictions(rng, ids, 1).iloc[:, 0]
        case "frame_unsorted":
            return make_predictions(rng, ids, 3)
    raise AssertionError(name)


RANK_CASES = [
    "series_continuous",
    "series_ties",
    "series_binary",
    "series_nan",
    "series_all_nan",
    "series_one_row",
    "series_two_rows",
    "series_int",
    "frame_ties_nan_constant",
    "frame_many_columns",
    "frame_with_all_nan_column",
    "series_unsorted",
    "frame_unsorted",
]


@pytest.mark.parametrize("name", RANK_CASES)
def test_tie_kept_rank_parity(name: str) -> None:
    data = _rank_input(np.random.default_rng(RANK_CASES.index(name)), name)
    refuse = name.endswith("unsorted")
    result = assert_parity(
        lambda: ca.tie_kept_rank(data),
        lambda: nt.tie_kept_rank(data),
        atol=ATOL_CORR,
        expect_refusal=refuse,
        error=UnsortedIndexError,
    )
    if not refuse:
        assert type(result) is type(data)


@pytest.mark.parametrize("name", RANK_CASES)
def test_gaussian_of_ranks_parity(name: str) -> None:
    data = _rank_input(np.random.default_rng(RANK_CASES.index(name)), name)
    ranked = data.rank() / (data.count() + 1)  # in (0, 1), the same index and order as data
    refuse = name.endswith("unsorted")
    result = assert_parity(
        lambda: ca.gaussian(ranked),
        lambda: nt.gaussian(ranked),
        atol=ATOL_CORR,
        expect_refusal=refuse,
        error=UnsortedIndexError,
    )
    if not refuse:
        assert type(result) is type(data)


def test_gaussian_edge_values_parity() -> None:
    values = [0.0, 1e-12, 0.25, 0.5, 0.75, 1 - 1e-12, 1.0, np.nan, -0.5, 1.5]
    series = pd.Series(values, index=[f"n{i:015x}" for i in range(len(values))], name="p")
    frame = pd.DataFrame({"a": values, "b": values[::-1]}, index=series.index)
    assert_parity(lambda: ca.gaussian(series), lambda: nt.gaussian(series), atol=ATOL_CORR)
    assert_parity(lambda: ca.gaussian(frame), lambda: nt.gaussian(frame), atol=ATOL_CORR)


# ============================================================================================
# filter_sort_index
# ============================================================================================


def _fsi_case_builders() -> dict[str, Builder]:
    def series_pair(rng: np.random.Generator, n: int = 200) -> tuple[pd.Series, pd.Series]:
        ids = make_ids(rng, n)
        return make_targets(rng, ids), make_predictions(rng, ids, 1).iloc[:, 0]

    def frame_pair(rng: np.random.Generator, n: int = 200) -> tuple[pd.Series, pd.DataFrame]:
        ids = make_ids(rng, n)
        return make_targets(rng, ids), make_predictions(rng, ids, 3)

    def nan_within(rng: np.random.Generator) -> Case:
        t, p = frame_pair(rng)
        return Case((with_nans(rng, t, 0.1), make_predictions(rng, p.index, 3, nan_share=0.05)))

    def nan_beyond(rng: np.random.Generator) -> Case:
        t, p = frame_pair(rng)
        return Case((t, make_predictions(rng, p.index, 3, nan_share=0.25)), refuse=True)

    def missing(share: float, refuse: bool, ratio: float | None = None) -> Builder:
        def build(rng: np.random.Generator) -> Case:
            t, p = series_pair(rng)
            kwargs = {} if ratio is None else {"max_filtered_ratio": ratio}
            return Case((t, drop_rows(rng, p, share)), kwargs, refuse, NotEnoughOverlapError)

        return build

    def float_boundary(rng: np.random.Generator) -> Case:
        # 3 of 10 ids kept: 3 / 10 >= 1 - 0.7 is False in floating point (0.30000000000000004)
        t, p = series_pair(rng, 10)
        return Case(
            (t, p.iloc[:3]), {"max_filtered_ratio": 0.7}, refuse=True, error=NotEnoughOverlapError
        )

    def empty(rng: np.random.Generator) -> Case:
        t, p = series_pair(rng)
        return Case((t.iloc[:0], p), refuse=True)

    def disjoint(rng: np.random.Generator) -> Case:
        t, p = series_pair(rng)
        other = p.set_axis(make_ids(rng, len(p)))
        return Case((t, other), refuse=True, error=NotEnoughOverlapError)

    return {
        "series_series": lambda rng: Case(series_pair(rng)),
        "series_frame": lambda rng: Case(frame_pair(rng)),
        "frame_series": lambda rng: Case(frame_pair(rng)[::-1]),
        "nan_within_budget": nan_within,
        "nan_beyond_budget": nan_beyond,
        "missing_10pct": missing(0.1, False),
        "missing_20pct_exact_boundary": missing(0.2, False),
        "missing_30pct": missing(0.3, True),
        "missing_30pct_ratio_035": missing(0.3, False, 0.35),
        "missing_30pct_ratio_01": missing(0.3, True, 0.1),
        "ratio_07_float_boundary": float_boundary,
        "empty_first": empty,
        "disjoint_ids": disjoint,
    }


FSI_CASES = _fsi_case_builders()


@pytest.mark.parametrize("name", sorted(FSI_CASES))
def test_filter_sort_index_parity(name: str) -> None:
    case, result = _run_case(FSI_CASES, name, ca.filter_sort_index, nt.filter_sort_index, 0.0)
    if result is not None:
        ref = nt.filter_sort_index(*case.args, **case.kwargs)
        for ours_part, ref_part in zip(result, ref, strict=True):
            assert ours_part.index.is_monotonic_increasing
            if isinstance(ref_part, pd.DataFrame):
                pd.testing.assert_series_equal(ours_part.dtypes, ref_part.dtypes)
            else:
                assert ours_part.dtype == ref_part.dtype
                assert ours_part.name == ref_part.name


# ============================================================================================
# neutralize and orthogonalize
# ============================================================================================


def _neutralize_case_builders() -> dict[str, Builder]:
    def data(
        rng: np.random.Generator, n: int = 300, n_features: int = 10, **kw: Any
    ) -> tuple[pd.DataFrame, pd.DataFrame]:
        ids = make_ids(rng, n).sort_values()
        preds = nt.gaussian(nt.tie_kept_rank(make_predictions(rng, ids, 4, **kw)))
        return preds, make_features(rng, ids, n_features)

    def proportion(p: float) -> Builder:
        return lambda rng: Case(data(rng), {"proportion": p})

    def zero_std_column(rng: np.random.Generator) -> Case:
        df, f = data(rng, constant_cols=(1,))
        return Case((df, f))

    def shuffled_same_order(rng: np.random.Generator) -> Case:
        df, f = data(rng)
        order = rng.permutation(len(df))
        return Case((df.iloc[order], f.iloc[order]))

    def raw_predictions(rng: np.random.Generator) -> Case:
        ids = make_ids(rng, 300)
        return Case((make_predictions(rng, ids, 3, levels=5), make_features(rng, ids, 6)))

    def single_neutralizer(rng: np.random.Generator) -> Case:
        df, f = data(rng)
        return Case((df, f.iloc[:, [0]]), {"proportion": 0.5})

    def wide(rng: np.random.Generator) -> Case:
        df, f = data(rng, n=30, n_features=50)
        return Case((df, f))

    def nan_df(rng: np.random.Generator) -> Case:
        df, f = data(rng)
        df = df.copy()
        df.iloc[3, 2] = np.nan
        return Case((df, f), refuse=True, error=MissingValuesError)

    def nan_neutralizers(rng: np.random.Generator) -> Case:
        df, f = data(rng)
        f = f.astype(np.float64)
        f.iloc[5, 1] = np.nan
        return Case((df, f), refuse=True, error=MissingValuesError)

    def order_mismatch(rng: np.random.Generator) -> Case:
        df, f = data(rng)
        return Case((df, f.iloc[::-1]), refuse=True, error=IndexMismatchError)

    def length_mismatch(rng: np.random.Generator) -> Case:
        df, f = data(rng)
        return Case((df, f.iloc[:-1]), refuse=True, error=IndexMismatchError)

    return {
        "proportion_1": proportion(1.0),
        "proportion_05": proportion(0.5),
        "proportion_0": proportion(0.0),
        "zero_std_column": zero_std_column,
        "shuffled_ids_same_order": shuffled_same_order,
        "raw_tied_predictions": raw_predictions,
        "single_neutralizer": single_neutralizer,
        "more_neutralizers_than_rows": wide,
        "nan_in_df": nan_df,
        "nan_in_neutralizers": nan_neutralizers,
        "index_order_mismatch": order_mismatch,
        "index_length_mismatch": length_mismatch,
    }


NEUTRALIZE_CASES = _neutralize_case_builders()


@pytest.mark.parametrize("name", sorted(NEUTRALIZE_CASES))
def test_neutralize_parity(name: str) -> None:
    _run_case(NEUTRALIZE_CASES, name, ca.neutralize, nt.neutralize, ATOL_NEUTRAL)


def _orthogonalize_inputs(name: str) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    v = rng.standard_normal((200, 5))
    u = rng.standard_normal(200)
    match name:
        case "matrix_vector":
            return v, u
        case "matrix_column":
            return v, u.reshape(-1, 1)
        case "u_is_a_column_of_v":
            return v, v[:, 2].copy()
        case "single_column_v":
            return v[:, :1], u
        case "zero_u":
            return v, np.zeros(200)
    raise AssertionError(name)


def test_orthogonalize_of_a_vector_is_a_vector() -> None:
    """Deliberate deviation: the reference broadcasts a 1-D ``v`` into an (n, n) matrix."""
    v, u = _orthogonalize_inputs("matrix_vector")
    ours = ca.orthogonalize(v[:, 0], u)
    assert ours.shape == v[:, :1].shape[:1]
    np.testing.assert_allclose(ours, nt.orthogonalize(v[:, :1], u)[:, 0], atol=ATOL_CORR, rtol=0)


@pytest.mark.parametrize(
    "name",
    [
        "matrix_vector",
        "matrix_column",
        "u_is_a_column_of_v",
        "single_column_v",
        "zero_u",
    ],
)
def test_orthogonalize_parity(name: str) -> None:
    v, u = _orthogonalize_inputs(name)
    assert_parity(
        lambda: ca.orthogonalize(v, u),
        lambda: nt.orthogonalize(v, u),
        atol=ATOL_CORR,
        expect_refusal=False,
    )


# ============================================================================================
# stake_weight
# ============================================================================================


def _stake_weight_case_builders() -> dict[str, Builder]:
    def preds(rng: np.random.Generator, nan_share: float = 0.0) -> pd.DataFrame:
        ranked = nt.tie_kept_rank(make_predictions(rng, make_ids(rng, 250), 6).sort_index())
        holes = make_predictions(rng, ranked.index, 6, nan_share=nan_share).isna()
        return ranked.mask(holes)

    def stakes(names: list[str], values: list[float]) -> pd.Series:
        return pd.Series(values, index=names, name="stake")

    return {
        "subset_other_order": lambda rng: Case(
            (preds(rng), stakes(["model_4", "model_0", "model_2"], [10.0, 2.5, 0.75]))
        ),
        "all_models": lambda rng: Case(
            (preds(rng), stakes([f"model_{j}" for j in range(6)], [1, 2, 3, 4, 5, 6]))
        ),
        "some_zero_stakes": lambda rng: Case(
            (preds(rng), stakes(["model_1", "model_3", "model_5"], [0.0, 7.0, 0.0]))
        ),
        "nan_predictions": lambda rng: Case(
            (preds(rng, 0.2), stakes(["model_0", "model_1", "model_2"], [1.0, 2.0, 3.0]))
        ),
        "one_model": lambda rng: Case((preds(rng), stakes(["model_3"], [42.0]))),
        "unshuffled_ids": lambda rng: Case(
            (preds(rng).iloc[::-1], stakes(["model_0", "model_5"], [3.0, 1.0]))
        ),
        "unknown_model": lambda rng: Case(
            (preds(rng), stakes(["model_0", "nobody"], [1.0, 1.0])), refuse=True
        ),
    }


STAKE_WEIGHT_CASES = _stake_weight_case_builders()


def test_stake_weight_refuses_stakes_summing_to_zero() -> None:
    """Deliberate deviation: the reference returns NaN for every row."""
    rng = np.random.default_rng(1)
    preds = make_predictions(rng, make_ids(rng, 50), 2)
    zero = pd.Series([0.0, 0.0], index=preds.columns)
    with pytest.raises(InvalidParameterError) as info:
        ca.stake_weight(preds, zero)
    assert info.value.code == "invalid_parameter"


@pytest.mark.parametrize("name", sorted(STAKE_WEIGHT_CASES))
def test_stake_weight_parity(name: str) -> None:
    _run_case(STAKE_WEIGHT_CASES, name, ca.stake_weight, nt.stake_weight, ATOL_CORR)


# ============================================================================================
# numerai_corr
# ============================================================================================


def _numerai_corr_case_builders() -> dict[str, Builder]:
    def build(
        n: int = 400,
        n_cols: int = 5,
        *,
        levels: int | None = None,
        pred_nan: float = 0.0,
        target_nan: float = 0.0,
        target_kind: str = "bins",
        constant_cols: tuple[int, ...] = (),
        drop_targets: float = 0.0,
        drop_predictions: float = 0.0,
        int_dtype: bool = False,
        refuse: bool = False,
        error: type[InvalidInputError] = InvalidInputError,
        **kwargs: Any,
    ) -> Builder:
        def builder(rng: np.random.Generator) -> Case:
            ids = make_ids(rng, n)
            t = make_targets(rng, ids, kind=target_kind)
            p = make_predictions(
                rng,
                ids,
                n_cols,
                targets=t,
                levels=levels,
                nan_share=pred_nan,
                constant_cols=constant_cols,
            )
            t = with_nans(rng, t, target_nan)
            if drop_targets:
                t = drop_rows(rng, t, drop_targets)
            if drop_predictions:
                p = drop_rows(rng, p, drop_predictions)
            if int_dtype:
                p = p.fillna(0).astype(np.int64)
            t = t.iloc[rng.permutation(len(t))]  # targets in another order than predictions
            return Case((p, t), kwargs, refuse, error)

        return builder

    def nan_spread_over_columns(rng: np.random.Generator) -> Case:
        # 8% of the rows NaN in each of three columns: each column alone is within budget,
        # but the reference drops a row when any column is NaN, losing 24% of the rows.
        ids = make_ids(rng, 400)
        t = make_targets(rng, ids)
        p = make_predictions(rng, ids, 3, targets=t)
        rows = rng.permutation(400)[:96].reshape(3, 32)
        for col in range(3):
            p.iloc[rows[col], col] = np.nan
        return Case((p, t), refuse=True, error=NotEnoughOverlapError)

    def all_nan_column(rng: np.random.Generator) -> Case:
        # one submission without any value: every row is dropped, for every column
        ids = make_ids(rng, 100)
        t = make_targets(rng, ids)
        p = make_predictions(rng, ids, 3, targets=t)
        p["model_1"] = np.nan
        return Case((p, t), refuse=True, error=NotEnoughOverlapError)

    def zero_rows(rng: np.random.Generator) -> Case:
        ids = make_ids(rng, 10)
        t = make_targets(rng, ids)
        return Case((make_predictions(rng, ids, 2).iloc[:0], t.iloc[:0]), refuse=True)

    def constant_targets(rng: np.random.Generator) -> Case:
        ids = make_ids(rng, 100)
        return Case((make_predictions(rng, ids, 3), pd.Series(0.5, index=ids, name="target")))

    def two_rows(rng: np.random.Generator) -> Case:
        ids = make_ids(rng, 2)
        t = pd.Series([0.25, 0.75], index=ids, name="target")
        p = pd.DataFrame({"a": [0.1, 0.9], "b": [0.8, 0.3], "c": [0.5, 0.5]}, index=ids)
        return Case((p, t))

    def target_extra_ids(rng: np.random.Generator) -> Case:
        # targets cover 12% more ids than the predictions; they shift the centering mean
        ids = make_ids(rng, 500)
        t = make_targets(rng, ids)
        return Case((make_predictions(rng, ids[:440], 4, targets=t), t))

    def float_boundary(rng: np.random.Generator) -> Case:
        # 3 / 10 >= 1 - 0.7 is False in floating point (1 - 0.7 == 0.30000000000000004)
        ids = make_ids(rng, 10)
        t = make_targets(rng, ids, kind="uniform")
        p = make_predictions(rng, ids[:3], 2)
        return Case((p, t), {"max_filtered_index_ratio": 0.7}, True, NotEnoughOverlapError)

    too_big = InvalidParameterError
    return {
        "continuous": build(),
        "ties_rounded": build(levels=4),
        "ties_binary": build(levels=2),
        "ties_binary_int_dtype": build(levels=2, int_dtype=True),
        "uniform_targets": build(target_kind="uniform"),
        "bins_targets_no_pow15": build(target_pow15=False),
        "normal_targets_pow15": build(target_kind="normal", target_pow15=True),
        "normal_targets_no_pow15": build(target_kind="normal", target_pow15=False),
        "nan_predictions_10pct": build(pred_nan=0.1),
        "nan_predictions_20pct_boundary": build(pred_nan=0.2),
        "nan_predictions_25pct": build(pred_nan=0.25, refuse=True, error=NotEnoughOverlapError),
        "nan_targets_15pct": build(target_nan=0.15),
        "nan_targets_30pct": build(target_nan=0.3, refuse=True, error=NotEnoughOverlapError),
        "nan_both_8pct": build(pred_nan=0.08, target_nan=0.08),
        "nan_spread_over_columns": nan_spread_over_columns,
        "all_nan_column": all_nan_column,
        "zero_rows": zero_rows,
        "constant_column": build(constant_cols=(1,)),
        "single_constant_column": build(n_cols=1, constant_cols=(0,)),
        "constant_targets": constant_targets,
        "one_row": build(n=1, refuse=True, error=DegenerateDataError),
        "two_rows": two_rows,
        "three_rows": build(n=3, n_cols=4, levels=3),
        "huge_era": build(n=50_000, n_cols=3, levels=1000),
        "many_columns": build(n=1000, n_cols=50, levels=20, pred_nan=0.05),
        "targets_missing_10pct_of_ids": build(drop_targets=0.1),
        "predictions_missing_10pct_of_ids": build(drop_predictions=0.1),
        "targets_missing_30pct_of_ids": build(
            drop_targets=0.3, refuse=True, error=NotEnoughOverlapError
        ),
        "predictions_missing_30pct_of_ids": build(
            drop_predictions=0.3, refuse=True, error=NotEnoughOverlapError
        ),
        "targets_with_extra_ids": target_extra_ids,
        "ratio_035_with_30pct_missing": build(drop_targets=0.3, max_filtered_index_ratio=0.35),
        "ratio_0_with_nothing_missing": build(max_filtered_index_ratio=0.0),
        "ratio_07_float_boundary": float_boundary,
        "top_bottom_1": build(top_bottom=1),
        "top_bottom_10": build(top_bottom=10),
        "top_bottom_10_ties": build(levels=3, top_bottom=10),
        "top_bottom_50_binary": build(levels=2, top_bottom=50),
        "top_bottom_10_nan": build(pred_nan=0.1, target_nan=0.05, top_bottom=10),
        "top_bottom_10_normal_targets": build(
            target_kind="normal", target_pow15=False, top_bottom=10
        ),
        "top_bottom_half_even": build(n=400, top_bottom=200),
        "top_bottom_half_odd": build(n=401, top_bottom=200),
        "top_bottom_half_plus_one_even": build(n=400, top_bottom=201, refuse=True, error=too_big),
        "top_bottom_half_plus_one_odd": build(n=401, top_bottom=201, refuse=True, error=too_big),
        "top_bottom_beyond_n": build(n=50, top_bottom=60, refuse=True, error=too_big),
        "top_bottom_0": build(top_bottom=0),
        "top_bottom_none": build(top_bottom=None),
    }


NUMERAI_CORR_CASES = _numerai_corr_case_builders()


@pytest.mark.parametrize("name", sorted(NUMERAI_CORR_CASES))
def test_numerai_corr_parity(name: str) -> None:
    _run_case(NUMERAI_CORR_CASES, name, ca.numerai_corr, nt.numerai_corr, ATOL_CORR)


# ============================================================================================
# correlation_contribution
# ============================================================================================


def _correlation_contribution_case_builders() -> dict[str, Builder]:
    def build(
        n: int = 400,
        n_cols: int = 4,
        *,
        levels: int | None = None,
        meta_levels: int | None = None,
        pred_nan: float = 0.0,
        meta_nan: float = 0.0,
        target_nan: float = 0.0,
        target_kind: str = "bins",
        constant_cols: tuple[int, ...] = (),
        drop_predictions: float = 0.0,
        drop_meta: float = 0.0,
        drop_targets: float = 0.0,
        int_dtype: bool = False,
        refuse: bool = False,
        error: type[InvalidInputError] = InvalidInputError,
        **kwargs: Any,
    ) -> Builder:
        def builder(rng: np.random.Generator) -> Case:
            ids = make_ids(rng, n)
            t = make_targets(rng, ids, kind=target_kind)
            p = make_predictions(
                rng,
                ids,
                n_cols,
                targets=t,
                levels=levels,
                nan_share=pred_nan,
                constant_cols=constant_cols,
            )
            m = make_meta_model(rng, ids, targets=t)
            if meta_levels is not None:
                m = (m * meta_levels).round() / meta_levels
            m = with_nans(rng, m, meta_nan)
            t = with_nans(rng, t, target_nan)
            p = drop_rows(rng, p, drop_predictions)
            m = drop_rows(rng, m, drop_meta)
            t = drop_rows(rng, t, drop_targets)
            if int_dtype:
                p = p.astype(np.int64)
            # the three inputs each come in their own order
            m = m.iloc[rng.permutation(len(m))]
            t = t.iloc[rng.permutation(len(t))]
            return Case((p, m, t), kwargs, refuse, error)

        return builder

    def sequential_overlap(rng: np.random.Generator) -> Case:
        # meta model lacks 15% of the ids, targets lack another (disjoint) 15%: the reference
        # filters pairwise, each time against the already-filtered data, and accepts.
        ids = make_ids(rng, 400)
        t = make_targets(rng, ids)
        p = make_predictions(rng, ids, 3, targets=t)
        m = make_meta_model(rng, ids, targets=t)
        order = rng.permutation(400)
        return Case((p, m.iloc[order[60:]], t.iloc[np.concatenate([order[:60], order[120:]])]))

    def constant_meta(rng: np.random.Generator) -> Case:
        ids = make_ids(rng, 200)
        t = make_targets(rng, ids)
        return Case((make_predictions(rng, ids, 3, targets=t), pd.Series(0.5, index=ids), t))

    def predictions_equal_meta(rng: np.random.Generator) -> Case:
        ids = make_ids(rng, 300)
        t = make_targets(rng, ids)
        p = make_predictions(rng, ids, 3, targets=t)
        m = p["model_1"].rename("numerai_meta_model")
        return Case((p, m, t))

    def small(n: int) -> Builder:
        def builder(rng: np.random.Generator) -> Case:
            ids = make_ids(rng, n)
            t = pd.Series(np.linspace(0.0, 1.0, n) if n > 1 else [0.75], index=ids, name="t")
            p = make_predictions(rng, ids, 3)
            return Case((p, make_meta_model(rng, ids), t))

        return builder

    def outlier_target(inside: bool) -> Builder:
        # one target outside [0, 1]: the reference multiplies by 4 only when every *aligned*
        # target lies in [0, 1], so an outlier on an id the predictions lack changes nothing
        def builder(rng: np.random.Generator) -> Case:
            ids = make_ids(rng, 300)
            t = make_targets(rng, ids)
            p = make_predictions(rng, ids[:280], 3, targets=t)
            m = make_meta_model(rng, ids[:280], targets=t)
            t.iloc[5 if inside else 290] = 1.7
            return Case((p, m, t))

        return builder

    too_big = InvalidParameterError
    return {
        "continuous": build(),
        "ties_rounded": build(levels=4, meta_levels=10),
        "ties_binary": build(levels=2),
        "ties_binary_int_dtype": build(levels=2, int_dtype=True),
        "nan_predictions_10pct": build(pred_nan=0.1),
        "nan_meta_10pct": build(meta_nan=0.1),
        "nan_targets_10pct": build(target_nan=0.1),
        "nan_everywhere_6pct": build(pred_nan=0.06, meta_nan=0.06, target_nan=0.06),
        "nan_predictions_25pct": build(pred_nan=0.25, refuse=True, error=NotEnoughOverlapError),
        "meta_missing_10pct_of_ids": build(drop_meta=0.1),
        "targets_missing_10pct_of_ids": build(drop_targets=0.1),
        "predictions_missing_10pct_of_ids": build(drop_predictions=0.1),
        "meta_missing_30pct_of_ids": build(drop_meta=0.3, refuse=True, error=NotEnoughOverlapError),
        "targets_missing_30pct_of_ids": build(
            drop_targets=0.3, refuse=True, error=NotEnoughOverlapError
        ),
        "sequential_overlap_15_15": sequential_overlap,
        "constant_prediction_column": build(constant_cols=(2,)),
        "constant_meta": constant_meta,
        "predictions_equal_meta": predictions_equal_meta,
        "one_row": small(1),
        "two_rows": small(2),
        "three_rows": small(3),
        "huge_era": build(n=50_000, n_cols=3),
        "many_columns": build(n=1000, n_cols=50, levels=20),
        "normal_targets": build(target_kind="normal"),
        "uniform_targets": build(target_kind="uniform"),
        "outlier_target_on_unaligned_id": outlier_target(inside=False),
        "outlier_target_on_aligned_id": outlier_target(inside=True),
        "top_bottom_1": build(top_bottom=1),
        "top_bottom_10": build(top_bottom=10),
        "top_bottom_10_ties": build(levels=3, meta_levels=4, top_bottom=10),
        "top_bottom_10_nan": build(pred_nan=0.05, meta_nan=0.05, top_bottom=10),
        "top_bottom_10_normal_targets": build(target_kind="normal", top_bottom=10),
        "top_bottom_half_even": build(n=400, top_bottom=200),
        "top_bottom_half_odd": build(n=401, top_bottom=200),
        "top_bottom_half_plus_one": build(n=400, top_bottom=201, refuse=True, error=too_big),
        "top_bottom_half_plus_one_one_column": build(
            n=401, n_cols=1, top_bottom=201, refuse=True, error=too_big
        ),
        "top_bottom_beyond_n": build(n=50, top_bottom=60, refuse=True, error=too_big),
        "top_bottom_0": build(top_bottom=0),
    }


CC_CASES = _correlation_contribution_case_builders()


@pytest.mark.parametrize("name", sorted(CC_CASES))
def test_correlation_contribution_parity(name: str) -> None:
    _run_case(CC_CASES, name, ca.correlation_contribution, nt.correlation_contribution, ATOL_CORR)


# ============================================================================================
# feature_neutral_corr and max_feature_correlation
# ============================================================================================


def _fnc_case_builders() -> dict[str, Builder]:
    def build(
        n: int = 600,
        n_cols: int = 3,
        n_features: int = 12,
        *,
        levels: int | None = None,
        constant_cols: tuple[int, ...] = (),
        target_kind: str = "bins",
        target_nan: float = 0.0,
        drop_targets: float = 0.0,
        extra: bool = True,
        refuse: bool = False,
        error: type[InvalidInputError] = InvalidInputError,
        **kwargs: Any,
    ) -> Builder:
        def builder(rng: np.random.Generator) -> Case:
            ids = make_ids(rng, n).sort_values()
            t = make_targets(rng, ids, kind=target_kind)
            p = make_predictions(rng, ids, n_cols, targets=t, levels=levels)
            f = make_features(rng, ids, n_features, constant=extra, duplicate=extra)
            # let the predictions lean on two features so that neutralizing matters
            p = p + 0.05 * f.iloc[:, :2].to_numpy(dtype=np.float64).sum(axis=1)[:, None]
            if levels is not None:
                p = p.round(1)  # keep ties after the lean
            for col in constant_cols:
                p.iloc[:, col] = 0.5
            t = drop_rows(rng, with_nans(rng, t, target_nan), drop_targets)
            t = t.iloc[rng.permutation(len(t))]  # targets may come in any order
            return Case((p, f, t), kwargs, refuse, error)

        return builder

    def mutate(base: Builder, change: Callable[[Case], Case]) -> Builder:
        return lambda rng: change(base(rng))

    def nan_predictions(case: Case) -> Case:
        p, f, t = case.args
        p = p.copy()
        p.iloc[7, 1] = np.nan
        return Case((p, f, t), refuse=True, error=MissingValuesError)

    def nan_features(case: Case) -> Case:
        p, f, t = case.args
        f = f.astype(np.float64)
        f.iloc[11, 3] = np.nan
        return Case((p, f, t), refuse=True, error=MissingValuesError)

    def unsorted(case: Case) -> Case:
        p, f, t = case.args
        return Case((p.iloc[::-1], f.iloc[::-1], t), refuse=True, error=UnsortedIndexError)

    def features_other_order(case: Case) -> Case:
        p, f, t = case.args
        return Case((p, f.iloc[::-1], t), refuse=True, error=IndexMismatchError)

    def features_fewer_rows(case: Case) -> Case:
        p, f, t = case.args
        return Case((p, f.iloc[:-3], t), refuse=True, error=IndexMismatchError)

    base = build()
    return {
        "basic": base,
        "ties_rounded": build(levels=4),
        "ties_binary": build(levels=2),
        "no_constant_or_duplicate_features": build(extra=False),
        "single_feature": build(n_features=1, extra=False),
        "many_features": build(n=1500, n_cols=4, n_features=60),
        "many_columns": build(n=800, n_cols=20, n_features=25, levels=50),
        "targets_nan_10pct": build(target_nan=0.1),
        "targets_missing_10pct_of_ids": build(drop_targets=0.1),
        "targets_missing_30pct_of_ids": build(drop_targets=0.3, refuse=True),
        "normal_targets": build(target_kind="normal"),
        "top_bottom_10": build(top_bottom=10),
        "top_bottom_half": build(top_bottom=300),
        "top_bottom_half_plus_one": build(top_bottom=301, refuse=True),
        "one_row": build(n=1, refuse=True),
        "constant_prediction_column": build(constant_cols=(1,), refuse=True),
        "nan_predictions": mutate(base, nan_predictions),
        "nan_features": mutate(base, nan_features),
        "unsorted_predictions_and_features": mutate(base, unsorted),
        "features_in_other_order": mutate(base, features_other_order),
        "features_fewer_rows": mutate(base, features_fewer_rows),
    }


FNC_CASES = _fnc_case_builders()


@pytest.mark.parametrize("name", sorted(FNC_CASES))
def test_feature_neutral_corr_parity(name: str) -> None:
    case, _ = _run_case(
        FNC_CASES, name, ca.feature_neutral_corr, nt.feature_neutral_corr, ATOL_NEUTRAL
    )
    if not case.refuse:
        assert repeated_feature_rows(case.args[0], case.args[1]) == 0


def _mfc_case_builders() -> dict[str, Builder]:
    def build(
        n: int = 500,
        *,
        lean: float = 0.0,
        levels: int | None = None,
        refuse: bool = False,
        error: type[InvalidInputError] = InvalidInputError,
        **kwargs: Any,
    ) -> Builder:
        def builder(rng: np.random.Generator) -> Case:
            ids = make_ids(rng, n).sort_values()
            f = make_features(rng, ids, 10)
            s = make_predictions(rng, ids, 1, levels=levels).iloc[:, 0]
            # lean on feature_000, which has a duplicate: the first of the two must win
            s = s + lean * f["feature_000"].to_numpy(dtype=np.float64)
            return Case((s, f), kwargs, refuse, error)

        return builder

    def mutate(base: Builder, change: Callable[[Case], Case]) -> Builder:
        return lambda rng: change(base(rng))

    def unsorted(case: Case) -> Case:
        s, f = case.args
        return Case((s.iloc[::-1], f.iloc[::-1]), refuse=True, error=UnsortedIndexError)

    def nan_in_s(case: Case) -> Case:
        s, f = case.args
        s = s.copy()
        s.iloc[4] = np.nan
        return Case((s, f), refuse=True)

    return {
        "weak": build(),
        "leaning_on_duplicated_feature": build(lean=0.3),
        "anti_correlated": build(lean=-0.3),
        "ties": build(levels=3, lean=0.1),
        "top_bottom_1": build(top_bottom=1, lean=0.1),
        "top_bottom_10": build(top_bottom=10, lean=0.1),
        "top_bottom_10_ties": build(top_bottom=10, levels=4, lean=0.1),
        "top_bottom_half": build(top_bottom=250),
        "top_bottom_0": build(top_bottom=0, lean=0.2),
        "top_bottom_half_plus_one": build(top_bottom=251, refuse=True),
        "unsorted": mutate(build(), unsorted),
        "nan_in_series": mutate(build(), nan_in_s),
    }


MFC_CASES = _mfc_case_builders()


@pytest.mark.parametrize("name", sorted(MFC_CASES))
def test_max_feature_correlation_parity(name: str) -> None:
    _, result = _run_case(
        MFC_CASES, name, ca.max_feature_correlation, nt.max_feature_correlation, ATOL_CORR
    )
    if result is not None:
        feature, value = result
        assert isinstance(feature, str)
        assert 0.0 <= value <= 1.0 + 1e-12
    if name == "leaning_on_duplicated_feature":
        assert result is not None
        assert result[0] == "feature_000"


# ============================================================================================
# refusals the reference does not make: duplicated ids
# ============================================================================================


def _with_duplicate(data: Any) -> Any:
    """``data`` with its first row repeated at the end (same id twice)."""
    return pd.concat([data, data.iloc[:1]])


def test_duplicate_ids_are_refused() -> None:
    rng = np.random.default_rng(99)
    ids = make_ids(rng, 200)
    t = make_targets(rng, ids)
    p = make_predictions(rng, ids, 3, targets=t)
    m = make_meta_model(rng, ids, targets=t)
    sorted_ids = ids.sort_values()
    f = make_features(rng, sorted_ids, 5)
    p_sorted = p.loc[sorted_ids]
    dup_sorted_p = _with_duplicate(p_sorted).sort_index(kind="stable")
    dup_sorted_f = _with_duplicate(f).sort_index(kind="stable")

    calls: list[Callable[[], Any]] = [
        lambda: ca.numerai_corr(_with_duplicate(p), t),
        lambda: ca.numerai_corr(p, _with_duplicate(t)),
        lambda: ca.correlation_contribution(_with_duplicate(p), m, t),
        lambda: ca.correlation_contribution(p, _with_duplicate(m), t),
        lambda: ca.correlation_contribution(p, m, _with_duplicate(t)),
        lambda: ca.feature_neutral_corr(dup_sorted_p, dup_sorted_f, t),
        lambda: ca.filter_sort_index(_with_duplicate(t), p),
        lambda: ca.filter_sort_index(t, _with_duplicate(p)),
    ]
    for call in calls:
        with pytest.raises(DuplicateIdsError) as excinfo:
            call()
        assert excinfo.value.code == "duplicate_ids"


def test_duplicate_ids_refused_even_where_the_reference_accepts() -> None:
    rng = np.random.default_rng(98)
    ids = make_ids(rng, 100)
    t = make_targets(rng, ids)
    p = make_predictions(rng, ids, 2, targets=t)
    dup_p, dup_t = _with_duplicate(p), _with_duplicate(t)
    # the same id twice in both inputs: the reference scores it, counting the row twice
    reference = call_reference(lambda: nt.numerai_corr(dup_p, dup_t))
    assert reference.notna().all()
    with pytest.raises(DuplicateIdsError):
        ca.numerai_corr(dup_p, dup_t)
    sorted_p = dup_p.sort_index(kind="stable")
    assert call_reference(lambda: nt.tie_kept_rank(sorted_p)).notna().all().all()
    with pytest.raises(DuplicateIdsError):
        ca.feature_neutral_corr(sorted_p, make_features(rng, sorted_p.index, 3), dup_t)


# ============================================================================================
# the error hierarchy
# ============================================================================================


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (NotEnoughOverlapError, "not_enough_overlapping_ids"),
        (MissingValuesError, "missing_values"),
        (DuplicateIdsError, "duplicate_ids"),
        (UnsortedIndexError, "unsorted_index"),
        (IndexMismatchError, "index_mismatch"),
        (DegenerateDataError, "degenerate_data"),
    ],
)
def test_scoring_errors_are_value_errors_with_stable_codes(
    error: type[ScoringInputError], code: str
) -> None:
    assert issubclass(error, ScoringInputError)
    assert issubclass(error, InvalidInputError)
    assert issubclass(error, ValueError)
    assert error.code == code
    assert issubclass(InvalidParameterError, InvalidInputError)


# ============================================================================================
# our functions leave their inputs alone
# ============================================================================================


def test_inputs_are_not_mutated() -> None:
    rng = np.random.default_rng(5)
    ids = make_ids(rng, 300)
    t = with_nans(rng, make_targets(rng, ids), 0.05)
    p = make_predictions(rng, ids, 3, targets=t, nan_share=0.05, constant_cols=(2,))
    m = with_nans(rng, make_meta_model(rng, ids, targets=t), 0.05)
    sorted_ids = ids.sort_values()
    p_sorted = make_predictions(rng, sorted_ids, 3, constant_cols=(1,))
    f = make_features(rng, sorted_ids, 6)
    inputs = [t, p, m, p_sorted, f]
    copies = [x.copy(deep=True) for x in inputs]

    ca.numerai_corr(p, t)
    ca.numerai_corr(p, t, top_bottom=20)
    ca.correlation_contribution(p, m, t)
    ca.correlation_contribution(p, m, t, top_bottom=20)
    ca.neutralize(p_sorted, f, proportion=0.5)
    ca.tie_kept_rank(p_sorted)
    ca.filter_sort_index(t, p)
    with pytest.raises(InvalidInputError):
        ca.feature_neutral_corr(p_sorted, f, t)  # constant column: the reference refuses too

    for original, copy in zip(inputs, copies, strict=True):
        if isinstance(copy, pd.DataFrame):
            pd.testing.assert_frame_equal(original, copy)
        else:
            pd.testing.assert_series_equal(original, copy)


# ============================================================================================
# property tests: random sizes, tie levels, NaN shares, overlaps, top_bottom
# ============================================================================================


@st.composite
def _scoring_inputs(draw: st.DrawFn) -> dict[str, Any]:
    n = draw(st.integers(1, 300))
    return {
        "n": n,
        "n_cols": draw(st.integers(1, 4)),
        "levels": draw(st.sampled_from([None, 2, 3, 5, 50])),
        "meta_levels": draw(st.sampled_from([None, 3, 20])),
        "pred_nan": draw(st.sampled_from([0.0, 0.0, 0.05, 0.1, 0.3])),
        "meta_nan": draw(st.sampled_from([0.0, 0.05])),
        "target_nan": draw(st.sampled_from([0.0, 0.0, 0.05, 0.1])),
        "drop_targets": draw(st.sampled_from([0.0, 0.0, 0.05, 0.3])),
        "target_kind": draw(st.sampled_from(["bins", "normal", "uniform"])),
        "target_pow15": draw(st.booleans()),
        "top_bottom": draw(
            st.one_of(st.none(), st.integers(0, max(1, n // 3)), st.integers(0, n // 2 + 2))
        ),
        "ratio": draw(st.sampled_from([0.2, 0.2, 0.1, 0.5, 0.0])),
        "seed": draw(st.integers(0, 2**32 - 1)),
    }


def _property_data(
    params: dict[str, Any],
) -> tuple[pd.DataFrame, pd.Series, pd.Series]:
    rng = np.random.default_rng(params["seed"])
    ids = make_ids(rng, params["n"])
    t = make_targets(rng, ids, kind=params["target_kind"])
    p = make_predictions(
        rng,
        ids,
        params["n_cols"],
        targets=t,
        levels=params["levels"],
        nan_share=params["pred_nan"],
    )
    m = make_meta_model(rng, ids, targets=t)
    if params["meta_levels"] is not None:
        m = (m * params["meta_levels"]).round() / params["meta_levels"]
    m = with_nans(rng, m, params["meta_nan"])
    t = drop_rows(rng, with_nans(rng, t, params["target_nan"]), params["drop_targets"])
    return p, m, t


@settings(max_examples=25, deadline=None)
@given(params=_scoring_inputs())
def test_numerai_corr_parity_property(params: dict[str, Any]) -> None:
    p, _, t = _property_data(params)
    kwargs = {
        "max_filtered_index_ratio": params["ratio"],
        "top_bottom": params["top_bottom"],
        "target_pow15": params["target_pow15"],
    }
    result = assert_parity(
        lambda: ca.numerai_corr(p, t, **kwargs),
        lambda: nt.numerai_corr(p, t, **kwargs),
        atol=ATOL_CORR,
    )
    event("both refused" if result is None else "numbers compared")


@settings(max_examples=25, deadline=None)
@given(params=_scoring_inputs())
def test_correlation_contribution_parity_property(params: dict[str, Any]) -> None:
    p, m, t = _property_data(params)
    tb = params["top_bottom"]
    result = assert_parity(
        lambda: ca.correlation_contribution(p, m, t, tb),
        lambda: nt.correlation_contribution(p, m, t, tb),
        atol=ATOL_CORR,
    )
    event("both refused" if result is None else "numbers compared")


# ============================================================================================
# golden values on tiny hand-made inputs (derived here, without numerai-tools)
# ============================================================================================

IDS5 = [f"n00000000000000{c}" for c in "abcde"]


def _gauss_rank(x: np.ndarray) -> np.ndarray:
    """norm.ppf((average rank - 0.5) / n), the reference's tie-kept rank + gaussian."""
    return np.asarray(stats.norm.ppf((stats.rankdata(x) - 0.5) / len(x)))


def _pow15(x: np.ndarray) -> np.ndarray:
    return np.sign(x) * np.abs(x) ** 1.5


def _pearson(x: np.ndarray, y: np.ndarray) -> float:
    dx, dy = x - x.mean(), y - y.mean()
    return float((dx * dy).sum() / np.sqrt((dx * dx).sum() * (dy * dy).sum()))


def test_golden_tie_kept_rank_and_gaussian() -> None:
    s = pd.Series([0.3, 0.1, 0.3, 0.2, np.nan], index=IDS5, name="p")
    # 4 values: 0.1 -> rank 1, 0.2 -> rank 2, the two 0.3 share rank 3.5; (rank - 0.5) / 4
    expected_rank = pd.Series([0.75, 0.125, 0.75, 0.375, np.nan], index=IDS5, name="p")
    assert_same(ca.tie_kept_rank(s), expected_rank, atol=1e-15)
    assert_same(ca.tie_kept_rank(s.to_frame()), expected_rank.to_frame(), atol=1e-15, where="frame")
    # ppf(0.75) = 0.6744897501960817 = -ppf(0.25); ppf(0.5) = 0
    q = 0.6744897501960817
    g = ca.gaussian(pd.Series([0.25, 0.5, 0.75, np.nan], index=IDS5[:4]))
    np.testing.assert_allclose(g.to_numpy(), [-q, 0.0, q, np.nan], rtol=0, atol=1e-15)


def test_golden_numerai_corr() -> None:
    # predictions over ids a..e, targets over ids b..f (the extra id f shifts the mean)
    p = pd.DataFrame({"m": [0.5, 0.1, 0.4, 0.2, 0.3]}, index=IDS5[::-1])  # e, d, c, b, a
    ids_t = [*IDS5[1:], "n00000000000000f"]
    t = pd.Series([0.25, 1.0, 0.0, 0.75, 0.5], index=ids_t, name="target")  # b, c, d, e, f
    # by hand: aligned ids b, c, d, e (4 of 5 on each side: exactly at the 20% budget)
    p_bcde = np.array([0.2, 0.4, 0.1, 0.5])
    t_bcde = np.array([0.25, 1.0, 0.0, 0.75])
    centered = t_bcde - np.mean([0.25, 1.0, 0.0, 0.75, 0.5])  # mean 0.5 over all targets
    u = (np.array([2, 3, 1, 4]) - 0.5) / 4  # ranks of p_bcde
    np.testing.assert_allclose(u, (stats.rankdata(p_bcde) - 0.5) / 4)
    expected = _pearson(_pow15(stats.norm.ppf(u)), _pow15(centered))
    expected_no_pow = _pearson(_pow15(stats.norm.ppf(u)), centered)

    got = ca.numerai_corr(p, t)
    assert list(got.index) == ["m"]
    assert got["m"] == pytest.approx(expected, abs=1e-12)
    got = ca.numerai_corr(p, t, target_pow15=False)
    assert got["m"] == pytest.approx(expected_no_pow, abs=1e-12)
    # sanity of the derivation: the numbers are far from trivial
    assert 0.1 < abs(expected) < 0.99


def test_golden_numerai_corr_top_bottom() -> None:
    ids = [f"n{i:015x}" for i in range(6)]
    pv = np.array([0.3, 0.9, 0.1, 0.6, 0.5, 0.2])
    tv = np.array([0.5, 1.0, 0.25, 0.25, 0.75, 0.0])
    p = pd.DataFrame({"m": pv}, index=ids)
    t = pd.Series(tv, index=ids, name="target")
    order = np.argsort(pv)
    keep = np.sort(np.concatenate([order[:2], order[-2:]]))  # rows 2, 5 (low) and 1, 3 (high)
    assert list(keep) == [1, 2, 3, 5]
    g15 = _pow15(_gauss_rank(pv))
    t15 = _pow15(tv - tv.mean())
    expected = _pearson(g15[keep], t15[keep])
    assert ca.numerai_corr(p, t, top_bottom=2)["m"] == pytest.approx(expected, abs=1e-12)
    # one top and one bottom row: two points, correlation +1 or -1
    assert ca.numerai_corr(p, t, top_bottom=1)["m"] == pytest.approx(1.0, abs=1e-12)


def test_golden_correlation_contribution() -> None:
    ids = [f"n{i:015x}" for i in range(6)]
    pv = np.array([[0.2, 0.9], [0.7, 0.1], [0.4, 0.5], [0.9, 0.3], [0.1, 0.8], [0.6, 0.6]])
    mv = np.array([0.3, 0.8, 0.2, 0.7, 0.4, 0.5])
    tv = np.array([0.25, 0.75, 0.5, 1.0, 0.0, 0.5])
    p = pd.DataFrame(pv, index=ids, columns=["x", "y"])
    m = pd.Series(mv, index=ids, name="mm")
    t = pd.Series(tv, index=ids, name="target")
    gm = _gauss_rank(mv)
    t4 = 4 * tv - (4 * tv).mean()
    expected = []
    for j in range(2):
        gp = _gauss_rank(pv[:, j])
        residual = gp - gm * (gp @ gm) / (gm @ gm)
        expected.append(t4 @ residual / 6)
    got = ca.correlation_contribution(p, m, t)
    np.testing.assert_allclose(got.to_numpy(), expected, rtol=0, atol=1e-12)
    assert list(got.index) == ["x", "y"]

    # targets outside [0, 1]: no scaling by 4, only centering
    r = pd.Series(tv - 0.6, index=ids, name="returns")
    rc = (tv - 0.6) - (tv - 0.6).mean()
    gp = _gauss_rank(pv[:, 0])
    residual = gp - gm * (gp @ gm) / (gm @ gm)
    got_r = ca.correlation_contribution(p[["x"]], m, r)
    assert got_r["x"] == pytest.approx(rc @ residual / 6, abs=1e-12)

    # top_bottom=1: the highest and lowest *orthogonalized* prediction, divided by 2 * 1
    lo, hi = int(np.argmin(residual)), int(np.argmax(residual))
    expected_tb = (t4[lo] * residual[lo] + t4[hi] * residual[hi]) / 2
    got_tb = ca.correlation_contribution(p[["x"]], m, t, top_bottom=1)
    assert got_tb["x"] == pytest.approx(expected_tb, abs=1e-12)


def test_golden_neutralize() -> None:
    ids = IDS5
    x = np.array([1.0, 2.0, 3.0, 4.0, 10.0])
    f = np.array([0.0, 1.0, 0.0, 1.0, 1.0])
    # least squares of x on [f, 1]: slope cov(f, x) / var(f), intercept mean(x) - slope mean(f)
    slope = ((f - f.mean()) * (x - x.mean())).sum() / ((f - f.mean()) ** 2).sum()
    fitted = x.mean() + slope * (f - f.mean())
    df = pd.DataFrame({"x": x}, index=ids)
    neutralizers = pd.DataFrame({"f": f.astype(np.int8)}, index=ids)
    full = ca.neutralize(df, neutralizers)
    half = ca.neutralize(df, neutralizers, proportion=0.5)
    np.testing.assert_allclose(full["x"].to_numpy(), x - fitted, rtol=0, atol=1e-12)
    np.testing.assert_allclose(half["x"].to_numpy(), x - 0.5 * fitted, rtol=0, atol=1e-12)
    assert list(full.index) == ids


def test_golden_feature_neutral_corr() -> None:
    ids = [f"n{i:015x}" for i in range(6)]
    pv = np.array([0.9, 0.2, 0.5, 0.4, 0.8, 0.1])
    fv = np.array([3, 1, 2, 0, 4, 2], dtype=np.int8)
    tv = np.array([1.0, 0.25, 0.5, 0.5, 0.75, 0.0])
    g = _gauss_rank(pv)
    fc = fv - fv.mean()
    resid = (g - g.mean()) - ((fc * (g - g.mean())).sum() / (fc * fc).sum()) * fc
    v = resid / resid.std()  # ddof = 0
    expected = _pearson(_pow15(_gauss_rank(v)), _pow15(tv - tv.mean()))
    got = ca.feature_neutral_corr(
        pd.DataFrame({"m": pv}, index=ids),
        pd.DataFrame({"f": fv}, index=ids),
        pd.Series(tv, index=ids, name="target"),
    )
    assert got["m"] == pytest.approx(expected, abs=1e-10)


def test_golden_orthogonalize_and_stake_weight() -> None:
    v = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    u = np.array([1.0, 1.0, 0.0])
    # v.T u = [1, 1], u.T u = 2: subtract 0.5 * u from each column
    expected = np.array([[0.5, -0.5], [-0.5, 0.5], [1.0, 1.0]])
    np.testing.assert_allclose(ca.orthogonalize(v, u), expected, rtol=0, atol=1e-15)

    preds = pd.DataFrame(
        {"a": [0.1, 0.5, 0.9], "b": [0.3, 0.3, 0.3], "c": [0.9, 0.2, 0.4]}, index=IDS5[:3]
    )
    stakes = pd.Series({"c": 1.0, "a": 3.0})
    expected_sw = (3 * preds["a"] + preds["c"]) / 4
    assert_same(ca.stake_weight(preds, stakes), expected_sw, atol=1e-15)


def test_golden_max_feature_correlation() -> None:
    ids = [f"n{i:015x}" for i in range(6)]
    s = pd.Series([0.1, 0.5, 0.3, 0.9, 0.7, 0.2], index=ids)
    features = pd.DataFrame(
        {
            "weak": np.array([1, 0, 0, 1, 1, 0], dtype=np.int8),
            "mirror": np.array([4, 2, 3, 0, 1, 3], dtype=np.int8),
            "mirror_copy": np.array([4, 2, 3, 0, 1, 3], dtype=np.int8),
        },
        index=ids,
    )
    sv = s.to_numpy()
    expected = abs(_pearson(features["mirror"].to_numpy(np.float64), sv))
    assert expected > abs(_pearson(features["weak"].to_numpy(np.float64), sv))
    name, value = ca.max_feature_correlation(s, features)
    assert (name, value) == ("mirror", pytest.approx(expected, abs=1e-12))
    # top_bottom=1 keeps rows 0 (lowest s) and 3 (highest s): "weak" is 1 on both -> NaN,
    # "mirror" is 4 then 0 -> |corr| = 1
    name, value = ca.max_feature_correlation(s, features, top_bottom=1)
    assert (name, value) == ("mirror", pytest.approx(1.0, abs=1e-12))


# ============================================================================================
# the identity the reference's docstring claims for correlation_contribution
# ============================================================================================


def test_mmc_is_proportional_to_the_gain_of_the_meta_model() -> None:
    """MMC ~ corr(t, 0.999 m + 0.001 p) - corr(t, m), across many prediction columns."""
    rng = np.random.default_rng(2024)
    n, k = 2000, 200
    ids = make_ids(rng, n)
    t = make_targets(rng, ids)
    m = make_meta_model(rng, ids, targets=t)
    tv = t.to_numpy()
    # predictions mixing the target, the meta model and noise in random proportions
    mix = rng.uniform(-1.0, 1.0, (3, k))
    noise = rng.standard_normal((n, k))
    values = np.outer(tv, mix[0]) + np.outer(m.to_numpy(), mix[1]) + noise * np.abs(mix[2])
    p = pd.DataFrame(values, index=ids, columns=[f"p{j}" for j in range(k)])

    mmc = ca.correlation_contribution(p, m, t).to_numpy()

    gm = _gauss_rank(m.to_numpy())
    t4 = 4 * tv - (4 * tv).mean()
    base = _pearson(t4, gm)
    gain = np.array(
        [_pearson(t4, 0.999 * gm + 0.001 * _gauss_rank(values[:, j])) - base for j in range(k)]
    )
    assert np.std(mmc) > 0
    assert np.corrcoef(mmc, gain)[0, 1] > 0.99

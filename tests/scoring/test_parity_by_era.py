"""Per-era scoring: ``*_by_era`` must equal numerai-tools applied era by era, and ``summarize``.

The reference here is an explicit loop over the sorted distinct era labels calling
numerai-tools on each era's rows (the implementation is vectorised; the test may loop). If the
reference refuses any era, the whole per-era call must be refused. Rows of the eras are
interleaved in every dataset, and eras come both as zero-padded strings and as integers.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numerai_tools.scoring as nt
import numpy as np
import pandas as pd
import pytest

import crowdalpha.scoring as ca
from crowdalpha.errors import (
    DegenerateDataError,
    DuplicateIdsError,
    InvalidInputError,
    InvalidParameterError,
    MissingValuesError,
    NotEnoughOverlapError,
)

from .conftest import (
    ATOL_CORR,
    ATOL_NEUTRAL,
    assert_parity,
    assert_same,
    era_labels,
    make_features,
    make_ids,
    make_meta_model,
    make_predictions,
    make_targets,
    repeated_feature_rows,
)

STR_ERAS = ["0001", "0002", "0003", "0004", "0005", "0006"]
INT_ERAS = [3, 1, 12, 7, 100]  # numeric order 1, 3, 7, 12, 100 differs from string order


@dataclass
class EraData:
    """One dataset: rows of several eras, interleaved, sharing one index."""

    predictions: pd.DataFrame
    targets: pd.Series
    meta_model: pd.Series
    features: pd.DataFrame
    eras: pd.Series
    kwargs: dict[str, Any] = field(default_factory=dict)
    refuse: bool = False
    error: type[InvalidInputError] = InvalidInputError


def make_era_data(
    rng: np.random.Generator,
    labels: Sequence[Hashable],
    sizes: Sequence[int],
    *,
    n_cols: int = 3,
    n_features: int = 8,
    levels: int | None = None,
    target_kind: str = "bins",
    sort_ids: bool = False,
) -> EraData:
    """A dataset whose eras have the given labels and sizes; ids sorted only if asked."""
    ids = make_ids(rng, sum(sizes))
    if sort_ids:
        ids = ids.sort_values()
    eras = pd.Series(era_labels(labels, sizes, rng), index=ids, name="era")
    if all(isinstance(label, int) for label in labels):
        eras = eras.astype(np.int64)
    targets = make_targets(rng, ids, kind=target_kind)
    predictions = make_predictions(rng, ids, n_cols, targets=targets, levels=levels)
    meta_model = make_meta_model(rng, ids, targets=targets)
    features = make_features(rng, ids, n_features)
    predictions = (
        predictions + 0.03 * features.iloc[:, :2].to_numpy(np.float64).sum(axis=1)[:, None]
    )
    if levels is not None:
        predictions = predictions.round(1)
    return EraData(predictions, targets, meta_model, features, eras)


def era_rows(data: EraData, era: Hashable) -> np.ndarray:
    return np.flatnonzero((data.eras == era).to_numpy())


def set_nan_per_era(
    rng: np.random.Generator,
    data: EraData,
    what: str,
    share: float,
    only: Hashable | None = None,
) -> None:
    """NaN in ``round(share * size)`` rows of every era (or of era ``only``) of ``what``."""
    target = getattr(data, what).copy()
    for era in data.eras.unique():
        if only is not None and era != only:
            continue
        rows = era_rows(data, era)
        chosen = rng.choice(rows, size=round(share * len(rows)), replace=False)
        if isinstance(target, pd.DataFrame):
            cols = rng.integers(0, target.shape[1], size=len(chosen))
            for r, c in zip(chosen, cols, strict=True):
                target.iloc[r, c] = np.nan
        else:
            target.iloc[chosen] = np.nan
    setattr(data, what, target)


def reference_by_era(
    metric: Callable[..., pd.Series], eras: pd.Series, *frames: Any, **kwargs: Any
) -> pd.DataFrame:
    """numerai-tools applied to each era's rows, eras in sorted order."""
    labels = sorted(eras.unique())
    rows = []
    for era in labels:
        mask = (eras == era).to_numpy()
        rows.append(metric(*(frame[mask] for frame in frames), **kwargs))
    return pd.DataFrame(rows, index=pd.Index(labels))


def _unnamed(frame: pd.DataFrame) -> pd.DataFrame:
    """The index name of the per-era result is not part of the contract."""
    return frame.rename_axis(index=None)


def check_by_era(
    data: EraData, ours: Callable[..., pd.DataFrame], ref: Callable[..., pd.Series], kind: str
) -> Any:
    if kind == "corr":
        args: tuple[Any, ...] = (data.predictions, data.targets)
    elif kind == "mmc":
        args = (data.predictions, data.meta_model, data.targets)
    else:
        args = (data.predictions, data.features, data.targets)
    atol = ATOL_NEUTRAL if kind == "fnc" else ATOL_CORR
    result = assert_parity(
        lambda: _unnamed(ours(*args, data.eras, **data.kwargs)),
        lambda: reference_by_era(ref, data.eras, *args, **data.kwargs),
        atol=atol,
        expect_refusal=data.refuse,
        error=data.error,
    )
    if result is not None:
        assert list(result.columns) == list(data.predictions.columns)
        assert list(result.index) == sorted(data.eras.unique())
    return result


# ============================================================================================
# numerai_corr_by_era
# ============================================================================================

CorrBuilder = Callable[[np.random.Generator], EraData]


def _corr_builders() -> dict[str, CorrBuilder]:
    def base(rng: np.random.Generator, **kw: Any) -> EraData:
        return make_era_data(rng, STR_ERAS, [40, 300, 7, 2000, 2, 120], **kw)

    def with_changes(
        change: Callable[[np.random.Generator, EraData], None],
        *,
        refuse: bool = False,
        error: type[InvalidInputError] = InvalidInputError,
        **kwargs: Any,
    ) -> CorrBuilder:
        def builder(rng: np.random.Generator) -> EraData:
            data = base(rng)
            change(rng, data)
            data.kwargs, data.refuse, data.error = kwargs, refuse, error
            return data

        return builder

    def nothing(rng: np.random.Generator, data: EraData) -> None:
        return None

    def nan(what: str, share: float, only: Hashable | None = None) -> Any:
        return lambda rng, data: set_nan_per_era(rng, data, what, share, only)

    def one_row_era(rng: np.random.Generator) -> EraData:
        return make_era_data(rng, STR_ERAS[:4], [50, 1, 300, 20])

    def constant_targets_in_one_era(rng: np.random.Generator, data: EraData) -> None:
        t = data.targets.copy()
        t.iloc[era_rows(data, "0001")] = 0.5
        data.targets = t

    def constant_column(rng: np.random.Generator, data: EraData) -> None:
        p = data.predictions.copy()
        p["model_1"] = 0.5
        data.predictions = p

    def constant_in_one_era(rng: np.random.Generator, data: EraData) -> None:
        p = data.predictions.copy()
        p.iloc[era_rows(data, "0002"), 0] = 0.25
        data.predictions = p

    def int_eras(rng: np.random.Generator) -> EraData:
        return make_era_data(rng, INT_ERAS, [50, 400, 9, 1500, 2])

    def top_bottom_too_big(rng: np.random.Generator) -> EraData:
        data = make_era_data(rng, STR_ERAS[:3], [60, 5, 200])
        data.kwargs, data.refuse, data.error = {"top_bottom": 3}, True, InvalidParameterError
        return data

    def top_bottom_half(rng: np.random.Generator) -> EraData:
        data = make_era_data(rng, STR_ERAS[:3], [60, 4, 200], levels=3)
        data.kwargs = {"top_bottom": 2}
        return data

    return {
        "str_eras": with_changes(nothing),
        "int_eras": int_eras,
        "ties": lambda rng: base(rng, levels=3),
        "binary": lambda rng: base(rng, levels=2),
        "sorted_ids": lambda rng: base(rng, sort_ids=True),
        "many_columns": lambda rng: make_era_data(rng, STR_ERAS[:3], [100, 500, 30], n_cols=30),
        "big_era": lambda rng: make_era_data(rng, STR_ERAS[:3], [20_000, 300, 10]),
        "nan_predictions_10pct_each_era": with_changes(nan("predictions", 0.1)),
        "nan_targets_15pct_each_era": with_changes(nan("targets", 0.15)),
        "nan_targets_30pct_in_one_era": with_changes(
            nan("targets", 0.3, "0002"), refuse=True, error=NotEnoughOverlapError
        ),
        "nan_targets_25pct_ratio_035": with_changes(
            nan("targets", 0.25), max_filtered_index_ratio=0.35
        ),
        "constant_targets_in_one_era": with_changes(constant_targets_in_one_era),
        "constant_column": with_changes(constant_column),
        "constant_in_one_era": with_changes(constant_in_one_era),
        "normal_targets_no_pow15": lambda rng: _with_kwargs(
            base(rng, target_kind="normal"), target_pow15=False
        ),
        "normal_targets_pow15": lambda rng: base(rng, target_kind="normal"),
        "top_bottom_1": with_changes(nothing, top_bottom=1),
        "top_bottom_half_of_small_era": top_bottom_half,
        "top_bottom_too_big_for_one_era": top_bottom_too_big,
        "one_row_era": lambda rng: _refusing(one_row_era(rng), DegenerateDataError),
    }


def _with_kwargs(data: EraData, **kwargs: Any) -> EraData:
    data.kwargs = kwargs
    return data


def _refusing(data: EraData, error: type[InvalidInputError]) -> EraData:
    data.refuse, data.error = True, error
    return data


CORR_CASES = _corr_builders()


@pytest.mark.parametrize("name", sorted(CORR_CASES))
def test_numerai_corr_by_era_parity(name: str) -> None:
    data = CORR_CASES[name](np.random.default_rng(sorted(CORR_CASES).index(name) + 2000))
    check_by_era(data, ca.numerai_corr_by_era, nt.numerai_corr, "corr")


# ============================================================================================
# correlation_contribution_by_era
# ============================================================================================


def _mmc_builders() -> dict[str, CorrBuilder]:
    def base(rng: np.random.Generator, **kw: Any) -> EraData:
        return make_era_data(rng, STR_ERAS[:5], [40, 300, 7, 2000, 2], **kw)

    def nan_meta(rng: np.random.Generator) -> EraData:
        data = base(rng)
        set_nan_per_era(rng, data, "meta_model", 0.1)
        set_nan_per_era(rng, data, "targets", 0.05)
        return data

    def nan_predictions_beyond(rng: np.random.Generator) -> EraData:
        data = base(rng)
        set_nan_per_era(rng, data, "predictions", 0.3, only="0002")
        return _refusing(data, NotEnoughOverlapError)

    def mixed_target_scales(rng: np.random.Generator) -> EraData:
        # one era's targets leave [0, 1]: only that era's targets are not multiplied by 4
        data = base(rng)
        t = data.targets.copy()
        t.iloc[era_rows(data, "0002")[:3]] = [-0.5, 1.5, 2.0]
        data.targets = t
        return data

    def constant_meta_in_one_era(rng: np.random.Generator) -> EraData:
        data = base(rng)
        m = data.meta_model.copy()
        m.iloc[era_rows(data, "0001")] = 0.5
        data.meta_model = m
        return data

    def one_row_era(rng: np.random.Generator) -> EraData:
        # the reference does not refuse a one-row era here: it scores it NaN
        return make_era_data(rng, INT_ERAS[:3], [60, 1, 200])

    def top_bottom(k: int, sizes: list[int], refuse: bool) -> CorrBuilder:
        def builder(rng: np.random.Generator) -> EraData:
            data = make_era_data(rng, STR_ERAS[: len(sizes)], sizes, levels=4)
            data.kwargs = {"top_bottom": k}
            return _refusing(data, InvalidParameterError) if refuse else data

        return builder

    return {
        "str_eras": base,
        "int_eras": lambda rng: make_era_data(rng, INT_ERAS, [50, 400, 9, 1500, 2]),
        "ties": lambda rng: base(rng, levels=3),
        "normal_targets": lambda rng: base(rng, target_kind="normal"),
        "many_columns": lambda rng: make_era_data(rng, STR_ERAS[:3], [100, 500, 30], n_cols=30),
        "big_era": lambda rng: make_era_data(rng, STR_ERAS[:3], [20_000, 300, 10]),
        "nan_meta_and_targets": nan_meta,
        "nan_predictions_30pct_in_one_era": nan_predictions_beyond,
        "mixed_target_scales": mixed_target_scales,
        "constant_meta_in_one_era": constant_meta_in_one_era,
        "one_row_era": one_row_era,
        "top_bottom_2": top_bottom(2, [40, 300, 7, 2000], refuse=False),
        "top_bottom_half_of_odd_era": top_bottom(3, [40, 7, 300], refuse=False),
        "top_bottom_too_big_for_one_era": top_bottom(4, [40, 7, 300], refuse=True),
    }


MMC_CASES = _mmc_builders()


@pytest.mark.parametrize("name", sorted(MMC_CASES))
def test_correlation_contribution_by_era_parity(name: str) -> None:
    data = MMC_CASES[name](np.random.default_rng(sorted(MMC_CASES).index(name) + 3000))
    check_by_era(data, ca.correlation_contribution_by_era, nt.correlation_contribution, "mmc")


# ============================================================================================
# feature_neutral_corr_by_era (the reference needs each era's ids sorted)
# ============================================================================================


def _fnc_builders() -> dict[str, CorrBuilder]:
    def base(rng: np.random.Generator, **kw: Any) -> EraData:
        kw.setdefault("sort_ids", True)
        kw.setdefault("n_features", 20)
        return make_era_data(rng, STR_ERAS[:4], [60, 400, 30, 1500], **kw)

    def feature_constant_in_one_era(rng: np.random.Generator) -> EraData:
        # a feature missing for a whole era is all 2 in that era
        data = base(rng)
        f = data.features.copy()
        f.iloc[era_rows(data, "0002"), 3] = np.int8(2)
        data.features = f
        return data

    def nan_targets(rng: np.random.Generator) -> EraData:
        data = base(rng)
        set_nan_per_era(rng, data, "targets", 0.1)
        return data

    def nan_predictions(rng: np.random.Generator) -> EraData:
        data = base(rng)
        set_nan_per_era(rng, data, "predictions", 0.05, only="0003")
        return _refusing(data, MissingValuesError)

    def constant_in_one_era(rng: np.random.Generator) -> EraData:
        data = base(rng)
        p = data.predictions.copy()
        p.iloc[era_rows(data, "0004"), 1] = 0.5
        data.predictions = p
        return _refusing(data, InvalidInputError)

    return {
        "str_eras": base,
        # every era has more rows than features: an era of 20 rows and 20 features leaves
        # the neutralized predictions at rounding noise, whose value depends on the BLAS
        "int_eras": lambda rng: make_era_data(
            rng, INT_ERAS[:4], [50, 400, 60, 900], n_features=20, sort_ids=True
        ),
        "ties": lambda rng: base(rng, levels=3),
        "big_era": lambda rng: make_era_data(
            rng, STR_ERAS[:3], [10_000, 200, 50], n_features=20, sort_ids=True
        ),
        "feature_constant_in_one_era": feature_constant_in_one_era,
        "nan_targets_10pct": nan_targets,
        "normal_targets": lambda rng: base(rng, target_kind="normal"),
        "top_bottom_5": lambda rng: _with_kwargs(base(rng), top_bottom=5),
        "one_row_era": lambda rng: _refusing(
            make_era_data(rng, STR_ERAS[:3], [60, 1, 200], sort_ids=True), InvalidInputError
        ),
        "nan_predictions_in_one_era": nan_predictions,
        "constant_prediction_in_one_era": constant_in_one_era,
    }


FNC_CASES = _fnc_builders()


def test_feature_neutral_corr_by_era_accepts_rows_in_any_order() -> None:
    """Deliberate deviation: the reference refuses an era whose ids are not sorted; ours
    aligns nothing by id, so any row order gives the numbers of the id-sorted data."""
    data = make_era_data(
        np.random.default_rng(4100), STR_ERAS[:4], [40, 300, 120, 900], n_features=12
    )
    assert not data.predictions.index.is_monotonic_increasing
    ours = ca.feature_neutral_corr_by_era(data.predictions, data.features, data.targets, data.eras)
    order = np.argsort(data.predictions.index.to_numpy())
    frames = [x.iloc[order] for x in (data.predictions, data.features, data.targets)]
    expected = reference_by_era(nt.feature_neutral_corr, data.eras.iloc[order], *frames)
    assert_same(_unnamed(ours), expected, atol=ATOL_NEUTRAL)


@pytest.mark.parametrize("name", sorted(FNC_CASES))
def test_feature_neutral_corr_by_era_parity(name: str) -> None:
    data = FNC_CASES[name](np.random.default_rng(sorted(FNC_CASES).index(name) + 4000))
    check_by_era(data, ca.feature_neutral_corr_by_era, nt.feature_neutral_corr, "fnc")
    if not data.refuse:
        assert repeated_feature_rows(data.predictions, data.features) == 0


# ============================================================================================
# duplicated ids
# ============================================================================================


def test_by_era_refuses_duplicated_ids() -> None:
    rng = np.random.default_rng(11)
    data = make_era_data(rng, STR_ERAS[:3], [50, 80, 60])

    def dup(x: Any) -> Any:
        return pd.concat([x, x.iloc[:1]])

    with pytest.raises(DuplicateIdsError):
        ca.numerai_corr_by_era(dup(data.predictions), dup(data.targets), dup(data.eras))
    with pytest.raises(DuplicateIdsError):
        ca.correlation_contribution_by_era(
            dup(data.predictions), dup(data.meta_model), dup(data.targets), dup(data.eras)
        )


# ============================================================================================
# summarize
# ============================================================================================

SUMMARY_INDEX = ["mean", "std", "sharpe", "max_drawdown", "positive_share"]


def test_summarize_golden_values() -> None:
    per_era = pd.DataFrame(
        {
            "mixed": [0.1, -0.2, 0.3, np.nan, -0.1],
            "rising": [0.1, 0.2, 0.3, 0.4, 0.5],
            "falling_from_start": [-0.1, -0.1, np.nan, 0.05, -0.3],
        },
        index=pd.Index(STR_ERAS[:5], name="era"),
    )
    got = ca.summarize(per_era)
    assert list(got.index) == SUMMARY_INDEX
    assert list(got.columns) == list(per_era.columns)

    # mixed, NaN skipped: values 0.1, -0.2, 0.3, -0.1
    # mean 0.025; deviations .075 -.225 .275 -.125 -> variance .1475 / 4 = .036875
    # cumulative .1 -.1 .2 .1, running peak .1 .1 .2 .2 -> drawdown 0 .2 0 .1 -> max .2
    std = np.sqrt(0.036875)
    expected_mixed = [0.025, std, 0.025 / std, 0.2, 0.5]
    # rising: mean .3, variance (.04 + .01 + 0 + .01 + .04) / 5 = .02, never falls, all > 0
    expected_rising = [0.3, np.sqrt(0.02), 0.3 / np.sqrt(0.02), 0.0, 1.0]
    # falling: values -.1 -.1 .05 -.3; mean -.1125; cumulative -.1 -.2 -.15 -.45;
    # running peak -.1 -.1 -.1 -.1 (no 0 before the first era) -> max drawdown .35
    f = np.array([-0.1, -0.1, 0.05, -0.3])
    expected_falling = [-0.1125, f.std(), -0.1125 / f.std(), 0.35, 0.25]
    expected = pd.DataFrame(
        {
            "mixed": expected_mixed,
            "rising": expected_rising,
            "falling_from_start": expected_falling,
        },
        index=SUMMARY_INDEX,
    )
    np.testing.assert_allclose(got.to_numpy(), expected.to_numpy(), rtol=0, atol=1e-12)


def _summary_by_loop(per_era: pd.DataFrame) -> pd.DataFrame:
    out = {}
    for column in per_era.columns:
        x = per_era[column].dropna().to_numpy(dtype=np.float64)
        mean = sum(x) / len(x)
        std = np.sqrt(sum((v - mean) ** 2 for v in x) / len(x))
        peak, total, worst = -np.inf, 0.0, 0.0
        for v in x:
            total += v
            peak = max(peak, total)
            worst = max(worst, peak - total)
        out[column] = [mean, std, mean / std, worst, sum(v > 0 for v in x) / len(x)]
    return pd.DataFrame(out, index=SUMMARY_INDEX)


def test_summarize_matches_a_loop_over_per_era_scores() -> None:
    rng = np.random.default_rng(12)
    data = make_era_data(rng, [f"{i:04d}" for i in range(1, 41)], [30] * 40, n_cols=4)
    set_nan_per_era(rng, data, "targets", 0.1)
    per_era = ca.numerai_corr_by_era(data.predictions, data.targets, data.eras)
    per_era.iloc[[3, 17], 1] = np.nan  # eras where a model has no score
    got = ca.summarize(per_era)
    expected = _summary_by_loop(per_era)
    pd.testing.assert_index_equal(got.index, expected.index, check_names=False)
    assert list(got.columns) == list(per_era.columns)
    assert_same(got.rename_axis(index=None), expected, atol=1e-12)
    assert (got.loc["max_drawdown"] >= 0).all()
    assert got.loc["positive_share"].between(0, 1).all()

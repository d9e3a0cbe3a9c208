"""Parity of the neutral and portfolio metrics with numerai-tools 0.7.2.

``neutral_correlation``, ``neutral_contribution``, ``generate_neutralized_weights``,
``alpha`` and ``meta_portfolio_contribution``: named cases (each states whether the
reference accepts or refuses it), random cases from hypothesis, golden values on tiny
hand-made inputs derived without numerai-tools, and the identities the docstrings claim.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numerai_tools.scoring as nt
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

import crowdalpha.scoring as ca
from crowdalpha.errors import (
    DegenerateDataError,
    DuplicateIdsError,
    IndexMismatchError,
    InvalidParameterError,
    MissingValuesError,
    NotEnoughOverlapError,
    UnsortedIndexError,
)

from .conftest import (
    ATOL_CORR,
    ATOL_NEUTRAL,
    Builder,
    Case,
    assert_parity,
    drop_rows,
    make_ids,
    make_meta_model,
    make_predictions,
    make_targets,
    run_case,
    with_nans,
)


def make_neutralizers(
    rng: np.random.Generator, ids: pd.Index, n_factors: int, weights: pd.Series | None = None
) -> pd.DataFrame:
    """Factors orthonormal under the ``weights``-weighted inner product, as Numerai's N."""
    v = np.ones(len(ids)) if weights is None else weights.reindex(ids).to_numpy()
    raw = rng.standard_normal((len(ids), n_factors))
    q, _ = np.linalg.qr(raw * np.sqrt(v)[:, None])
    columns = [f"neutralizer_{j:03d}" for j in range(n_factors)]
    return pd.DataFrame(q / np.sqrt(v)[:, None], index=ids, columns=columns)


def make_sample_weights(rng: np.random.Generator, ids: pd.Index) -> pd.Series:
    """Positive weights summing to the number of ids (heavier for "liquid" tickers)."""
    raw = rng.lognormal(0.0, 0.7, len(ids))
    return pd.Series(raw * len(ids) / raw.sum(), index=ids, name="sample_weights")


@dataclass
class Inputs:
    ids: pd.Index
    preds: pd.DataFrame
    targets: pd.Series
    meta: pd.Series
    n: pd.DataFrame
    v: pd.Series
    stakes: pd.Series


def inputs(
    rng: np.random.Generator,
    n_rows: int = 400,
    n_cols: int = 5,
    n_factors: int = 12,
    *,
    levels: int | None = None,
    sort: bool = True,
) -> Inputs:
    ids = make_ids(rng, n_rows)
    ids = ids.sort_values() if sort else ids
    targets = make_targets(rng, ids)
    preds = make_predictions(rng, ids, n_cols, targets=targets, levels=levels)
    v = make_sample_weights(rng, ids)
    stakes = pd.Series(rng.uniform(1, 100, n_cols), index=preds.columns, name="stake")
    return Inputs(
        ids,
        preds,
        targets,
        make_meta_model(rng, ids, targets=targets),
        make_neutralizers(rng, ids, n_factors, v),
        v,
        stakes,
    )


def run(
    builders: dict[str, Builder],
    name: str,
    ours: Callable[..., Any],
    ref: Callable[..., Any],
    atol: float,
) -> Any:
    """Check parity on the named case; our result."""
    return run_case(builders, name, ours, ref, atol, seed_base=2000)[1]


# ============================================================================================
# neutral_correlation
# ============================================================================================


def _ncorr_cases() -> dict[str, Builder]:
    def plain(rng: np.random.Generator) -> Case:
        d = inputs(rng)
        return Case((d.preds, d.n, d.targets))

    def unsorted_ties(rng: np.random.Generator) -> Case:
        d = inputs(rng, levels=5, sort=False)
        return Case((d.preds, d.n, d.targets))

    def top_bottom(rng: np.random.Generator) -> Case:
        d = inputs(rng)
        return Case((d.preds, d.n, d.targets), {"top_bottom": 60})

    def nan_within(rng: np.random.Generator) -> Case:
        d = inputs(rng)
        n = d.n.copy()
        n.iloc[:10, 3] = np.nan  # rows dropped by the alignment, not refused
        return Case((with_nans(rng, d.preds, 0.0), n, with_nans(rng, d.targets, 0.08)))

    def partial_overlap(rng: np.random.Generator) -> Case:
        d = inputs(rng)
        return Case((drop_rows(rng, d.preds, 0.1), drop_rows(rng, d.n, 0.05), d.targets))

    def beyond_budget(rng: np.random.Generator) -> Case:
        d = inputs(rng)
        return Case((d.preds, drop_rows(rng, d.n, 0.3), d.targets), {}, True, NotEnoughOverlapError)

    def wider_budget(rng: np.random.Generator) -> Case:
        d = inputs(rng)
        return Case(
            (d.preds, drop_rows(rng, d.n, 0.3), d.targets), {"max_filtered_index_ratio": 0.4}
        )

    def constant_column(rng: np.random.Generator) -> Case:
        d = inputs(rng)
        return Case((d.preds.assign(model_1=0.5), d.n, d.targets), {}, True, DegenerateDataError)

    def top_bottom_too_large(rng: np.random.Generator) -> Case:
        d = inputs(rng, n_rows=100)
        return Case((d.preds, d.n, d.targets), {"top_bottom": 51}, True, InvalidParameterError)

    def raw_returns(rng: np.random.Generator) -> Case:
        d = inputs(rng)
        return Case((d.preds, d.n, make_targets(rng, d.ids, kind="normal")))

    return {
        "plain": plain,
        "unsorted_ties": unsorted_ties,
        "top_bottom": top_bottom,
        "nan_within_budget": nan_within,
        "partial_overlap": partial_overlap,
        "beyond_budget": beyond_budget,
        "wider_budget": wider_budget,
        "constant_column": constant_column,
        "top_bottom_too_large": top_bottom_too_large,
        "raw_returns": raw_returns,
    }


NCORR = _ncorr_cases()


@pytest.mark.parametrize("name", sorted(NCORR))
def test_neutral_correlation_parity(name: str) -> None:
    run(NCORR, name, ca.neutral_correlation, nt.neutral_correlation, ATOL_NEUTRAL)


def test_neutral_correlation_golden() -> None:
    """A prediction already orthogonal to N and the constant is left as it is: the score is
    the Pearson correlation of its Gaussianized ranks with the target."""
    ids = pd.Index(["a", "b", "c", "d"])
    preds = pd.DataFrame({"p": [0.1, 0.2, 0.3, 0.4]}, index=ids)
    n = pd.DataFrame({"even": [1.0, -1.0, -1.0, 1.0]}, index=ids)  # ⟂ odd ranks and 1
    t = pd.Series([0.0, 0.75, 0.25, 1.0], index=ids)
    g = stats.norm.ppf([0.125, 0.375, 0.625, 0.875])
    expected = np.corrcoef(g, t)[0, 1]
    np.testing.assert_allclose(ca.neutral_correlation(preds, n, t)["p"], expected, atol=1e-15)


# ============================================================================================
# neutral_contribution
# ============================================================================================


def _ncontrib_cases() -> dict[str, Builder]:
    def plain(rng: np.random.Generator) -> Case:
        d = inputs(rng)
        return Case((d.preds, d.meta, d.n, d.targets))

    def ties_unsorted(rng: np.random.Generator) -> Case:
        d = inputs(rng, levels=3, sort=False)
        return Case((d.preds, d.meta, d.n, d.targets))

    def top_bottom(rng: np.random.Generator) -> Case:
        d = inputs(rng)
        return Case((d.preds, d.meta, d.n, d.targets, 50))

    def returns_targets(rng: np.random.Generator) -> Case:
        d = inputs(rng)
        return Case((d.preds, d.meta, d.n, make_targets(rng, d.ids, kind="normal")))

    def nan_and_missing(rng: np.random.Generator) -> Case:
        d = inputs(rng)
        return Case(
            (
                d.preds,
                with_nans(rng, d.meta, 0.05),
                drop_rows(rng, d.n, 0.05),
                with_nans(rng, d.targets, 0.05),
            )
        )

    def constant_column(rng: np.random.Generator) -> Case:
        d = inputs(rng)  # NaN for that column, as the reference gives
        return Case((d.preds.assign(model_2=0.3), d.meta, d.n, d.targets))

    def constant_column_top_bottom(rng: np.random.Generator) -> Case:
        d = inputs(rng)
        return Case(
            (d.preds.assign(model_2=0.3), d.meta, d.n, d.targets, 20), {}, True, DegenerateDataError
        )

    def beyond_budget(rng: np.random.Generator) -> Case:
        d = inputs(rng)
        return Case(
            (d.preds, drop_rows(rng, d.meta, 0.25), d.n, d.targets), {}, True, NotEnoughOverlapError
        )

    def duplicated_ids(rng: np.random.Generator) -> Case:
        d = inputs(rng)
        n = pd.concat([d.n, d.n.iloc[:1]])
        return Case((d.preds, d.meta, n, d.targets), {}, True, DuplicateIdsError)

    return {
        "plain": plain,
        "ties_unsorted": ties_unsorted,
        "top_bottom": top_bottom,
        "returns_targets": returns_targets,
        "nan_and_missing": nan_and_missing,
        "constant_column": constant_column,
        "constant_column_top_bottom": constant_column_top_bottom,
        "beyond_budget": beyond_budget,
        "duplicated_ids": duplicated_ids,
    }


NCONTRIB = _ncontrib_cases()


@pytest.mark.parametrize("name", sorted(NCONTRIB))
def test_neutral_contribution_parity(name: str) -> None:
    run(NCONTRIB, name, ca.neutral_contribution, nt.neutral_contribution, ATOL_NEUTRAL)


def test_neutral_contribution_of_the_meta_model_itself_is_zero() -> None:
    """The reference's docstring: identical predictions and meta model contribute nothing."""
    d = inputs(np.random.default_rng(11))
    preds = d.preds.assign(same=d.meta)
    scores = ca.neutral_contribution(preds, d.meta, d.n, d.targets)
    assert abs(scores["same"]) < 1e-15
    assert (scores.drop("same").abs() > 1e-6).all()


# ============================================================================================
# generate_neutralized_weights
# ============================================================================================


def _gnw_cases() -> dict[str, Builder]:
    def plain(cn: bool) -> Builder:
        def build(rng: np.random.Generator) -> Case:
            d = inputs(rng)
            return Case((d.preds, d.n, d.v, cn))

        return build

    def ties(rng: np.random.Generator) -> Case:
        d = inputs(rng, levels=4)
        return Case((d.preds, d.n, d.v, True))

    def n_and_v_cover_less(rng: np.random.Generator) -> Case:
        d = inputs(rng)  # ranks over all predictions, weights on the ids N and v hold
        return Case((d.preds, drop_rows(rng, d.n, 0.1), drop_rows(rng, d.v, 0.05)))

    def n_and_v_cover_more(rng: np.random.Generator) -> Case:
        d = inputs(rng)
        return Case((drop_rows(rng, d.preds, 0.15), d.n, d.v, True))

    def unsorted(rng: np.random.Generator) -> Case:
        d = inputs(rng, sort=False)
        return Case((d.preds, d.n, d.v), {}, True, UnsortedIndexError)

    def nan_preds(rng: np.random.Generator) -> Case:
        d = inputs(rng)
        return Case((with_nans(rng, d.preds, 0.01), d.n, d.v), {}, True, MissingValuesError)

    def nan_neutralizers(rng: np.random.Generator) -> Case:
        d = inputs(rng)
        n = d.n.copy()
        n.iloc[4, 2] = np.nan
        return Case((d.preds, n, d.v), {}, True, MissingValuesError)

    def nan_weights(rng: np.random.Generator) -> Case:
        d = inputs(rng)
        return Case((d.preds, d.n, with_nans(rng, d.v, 0.01)), {}, True, MissingValuesError)

    def beyond_budget(rng: np.random.Generator) -> Case:
        d = inputs(rng)
        return Case((d.preds, drop_rows(rng, d.n, 0.3), d.v), {}, True, NotEnoughOverlapError)

    def power_guard(rng: np.random.Generator) -> Case:
        ids = make_ids(rng, 3).sort_values()
        preds = pd.DataFrame({"p": [0.1, 0.2, 0.3]}, index=ids)
        n = make_neutralizers(rng, ids, 1)
        v = pd.Series(1.0, index=ids)
        return Case((preds, n, v))

    return {
        "plain": plain(False),
        "plain_center_and_normalize": plain(True),
        "ties": ties,
        "n_and_v_cover_less": n_and_v_cover_less,
        "n_and_v_cover_more": n_and_v_cover_more,
        "unsorted": unsorted,
        "nan_preds": nan_preds,
        "nan_neutralizers": nan_neutralizers,
        "nan_weights": nan_weights,
        "beyond_budget": beyond_budget,
        "three_rows": power_guard,
    }


GNW = _gnw_cases()


@pytest.mark.parametrize("name", sorted(GNW))
def test_generate_neutralized_weights_parity(name: str) -> None:
    result = run(
        GNW, name, ca.generate_neutralized_weights, nt.generate_neutralized_weights, ATOL_CORR
    )
    if result is not None:
        assert result.index.is_monotonic_increasing


def _golden_weights() -> tuple[pd.DataFrame, pd.DataFrame, pd.Series, np.ndarray]:
    ids = pd.Index(["a", "b", "c", "d"], name="numerai_ticker")
    preds = pd.DataFrame({"p": [0.1, 0.4, 0.2, 0.3]}, index=ids)
    n = pd.DataFrame({"market": [0.5, 0.5, 0.5, 0.5]}, index=ids)  # unit norm, v = 1
    v = pd.Series(1.0, index=ids)
    g = stats.norm.ppf(np.array([0.125, 0.875, 0.375, 0.625]))
    s_prime = np.sign(g) * np.abs(g) ** 1.5
    # N Nᵀ with one constant column removes the mean: w = s′ − mean(s′) (= s′, symmetric)
    return preds, n, v, s_prime - s_prime.mean()


def test_generate_neutralized_weights_golden() -> None:
    preds, n, v, expected = _golden_weights()
    got = ca.generate_neutralized_weights(preds, n, v)
    np.testing.assert_allclose(got["p"].to_numpy(), expected, rtol=0, atol=1e-15)
    normalized = ca.generate_neutralized_weights(preds, n, v, center_and_normalize=True)
    np.testing.assert_allclose(
        normalized["p"].to_numpy(), expected / np.abs(expected).sum(), rtol=0, atol=1e-15
    )
    assert normalized.index.name == "numerai_ticker"


def test_neutralized_weights_have_no_weighted_exposure_to_n() -> None:
    """With N orthonormal under v, the weights are neutral: Nᵀ w = 0."""
    d = inputs(np.random.default_rng(3))
    w = ca.generate_neutralized_weights(d.preds, d.n, d.v)
    exposure = d.n.to_numpy().T @ w.to_numpy()
    assert np.abs(exposure).max() < 1e-10


# ============================================================================================
# alpha and meta_portfolio_contribution
# ============================================================================================


def _alpha_cases() -> dict[str, Builder]:
    def plain(rng: np.random.Generator) -> Case:
        d = inputs(rng)
        return Case((d.preds, d.n, d.v, d.targets))

    def unsorted_ties_nan(rng: np.random.Generator) -> Case:
        d = inputs(rng, levels=6, sort=False)
        return Case((with_nans(rng, d.preds, 0.05), d.n, d.v, with_nans(rng, d.targets, 0.05)))

    def n_covers_more(rng: np.random.Generator) -> Case:
        d = inputs(rng)
        return Case((drop_rows(rng, d.preds, 0.1), d.n, d.v, d.targets))

    def n_covers_less(rng: np.random.Generator) -> Case:
        d = inputs(rng)
        return Case((d.preds, drop_rows(rng, d.n, 0.05), d.v, d.targets), {}, True)

    def targets_beyond_budget(rng: np.random.Generator) -> Case:
        d = inputs(rng)
        return Case(
            (d.preds, d.n, d.v, with_nans(rng, d.targets, 0.3)), {}, True, NotEnoughOverlapError
        )

    def returns(rng: np.random.Generator) -> Case:
        d = inputs(rng)
        return Case((d.preds, d.n, d.v, make_targets(rng, d.ids, kind="normal")))

    return {
        "plain": plain,
        "unsorted_ties_nan": unsorted_ties_nan,
        "n_covers_more": n_covers_more,
        "n_covers_less": n_covers_less,
        "targets_beyond_budget": targets_beyond_budget,
        "returns": returns,
    }


ALPHA = _alpha_cases()


@pytest.mark.parametrize("name", sorted(ALPHA))
def test_alpha_parity(name: str) -> None:
    run(ALPHA, name, ca.alpha, nt.alpha, ATOL_CORR)


def test_alpha_golden() -> None:
    preds, n, v, w = _golden_weights()
    t = pd.Series([0.25, 1.0, 0.0, 0.5], index=preds.index)
    expected = w @ (t.to_numpy() - t.mean()) / 4
    np.testing.assert_allclose(ca.alpha(preds, n, v, t)["p"], expected, rtol=0, atol=1e-15)


def _mpc_cases() -> dict[str, Builder]:
    def plain(rng: np.random.Generator) -> Case:
        d = inputs(rng, n_cols=8)
        return Case((d.preds, d.stakes, d.n, d.v, d.targets))

    def subset_staked(rng: np.random.Generator) -> Case:
        d = inputs(rng, n_cols=8)
        stakes = d.stakes.iloc[[5, 1, 2]].copy()
        stakes.iloc[1] = np.nan  # NaN stakes count as 0
        return Case((d.preds, stakes, d.n, d.v, d.targets))

    def unsorted_ties_nan(rng: np.random.Generator) -> Case:
        d = inputs(rng, levels=5, sort=False)
        return Case((with_nans(rng, d.preds, 0.03), d.stakes, d.n, d.v, d.targets))

    def one_staked(rng: np.random.Generator) -> Case:
        d = inputs(rng)
        return Case((d.preds, d.stakes.iloc[:1], d.n, d.v, d.targets))

    def returns(rng: np.random.Generator) -> Case:
        d = inputs(rng)
        return Case((d.preds, d.stakes, d.n, d.v, make_targets(rng, d.ids, kind="normal")))

    def negative_stake(rng: np.random.Generator) -> Case:
        d = inputs(rng)
        stakes = d.stakes.copy()
        stakes.iloc[0] = -5.0
        return Case((d.preds, stakes, d.n, d.v, d.targets), {}, True, InvalidParameterError)

    def zero_stakes(rng: np.random.Generator) -> Case:
        d = inputs(rng)
        return Case((d.preds, d.stakes * 0, d.n, d.v, d.targets), {}, True, InvalidParameterError)

    def unknown_model(rng: np.random.Generator) -> Case:
        d = inputs(rng)
        stakes = pd.concat([d.stakes, pd.Series({"nobody": 3.0})])
        return Case((d.preds, stakes, d.n, d.v, d.targets), {}, True, IndexMismatchError)

    def n_covers_less(rng: np.random.Generator) -> Case:
        d = inputs(rng)
        return Case(
            (d.preds, d.stakes, d.n, drop_rows(rng, d.v, 0.02), d.targets),
            {},
            True,
            IndexMismatchError,
        )

    return {
        "plain": plain,
        "subset_staked": subset_staked,
        "unsorted_ties_nan": unsorted_ties_nan,
        "one_staked": one_staked,
        "returns": returns,
        "negative_stake": negative_stake,
        "zero_stakes": zero_stakes,
        "unknown_model": unknown_model,
        "n_covers_less": n_covers_less,
    }


MPC = _mpc_cases()


@pytest.mark.parametrize("name", sorted(MPC))
def test_meta_portfolio_contribution_parity(name: str) -> None:
    run(MPC, name, ca.meta_portfolio_contribution, nt.meta_portfolio_contribution, ATOL_CORR)


def test_mpc_is_the_gradient_of_the_meta_portfolio_return() -> None:
    """MPC × 50 is ∂/∂s of ``pᵀt / ‖p‖`` with ``p`` the centred stake-weighted portfolio."""
    d = inputs(np.random.default_rng(21), n_cols=4)
    w = ca.generate_neutralized_weights(d.preds, d.n, d.v).to_numpy()
    w_c = w - w.mean(axis=0)
    t = d.targets.to_numpy() - d.targets.mean()
    s = (d.stakes / d.stakes.sum()).to_numpy()

    def portfolio_return(shares: np.ndarray) -> float:
        p = w_c @ shares
        p = p - p.mean()
        return float(p @ t / np.linalg.norm(p))

    h = 1e-6
    gradient = [
        (portfolio_return(s + h * e) - portfolio_return(s - h * e)) / (2 * h) for e in np.eye(4)
    ]
    mpc = ca.meta_portfolio_contribution(d.preds, d.stakes, d.n, d.v, d.targets)
    # central differences are exact to O(h²) ≈ 1e-12 here, plus rounding of ~1e-16 / h
    np.testing.assert_allclose(mpc.to_numpy() * 50, gradient, rtol=0, atol=1e-7)
    # the portfolio's return does not change along s itself: Σ s_j MPC_j = 0
    assert abs(float(mpc.to_numpy() @ s)) < 1e-15


# ============================================================================================
# random inputs
# ============================================================================================


@st.composite
def random_inputs(draw: st.DrawFn) -> tuple[Inputs, int | None]:
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    d = inputs(
        rng,
        n_rows=draw(st.integers(30, 250)),
        n_cols=draw(st.integers(1, 6)),
        n_factors=draw(st.integers(1, 10)),
        levels=draw(st.sampled_from([None, None, 2, 5, 20])),
        sort=draw(st.booleans()),
    )
    if draw(st.booleans()):
        d.targets = with_nans(rng, d.targets, draw(st.sampled_from([0.05, 0.15, 0.3])))
    top_bottom = draw(st.sampled_from([None, None, 0, 5]))
    return d, top_bottom


@settings(max_examples=40, deadline=None)
@given(case=random_inputs())
def test_random_parity(case: tuple[Inputs, int | None]) -> None:
    d, tb = case
    assert_parity(
        lambda: ca.neutral_correlation(d.preds, d.n, d.targets, top_bottom=tb),
        lambda: nt.neutral_correlation(d.preds, d.n, d.targets, top_bottom=tb),
        atol=ATOL_NEUTRAL,
    )
    assert_parity(
        lambda: ca.neutral_contribution(d.preds, d.meta, d.n, d.targets, tb),
        lambda: nt.neutral_contribution(d.preds, d.meta, d.n, d.targets, tb),
        atol=ATOL_NEUTRAL,
    )
    assert_parity(
        lambda: ca.alpha(d.preds, d.n, d.v, d.targets),
        lambda: nt.alpha(d.preds, d.n, d.v, d.targets),
        atol=ATOL_CORR,
    )
    assert_parity(
        lambda: ca.meta_portfolio_contribution(d.preds, d.stakes, d.n, d.v, d.targets),
        lambda: nt.meta_portfolio_contribution(d.preds, d.stakes, d.n, d.v, d.targets),
        atol=ATOL_CORR,
    )

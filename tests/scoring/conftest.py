"""Shared helpers for the ``crowdalpha.scoring`` parity suite.

The reference is numerai-tools 0.7.2 (``numerai_tools.scoring``). The contract checked here:
on every input the reference accepts, ``crowdalpha.scoring`` returns the same numbers (to a
stated absolute tolerance, NaN matching NaN, same index and columns); on every input the
reference refuses (``AssertionError``, ``ValueError``, ``KeyError``, ``LinAlgError``, ...),
``crowdalpha.scoring`` raises a :class:`crowdalpha.errors.InvalidInputError`.

Data are generated the way Numerai ships them: ids are ``"n"`` followed by 15 hex digits and
arrive in no particular order, targets sit in ``{0, .25, .5, .75, 1}`` with about
5/20/50/20/5 % in each bin, features are ``int8`` in ``{0, ..., 4}``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from crowdalpha.errors import InvalidInputError

ATOL_CORR = 1e-9
"""numerai_corr, correlation_contribution, tie_kept_rank, gaussian, stake_weight, ..."""

ATOL_NEUTRAL = 1e-7
"""feature_neutral_corr and neutralize (least squares leaves more rounding)."""

TARGET_BINS = np.array([0.0, 0.25, 0.5, 0.75, 1.0])
TARGET_PROBS = np.array([0.05, 0.2, 0.5, 0.2, 0.05])


# --------------------------------------------------------------------------------------------
# comparison
# --------------------------------------------------------------------------------------------


def call_reference(ref_fn: Callable[[], Any]) -> Any:
    """Call the reference with its warnings silenced (numpy warns on 0/0 inside it)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ref_fn()


def _assert_close(ours: Any, ref: Any, *, atol: float, where: str) -> None:
    np.testing.assert_allclose(
        np.asarray(ours, dtype=np.float64),
        np.asarray(ref, dtype=np.float64),
        rtol=0,
        atol=atol,
        equal_nan=True,
        err_msg=where,
    )


def assert_same(ours: Any, ref: Any, *, atol: float, where: str = "result") -> None:
    """Assert that ``ours`` equals the reference result ``ref`` to ``atol`` (rtol = 0).

    Series and DataFrames must be of the same kind with equal index (names included) and
    columns; tuples are compared item by item; strings exactly; numbers and arrays with
    ``np.testing.assert_allclose(..., equal_nan=True)`` (infinities must match too).
    """
    if isinstance(ref, pd.DataFrame):
        assert isinstance(ours, pd.DataFrame), f"{where}: expected a DataFrame, got {type(ours)}"
        pd.testing.assert_index_equal(ours.index, ref.index, exact=False, obj=f"{where}.index")
        pd.testing.assert_index_equal(
            ours.columns, ref.columns, exact=False, obj=f"{where}.columns"
        )
        _assert_close(ours, ref, atol=atol, where=where)
    elif isinstance(ref, pd.Series):
        assert isinstance(ours, pd.Series), f"{where}: expected a Series, got {type(ours)}"
        pd.testing.assert_index_equal(ours.index, ref.index, exact=False, obj=f"{where}.index")
        _assert_close(ours, ref, atol=atol, where=where)
    elif isinstance(ref, tuple):
        assert isinstance(ours, tuple), f"{where}: expected a tuple, got {type(ours)}"
        assert len(ours) == len(ref), f"{where}: tuple of {len(ours)} items, expected {len(ref)}"
        for i, (o, r) in enumerate(zip(ours, ref, strict=True)):
            assert_same(o, r, atol=atol, where=f"{where}[{i}]")
    elif isinstance(ref, str):
        assert ours == ref, f"{where}: {ours!r} != {ref!r}"
    elif isinstance(ref, np.ndarray):
        ours_arr = np.asarray(ours)
        assert ours_arr.shape == ref.shape, f"{where}: shape {ours_arr.shape} != {ref.shape}"
        _assert_close(ours_arr, ref, atol=atol, where=where)
    else:
        _assert_close(ours, ref, atol=atol, where=where)


def assert_parity(
    ours_fn: Callable[[], Any],
    ref_fn: Callable[[], Any],
    *,
    atol: float,
    expect_refusal: bool | None = None,
    error: type[InvalidInputError] = InvalidInputError,
) -> Any:
    """Check the drop-in contract on one input; return our result (``None`` on refusal).

    If the reference raises anything, ours must raise an ``InvalidInputError`` (or the more
    specific ``error``); otherwise ours must return the reference's numbers. Ours runs with
    warnings as errors (pytest's ``filterwarnings = error``): a library that warns fails here.
    ``expect_refusal`` additionally pins which way the reference goes, so that a case written
    to exercise a refusal (or an acceptance) cannot silently test the other path.
    """
    try:
        ref = call_reference(ref_fn)
    except Exception as ref_error:
        if expect_refusal is False:
            raise AssertionError(
                f"test data meant to be accepted, but the reference refused it: "
                f"{type(ref_error).__name__}: {ref_error}"
            ) from ref_error
        try:
            ours = ours_fn()
        except error as our_error:
            assert isinstance(our_error.code, str)
            assert our_error.code
            return None
        except InvalidInputError as our_error:
            raise AssertionError(
                f"expected {error.__name__}, ours raised {type(our_error).__name__}: {our_error}"
            ) from our_error
        raise AssertionError(
            f"the reference refused ({type(ref_error).__name__}: {ref_error}) but ours "
            f"returned {ours!r}"
        ) from ref_error
    if expect_refusal:
        raise AssertionError(f"test data meant to be refused, but the reference returned {ref!r}")
    ours = ours_fn()
    assert_same(ours, ref, atol=atol)
    return ours


def assert_refused(
    ours_fn: Callable[[], Any],
    ref_fn: Callable[[], Any],
    error: type[InvalidInputError] = InvalidInputError,
) -> None:
    """Both must refuse: the reference with anything, ours with ``error``."""
    assert_parity(ours_fn, ref_fn, atol=0.0, expect_refusal=True, error=error)


# --------------------------------------------------------------------------------------------
# data generation
# --------------------------------------------------------------------------------------------


def make_ids(rng: np.random.Generator, n: int) -> pd.Index:
    """``n`` distinct Numerai-style ids (``"n"`` + 15 hex digits), in random order."""
    values: set[int] = set()
    while len(values) < n:
        values.update(int(v) for v in rng.integers(0, 16**15, n - len(values), dtype=np.int64))
    ordered = sorted(values)
    order = rng.permutation(n)
    return pd.Index([f"n{ordered[i]:015x}" for i in order], name="id")


def make_targets(
    rng: np.random.Generator,
    ids: pd.Index,
    *,
    kind: str = "bins",
    nan_share: float = 0.0,
    name: str = "target",
) -> pd.Series:
    """Targets in the five Numerai bins (``kind="bins"``) or standard-normal returns."""
    n = len(ids)
    if kind == "bins":
        values = rng.choice(TARGET_BINS, size=n, p=TARGET_PROBS)
    elif kind == "normal":
        values = rng.standard_normal(n)
    elif kind == "uniform":
        values = rng.random(n)
    else:
        raise ValueError(kind)
    targets = pd.Series(values, index=ids, name=name)
    return with_nans(rng, targets, nan_share)


def make_predictions(
    rng: np.random.Generator,
    ids: pd.Index,
    n_cols: int,
    *,
    targets: pd.Series | None = None,
    levels: int | None = None,
    nan_share: float = 0.0,
    constant_cols: Sequence[int] = (),
    prefix: str = "model_",
) -> pd.DataFrame:
    """Predictions in [0, 1], mildly correlated with ``targets`` when given.

    ``levels`` rounds every column to that many distinct values (2 gives binary predictions,
    many ties); ``nan_share`` puts NaN in that share of the rows (one random column per row);
    the columns in ``constant_cols`` are set to 0.5 everywhere.
    """
    n = len(ids)
    values = rng.random((n, n_cols))
    if targets is not None:
        signal = targets.reindex(ids).fillna(0.5).to_numpy(dtype=np.float64)
        spread = np.ptp(signal) or 1.0
        weights = rng.uniform(-0.5, 1.0, n_cols)
        values = values + np.outer((signal - signal.min()) / spread, weights)
        lo, hi = values.min(axis=0), values.max(axis=0)
        values = (values - lo) / np.where(hi > lo, hi - lo, 1.0)
    if levels is not None:
        values = np.floor(values * levels).clip(0, levels - 1) / max(levels - 1, 1)
    for col in constant_cols:
        values[:, col] = 0.5
    frame = pd.DataFrame(values, index=ids, columns=[f"{prefix}{j}" for j in range(n_cols)])
    if nan_share > 0:
        rows = rng.choice(n, size=round(nan_share * n), replace=False)
        cols = rng.integers(0, n_cols, size=len(rows))
        for r, c in zip(rows, cols, strict=True):
            frame.iloc[r, c] = np.nan
    return frame


def make_meta_model(
    rng: np.random.Generator, ids: pd.Index, *, targets: pd.Series | None = None
) -> pd.Series:
    """A meta model in [0, 1], mildly correlated with ``targets`` when given."""
    meta = make_predictions(rng, ids, 1, targets=targets).iloc[:, 0]
    return meta.rename("numerai_meta_model")


def make_features(
    rng: np.random.Generator,
    ids: pd.Index,
    n_features: int,
    *,
    constant: bool = True,
    duplicate: bool = True,
) -> pd.DataFrame:
    """int8 features in {0, ..., 4}; optionally one constant (all 2) and one duplicated."""
    values = rng.choice(
        np.arange(5, dtype=np.int8), size=(len(ids), n_features), p=TARGET_PROBS
    ).astype(np.int8)
    features = pd.DataFrame(
        values, index=ids, columns=[f"feature_{j:03d}" for j in range(n_features)]
    )
    if constant:
        features["feature_constant"] = np.int8(2)
    if duplicate:
        features["feature_duplicate"] = features.iloc[:, 0]
    return features


def with_nans(rng: np.random.Generator, s: pd.Series, share: float) -> pd.Series:
    """A copy of ``s`` with NaN in ``round(share * len(s))`` random rows."""
    out = s.astype(np.float64).copy()
    if share > 0:
        rows = rng.choice(len(s), size=round(share * len(s)), replace=False)
        out.iloc[rows] = np.nan
    return out


def drop_rows(rng: np.random.Generator, data: Any, share: float) -> Any:
    """``data`` without ``round(share * len(data))`` random rows (partially overlapping ids)."""
    n = len(data)
    keep = np.sort(rng.choice(n, size=n - round(share * n), replace=False))
    return data.iloc[keep]


def era_labels(
    labels: Sequence[Hashable], sizes: Sequence[int], rng: np.random.Generator
) -> list[Hashable]:
    """Era labels for ``sum(sizes)`` rows, interleaved (rows are not grouped by era)."""
    column = [label for label, size in zip(labels, sizes, strict=True) for _ in range(size)]
    return [column[i] for i in rng.permutation(len(column))]


def repeated_feature_rows(predictions: pd.DataFrame, features: pd.DataFrame) -> int:
    """How many rows repeat another row's prediction (in some column) and all its features.

    Such rows should tie after neutralization, but the reference's matrix product leaves
    last-bit noise that breaks some of those ties at random, and ranking then turns the noise
    into differences of ~1e-3 in feature_neutral_corr. Parity data for FNC must avoid them.
    """
    worst = 0
    for column in predictions.columns:
        rows = pd.concat([predictions[column].rename("__prediction__"), features], axis=1)
        worst = max(worst, int(rows.duplicated().sum()))
    return worst


@dataclass
class Case:
    """One input for a parity check: positional ``args``, keyword ``kwargs``, the expectation."""

    args: tuple[Any, ...]
    kwargs: dict[str, Any] = field(default_factory=dict)
    refuse: bool = False
    error: type[InvalidInputError] = InvalidInputError


Builder = Callable[[np.random.Generator], Case]


def run_case(
    builders: dict[str, Builder],
    name: str,
    ours: Callable[..., Any],
    ref: Callable[..., Any],
    atol: float,
    *,
    seed_base: int,
) -> tuple[Case, Any]:
    """Build the named case (seeded by ``seed_base`` plus its name's position) and check
    parity on it; returns the case and our result."""
    rng = np.random.default_rng(sorted(builders).index(name) + seed_base)
    case = builders[name](rng)
    return case, assert_parity(
        lambda: ours(*case.args, **case.kwargs),
        lambda: ref(*case.args, **case.kwargs),
        atol=atol,
        expect_refusal=case.refuse,
        error=case.error,
    )

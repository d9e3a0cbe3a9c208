"""Neutral and portfolio metrics over pandas objects — drop-in for numerai-tools 0.7.2.

``neutral_correlation``, ``neutral_contribution``, ``generate_neutralized_weights``,
``alpha`` and ``meta_portfolio_contribution`` have numerai-tools' names, call shapes and
numbers (see ``tests/scoring/test_parity_neutral.py``); bad input is refused with a typed
:mod:`crowdalpha.errors` exception instead of an ``assert``, and every column of a
DataFrame is scored in one vectorised pass through :mod:`crowdalpha.scoring.kernels` and
:mod:`crowdalpha.scoring.portfolio_kernels`.

``N`` below is the neutralizer matrix (tickers × factors) and ``v`` the sample weights
(one per ticker): Numerai's Signals scoring inputs. Where the reference aligns ids it keeps
the ids present (without NaN) in every input, sorted, and refuses when an input would lose
more than ``max_filtered_index_ratio`` of its ids (the 20% rule); here that budget is a
keyword argument on every function.

Deliberate differences from the reference, as in :mod:`crowdalpha.scoring.metrics`:
duplicated ids are refused; stake names missing from the predictions, stakes that are
negative or sum to zero, and neutralizers or sample weights that miss some of the scored
ids are refused with a message saying so (the reference fails with ``KeyError``,
``AssertionError`` or a shape mismatch).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from crowdalpha.errors import (
    DegenerateDataError,
    DuplicateIdsError,
    IndexMismatchError,
    InvalidParameterError,
    NotEnoughOverlapError,
)
from crowdalpha.scoring import kernels, portfolio_kernels
from crowdalpha.scoring.kernels import FloatArray, Segments
from crowdalpha.scoring.metrics import (
    DEFAULT_MAX_FILTERED_INDEX_RATIO,
    _as_frame,
    _as_series,
    _check_no_nan,
    _check_ratio,
    _check_sorted,
    _check_top_bottom,
    _check_unique,
    _float_rows,
    _float_values,
    _guard_power,
    _Ids,
    _positions,
    _rows_ids,
    _take,
    _values_ids,
)

__all__ = [
    "alpha",
    "generate_neutralized_weights",
    "meta_portfolio_contribution",
    "neutral_contribution",
    "neutral_correlation",
]


# --- alignment -------------------------------------------------------------------------


def _overlap_many(inputs: Sequence[_Ids], ratio: float) -> pd.Index:
    """numerai-tools' ``filter_sort_index_many``: ids valid in every input, sorted, with each
    input keeping at least ``1 − ratio`` of its ids."""
    for item in inputs:
        if len(item.index) == 0:
            raise NotEnoughOverlapError(f"{item.name} is empty", details={"input": item.name})
    ids = inputs[0].index[inputs[0].valid]
    for item in inputs[1:]:
        ids = ids.intersection(item.index[item.valid])
    ids = ids.sort_values()
    keep = 1 - ratio
    for item in inputs:
        share = len(ids) / len(item.index)
        if not share >= keep:
            others = ", ".join(o.name for o in inputs if o is not item)
            raise NotEnoughOverlapError(
                f"{item.name} does not have enough overlapping ids with {others}: "
                f"{len(ids)} of its {len(item.index)} ids ({share:.1%}) have values in all of "
                f"them, at least {keep:.0%} must",
                details={
                    "input": item.name,
                    "overlapping": len(ids),
                    "total": len(item.index),
                    "max_filtered_ratio": ratio,
                },
            )
    return ids


def _neutralizer_rows(neutralizers: pd.DataFrame, ids: pd.Index) -> FloatArray:
    """The neutralizer rows of ``ids`` as a C-contiguous float64 ``(n, f)`` matrix."""
    rows = _float_rows(neutralizers, "neutralizers").T
    return np.ascontiguousarray(rows[_positions(neutralizers.index, ids)])


def _centred(t: FloatArray) -> FloatArray:
    """``t`` minus the mean of its non-NaN entries (pandas' ``center``)."""
    valid = ~np.isnan(t)
    return t - t[valid].mean() if valid.any() else t


def _neutral_gaussian(p: FloatArray, f: FloatArray, seg: Segments) -> FloatArray:
    """``neutralize(gaussian(tie_kept_rank(p)), N)`` of every row; constant rows are NaN."""
    return kernels.neutralize(kernels.rank_codes(p, seg).gaussian, f, seg)


def _refuse_constant(neutral: FloatArray, columns: Sequence[object]) -> None:
    bad = np.isnan(neutral).any(axis=1)
    if bad.any():
        col = columns[int(np.flatnonzero(bad)[0])]
        raise DegenerateDataError(
            f"predictions column {col!r} is constant over the scored ids: its neutral "
            "correlation is undefined",
            details={"column": str(col)},
        )


# --- neutral correlation and contribution -------------------------------------------------


def neutral_correlation(
    predictions: pd.DataFrame,
    neutralizers: pd.DataFrame,
    targets: pd.Series,
    max_filtered_index_ratio: float = DEFAULT_MAX_FILTERED_INDEX_RATIO,
    top_bottom: int | None = None,
) -> pd.Series:
    """Pearson correlation of the neutralized predictions with the targets.

    Targets are centred; targets, predictions and neutralizers aligned (ids without NaN in
    all three, within the data-loss budget); each column tie-kept ranked, Gaussianized and
    neutralized to ``neutralizers`` (least squares with a constant); then correlated with
    the targets — no 1.5 power, no variance normalization. ``top_bottom=k`` correlates only
    each column's k lowest and k highest neutralized predictions.
    """
    preds = _as_frame(predictions, "predictions")
    neut = _as_frame(neutralizers, "neutralizers")
    tgt = _as_series(targets, "targets")
    ratio = _check_ratio(max_filtered_index_ratio)
    p_all, p_ids = _rows_ids(preds, "predictions")
    t_all, t_ids = _values_ids(tgt, "targets")
    n_ids = _Ids.of(neut, "neutralizers")
    ids = _overlap_many([t_ids, p_ids, n_ids], ratio)
    seg = Segments.single(len(ids))
    tb = _check_top_bottom(top_bottom, len(ids))
    p = _take(p_all, preds.index, ids)
    t = _take(_centred(t_all), tgt.index, ids)
    neutral = _neutral_gaussian(p, _neutralizer_rows(neut, ids), seg)
    _refuse_constant(neutral, list(preds.columns))
    if tb is None:
        scores = kernels.pearson(neutral, t, seg)
    else:
        mask = kernels.top_bottom_mask(neutral, seg, tb)
        scores = kernels.pearson_masked(neutral, t, mask, seg)
    return pd.Series(scores[:, 0], index=preds.columns)


def neutral_contribution(
    predictions: pd.DataFrame,
    meta_model: pd.Series,
    neutralizers: pd.DataFrame,
    live_targets: pd.Series,
    top_bottom: int | None = None,
    *,
    max_filtered_index_ratio: float = DEFAULT_MAX_FILTERED_INDEX_RATIO,
) -> pd.Series:
    """MMC after neutralization: each column's contribution to the meta model's correlation
    with the target, once both are neutral to ``neutralizers``.

    Predictions and meta model are tie-kept ranked, Gaussianized and neutralized; each
    prediction is orthogonalized to the neutral meta model and dotted with the centred
    target (scaled by 4 first when it lies in [0, 1]), divided by the number of ids. A
    constant column (or meta model) gives NaN, as in the reference.
    """
    preds = _as_frame(predictions, "predictions")
    meta = _as_series(meta_model, "meta_model")
    neut = _as_frame(neutralizers, "neutralizers")
    tgt = _as_series(live_targets, "live_targets")
    ratio = _check_ratio(max_filtered_index_ratio)
    p_all, p_ids = _rows_ids(preds, "predictions")
    m_all, m_ids = _values_ids(meta, "meta_model")
    t_all, t_ids = _values_ids(tgt, "live_targets")
    n_ids = _Ids.of(neut, "neutralizers")
    ids = _overlap_many([t_ids, p_ids, m_ids, n_ids], ratio)
    seg = Segments.single(len(ids))
    tb = _check_top_bottom(top_bottom, len(ids))
    f = _neutralizer_rows(neut, ids)
    p = _neutral_gaussian(_take(p_all, preds.index, ids), f, seg)
    m = _neutral_gaussian(_take(m_all, meta.index, ids)[None, :], f, seg)[0]
    if tb is not None:
        # the reference's top/bottom selection fails on NaN (a constant column)
        _refuse_constant(p, list(preds.columns))
        if np.isnan(m).any():
            raise DegenerateDataError("the meta model is constant over the scored ids")
    scores = kernels.contribution(p, m, _take(t_all, tgt.index, ids), seg, tb)
    return pd.Series(scores[:, 0], index=preds.columns)


# --- neutralized weights, alpha and MPC ---------------------------------------------------


def _check_weight_inputs(neut: pd.DataFrame, weights: pd.Series) -> tuple[_Ids, _Ids]:
    """The reference refuses NaN anywhere in N and v (before any alignment)."""
    _check_unique(neut, "neutralizers")
    _check_unique(weights, "sample_weights")
    _check_no_nan(_float_rows(neut, "neutralizers"), "neutralizers")
    _check_no_nan(_float_values(weights, "sample_weights"), "sample_weights")
    return _Ids.of(neut, "neutralizers"), _Ids.of(weights, "sample_weights")


def _neutral_weights(
    preds: pd.DataFrame,
    p: FloatArray,
    ids: pd.Index,
    neut: pd.DataFrame,
    weights: pd.Series,
    ratio: float,
) -> tuple[FloatArray, pd.Index]:
    """Neutral weights of rows ``p`` (``preds``' columns on the sorted ``ids``).

    Ranks over all of ``ids``, then keeps the ids that N and v also hold (within the
    budget). Returns the weights ``(k, n′)`` and their ids.
    """
    n_ids, v_ids = _check_weight_inputs(neut, weights)
    _check_no_nan(p, "predictions")
    seg = Segments.single(len(ids))
    rc = kernels.rank_codes(p, seg)
    _guard_power(rc, seg, list(preds.columns), None)
    ranked = _Ids("predictions", ids, np.ones(len(ids), dtype=bool))
    kept = _overlap_many([ranked, n_ids, v_ids], ratio)
    s_prime = _take(rc.gaussian_pow15, ids, kept)
    v = _take(_float_values(weights, "sample_weights"), weights.index, kept)
    w = portfolio_kernels.neutral_weights(s_prime, _neutralizer_rows(neut, kept), v)
    return w, kept


def generate_neutralized_weights(
    predictions: pd.DataFrame,
    neutralizers: pd.DataFrame,
    sample_weights: pd.Series,
    center_and_normalize: bool = False,
    *,
    max_filtered_index_ratio: float = DEFAULT_MAX_FILTERED_INDEX_RATIO,
) -> pd.DataFrame:
    """Turn each prediction column into portfolio weights neutral to ``neutralizers``.

    ``s′ = gaussian(tie_kept_rank(s)) ** 1.5`` (signed), ranked over all the predictions'
    ids; then, on the ids that N and v also hold, ``w = (s′ − N (Nᵀ (v ∘ s′))) ∘ v``. With
    ``center_and_normalize`` each column is also demeaned and scaled to an absolute sum of
    1. Predictions must be sorted by id and hold no NaN; N and v must hold no NaN.
    """
    preds = _as_frame(predictions, "predictions")
    neut = _as_frame(neutralizers, "neutralizers")
    weights = _as_series(sample_weights, "sample_weights")
    ratio = _check_ratio(max_filtered_index_ratio)
    _check_unique(preds, "predictions")
    _check_sorted(preds, "predictions")
    p = _float_rows(preds, "predictions")
    w, kept = _neutral_weights(preds, p, preds.index, neut, weights, ratio)
    if center_and_normalize:
        w = portfolio_kernels.center_and_normalize(w)
    index = preds.index[_positions(preds.index, kept)]
    return pd.DataFrame(w.T, index=index, columns=preds.columns)


def _scored_weights(
    preds: pd.DataFrame,
    tgt: pd.Series,
    neut: pd.DataFrame,
    weights: pd.Series,
    ratio: float,
) -> tuple[FloatArray, FloatArray]:
    """Neutral weights of every column and the (uncentred) targets, on the ids scored.

    Predictions and targets are aligned first (the reference's ``filter_sort_index``); the
    weights must then cover every one of those ids, or the reference's products would not
    line up.
    """
    p_all, p_ids = _rows_ids(preds, "predictions")
    t_all, t_ids = _values_ids(tgt, "targets")
    ids = _overlap_many([p_ids, t_ids], ratio)
    w, kept = _neutral_weights(preds, _take(p_all, preds.index, ids), ids, neut, weights, ratio)
    if len(kept) != len(ids):
        missing = ids.difference(kept)
        raise IndexMismatchError(
            f"neutralizers and sample_weights must cover every scored id; "
            f"{len(missing)} are missing, e.g. {[str(m) for m in missing[:5]]}",
            details={"missing": len(missing), "examples": [str(m) for m in missing[:5]]},
        )
    return w, _take(t_all, tgt.index, ids)


def alpha(
    predictions: pd.DataFrame,
    neutralizers: pd.DataFrame,
    sample_weights: pd.Series,
    targets: pd.Series,
    *,
    max_filtered_index_ratio: float = DEFAULT_MAX_FILTERED_INDEX_RATIO,
) -> pd.Series:
    """Alpha: the return of each column's neutral portfolio on the centred targets.

    Targets are centred (over all of them), aligned with the predictions, and each column's
    :func:`generate_neutralized_weights` (uncentred, unnormalized) is dotted with them and
    divided by the number of ids.
    """
    preds = _as_frame(predictions, "predictions")
    tgt = _as_series(targets, "targets")
    ratio = _check_ratio(max_filtered_index_ratio)
    centred = pd.Series(_centred(_float_values(tgt, "targets")), index=tgt.index)
    w, t = _scored_weights(
        preds,
        centred,
        _as_frame(neutralizers, "neutralizers"),
        _as_series(sample_weights, "sample_weights"),
        ratio,
    )
    return pd.Series(portfolio_kernels.alpha(w, t), index=preds.columns)


def _stake_shares(stakes: pd.Series, columns: pd.Index) -> tuple[FloatArray, np.ndarray]:
    """Stakes (NaN as 0) divided by their absolute sum, and their columns' positions."""
    if not stakes.index.is_unique:
        raise DuplicateIdsError("stakes name a model more than once")
    missing = stakes.index.difference(columns)
    if len(missing):
        raise IndexMismatchError(
            f"stakes name models that have no predictions column: {missing[:5].tolist()}",
            details={"missing": [str(m) for m in missing[:20]]},
        )
    raw = np.nan_to_num(_float_values(stakes, "stakes"), nan=0.0, posinf=np.inf, neginf=-np.inf)
    with np.errstate(invalid="ignore", divide="ignore"):
        shares = raw / np.abs(raw).sum()
    if not np.isclose(shares.sum(), 1):
        raise InvalidParameterError(
            "stakes must be finite, not negative and not all zero "
            f"(their shares sum to {shares.sum():g}, not 1)",
            details={"total": float(raw.sum())},
        )
    return shares, columns.get_indexer(stakes.index)


def meta_portfolio_contribution(
    predictions: pd.DataFrame,
    stakes: pd.Series,
    neutralizers: pd.DataFrame,
    sample_weights: pd.Series,
    targets: pd.Series,
    *,
    max_filtered_index_ratio: float = DEFAULT_MAX_FILTERED_INDEX_RATIO,
) -> pd.Series:
    """MPC: the gradient, with respect to each stake, of the meta portfolio's return.

    Predictions and targets are aligned, targets centred, stakes (NaN as 0) scaled to
    shares; each column becomes neutral weights (:func:`generate_neutralized_weights`),
    centred over ids; the stake-weighted portfolio ``p`` is formed and every staked
    column's weights, projected off ``p``, are dotted with the targets and divided by
    ``‖p‖₂`` and by 50 (numerai-tools 0.7.2's L2-norm version). One value per entry of
    ``stakes``.
    """
    preds = _as_frame(predictions, "predictions")
    tgt = _as_series(targets, "targets")
    st = _as_series(stakes, "stakes")
    ratio = _check_ratio(max_filtered_index_ratio)
    shares, columns = _stake_shares(st, preds.columns)
    w, t = _scored_weights(
        preds,
        tgt,
        _as_frame(neutralizers, "neutralizers"),
        _as_series(sample_weights, "sample_weights"),
        ratio,
    )
    mpc = portfolio_kernels.meta_portfolio_contribution(w[columns], shares, t - t.mean())
    return pd.Series(mpc, index=st.index)

"""Numerai's scoring metrics over pandas objects indexed by id — drop-in for numerai-tools.

Each public function has the name and call shape of its numerai-tools 0.7.2 counterpart and
gives the same numbers (see ``tests/scoring``), but refuses bad input with a typed
:mod:`crowdalpha.errors` exception instead of an ``assert``, and scores every column of a
DataFrame in one vectorised pass through :mod:`crowdalpha.scoring.kernels`.

The ``*_by_era`` functions take the rows of a whole dataset (predictions, targets and an era
label per row, sharing one index) and return one score per era and column — the numbers the
reference gives when applied era by era through ``groupby("era")``, without the loop.

Deliberate differences from the reference, where it mishandles input:

- duplicated ids are refused (``DuplicateIdsError``) rather than silently multiplied;
- a ``max_filtered_index_ratio`` outside [0, 1] or a ``top_bottom`` larger than half an era
  is refused up front (``InvalidParameterError``) rather than failing later;
- stakes that sum to zero (or are NaN) are refused rather than giving a meta model of NaN;
- unnamed targets work (the reference raises ``KeyError`` on them);
- ``orthogonalize`` of a 1-D ``v`` returns a 1-D vector;
- the ``*_by_era`` functions accept rows in any order (they align nothing by id, and sort ids
  within each era where ``top_bottom`` tie-breaking needs it), where the reference's FNC
  refuses an era whose ids are not sorted.

One limit of matching the reference: rows whose predictions and features are all identical
have identical neutralized values in exact arithmetic; the reference's rounding breaks
their tie one way and ours may break it the other, which moves FNC by about 1e-3 of such a
pair's rank step. Real data practically never holds such rows.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import special

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
from crowdalpha.scoring import kernels
from crowdalpha.scoring.kernels import BoolArray, FloatArray, IntArray, Segments

__all__ = [
    "DEFAULT_MAX_FILTERED_INDEX_RATIO",
    "correlation_contribution",
    "correlation_contribution_by_era",
    "feature_neutral_corr",
    "feature_neutral_corr_by_era",
    "filter_sort_index",
    "gaussian",
    "max_feature_correlation",
    "neutralize",
    "numerai_corr",
    "numerai_corr_by_era",
    "orthogonalize",
    "score_by_era",
    "score_submissions",
    "stake_weight",
    "tie_kept_rank",
]

#: The data-loss budget: the share of an input's ids that alignment may drop (the 20% rule).
DEFAULT_MAX_FILTERED_INDEX_RATIO = 0.2

Frame = pd.DataFrame | pd.Series


# --- input checks ----------------------------------------------------------------------


def _as_frame(obj: object, what: str) -> pd.DataFrame:
    if isinstance(obj, pd.DataFrame):
        return obj
    if isinstance(obj, pd.Series):
        return obj.to_frame()
    raise InvalidInputError(f"{what} must be a pandas DataFrame or Series, not {type(obj)!r}")


def _as_series(obj: object, what: str) -> pd.Series:
    if isinstance(obj, pd.Series):
        return obj
    if isinstance(obj, pd.DataFrame) and obj.shape[1] == 1:
        return obj.iloc[:, 0]
    raise InvalidInputError(f"{what} must be a pandas Series, not {type(obj)!r}")


def _float_rows(df: pd.DataFrame, what: str) -> FloatArray:
    """The frame's columns as C-contiguous float64 rows ``(k, n)``."""
    try:
        values = df.to_numpy(dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ScoringInputError(f"{what} must be numeric: {exc}") from None
    return np.ascontiguousarray(values.T)


def _float_values(s: pd.Series, what: str) -> FloatArray:
    try:
        return np.ascontiguousarray(s.to_numpy(dtype=np.float64))
    except (TypeError, ValueError) as exc:
        raise ScoringInputError(f"{what} must be numeric: {exc}") from None


def _check_ratio(ratio: float) -> float:
    if not isinstance(ratio, int | float) or not 0.0 <= float(ratio) <= 1.0:
        raise InvalidParameterError(
            f"max_filtered_index_ratio must be a number in [0, 1], not {ratio!r}"
        )
    return float(ratio)


def _check_unique(obj: Frame, what: str) -> None:
    if not obj.index.is_unique:
        dupes = obj.index[obj.index.duplicated()].unique()[:5].tolist()
        raise DuplicateIdsError(
            f"{what} has duplicated ids (e.g. {dupes}); every id must appear once",
            details={"input": what, "examples": [str(d) for d in dupes]},
        )


def _check_sorted(obj: Frame, what: str) -> None:
    if not obj.index.is_monotonic_increasing:
        raise UnsortedIndexError(
            f"{what} must be sorted by id; call .sort_index() first",
            details={"input": what},
        )


def _check_no_nan(values: np.ndarray, what: str) -> None:
    if np.isnan(values).any():
        raise MissingValuesError(
            f"{what} contains NaN; fill or drop those rows first", details={"input": what}
        )


def _check_top_bottom(top_bottom: int | None, smallest_era: int) -> int | None:
    """numerai-tools treats ``None`` and values ≤ 0 as "use every row"."""
    if top_bottom is None:
        return None
    if isinstance(top_bottom, bool) or not isinstance(top_bottom, int | np.integer):
        raise InvalidParameterError(f"top_bottom must be an integer or None, not {top_bottom!r}")
    if top_bottom <= 0:
        return None
    if 2 * int(top_bottom) > smallest_era:
        raise InvalidParameterError(
            f"top_bottom={top_bottom} needs at least {2 * top_bottom} rows per era, "
            f"but an era has only {smallest_era}",
            details={"top_bottom": int(top_bottom), "rows": smallest_era},
        )
    return int(top_bottom)


def _features_matrix(features: pd.DataFrame) -> np.ndarray:
    """Features as an ``(n, f)`` array, kept integer (int8 stays int8) when they are."""
    if all(pd.api.types.is_integer_dtype(t) for t in features.dtypes):
        return features.to_numpy()
    try:
        return features.to_numpy(dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ScoringInputError(f"features must be numeric: {exc}") from None


# --- alignment ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Ids:
    """An input's ids and which rows hold no NaN, for alignment without copying data."""

    name: str
    index: pd.Index
    valid: np.ndarray

    @classmethod
    def of(cls, obj: Frame, name: str) -> _Ids:
        _check_unique(obj, name)
        nan = np.asarray(obj.isna().to_numpy(), dtype=bool)
        valid = ~(nan.any(axis=1) if nan.ndim == 2 else nan)
        return cls(name, obj.index, np.asarray(valid, dtype=bool))


def _overlap(a: _Ids, b: _Ids, ratio: float) -> _Ids:
    """The sorted ids usable in both, under the data-loss budget (numerai-tools' rule)."""
    if len(a.index) == 0 or len(b.index) == 0:
        empty = a.name if len(a.index) == 0 else b.name
        raise NotEnoughOverlapError(f"{empty} is empty", details={"input": empty})
    ids = a.index[a.valid].intersection(b.index[b.valid]).sort_values()
    keep = 1 - ratio
    for side, other in ((a, b), (b, a)):
        if not len(ids) / len(side.index) >= keep:
            share = len(ids) / len(side.index)
            raise NotEnoughOverlapError(
                f"{side.name} does not have enough overlapping ids with {other.name}: "
                f"{len(ids)} of its {len(side.index)} ids ({share:.1%}) have values in both, "
                f"at least {keep:.0%} must",
                details={
                    "input": side.name,
                    "other": other.name,
                    "overlapping": len(ids),
                    "total": len(side.index),
                    "max_filtered_ratio": ratio,
                },
            )
    return _Ids(a.name, ids, np.ones(len(ids), dtype=bool))


def _positions(index: pd.Index, ids: pd.Index) -> IntArray:
    if index.equals(ids):
        return np.arange(len(ids), dtype=np.int64)
    return np.asarray(index.get_indexer(ids), dtype=np.int64)


def _take(x: FloatArray, index: pd.Index, ids: pd.Index) -> FloatArray:
    """The entries of ``x`` (last axis indexed by ``index``) for ``ids``, copied only if needed."""
    if index.equals(ids):
        return x
    return np.ascontiguousarray(x[..., _positions(index, ids)])


def _rows_ids(preds: pd.DataFrame, name: str) -> tuple[FloatArray, _Ids]:
    """Float rows ``(k, n)`` of a frame, and its ids with rows free of NaN."""
    _check_unique(preds, name)
    p = _float_rows(preds, name)
    return p, _Ids(name, preds.index, np.asarray(~np.isnan(p).any(axis=0), dtype=bool))


def _values_ids(series: pd.Series, name: str) -> tuple[FloatArray, _Ids]:
    _check_unique(series, name)
    v = _float_values(series, name)
    return v, _Ids(name, series.index, ~np.isnan(v))


def filter_sort_index(
    s1: Frame, s2: Frame, max_filtered_ratio: float = DEFAULT_MAX_FILTERED_INDEX_RATIO
) -> tuple[Frame, Frame]:
    """Keep the ids present (non-NaN) in both inputs, sorted, within the data-loss budget.

    Raises :class:`NotEnoughOverlapError` when more than ``max_filtered_ratio`` of either
    input's ids would be dropped.
    """
    ratio = _check_ratio(max_filtered_ratio)
    ids = _overlap(_Ids.of(s1, "s1"), _Ids.of(s2, "s2"), ratio).index
    return s1.loc[ids], s2.loc[ids]


# --- transforms ------------------------------------------------------------------------


def tie_kept_rank(s: Frame) -> Frame:
    """Percentile-rank each column, ties sharing their average rank: ``(rank − 0.5) / count``."""
    frame = _as_frame(s, "input")
    _check_sorted(frame, "input")
    ranks = kernels.tie_kept_rank(_float_rows(frame, "input"), Segments.single(len(frame)))
    return _like(s, frame, ranks)


def gaussian(df: Frame) -> Frame:
    """The inverse normal CDF of every value (values outside [0, 1] give NaN)."""
    frame = _as_frame(df, "input")
    _check_sorted(frame, "input")
    return _like(df, frame, special.ndtri(_float_rows(frame, "input")))


def _like(original: Frame, frame: pd.DataFrame, rows: FloatArray) -> Frame:
    out = pd.DataFrame(rows.T, index=frame.index, columns=frame.columns)
    if isinstance(original, pd.Series):
        series = out.iloc[:, 0]
        series.name = original.name
        return series
    return out


def neutralize(
    df: pd.DataFrame, neutralizers: pd.DataFrame, proportion: float = 1.0
) -> pd.DataFrame:
    """Remove from each column its least-squares projection on ``neutralizers`` and a constant.

    ``proportion`` scales how much of the projection is removed. Columns with zero standard
    deviation come back as NaN.
    """
    frame = _as_frame(df, "data")
    neut = _as_frame(neutralizers, "neutralizers")
    if not np.isfinite(proportion):
        raise InvalidParameterError(f"proportion must be a finite number, not {proportion!r}")
    x = _float_rows(frame, "data")
    _check_no_nan(x, "data")
    f = _features_matrix(neut)
    if f.dtype.kind == "f":
        _check_no_nan(f, "neutralizers")
    if len(frame) != len(neut) or not frame.index.equals(neut.index):
        raise IndexMismatchError("data and neutralizers must have the same ids in the same order")
    if len(frame) == 0:
        raise ScoringInputError("data is empty")
    out = kernels.neutralize(x, f, Segments.single(len(frame)), float(proportion))
    return pd.DataFrame(out.T, index=frame.index, columns=frame.columns)


def orthogonalize(v: np.ndarray, u: np.ndarray) -> np.ndarray:
    """``v − u (vᵀu)/(uᵀu)``: each column of ``v`` with its projection on ``u`` removed.

    A 1-D ``v`` gives a 1-D result (the reference broadcasts it into an ``(n, n)`` matrix).
    """
    va = np.asarray(v, dtype=np.float64)
    ua = np.asarray(u, dtype=np.float64)
    if ua.ndim == 2 and ua.shape[1] == 1:  # a column vector, as np.outer flattens it
        ua = ua[:, 0]
    if ua.ndim != 1 or va.ndim not in (1, 2) or va.shape[0] != ua.shape[0]:
        raise InvalidInputError(
            f"orthogonalize needs v of shape (n,) or (n, k) and u of shape (n,), "
            f"got {va.shape} and {ua.shape}"
        )
    with np.errstate(invalid="ignore", divide="ignore"):
        if va.ndim == 1:
            return np.asarray(va - ua * ((va @ ua) / (ua @ ua)))
        return np.asarray(va - np.outer(ua, (va.T @ ua) / (ua.T @ ua)))


def stake_weight(predictions: pd.DataFrame, stakes: pd.Series) -> pd.Series:
    """The stake-weighted meta model: ``Σⱼ Pⱼ sⱼ / Σⱼ sⱼ`` (NaN predictions count as 0)."""
    preds = _as_frame(predictions, "predictions")
    st = _as_series(stakes, "stakes")
    missing = st.index.difference(preds.columns)
    if len(missing):
        raise IndexMismatchError(
            f"stakes name models that have no predictions column: {missing[:5].tolist()}",
            details={"missing": [str(m) for m in missing[:20]]},
        )
    weights = _float_values(st, "stakes")
    total = weights.sum()
    if not np.isfinite(total) or total == 0:
        raise InvalidParameterError(
            f"stakes must be finite and not sum to zero (sum is {total})",
            details={"total": float(total)},
        )
    x = preds[st.index].to_numpy(dtype=np.float64)
    meta = np.where(np.isnan(x), 0.0, x) @ weights / total
    return pd.Series(meta, index=preds.index)


# --- metric cores shared by the single-era and by-era entry points ----------------------


def _era_label(labels: Sequence[Hashable] | None, e: int) -> str:
    return "" if labels is None else f" in era {labels[e]!r}"


def _guard_power(
    rc: kernels.RankCodes,
    seg: Segments,
    columns: Sequence[Hashable],
    eras: Sequence[Hashable] | None,
) -> None:
    """numerai-tools' check that ``pow15`` of the Gaussianized ranks keeps corr ≥ 0.9."""
    # Rows without ties all hold the same values per era: check those once per era.
    tie_free = rc.tie_free(kernels.ndtri)[None, :]
    bad = np.broadcast_to(
        kernels.power_distorts(kernels.pow15(tie_free), tie_free, seg),
        (len(columns), seg.n_eras),
    ).copy()
    tied = np.flatnonzero(rc.has_ties)
    if tied.size:
        # pow15 of the Gaussians, from the table of possible ranks (bit-identical)
        bad[tied] = kernels.power_distorts(rc.gaussian_pow15[tied], rc.gaussian[tied], seg)
    if bad.any():
        col, era = (int(i) for i in np.argwhere(bad)[0])
        _raise_degenerate(f"predictions column {columns[col]!r}", seg, era, eras)


def _raise_degenerate(what: str, seg: Segments, era: int, eras: Sequence[Hashable] | None) -> None:
    where = _era_label(eras, era)
    if seg.lengths[era] < 2:
        raise DegenerateDataError(
            f"only one row left to score{where}; correlation needs at least two",
            details={"era": None if eras is None else str(eras[era])},
        )
    raise DegenerateDataError(
        f"{what}{where} loses its shape under the 1.5 power transform "
        "(correlation with its input below 0.9); the metric is undefined for it",
        details={"era": None if eras is None else str(eras[era])},
    )


def _corr_core(
    p: FloatArray,
    t_centered: FloatArray,
    seg: Segments,
    *,
    top_bottom: int | None,
    target_pow15: bool,
    columns: Sequence[Hashable],
    eras: Sequence[Hashable] | None = None,
    rc: kernels.RankCodes | None = None,
) -> FloatArray:
    """numerai_corr of aligned, NaN-free rows ``p`` ``(k, n)`` against centred targets."""
    tb = _check_top_bottom(top_bottom, int(seg.lengths.min()))
    rc = kernels.rank_codes(p, seg) if rc is None else rc
    _guard_power(rc, seg, columns, eras)
    p15 = rc.gaussian_pow15
    if target_pow15:
        t = kernels.pow15(t_centered)
        bad = kernels.power_distorts(t, t_centered, seg)[0]
        if bad.any():
            _raise_degenerate("the target", seg, int(np.flatnonzero(bad)[0]), eras)
    else:
        t = t_centered
    if tb is None:
        return kernels.pearson(p15, t, seg)
    return kernels.pearson_masked(p15, t, kernels.top_bottom_mask(p15, seg, tb), seg)


def _gaussian_ranks(x: FloatArray, seg: Segments) -> FloatArray:
    return kernels.rank_codes(x, seg).gaussian


def _mmc_core(
    p: FloatArray,
    m: FloatArray,
    t: FloatArray,
    seg: Segments,
    top_bottom: int | None,
    g: FloatArray | None = None,
) -> FloatArray:
    tb = _check_top_bottom(top_bottom, int(seg.lengths.min()))
    g = _gaussian_ranks(p, seg) if g is None else g
    mg = _gaussian_ranks(m[None, :], seg)[0]
    return kernels.contribution(g, mg, t, seg, tb)


def _neutral_normalized(
    p: FloatArray,
    features: np.ndarray,
    seg: Segments,
    columns: Sequence[Hashable],
    eras: Sequence[Hashable] | None,
    rows: IntArray | None = None,
    g: FloatArray | None = None,
) -> FloatArray:
    """Gaussianized ranks of ``p``, neutralized to the features and scaled to unit std."""
    g = _gaussian_ranks(p, seg) if g is None else g
    neutral = kernels.neutralize(g, features, seg, rows=rows)
    std = np.sqrt(seg.mean((neutral - seg.spread(seg.mean(neutral))) ** 2))
    bad = np.isnan(std) | (std == 0)
    if bad.any():
        col, era = (int(i) for i in np.argwhere(bad)[0])
        raise DegenerateDataError(
            f"predictions column {columns[col]!r}{_era_label(eras, era)} has nothing left "
            "after feature neutralization (it is constant, or a combination of the features)",
            details={"column": str(columns[col])},
        )
    return np.asarray(neutral / seg.spread(std), dtype=np.float64)


# --- single-era metrics -------------------------------------------------------------------


def numerai_corr(
    predictions: pd.DataFrame,
    targets: pd.Series,
    max_filtered_index_ratio: float = DEFAULT_MAX_FILTERED_INDEX_RATIO,
    top_bottom: int | None = None,
    target_pow15: bool = True,
) -> pd.Series:
    """Numerai's CORR of every prediction column with the targets.

    Targets are centred (over all of them), ids aligned within the data-loss budget,
    predictions tie-kept ranked, Gaussianized and raised to the 1.5 power, targets raised to
    the 1.5 power (unless ``target_pow15=False``, for raw returns), then Pearson-correlated.
    ``top_bottom=k`` correlates only each column's k lowest and k highest predictions.
    """
    preds = _as_frame(predictions, "predictions")
    tgt = _as_series(targets, "targets")
    ratio = _check_ratio(max_filtered_index_ratio)
    p_all, p_ids = _rows_ids(preds, "predictions")
    t_all, t_ids = _values_ids(tgt, "targets")
    t_all = t_all - t_all[t_ids.valid].mean() if t_ids.valid.any() else t_all
    ids = _overlap(t_ids, p_ids, ratio).index
    scores = _corr_core(
        _take(p_all, preds.index, ids),
        _take(t_all, tgt.index, ids),
        Segments.single(len(ids)),
        top_bottom=top_bottom,
        target_pow15=target_pow15,
        columns=list(preds.columns),
    )
    return pd.Series(scores[:, 0], index=preds.columns)


def _mmc_ids(p_ids: _Ids, m_ids: _Ids, t_ids: _Ids, ratio: float) -> pd.Index:
    """The reference's three pairwise alignments, in its order, each under the budget."""
    step1 = _overlap(m_ids, p_ids, ratio)
    step2 = _overlap(t_ids, _Ids("predictions", step1.index, step1.valid), ratio)
    return _overlap(step2, _Ids("meta_model", step1.index, step1.valid), ratio).index


def correlation_contribution(
    predictions: pd.DataFrame,
    meta_model: pd.Series,
    live_targets: pd.Series,
    top_bottom: int | None = None,
    *,
    max_filtered_index_ratio: float = DEFAULT_MAX_FILTERED_INDEX_RATIO,
) -> pd.Series:
    """MMC (or BMC, given the benchmark meta model): each column's contribution to the meta
    model's correlation with the target.

    Predictions and meta model are tie-kept ranked and Gaussianized, each prediction is
    orthogonalized to the meta model, and the result is dotted with the centred target
    (scaled by 4 first when it lies in [0, 1]) and divided by the number of rows.
    """
    preds = _as_frame(predictions, "predictions")
    meta = _as_series(meta_model, "meta_model")
    tgt = _as_series(live_targets, "live_targets")
    ratio = _check_ratio(max_filtered_index_ratio)
    p_all, p_ids = _rows_ids(preds, "predictions")
    m_all, m_ids = _values_ids(meta, "meta_model")
    t_all, t_ids = _values_ids(tgt, "live_targets")
    ids = _mmc_ids(p_ids, m_ids, t_ids, ratio)
    p = _take(p_all, preds.index, ids)
    m = _take(m_all, meta.index, ids)
    t = _take(t_all, tgt.index, ids)
    scores = _mmc_core(p, m, t, Segments.single(len(ids)), top_bottom)
    return pd.Series(scores[:, 0], index=preds.columns)


def feature_neutral_corr(
    predictions: pd.DataFrame,
    features: pd.DataFrame,
    targets: pd.Series,
    top_bottom: int | None = None,
    *,
    max_filtered_index_ratio: float = DEFAULT_MAX_FILTERED_INDEX_RATIO,
) -> pd.Series:
    """FNC: numerai_corr of the predictions after neutralizing them to the features.

    Predictions are tie-kept ranked, Gaussianized, neutralized to ``features`` (same ids in
    the same sorted order), scaled to unit variance, then scored with :func:`numerai_corr`.
    """
    preds = _as_frame(predictions, "predictions")
    feats = _as_frame(features, "features")
    tgt = _as_series(targets, "targets")
    ratio = _check_ratio(max_filtered_index_ratio)
    scores = _fnc(preds, feats, tgt, ratio, top_bottom)
    return pd.Series(scores, index=preds.columns)


def _fnc(
    preds: pd.DataFrame,
    feats: pd.DataFrame,
    tgt: pd.Series,
    ratio: float,
    top_bottom: int | None,
    g: FloatArray | None = None,
) -> FloatArray:
    """FNC of every column; ``g`` may hold the predictions' Gaussianized ranks already."""
    _check_unique(preds, "predictions")
    _check_sorted(preds, "predictions")
    p = _float_rows(preds, "predictions")
    _check_no_nan(p, "predictions")
    f = _features_matrix(feats)
    if f.dtype.kind == "f":
        _check_no_nan(f, "features")
    if len(feats) != len(preds) or not feats.index.equals(preds.index):
        raise IndexMismatchError(
            "features must have the same ids as the predictions, in the same order",
            details={"predictions": len(preds), "features": len(feats)},
        )
    if len(preds) == 0:
        raise ScoringInputError("predictions are empty")
    columns = list(preds.columns)
    neutral = _neutral_normalized(p, f, Segments.single(len(preds)), columns, None, g=g)
    t_all, t_ids = _values_ids(tgt, "targets")
    if t_ids.valid.any():
        t_all = t_all - t_all[t_ids.valid].mean()
    pred_ids = _Ids("predictions", preds.index, np.ones(len(preds), dtype=bool))
    ids = _overlap(t_ids, pred_ids, ratio).index
    scores = _corr_core(
        _take(neutral, preds.index, ids),
        _take(t_all, tgt.index, ids),
        Segments.single(len(ids)),
        top_bottom=top_bottom,
        target_pow15=True,
        columns=columns,
    )
    return np.asarray(scores[:, 0], dtype=np.float64)


def score_submissions(
    predictions: pd.DataFrame,
    targets: pd.Series,
    *,
    meta_model: pd.Series | None = None,
    features: pd.DataFrame | None = None,
    benchmark_meta_model: pd.Series | None = None,
    max_filtered_index_ratio: float = DEFAULT_MAX_FILTERED_INDEX_RATIO,
) -> pd.DataFrame:
    """Resolve a round: CORR, and MMC, FNC and BMC when given what they need, of every column.

    Returns one row per prediction column, with columns ``corr``, ``mmc`` (when
    ``meta_model`` is given), ``fnc`` (when ``features`` are given) and ``bmc`` (when
    ``benchmark_meta_model`` is given). Each equals what :func:`numerai_corr`,
    :func:`correlation_contribution` and :func:`feature_neutral_corr` return for the same
    inputs; the ranking they share is done once when their rows coincide (the usual case:
    every live id predicted, every target known).
    """
    preds = _as_frame(predictions, "predictions")
    return _score_columns(
        preds,
        _as_series(targets, "targets"),
        meta_model=meta_model,
        features=features,
        benchmark=benchmark_meta_model,
        ratio=_check_ratio(max_filtered_index_ratio),
    )


@dataclass(frozen=True)
class RoundScores:
    """What :func:`score_round` computes: per-column scores and the meta model it built."""

    scores: pd.DataFrame
    meta_model: pd.Series | None


META_MODEL_NAME = "numerai_meta_model"


def score_round(
    predictions: pd.DataFrame,
    targets: pd.Series,
    *,
    stakes: pd.Series | None = None,
    features: pd.DataFrame | None = None,
    benchmark_meta_model: pd.Series | None = None,
    max_filtered_index_ratio: float = DEFAULT_MAX_FILTERED_INDEX_RATIO,
) -> RoundScores:
    """Resolve a round from its submissions and stakes, ranking every column once.

    The meta model is the stake-weighted average of the staked columns' Gaussianized
    tie-kept ranks, itself tie-kept ranked — ``tie_kept_rank(stake_weight(gaussian(
    tie_kept_rank(P)), stakes))`` over every prediction row — and MMC is each column's
    contribution to it; CORR, FNC and BMC are as in :func:`score_submissions`. The ranks
    the meta model needs are the ones CORR and MMC need, so they are computed once.
    ``stakes`` (any positive numbers: only their ratios matter) name prediction columns;
    columns with a zero stake, or missing from ``stakes``, are scored but not in the meta
    model. Predictions must be complete (no NaN) when stakes are given.
    """
    preds = _as_frame(predictions, "predictions")
    ratio = _check_ratio(max_filtered_index_ratio)
    meta: pd.Series | None = None
    rc_all: kernels.RankCodes | None = None
    staked = None if stakes is None else staked_columns(preds.columns, stakes)
    if staked is not None:
        columns, w = staked
        p_all, p_ids = _rows_ids(preds, "predictions")
        if not p_ids.valid.all():
            raise MissingValuesError(
                "the meta model needs every staked prediction; some rows hold NaN"
            )
        rc_all = kernels.rank_codes(p_all, Segments.single(len(preds)))
        total = add_in_order(meta_partial_sums(rc_all.gaussian, columns, w), len(preds))
        meta = meta_model_of(total, preds.index)
    scores = _score_columns(
        preds,
        _as_series(targets, "targets"),
        meta_model=meta,
        features=features,
        benchmark=benchmark_meta_model,
        ratio=ratio,
        rc_all=rc_all,
    )
    return RoundScores(scores=scores, meta_model=meta)


#: The meta model adds its weighted columns in partial sums of this many columns each,
#: added in order: the one summation order that :func:`score_round` and the block-wise
#: resolution (:mod:`crowdalpha.scoring.blocks`) share, so both give the same bits.
META_CHUNK = 256


def staked_columns(columns: pd.Index, stakes: pd.Series) -> tuple[IntArray, FloatArray] | None:
    """The positions in ``columns`` of the staked models, in ``stakes``' order, and their
    weights (stakes over their sum); None when nothing is staked."""
    st = _as_series(stakes, "stakes")
    missing = st.index.difference(columns)
    if len(missing):
        raise IndexMismatchError(
            f"stakes name models that have no predictions column: {missing[:5].tolist()}",
            details={"missing": [str(m) for m in missing[:20]]},
        )
    weights = _float_values(st, "stakes")
    if not np.isfinite(weights).all() or (weights < 0).any():
        raise InvalidParameterError("stakes must be finite and not negative")
    positive = weights > 0
    if not positive.any():
        return None
    positions = np.asarray(columns.get_indexer(st.index[positive]), dtype=np.int64)
    return positions, weights[positive] / weights[positive].sum()


def meta_partial_sums(g: FloatArray, rows: IntArray, weights: FloatArray) -> list[FloatArray]:
    """``weights @ g[rows]`` as partial sums over consecutive chunks of :data:`META_CHUNK`
    rows (``g``: Gaussianized ranks, one submission per row)."""
    return [
        kernels.matvec(weights[s : s + META_CHUNK], g[rows[s : s + META_CHUNK]])
        for s in range(0, len(rows), META_CHUNK)
    ]


def add_in_order(parts: Iterable[FloatArray], n: int) -> FloatArray:
    """The sum of ``(n,)`` partial sums, added left to right."""
    total = np.zeros(n, dtype=np.float64)
    for part in parts:
        total += part
    return total


def meta_model_of(combined: FloatArray, index: pd.Index) -> pd.Series:
    """The meta model from the stake-weighted sum of Gaussianized ranks: its tie-kept rank."""
    values = pd.Series(combined)
    ranked = (values.rank(method="average") - 0.5) / values.count()
    return pd.Series(ranked.to_numpy(), index=index, name=META_MODEL_NAME)


def _score_columns(
    preds: pd.DataFrame,
    tgt: pd.Series,
    *,
    meta_model: pd.Series | None,
    features: pd.DataFrame | None,
    benchmark: pd.Series | None,
    ratio: float,
    rc_all: kernels.RankCodes | None = None,
) -> pd.DataFrame:
    """The shared body of :func:`score_submissions` and :func:`score_round`.

    ``rc_all``: rank codes of every prediction row, in the frame's order, when the caller
    already has them; used when the scored rows are all the rows.
    """
    p_all, p_ids = _rows_ids(preds, "predictions")
    t_all, t_ids = _values_ids(tgt, "targets")
    t_centred = t_all - t_all[t_ids.valid].mean() if t_ids.valid.any() else t_all
    ids = _overlap(t_ids, p_ids, ratio).index
    p = _take(p_all, preds.index, ids)
    seg = Segments.single(len(ids))
    every_row = ids.equals(preds.index)
    rc = rc_all if rc_all is not None and every_row else kernels.rank_codes(p, seg)
    columns = list(preds.columns)
    out = {
        "corr": _corr_core(
            p,
            _take(t_centred, tgt.index, ids),
            seg,
            top_bottom=None,
            target_pow15=True,
            columns=columns,
            rc=rc,
        )[:, 0]
    }
    g = rc.gaussian
    for name, label, given in (
        ("mmc", "meta_model", meta_model),
        ("bmc", "benchmark_meta_model", benchmark),
    ):
        if given is None:
            continue
        meta = _as_series(given, label)
        m_all, m_ids = _values_ids(meta, label)
        mmc_ids = _mmc_ids(p_ids, m_ids, t_ids, ratio)
        shared = mmc_ids.equals(ids)
        out[name] = _mmc_core(
            p if shared else _take(p_all, preds.index, mmc_ids),
            _take(m_all, meta.index, mmc_ids),
            _take(t_all, tgt.index, mmc_ids),
            seg if shared else Segments.single(len(mmc_ids)),
            None,
            g=g if shared else None,
        )[:, 0]
    if features is not None:
        feats = _as_frame(features, "features")
        out["fnc"] = _fnc(preds, feats, tgt, ratio, None, g=g if every_row else None)
    order = [c for c in ("corr", "mmc", "fnc", "bmc") if c in out]
    return pd.DataFrame({c: out[c] for c in order}, index=preds.columns)


def max_feature_correlation(
    s: pd.Series, features: pd.DataFrame, top_bottom: int | None = None
) -> tuple[str, float]:
    """The feature most correlated (in absolute Pearson) with ``s``, and that correlation."""
    series = _as_series(s, "s")
    feats = _as_frame(features, "features")
    _check_sorted(feats, "features")
    _check_sorted(series, "s")
    if len(feats) != len(series) or not feats.index.equals(series.index):
        raise IndexMismatchError("s and features must have the same ids in the same order")
    if len(series) == 0 or feats.shape[1] == 0:
        raise ScoringInputError("s and features must not be empty")
    x = _float_values(series, "s")
    _check_no_nan(x, "s")
    f = _float_rows(feats, "features")
    _check_no_nan(f, "features")
    seg = Segments.single(len(x))
    tb = _check_top_bottom(top_bottom, len(x))
    if tb is None:
        corr = kernels.pearson(f, x, seg)[:, 0]
    else:
        mask = kernels.top_bottom_mask(x[None, :], seg, tb)
        corr = kernels.pearson_masked(f, x, np.broadcast_to(mask, f.shape), seg)[:, 0]
    corr = np.abs(corr)
    if np.isnan(corr).all():
        raise DegenerateDataError("no feature has a defined correlation with s (is s constant?)")
    best = int(np.nanargmax(corr))
    return str(feats.columns[best]), float(corr[best])


# --- per-era metrics ----------------------------------------------------------------------


@dataclass(frozen=True)
class _Eras:
    """Rows grouped by era: ``order`` puts them era by era (``None`` when they already are)."""

    labels: list[Hashable]
    seg: Segments
    order: IntArray | None

    @classmethod
    def of(cls, eras: object, index: pd.Index, *, by_id: bool = False) -> _Eras:
        era = eras if isinstance(eras, pd.Series) else pd.Series(np.asarray(eras), index=index)
        if len(era) != len(index) or not era.index.equals(index):
            raise IndexMismatchError("eras must have one label per row, with the same ids")
        if era.isna().any():
            raise MissingValuesError("eras contains missing labels", details={"input": "eras"})
        if len(era) == 0:
            raise ScoringInputError("there are no rows to score")
        codes, uniques = pd.factorize(era, sort=True)
        codes = codes.astype(np.int64)
        if by_id:  # ids ascending within each era, as the reference sees each era
            order = np.lexsort((np.argsort(np.argsort(index.to_numpy(), kind="stable")), codes))
        elif np.all(codes[1:] >= codes[:-1]):
            order = None
        else:
            order = np.argsort(codes, kind="stable")
        seg = Segments.from_lengths(np.bincount(codes, minlength=len(uniques)))
        return cls(list(uniques), seg, None if order is None else order.astype(np.int64))

    def rows(self, x: np.ndarray) -> np.ndarray:
        return x if self.order is None else x[..., self.order]

    def frame(self, scores: FloatArray, columns: pd.Index) -> pd.DataFrame:
        index = pd.Index(self.labels, name="era")
        return pd.DataFrame(scores.T, index=index, columns=columns)


def _same_index(index: pd.Index, **others: Frame) -> None:
    if not index.is_unique:
        dupes = index[index.duplicated()].unique()[:5].tolist()
        raise DuplicateIdsError(
            f"predictions has duplicated ids (e.g. {dupes}); every id must appear once",
            details={"input": "predictions", "examples": [str(d) for d in dupes]},
        )
    for name, obj in others.items():
        if len(obj) != len(index) or not obj.index.equals(index):
            raise IndexMismatchError(
                f"{name} must have the same index as the predictions (one row each)",
                details={"input": name},
            )


def _check_budget(
    kept: np.ndarray, total: np.ndarray, ratio: float, eras: _Eras, what: str
) -> None:
    with np.errstate(invalid="ignore", divide="ignore"):
        ok = kept / total >= 1 - ratio
    if not ok.all():
        e = int(np.flatnonzero(~ok)[0])
        raise NotEnoughOverlapError(
            f"{what} in era {eras.labels[e]!r}: only {int(kept[e])} of {int(total[e])} rows "
            f"have values in both, at least {1 - ratio:.0%} must",
            details={
                "era": str(eras.labels[e]),
                "overlapping": int(kept[e]),
                "total": int(total[e]),
            },
        )


def _centred_per_era(t: FloatArray, seg: Segments) -> FloatArray:
    valid = ~np.isnan(t)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = seg.sum(np.where(valid, t, 0.0)) / seg.sum(valid)
    return np.asarray(t - seg.spread(mean[None, :])[0], dtype=np.float64)


class _EraData:
    """One dataset's rows grouped by era, with the work the per-era metrics share.

    The grouping, the predictions as float rows, the per-era centred targets and — when the
    rows scored coincide — the predictions' ranks are computed once, however many metrics
    are asked for.
    """

    def __init__(
        self,
        predictions: pd.DataFrame,
        targets: pd.Series,
        eras: pd.Series,
        ratio: float,
        *,
        by_id: bool,
        **others: Frame,
    ) -> None:
        self.preds = _as_frame(predictions, "predictions")
        self.tgt = _as_series(targets, "targets")
        self.ratio = _check_ratio(ratio)
        _same_index(self.preds.index, targets=self.tgt, **others)
        self.groups = _Eras.of(eras, self.preds.index, by_id=by_id)
        self.seg = self.groups.seg
        self.columns = list(self.preds.columns)
        self.p = self.groups.rows(_float_rows(self.preds, "predictions"))
        self.t_raw = self.groups.rows(_float_values(self.tgt, "targets"))
        self.t = _centred_per_era(self.t_raw, self.seg)
        self.p_valid = ~np.isnan(self.p).any(axis=0)
        # Rows numerai_corr scores: a target and every prediction present.
        self.scored = ~np.isnan(self.t) & self.p_valid
        self._ranked: tuple[BoolArray, kernels.RankCodes] | None = None

    def frame(self, scores: FloatArray) -> pd.DataFrame:
        return self.groups.frame(scores, self.preds.columns)

    def budget(self, kept: np.ndarray, total: np.ndarray, what: str) -> None:
        _check_budget(kept, total, self.ratio, self.groups, what)

    def rows_of(self, keep: BoolArray) -> tuple[FloatArray, Segments]:
        if keep.all():
            return self.p, self.seg
        return np.ascontiguousarray(self.p[:, keep]), self.seg.subset(keep)

    def ranks(self, keep: BoolArray) -> kernels.RankCodes | None:
        """The rank codes of the kept predictions, shared between metrics keeping the same rows."""
        if self._ranked is not None and np.array_equal(self._ranked[0], keep):
            return self._ranked[1]
        return None

    def remember(self, keep: BoolArray, rc: kernels.RankCodes) -> None:
        self._ranked = (keep, rc)

    def corr(self, top_bottom: int | None, target_pow15: bool) -> pd.DataFrame:
        self.budget(self.seg.sum(self.scored), self.seg.lengths, "targets and predictions")
        p, kept = self.rows_of(self.scored)
        rc = self.ranks(self.scored) or kernels.rank_codes(p, kept)
        self.remember(self.scored, rc)
        scores = _corr_core(
            p,
            self.t[self.scored],
            kept,
            top_bottom=top_bottom,
            target_pow15=target_pow15,
            columns=self.columns,
            eras=self.groups.labels,
            rc=rc,
        )
        return self.frame(scores)

    def mmc(self, meta_model: pd.Series, top_bottom: int | None) -> pd.DataFrame:
        m = self.groups.rows(_float_values(meta_model, "meta_model"))
        # The reference's three pairwise alignments, replayed on counts per era.
        both = ~np.isnan(m) & self.p_valid
        n_both = self.seg.sum(both)
        self.budget(n_both, self.seg.lengths, "meta_model and predictions")
        keep = both & ~np.isnan(self.t_raw)
        n_keep = self.seg.sum(keep)
        self.budget(n_keep, self.seg.lengths, "live_targets and predictions")
        self.budget(n_keep, n_both, "predictions and live_targets")
        p, kept = self.rows_of(keep)
        rc = self.ranks(keep)
        g = None if rc is None else rc.gaussian
        return self.frame(_mmc_core(p, m[keep], self.t_raw[keep], kept, top_bottom, g=g))

    def fnc(self, features: pd.DataFrame, top_bottom: int | None) -> pd.DataFrame:
        _check_no_nan(self.p, "predictions")
        f = _features_matrix(_as_frame(features, "features"))
        if f.dtype.kind == "f":
            _check_no_nan(f, "features")
        every_row = np.ones(self.seg.n, dtype=bool)
        rc = self.ranks(every_row)
        g = None if rc is None else rc.gaussian
        neutral = _neutral_normalized(
            self.p, f, self.seg, self.columns, self.groups.labels, rows=self.groups.order, g=g
        )
        keep = ~np.isnan(self.t)
        self.budget(self.seg.sum(keep), self.seg.lengths, "targets and predictions")
        kept = self.seg.subset(keep)
        scores = _corr_core(
            neutral if keep.all() else np.ascontiguousarray(neutral[:, keep]),
            self.t[keep],
            kept,
            top_bottom=top_bottom,
            target_pow15=True,
            columns=self.columns,
            eras=self.groups.labels,
        )
        return self.frame(scores)


def _tb_given(top_bottom: int | None) -> bool:
    """Whether ``top_bottom`` asks for a selection (bad values are refused later, in context)."""
    return (
        isinstance(top_bottom, int | np.integer)
        and not isinstance(top_bottom, bool)
        and (top_bottom > 0)
    )


def numerai_corr_by_era(
    predictions: pd.DataFrame,
    targets: pd.Series,
    eras: pd.Series,
    *,
    max_filtered_index_ratio: float = DEFAULT_MAX_FILTERED_INDEX_RATIO,
    top_bottom: int | None = None,
    target_pow15: bool = True,
) -> pd.DataFrame:
    """:func:`numerai_corr` of every era at once: a DataFrame of eras × prediction columns.

    ``predictions``, ``targets`` and ``eras`` are rows of one dataset sharing one index; the
    result equals applying :func:`numerai_corr` to each era's rows.
    """
    data = _EraData(
        predictions, targets, eras, max_filtered_index_ratio, by_id=_tb_given(top_bottom)
    )
    return data.corr(top_bottom, target_pow15)


def correlation_contribution_by_era(
    predictions: pd.DataFrame,
    meta_model: pd.Series,
    targets: pd.Series,
    eras: pd.Series,
    *,
    top_bottom: int | None = None,
    max_filtered_index_ratio: float = DEFAULT_MAX_FILTERED_INDEX_RATIO,
) -> pd.DataFrame:
    """:func:`correlation_contribution` of every era at once (eras × prediction columns)."""
    meta = _as_series(meta_model, "meta_model")
    data = _EraData(
        predictions,
        targets,
        eras,
        max_filtered_index_ratio,
        by_id=_tb_given(top_bottom),
        meta_model=meta,
    )
    return data.mmc(meta, top_bottom)


def feature_neutral_corr_by_era(
    predictions: pd.DataFrame,
    features: pd.DataFrame,
    targets: pd.Series,
    eras: pd.Series,
    *,
    top_bottom: int | None = None,
    max_filtered_index_ratio: float = DEFAULT_MAX_FILTERED_INDEX_RATIO,
) -> pd.DataFrame:
    """:func:`feature_neutral_corr` of every era at once (eras × prediction columns).

    Each era's predictions are neutralized to that era's features. Features are read in
    place, one era at a time, so an int8 feature matrix is never copied whole.
    """
    feats = _as_frame(features, "features")
    data = _EraData(
        predictions,
        targets,
        eras,
        max_filtered_index_ratio,
        by_id=_tb_given(top_bottom),
        features=feats,
    )
    return data.fnc(feats, top_bottom)


def score_by_era(
    predictions: pd.DataFrame,
    targets: pd.Series,
    eras: pd.Series,
    *,
    meta_model: pd.Series | None = None,
    features: pd.DataFrame | None = None,
    max_filtered_index_ratio: float = DEFAULT_MAX_FILTERED_INDEX_RATIO,
) -> dict[str, pd.DataFrame]:
    """Validation diagnostics: per-era CORR, and MMC and FNC when given what they need.

    Returns ``{"corr": …, "mmc": …, "fnc": …}`` (eras × prediction columns each; ``mmc`` only
    with ``meta_model``, ``fnc`` only with ``features``), equal to
    :func:`numerai_corr_by_era`, :func:`correlation_contribution_by_era` and
    :func:`feature_neutral_corr_by_era` on the same rows. The grouping by era, the targets
    and the ranking of the predictions are done once for all three.
    """
    others: dict[str, Frame] = {}
    if meta_model is not None:
        others["meta_model"] = _as_series(meta_model, "meta_model")
    if features is not None:
        others["features"] = _as_frame(features, "features")
    data = _EraData(predictions, targets, eras, max_filtered_index_ratio, by_id=False, **others)
    out = {"corr": data.corr(None, True)}
    if meta_model is not None:
        out["mmc"] = data.mmc(_as_series(meta_model, "meta_model"), None)
    if features is not None:
        out["fnc"] = data.fnc(_as_frame(features, "features"), None)
    return out

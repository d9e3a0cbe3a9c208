"""Consistency diagnostics beyond the payout metrics: correlation with the meta model,
maximum feature exposure, and scores split by market regime.

- **Correlation with the meta model** (Numerai's ``corrWMetamodel``): the Pearson
  correlation of a column's Gaussianized tie-kept ranks with the meta model's — the same
  transformation MMC applies to both before orthogonalizing, so a model whose
  correlation with the meta model is 1 has nothing left to contribute.
- **Maximum feature exposure** (numerai-tools' :func:`~crowdalpha.scoring.
  max_feature_correlation`, Numerai's ``validationFeatureCorrMax``): the largest absolute
  Pearson correlation of the raw predictions with any one feature, per era; over several
  eras Numerai's example scripts report the mean of the per-era maxima.
- **By regime**: the mean of per-era (or per-round) scores over the eras of each market
  regime label the operator publishes.

Pure functions over pandas objects; no I/O.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import special, stats

from crowdalpha.errors import IndexMismatchError, InvalidInputError

__all__ = [
    "DIAGNOSTIC_CHUNK",
    "corr_with_meta_model",
    "max_feature_exposure",
    "max_feature_exposure_by_era",
    "mean_by_regime",
]


#: Complete columns are computed in C-ordered chunks of this many columns, chunk ``k``
#: holding columns ``k·CHUNK …``: the same numbers, to the last bit, whether a caller
#: passes every column at once or blocks of a multiple of it (block-wise resolution).
DIAGNOSTIC_CHUNK = 64


def _chunks(x: np.ndarray) -> list[tuple[int, np.ndarray]]:
    return [
        (s, np.ascontiguousarray(x[:, s : s + DIAGNOSTIC_CHUNK], dtype=np.float64))
        for s in range(0, x.shape[1], DIAGNOSTIC_CHUNK)
    ]


def _frame(obj: object, what: str) -> pd.DataFrame:
    if isinstance(obj, pd.Series):
        return obj.to_frame()
    if not isinstance(obj, pd.DataFrame):
        raise InvalidInputError(f"{what} must be a pandas DataFrame or Series")
    return obj


def _numeric(frame: pd.DataFrame, what: str) -> np.ndarray:
    try:
        return frame.to_numpy(dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"{what} must be numeric: {exc}") from None


def _same_ids(index: pd.Index, other: pd.Index, what: str) -> None:
    if not index.equals(other):
        raise IndexMismatchError(f"{what} must have the same ids in the same order")


def corr_with_meta_model(predictions: pd.DataFrame, meta_model: pd.Series) -> pd.Series:
    """Each column's correlation with ``meta_model`` (same ids, same order), over the rows
    where both are present: Pearson of ``gaussian(tie_kept_rank(·))`` of both. NaN when
    fewer than two rows remain or either side is constant."""
    preds = _frame(predictions, "predictions")
    if not isinstance(meta_model, pd.Series):
        raise InvalidInputError("meta_model must be a pandas Series")
    _same_ids(preds.index, meta_model.index, "predictions and meta_model")
    p = _numeric(preds, "predictions")
    m = meta_model.to_numpy(dtype=np.float64)
    out = np.full(p.shape[1], np.nan)
    if not np.isnan(p).any() and not np.isnan(m).any() and len(m) >= 2:
        # complete columns (a round's live predictions): a chunk of columns at once
        gm = _gaussian_ranks(m[:, None])[:, 0]
        for s, chunk in _chunks(p):
            out[s : s + chunk.shape[1]] = _pearson_columns(_gaussian_ranks(chunk), gm)
        return pd.Series(out, index=preds.columns, name="corr_meta")
    for j in range(p.shape[1]):
        ok = ~np.isnan(p[:, j]) & ~np.isnan(m)
        if ok.sum() < 2:
            continue
        a = _gaussian_ranks(p[ok, j][:, None])[:, 0]
        b = _gaussian_ranks(m[ok][:, None])[:, 0]
        out[j] = _pearson_columns(a[:, None], b)[0]
    return pd.Series(out, index=preds.columns, name="corr_meta")


def _gaussian_ranks(x: np.ndarray) -> np.ndarray:
    """``gaussian(tie_kept_rank(x))`` of each column of a complete ``(rows, columns)``."""
    ranks = (stats.rankdata(x, method="average", axis=0) - 0.5) / x.shape[0]
    return np.asarray(special.ndtri(ranks), dtype=np.float64)


def _pearson_columns(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson correlation of each column of ``a`` with the vector ``b`` (NaN: constant)."""
    a = a - a.mean(axis=0)
    b = b - b.mean()
    denom = np.sqrt((a * a).sum(axis=0) * (b * b).sum())
    with np.errstate(invalid="ignore", divide="ignore"):
        out = (a.T @ b) / denom
    return np.where(denom > 0, out, np.nan)


def max_feature_exposure(predictions: pd.DataFrame, features: pd.DataFrame) -> pd.Series:
    """Each column's largest absolute Pearson correlation with a feature (same ids, same
    order; rows where a prediction or feature is missing are left out). Constant features
    are skipped; NaN when every feature is constant or the predictions are."""
    preds = _frame(predictions, "predictions")
    feats = _frame(features, "features")
    _same_ids(preds.index, feats.index, "predictions and features")
    return pd.Series(
        _max_exposure(_numeric(preds, "predictions"), _numeric(feats, "features")),
        index=preds.columns,
        name="feature_exposure",
    )


def _max_exposure(p: np.ndarray, f: np.ndarray) -> np.ndarray:
    out = np.full(p.shape[1], np.nan)
    if f.shape[1] == 0:
        return out
    rows = ~np.isnan(f).any(axis=1)
    if rows.all() and not np.isnan(p).any():
        # complete columns (a round's live predictions): one matrix product per chunk
        fc = np.ascontiguousarray(f - f.mean(axis=0))
        for s, chunk in _chunks(p):
            out[s : s + chunk.shape[1]] = _max_abs_corr(chunk, fc, centred=True)
        return out
    for j in range(p.shape[1]):
        ok = rows & ~np.isnan(p[:, j])
        if ok.sum() >= 2:
            out[j] = _max_abs_corr(p[ok, j][:, None], f[ok])[0]
    return out


def _max_abs_corr(p: np.ndarray, f: np.ndarray, *, centred: bool = False) -> np.ndarray:
    """Per column of ``p``: the largest absolute Pearson correlation with a column of ``f``
    (``centred``: ``f`` is already centred; constant columns skipped; NaN when nothing is
    left)."""
    if p.shape[0] < 2:
        return np.full(p.shape[1], np.nan)
    pc = p - p.mean(axis=0)
    fc = f if centred else f - f.mean(axis=0)
    norms = np.sqrt((fc * fc).sum(axis=0))[:, None] * np.sqrt((pc * pc).sum(axis=0))[None, :]
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = np.abs(fc.T @ pc) / norms
    corr[~(norms > 0)] = np.nan
    found = np.isfinite(corr).any(axis=0)
    out = np.full(p.shape[1], np.nan)
    if found.any():
        out[found] = np.nanmax(corr[:, found], axis=0)
    return out


def max_feature_exposure_by_era(
    predictions: pd.DataFrame, features: pd.DataFrame, eras: pd.Series
) -> pd.DataFrame:
    """:func:`max_feature_exposure` era by era: eras (in order of first appearance) ×
    prediction columns."""
    preds = _frame(predictions, "predictions")
    feats = _frame(features, "features")
    if not isinstance(eras, pd.Series):
        raise InvalidInputError("eras must be a pandas Series")
    _same_ids(preds.index, feats.index, "predictions and features")
    _same_ids(preds.index, eras.index, "predictions and eras")
    p = _numeric(preds, "predictions")
    f = _numeric(feats, "features")
    codes, labels = pd.factorize(eras, sort=False)
    out = np.full((len(labels), p.shape[1]), np.nan)
    for e in range(len(labels)):
        rows = codes == e
        out[e] = _max_exposure(p[rows], f[rows])
    return pd.DataFrame(out, index=pd.Index(labels, name="era"), columns=preds.columns)


def mean_by_regime(scores: pd.DataFrame, regimes: pd.Series) -> pd.DataFrame:
    """The mean of ``scores`` (eras or rounds × metrics) over the eras of each regime:
    regimes (sorted) × metrics, plus ``count`` (the eras labelled with it). Eras without a
    label, and NaN scores, are left out of the means."""
    frame = _frame(scores, "scores")
    if not isinstance(regimes, pd.Series):
        raise InvalidInputError("regimes must be a pandas Series")
    labels = regimes.reindex(frame.index)
    values = frame.astype("float64")
    grouped = values[labels.notna()].groupby(labels[labels.notna()].astype(str))
    means = grouped.mean()
    means["count"] = grouped.size().astype("float64")
    return means.sort_index()

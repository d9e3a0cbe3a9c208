"""Numerai Signals' own metrics and cleaning — drop-in for numerai-tools 0.7.2's ``signals.py``.

``churn``, ``turnover``, ``neutral_churn``, ``neutral_churn_penalty``,
``calculate_max_churn_and_turnover`` and ``calculate_mean_neutral_churn`` have the
reference's names, call shapes and numbers; ``clean_submission`` is the reference's
``submissions.clean_submission`` (the submission left-joined onto the universe, remapped to
another id type if asked, tie-kept ranked and filled with 0.5). Refusals are typed
:mod:`crowdalpha.errors` exceptions instead of assertions.

The single-submission functions here run on the vectorised engine of
:mod:`crowdalpha.scoring.churn`, which compares every model of a round at once;
:func:`clean_signals` is the vectorised :func:`clean_submission` for many models.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import overload

import numpy as np
import pandas as pd

from crowdalpha.errors import (
    DegenerateDataError,
    InvalidParameterError,
    ScoringInputError,
)
from crowdalpha.scoring import kernels, portfolio_kernels
from crowdalpha.scoring.churn import SignalsEra, churn_and_turnover, mean_neutral_churn
from crowdalpha.scoring.kernels import Segments
from crowdalpha.scoring.metrics import (
    DEFAULT_MAX_FILTERED_INDEX_RATIO,
    _as_frame,
    _as_series,
    _check_ratio,
    _check_unique,
    _float_rows,
    _float_values,
    _Ids,
    _overlap,
    _take,
    _values_ids,
)
from crowdalpha.submissions import remap_ids, validate_submission

__all__ = [
    "calculate_max_churn_and_turnover",
    "calculate_mean_neutral_churn",
    "churn",
    "clean_signals",
    "clean_submission",
    "neutral_churn",
    "neutral_churn_penalty",
    "turnover",
]

#: Models cleaned per block (one block per core at a time): 250 × 5,000 tickers is 10 MB.
_CLEAN_BLOCK = 250

#: The fill for tickers of the universe a submission does not rank (the middle rank).
FILL_VALUE = 0.5


# --- cleaning ---------------------------------------------------------------------------


def _rank_and_fill(x: np.ndarray) -> np.ndarray:
    """Tie-kept ranks of each row ``(k, n)`` over its non-NaN entries, NaN filled with 0.5."""
    ranks = kernels.tie_kept_rank(
        np.ascontiguousarray(x, dtype=np.float64), Segments.single(x.shape[1])
    )
    ranks[np.isnan(ranks)] = FILL_VALUE
    return ranks


def clean_submission(
    universe: pd.DataFrame,
    submission: pd.DataFrame,
    src_id_col: str,
    src_signal_col: str,
    dst_id_col: str | None = None,
    dst_signal_col: str | None = None,
    rank_and_fill: bool = False,
) -> pd.Series:
    """A submission as scoring takes it: one value per universe stock, keyed and sorted.

    The submission is left-joined onto ``universe`` by ``src_id_col`` and keyed by
    ``dst_id_col`` (default: the same column — ids are then only spread over the
    universe); stocks without a destination id are dropped, a destination id reached twice
    keeps its first row (in universe order), and the series is named ``dst_signal_col``
    (default ``src_signal_col``). With ``rank_and_fill`` the values are tie-kept ranked
    and the stocks the submission left out get 0.5.
    """
    if not isinstance(universe, pd.DataFrame) or len(universe) == 0:
        raise InvalidParameterError("universe must be a non-empty DataFrame")
    if not isinstance(submission, pd.DataFrame) or len(submission) == 0:
        raise ScoringInputError("the submission must be a non-empty DataFrame")
    dst_id = src_id_col if dst_id_col is None else dst_id_col
    dst_signal = src_signal_col if dst_signal_col is None else dst_signal_col
    if src_signal_col not in submission.columns:
        raise InvalidParameterError(f"the submission has no {src_signal_col!r} column")
    mapped = remap_ids(submission[[src_id_col, src_signal_col]], universe, src_id_col, dst_id)
    mapped = mapped[mapped[dst_id].notna()]
    first = mapped.sort_index(kind="stable").drop_duplicates(subset=dst_id, keep="first")
    clean = first.set_index(dst_id)[src_signal_col].sort_index().rename(dst_signal)
    if rank_and_fill:
        values = _float_values(clean, "the submission")
        clean = pd.Series(_rank_and_fill(values[None, :])[0], index=clean.index, name=dst_signal)
    return clean


def clean_signals(signals: pd.DataFrame, universe: pd.Index) -> pd.DataFrame:
    """Many models' signals cleaned at once: the universe's tickers × models, ready to score.

    ``signals`` is tickers × models with NaN where a model gave no value (each model's
    validated predictions, keyed by the universe's id type — e.g. ``numerai_ticker``);
    tickers outside ``universe`` are dropped. Each column is tie-kept ranked over its
    values and filled with 0.5: column by column what :func:`clean_submission` with
    ``rank_and_fill=True`` gives, sorted by ticker.
    """
    frame = _as_frame(signals, "signals")
    _check_unique(frame, "signals")
    ids = pd.Index(universe)
    if len(ids) == 0 or ids.hasnans or not ids.is_unique:
        raise InvalidParameterError("the universe must be non-empty, unique and hold no NaN")
    ids = ids.sort_values()
    x = _float_rows(frame, "signals")
    where = ids.get_indexer(frame.index)
    known = where >= 0
    to, source = where[known], np.flatnonzero(known)
    out = np.empty((x.shape[0], len(ids)))

    def clean(models: range) -> None:
        # each model is ranked on its own row: blocks give the same bits as one call
        spread = np.full((len(models), len(ids)), np.nan)
        spread[:, to] = x[models.start : models.stop][:, source]
        out[models.start : models.stop] = _rank_and_fill(spread)

    blocks = [
        range(lo, min(lo + _CLEAN_BLOCK, x.shape[0])) for lo in range(0, x.shape[0], _CLEAN_BLOCK)
    ]
    workers = min(kernels._cpu_count(), len(blocks))
    if workers < 2:
        for models in blocks:
            clean(models)
    else:  # numpy's sorts release the GIL: blocks of models run on every core
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(clean, blocks))
    # models × tickers, C order, is pandas' own layout of a tickers × models frame: no copy
    return pd.DataFrame(out.T, index=ids, columns=frame.columns, copy=False)


# --- churn and turnover of two series ---------------------------------------------------


def churn(
    s1: pd.Series,
    s2: pd.Series,
    top_bottom: int | None = None,
    *,
    max_filtered_index_ratio: float = DEFAULT_MAX_FILTERED_INDEX_RATIO,
) -> float:
    """How much a signal changed: ``1 − Spearman(s1, s2)`` over their shared ids.

    With ``top_bottom=n``: one minus the mean share of the n highest and of the n lowest
    entries the two have in common (each series' own top and bottom, no alignment) — for
    rank signals, not portfolio weights.
    """
    a = _as_series(s1, "s1")
    b = _as_series(s2, "s2")
    ratio = _check_ratio(max_filtered_index_ratio)
    if top_bottom is not None and (
        isinstance(top_bottom, bool) or not isinstance(top_bottom, int | np.integer)
    ):
        raise InvalidParameterError(f"top_bottom must be an integer or None, not {top_bottom!r}")
    if top_bottom is not None and top_bottom > 0:
        n = int(top_bottom)
        _check_unique(a, "s1")
        _check_unique(b, "s2")
        codes = pd.Index(a.index).union(b.index)
        overlap = portfolio_kernels.top_bottom_overlap(
            _float_values(a, "s1")[None, :],
            codes.get_indexer(a.index),
            _float_values(b, "s2")[None, :],
            codes.get_indexer(b.index),
            n,
            len(codes),
        )
        return float(1.0 - overlap[0])
    x, x_ids = _values_ids(a, "s1")
    y, y_ids = _values_ids(b, "s2")
    ids = _overlap(x_ids, y_ids, ratio).index
    xa, ya = _take(x, a.index, ids)[None, :], _take(y, b.index, ids)[None, :]
    for values, name in ((xa, "s1"), (ya, "s2")):
        if len(ids) < 2 or np.ptp(values) == 0:
            raise DegenerateDataError(
                f"{name} must vary over the shared ids: churn is undefined for a constant",
                details={"input": name},
            )
    return float(1.0 - portfolio_kernels.spearman_rows(xa, ya)[0])


def turnover(
    s1: pd.Series,
    s2: pd.Series,
    *,
    max_filtered_index_ratio: float = DEFAULT_MAX_FILTERED_INDEX_RATIO,
) -> float:
    """How much a portfolio traded: ``Σ |s1 − s2| / 2`` over the shared ids (for weights)."""
    a = _as_series(s1, "s1")
    b = _as_series(s2, "s2")
    ratio = _check_ratio(max_filtered_index_ratio)
    x, x_ids = _values_ids(a, "s1")
    y, y_ids = _values_ids(b, "s2")
    ids = _overlap(x_ids, y_ids, ratio).index
    value = portfolio_kernels.turnover(
        _take(x, a.index, ids)[None, :], _take(y, b.index, ids)[None, :]
    )
    return float(value[0])


def _neutral_signal(
    signal: pd.Series, neutralizers: pd.DataFrame, name: str, ratio: float
) -> pd.Series:
    """``neutralize(gaussian(tie_kept_rank(signal)), N)`` over the ids both hold."""
    s = _as_series(signal, name)
    neut = _as_frame(neutralizers, f"neutralizers of {name}")
    x, x_ids = _values_ids(s, name)
    ids = _overlap(x_ids, _Ids.of(neut, f"neutralizers of {name}"), ratio).index
    f = _float_rows(neut, f"neutralizers of {name}").T
    seg = Segments.single(len(ids))
    g = kernels.rank_codes(_take(x, s.index, ids)[None, :], seg).gaussian
    rows = np.ascontiguousarray(f[neut.index.get_indexer(ids)])
    return pd.Series(kernels.neutralize(g, rows, seg)[0], index=ids)


def neutral_churn(
    s1: pd.Series,
    s2: pd.Series,
    neutralizers1: pd.DataFrame,
    neutralizers2: pd.DataFrame,
    *,
    max_filtered_index_ratio: float = DEFAULT_MAX_FILTERED_INDEX_RATIO,
) -> float:
    """Churn of two weeks' signals after each is tie-kept ranked, Gaussianized and
    neutralized to its own week's neutralizers."""
    ratio = _check_ratio(max_filtered_index_ratio)
    a = _neutral_signal(s1, neutralizers1, "s1", ratio)
    b = _neutral_signal(s2, neutralizers2, "s2", ratio)
    if a.isna().all() or b.isna().all():
        which = "s1" if a.isna().all() else "s2"
        raise DegenerateDataError(
            f"{which} is constant: nothing is left after neutralization",
            details={"input": which},
        )
    return churn(a, b, max_filtered_index_ratio=ratio)


@overload
def neutral_churn_penalty(
    neutral_churn: float, threshold: float = ..., scaling_factor: float = ...
) -> float: ...


@overload
def neutral_churn_penalty(
    neutral_churn: pd.Series, threshold: float = ..., scaling_factor: float = ...
) -> pd.Series: ...


def neutral_churn_penalty(
    neutral_churn: float | pd.Series, threshold: float = 0.1, scaling_factor: float = 10.0
) -> float | pd.Series:
    """The share of a *positive* payout kept under a neutral churn: 1 up to ``threshold``,
    then ``2 / (1 + exp(scaling_factor · (churn − threshold)))``.

    Accepts one churn (returns a float) or a Series of them (returns a Series). Burns are
    not penalized further: apply the share to positive payouts only.
    """
    if not (math.isfinite(threshold) and 0 <= threshold <= 2):
        raise InvalidParameterError(f"threshold must be within [0, 2], not {threshold!r}")
    if not (math.isfinite(scaling_factor) and scaling_factor > 0):
        raise InvalidParameterError(
            f"scaling_factor must be finite and positive, not {scaling_factor!r}"
        )
    values = np.atleast_1d(np.asarray(neutral_churn, dtype=np.float64))
    if not (np.isfinite(values).all() and ((values >= 0) & (values <= 2)).all()):
        raise InvalidParameterError("neutral churn must be finite and within [0, 2]")
    # 2e^{-x}/(1+e^{-x}) for x = s·(c − threshold) > 0: the capped logistic without overflow
    decay = np.exp(-scaling_factor * np.maximum(values - threshold, 0.0))
    kept = np.where(values <= threshold, 1.0, 2 * decay / (1 + decay))
    if isinstance(neutral_churn, pd.Series):
        return pd.Series(kept, index=neutral_churn.index, name=neutral_churn.name)
    return float(kept[0])


# --- churn against earlier submissions --------------------------------------------------


def _clean_signal_submission(
    submission: pd.Series,
    sample_weight: pd.Series,
    name: str,
    dst_id_col: str | None = None,
    dst_signal_col: str | None = None,
) -> tuple[str, str, pd.Series]:
    """Validate a submission against the week's universe (the sample weights' ids) and
    clean it (rank and fill) — the reference's ``_clean_signal_submission``."""
    sub = _as_series(submission, name)
    weights = _as_series(sample_weight, f"sample weights of {name}")
    universe = weights.index.to_frame(index=False)
    validated = validate_submission(sub.reset_index(), universe, tournament="signals")
    id_col, signal_col = validated.id_column, validated.prediction_column
    frame = pd.DataFrame({id_col: validated.predictions.index, signal_col: validated.predictions})
    cleaned = clean_submission(
        universe, frame.reset_index(drop=True), id_col, signal_col, dst_id_col, dst_signal_col, True
    )
    return id_col, signal_col, cleaned


def _eras(
    curr_sub: pd.Series,
    curr_neutralizer: pd.DataFrame,
    curr_sample_weight: pd.Series,
    prev_subs: Mapping[str, pd.Series],
    prev_neutralizers: Mapping[str, pd.DataFrame],
    prev_sample_weights: Mapping[str, pd.Series],
) -> tuple[SignalsEra, dict[str, SignalsEra]]:
    id_col, signal_col, cleaned = _clean_signal_submission(curr_sub, curr_sample_weight, "curr_sub")
    current = SignalsEra(cleaned.to_frame(), curr_neutralizer, curr_sample_weight)
    previous = {}
    for key, sub in prev_subs.items():
        if key not in prev_neutralizers or key not in prev_sample_weights:
            raise InvalidParameterError(
                f"no neutralizers or sample weights for the submission of {key!r}"
            )
        _, _, prev = _clean_signal_submission(
            sub, prev_sample_weights[key], f"the submission of {key!r}", id_col, signal_col
        )
        previous[key] = SignalsEra(
            prev.to_frame(), prev_neutralizers[key], prev_sample_weights[key]
        )
    return current, previous


def calculate_max_churn_and_turnover(
    curr_sub: pd.Series,
    curr_neutralizer: pd.DataFrame,
    curr_sample_weight: pd.Series,
    prev_subs: Mapping[str, pd.Series],
    prev_neutralizers: Mapping[str, pd.DataFrame],
    prev_sample_weights: Mapping[str, pd.Series],
) -> tuple[float, float]:
    """The largest churn and turnover of a submission against the model's earlier ones.

    Each submission (a Series indexed by ticker, named after its signal column; the index
    named after the ticker column, which the sample weights' index must share) is validated
    against its week's universe — the sample weights' ids — and cleaned (rank and fill).
    Churn compares the cleaned signals, turnover the centred, normalized neutral weights
    (each week with its own neutralizers and sample weights). A week sharing too few
    tickers is skipped; with nothing comparable both are 1.0. Pass the last five
    submissions for a live stake gate, the last one for diagnostics.
    """
    current, previous = _eras(
        curr_sub,
        curr_neutralizer,
        curr_sample_weight,
        prev_subs,
        prev_neutralizers,
        prev_sample_weights,
    )
    result = churn_and_turnover(current, previous)
    compared = result.churn.iloc[0].drop(list(result.skipped))
    if compared.isna().any():
        # the reference skips a week that shares too few tickers, but fails on one where
        # churn is undefined (a signal constant over the shared tickers)
        week = compared.index[compared.isna()][0]
        raise DegenerateDataError(
            f"the submissions are constant over the tickers shared with {week!r}: "
            "churn is undefined",
            details={"week": str(week)},
        )
    return float(result.max_churn.iloc[0]), float(result.max_turnover.iloc[0])


def calculate_mean_neutral_churn(
    curr_sub: pd.Series,
    curr_neutralizer: pd.DataFrame,
    curr_sample_weight: pd.Series,
    prev_subs: Mapping[str, pd.Series],
    prev_neutralizers: Mapping[str, pd.DataFrame],
    prev_sample_weights: Mapping[str, pd.Series],
) -> float:
    """The mean neutral churn of a submission against the model's earlier ones (1.0 when
    none compares), with the cleaning of :func:`calculate_max_churn_and_turnover`."""
    current, previous = _eras(
        curr_sub,
        curr_neutralizer,
        curr_sample_weight,
        prev_subs,
        prev_neutralizers,
        prev_sample_weights,
    )
    signal = current.signals.iloc[:, 0]
    neutral = _neutral_signal(
        signal, curr_neutralizer, "curr_sub", DEFAULT_MAX_FILTERED_INDEX_RATIO
    )
    if neutral.isna().all() or np.ptp(neutral.to_numpy()) == 0:
        raise DegenerateDataError("curr_sub has nothing left after neutralization")
    return float(mean_neutral_churn(current, previous).mean.iloc[0])

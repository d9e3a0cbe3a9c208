"""Classic's plugging points: how its files are validated and its rounds scored.

Thin adapters over the pure stages — :func:`crowdalpha.submissions.load_and_validate` and
:func:`crowdalpha.scoring.score_round` — in the shapes of
:class:`~crowdalpha.tournament.plugs.SubmissionRules` and
:class:`~crowdalpha.tournament.plugs.RoundScorer`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from crowdalpha.compute import ComputeBackend
from crowdalpha.metamodel import build_meta_model
from crowdalpha.scoring import meta_portfolio_contribution, score_round
from crowdalpha.scoring.blocks import ColumnSource, score_round_blocks
from crowdalpha.scoring.diagnostics import (
    DIAGNOSTIC_CHUNK,
    corr_with_meta_model,
    max_feature_exposure,
)
from crowdalpha.scoring.metrics import RoundScores
from crowdalpha.submissions import LiveIds, ValidatedSubmission, load_and_validate
from crowdalpha.tournament.data import Outcome

if TYPE_CHECKING:
    from crowdalpha.tournament.round_config import RoundConfig

__all__ = [
    "DIAGNOSTIC_METRICS",
    "classic_block_scorer",
    "classic_mpc",
    "classic_rules",
    "classic_scorer",
]

#: Informational scores stored with the round's scores when its configuration lists them:
#: the correlation with the round's meta model (Numerai's ``corrWMetamodel``) and the
#: maximum feature exposure (numerai-tools' ``max_feature_correlation``) on the live era.
DIAGNOSTIC_METRICS: tuple[str, ...] = ("corr_meta", "feature_exposure")
#: Columns per block when the diagnostics read a block source: a multiple of the chunk the
#: diagnostics compute in, so the blocks give the one-frame path's bits.
_DIAGNOSTIC_BLOCK = 4 * DIAGNOSTIC_CHUNK


def classic_rules(
    data: bytes, universe: LiveIds, *, filename: str, max_bytes: int
) -> ValidatedSubmission:
    """numerai-tools' Classic rules: ``id`` and ``prediction``, every live id once."""
    return load_and_validate(
        data, universe, tournament="classic", filename=filename, max_bytes=max_bytes
    )


def classic_scorer(
    predictions: pd.DataFrame, outcome: Outcome, stakes: pd.Series, config: RoundConfig
) -> RoundScores:
    """CORR, MMC against the stake-weighted meta model, FNC against the live features,
    BMC against the benchmark models' equal-weight meta model (when the source has them),
    and MPC — each model's contribution to the meta model's portfolio (:func:`classic_mpc`)
    — when the round's configuration lists it."""
    benchmark = _benchmark(outcome, predictions.index)
    result = score_round(
        predictions,
        outcome.targets.reindex(predictions.index),
        stakes=stakes,
        features=outcome.features.reindex(predictions.index)
        if outcome.features is not None
        else None,
        benchmark_meta_model=benchmark,
    )
    scores = result.scores
    if "mpc" in config.metrics:
        scores = scores.assign(mpc=classic_mpc(predictions, outcome.targets, stakes))
    if any(m in config.metrics for m in DIAGNOSTIC_METRICS):
        scores = scores.join(_diagnostics(predictions, outcome.features, result.meta_model))
    wanted = [m for m in config.metrics if m in scores.columns]
    return RoundScores(scores=scores[wanted], meta_model=result.meta_model)


def classic_block_scorer(
    source: ColumnSource,
    outcome: Outcome,
    stakes: pd.Series,
    config: RoundConfig,
    backend: ComputeBackend,
) -> RoundScores:
    """:func:`classic_scorer` in column blocks on ``backend`` — the same numbers to the last
    bit (:func:`~crowdalpha.scoring.blocks.score_round_blocks`). MPC, when the round lists
    it, needs every column's portfolio weights at once: it is computed here, in this
    process, from all the columns (the one part whose memory blocks do not bound)."""
    ids = source.ids
    result = score_round_blocks(
        source,
        outcome.targets.reindex(ids),
        stakes=stakes,
        features=outcome.features.reindex(ids) if outcome.features is not None else None,
        benchmark_meta_model=_benchmark(outcome, ids),
        backend=backend,
    )
    scores = result.scores
    if "mpc" in config.metrics:
        everything = pd.DataFrame(source.load_all(), index=ids, columns=source.columns)
        scores = scores.assign(mpc=classic_mpc(everything, outcome.targets, stakes))
    if any(m in config.metrics for m in DIAGNOSTIC_METRICS):
        names = source.columns
        parts = []
        for start in range(0, len(names), _DIAGNOSTIC_BLOCK):
            stop = min(start + _DIAGNOSTIC_BLOCK, len(names))
            block = pd.DataFrame(
                source.load(np.arange(start, stop)), index=ids, columns=names[start:stop]
            )
            parts.append(_diagnostics(block, outcome.features, result.meta_model))
        scores = scores.join(pd.concat(parts))
    wanted = [m for m in config.metrics if m in scores.columns]
    return RoundScores(scores=scores[wanted], meta_model=result.meta_model)


def _diagnostics(
    predictions: pd.DataFrame, features: pd.DataFrame | None, meta_model: pd.Series | None
) -> pd.DataFrame:
    """:data:`DIAGNOSTIC_METRICS` of every column (NaN without a meta model — nothing
    staked — or without live features)."""
    nan = pd.Series(np.nan, index=predictions.columns, dtype=np.float64)
    corr_meta = (
        corr_with_meta_model(predictions, meta_model.reindex(predictions.index))
        if meta_model is not None
        else nan
    )
    exposure = (
        max_feature_exposure(predictions, features.reindex(predictions.index))
        if features is not None
        else nan
    )
    return pd.DataFrame({"corr_meta": corr_meta, "feature_exposure": exposure})


def _benchmark(outcome: Outcome, ids: pd.Index) -> pd.Series | None:
    """The benchmark models' equal-weight meta model over ``ids`` (None: no benchmarks)."""
    if outcome.benchmarks is None or outcome.benchmarks.empty:
        return None
    bench = outcome.benchmarks.reindex(ids)
    return build_meta_model(bench, pd.Series(1, index=bench.columns))


def classic_mpc(predictions: pd.DataFrame, targets: pd.Series, stakes: pd.Series) -> pd.Series:
    """Each model's meta portfolio contribution (numerai-tools' MPC) on the round's targets.

    Classic's ids are obfuscated, so the only neutralizer is the constant (the portfolio is
    dollar-neutral) and every id weighs the same. Every model gets a value — the gradient of
    the stake-weighted portfolio's return with respect to its stake, zero stake included —
    computed over the ids every model and the target cover. NaN for all when nothing is
    staked or fewer than two ids are covered.
    """
    nan = pd.Series(np.nan, index=predictions.columns, dtype=np.float64)
    st = stakes.reindex(predictions.columns).fillna(0).astype(np.float64)
    target = targets.reindex(predictions.index)
    ok = predictions.notna().all(axis=1) & target.notna()
    if not (st > 0).any() or int(ok.sum()) < 2:
        return nan
    ids = predictions.index[ok]
    n = len(ids)
    return meta_portfolio_contribution(
        predictions.loc[ids],
        st,
        pd.DataFrame({"constant": np.full(n, 1 / np.sqrt(n))}, index=ids),
        pd.Series(1.0, index=ids),
        target.loc[ids],
    ).reindex(predictions.columns)

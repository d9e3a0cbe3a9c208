"""A model's consistency over its resolved rounds, as its web page and the REST API show it.

One place builds the per-round table from the model's final scores and the rounds' market
regimes, and computes from it (the pure :func:`crowdalpha.scoring.consistency.consistency`
and :func:`crowdalpha.scoring.diagnostics.mean_by_regime`): the cumulative score and its
drawdown (CORR, MMC, FNC), the summary of every metric, and the means per regime.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd

from crowdalpha.scoring.consistency import Consistency, consistency
from crowdalpha.scoring.diagnostics import mean_by_regime

if TYPE_CHECKING:
    from crowdalpha.tournament.facade import Tournament

__all__ = [
    "CUMULATIVE_METRICS",
    "DIAGNOSTIC_METRICS",
    "ModelConsistency",
    "model_consistency",
]

#: The scores that add up over rounds (cumulative score, drawdown).
CUMULATIVE_METRICS: tuple[str, ...] = ("corr", "mmc", "fnc")
#: Informational per-round diagnostics: the correlation with the round's meta model and
#: the maximum feature exposure.
DIAGNOSTIC_METRICS: tuple[str, ...] = ("corr_meta", "feature_exposure")


@dataclass(frozen=True)
class ModelConsistency:
    """``per_round``: resolved rounds (oldest first) × every metric (NaN: not computed);
    ``regimes``: each round's market regime (None: not labelled); ``result``: the summary
    of every metric and the cumulative score and drawdown of :data:`CUMULATIVE_METRICS`;
    ``by_regime``: regimes × (every metric's mean, ``count`` of rounds)."""

    per_round: pd.DataFrame
    regimes: pd.Series
    result: Consistency
    by_regime: pd.DataFrame


def model_consistency(tournament: Tournament, model_id: int) -> ModelConsistency:
    """The consistency of ``model_id`` (a model of ``tournament``'s competition)."""
    finals = sorted(
        (s for s in tournament.scores(model_id=model_id) if s.final),
        key=lambda s: s.round_number,
    )
    metrics = (*CUMULATIVE_METRICS, *DIAGNOSTIC_METRICS)
    index = pd.Index([s.round_number for s in finals], name="round")
    per_round = pd.DataFrame(
        {m: [s.get(m) for s in finals] for m in metrics}, index=index, dtype="float64"
    )
    labels = {r.number: r.regime for r in tournament.rounds() if r.number in set(index)}
    regimes = pd.Series([labels.get(int(n)) for n in index], index=index, dtype="object")
    summary = consistency(per_round).summary
    steady = consistency(per_round[list(CUMULATIVE_METRICS)])
    return ModelConsistency(
        per_round=per_round,
        regimes=regimes,
        result=Consistency(summary, steady.cumulative, steady.drawdown),
        by_regime=mean_by_regime(per_round, regimes.dropna()),
    )

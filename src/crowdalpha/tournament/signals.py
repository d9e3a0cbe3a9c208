"""Signals' plugging points: how its files are validated, its rounds scored and its stakes
gated.

Thin adapters over the pure stages, in the shapes of
:class:`~crowdalpha.tournament.plugs.SubmissionRules`,
:class:`~crowdalpha.tournament.plugs.RoundScorer` and
:class:`~crowdalpha.tournament.plugs.StakeGate`:

- :class:`SignalsRules` — numerai-tools 0.7.2's ``validate_submission_signals``
  (:data:`~crowdalpha.submissions.SIGNALS_RULES`) against the round's universe frame;
- :func:`signals_scorer` — the round's predictions cleaned as Numerai cleans them (joined
  on the universe, tie-kept ranks, 0.5 where a model gave none) and scored with
  :func:`~crowdalpha.scoring.signals_round.score_signals_round` on the source's outcome
  (main target, public features, neutralizers and sample weights);
- :class:`SignalsGate` — max churn and max turnover against the model's last submissions
  (:func:`~crowdalpha.scoring.churn.churn_and_turnover`), each round with its own live
  neutralizers and sample weights.

:func:`plug_signals` puts the three and a source together into a runnable competition.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np
import pandas as pd

from crowdalpha.errors import InvalidParameterError
from crowdalpha.scoring.churn import SignalsEra, churn_and_turnover
from crowdalpha.scoring.metrics import RoundScores
from crowdalpha.scoring.signals import clean_signals
from crowdalpha.scoring.signals_round import score_signals_round
from crowdalpha.submissions import LiveIds, ValidatedSubmission, load_and_validate
from crowdalpha.tournament.data import Outcome, RoundData

if TYPE_CHECKING:
    from crowdalpha.tournament.competitions import Competition
    from crowdalpha.tournament.round_config import RoundConfig

__all__ = ["NeutralInputs", "SignalsGate", "SignalsRules", "plug_signals", "signals_scorer"]

#: The metrics that need a stake-weighted meta model or portfolio.
_STAKED = ("mmc", "mpc", "neutral_mmc")
#: The metrics that need the neutralizers and sample weights.
_NEUTRAL = ("alpha", "mpc", "neutral_corr", "neutral_mmc")


@dataclass(frozen=True)
class SignalsRules:
    """numerai-tools' Signals rules against the round's universe frame.

    ``min_tickers`` lowers numerai-tools' minimum of 100 universe tickers (None: keep it),
    for an operator whose universe is small."""

    min_tickers: int | None = None

    def __call__(
        self, data: bytes, universe: LiveIds, *, filename: str, max_bytes: int
    ) -> ValidatedSubmission:
        return load_and_validate(
            data,
            universe,
            tournament="signals",
            filename=filename,
            max_bytes=max_bytes,
            min_tickers=self.min_tickers,
        )


def signals_scorer(
    predictions: pd.DataFrame, outcome: Outcome, stakes: pd.Series, config: RoundConfig
) -> RoundScores:
    """The round's scores, each metric of ``config.metrics`` on the main target.

    ``predictions`` are the validated signals over the round's live tickers (NaN where a
    model gave none); they are cleaned over the universe, then scored over the tickers
    whose target is known. A metric whose inputs the outcome lacks (no stake for MMC and
    MPC, no neutralizers for Alpha) is NaN.
    """
    universe = pd.Index(outcome.targets.index.astype(str), name="numerai_ticker")
    clean = clean_signals(predictions, universe)
    targets = outcome.extras.get("targets")
    frame = (
        targets if isinstance(targets, pd.DataFrame) else outcome.targets.to_frame("target")
    ).reindex(clean.index)
    known = frame["target"].notna().to_numpy()
    clean = clean.iloc[known]
    frame = frame.iloc[known]
    n_found = outcome.extras.get("neutralizers")
    v_found = outcome.extras.get("sample_weights")
    neutralizers = n_found if isinstance(n_found, pd.DataFrame) else None
    weights = v_found if isinstance(v_found, pd.Series) else None
    staked = float(stakes.clip(lower=0).sum()) > 0
    wanted = [
        m
        for m in config.metrics
        if (staked or m not in _STAKED)
        and (m not in _NEUTRAL or (neutralizers is not None and weights is not None))
        and (m != "fnc" or outcome.features is not None)
    ]
    scores = pd.DataFrame(np.nan, index=predictions.columns, columns=list(config.metrics))
    meta = None
    if wanted:
        result = score_signals_round(
            clean,
            frame,
            metrics=wanted,
            stakes=stakes.reindex(clean.columns).fillna(0.0) if staked else None,
            features=(
                outcome.features.reindex(clean.index).fillna(0.0)
                if outcome.features is not None and "fnc" in wanted
                else None
            ),
            neutralizers=neutralizers if any(m in _NEUTRAL for m in wanted) else None,
            sample_weights=weights if any(m in _NEUTRAL for m in wanted) else None,
        )
        for metric in wanted:
            scores[metric] = result.scores[metric].reindex(scores.index)
        meta = result.meta_model
    return RoundScores(scores=scores, meta_model=meta)


class NeutralInputs(Protocol):
    """What the gate asks a Signals source: a round's live neutralizers and sample weights."""

    def live_neutral_inputs(self, number: int) -> tuple[pd.DataFrame, pd.Series]: ...


class SignalsGate:
    """Max churn and max turnover of a submission against the model's earlier ones.

    As numerai-tools' ``calculate_max_churn_and_turnover``: each submission cleaned over
    its round's universe (the index of that round's sample weights), churn and turnover
    against each earlier one that overlaps enough, the largest of each — 1.0 when nothing
    is comparable (a model's first submission).
    """

    def __init__(self, source: NeutralInputs) -> None:
        self.source = source

    def _era(self, number: int, model_id: int, values: pd.Series) -> SignalsEra:
        neutralizers, weights = self.source.live_neutral_inputs(number)
        signals = clean_signals(values.to_frame(model_id), pd.Index(weights.index))
        return SignalsEra(signals=signals, neutralizers=neutralizers, sample_weights=weights)

    def __call__(
        self,
        number: int,
        model_id: int,
        current: pd.Series,
        history: Sequence[tuple[int, pd.Series]],
    ) -> Mapping[str, float]:
        result = churn_and_turnover(
            self._era(number, model_id, current),
            {n: self._era(n, model_id, values) for n, values in history},
        )
        return {
            "churn": float(result.max_churn[model_id]),
            "turnover": float(result.max_turnover[model_id]),
        }


def plug_signals(
    competition: Competition, source: RoundData, *, min_tickers: int | None = None
) -> Competition:
    """``competition`` (Signals, as configured) with its source, rules, scorer and gate.

    ``source`` must also give each round's live neutralizers and sample weights
    (:class:`NeutralInputs`; :class:`~crowdalpha.tournament.signals_source.SignalsRoundData`
    does)."""
    if not hasattr(source, "live_neutral_inputs"):
        raise InvalidParameterError(
            "a Signals source must give each round's live neutralizers and sample weights"
        )
    gate_source: NeutralInputs = source  # type: ignore[assignment]
    return competition.plug(
        source=source,
        rules=SignalsRules(min_tickers),
        scorer=signals_scorer,
        gate=SignalsGate(gate_source),
    )

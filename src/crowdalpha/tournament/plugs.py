"""A competition's plugging points: the typed Protocols that make it runnable.

A :class:`~crowdalpha.tournament.competitions.Competition` is data; these are the parts of
it that are code, each filled in per competition (Classic's in
:mod:`crowdalpha.tournament.classic`, Signals' in :mod:`crowdalpha.tournament.signals`):

- :class:`~crowdalpha.tournament.data.RoundData` (``source``): publishes each round's
  files and live ids, and later its outcome (targets and what scoring needs);
- :class:`SubmissionRules` (``rules``): reads and validates an uploaded file against the
  round's universe;
- :class:`RoundScorer` (``scorer``): scores a round's predictions and builds its meta model;
- :class:`BlockScorer` (``block_scorer``, optional): the same scores in column blocks on a
  compute backend, used when the tournament has one;
- :class:`StakeGate` (``gate``, optional): measures a submission against the model's earlier
  ones (churn, turnover) when the round closes.

:class:`RoundConfigProvider`, when one is installed, decides the configuration each round
opens with (``crowdalpha.governance`` installs one from the composition root).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

import pandas as pd

from crowdalpha.compute import ComputeBackend
from crowdalpha.scoring.blocks import ColumnSource
from crowdalpha.scoring.metrics import RoundScores
from crowdalpha.submissions import LiveIds, ValidatedSubmission
from crowdalpha.tournament.data import Outcome

if TYPE_CHECKING:
    from crowdalpha.tournament.competitions import Competition
    from crowdalpha.tournament.round_config import RoundConfig

__all__ = ["BlockScorer", "RoundConfigProvider", "RoundScorer", "StakeGate", "SubmissionRules"]


class SubmissionRules(Protocol):
    """Reads and validates one uploaded file for a round.

    ``universe`` is the round's live ids (an Index) or, when the source published one, its
    universe frame (one column per accepted id type, the live id column first). A refusal
    raises a :class:`~crowdalpha.errors.SubmissionError` and nothing is stored. The
    returned ``predictions`` are indexed by the round's live ids (any subset of them: the
    core stores them against the whole live set, NaN where missing) and ``sha256`` is the
    raw file's digest.
    """

    def __call__(
        self, data: bytes, universe: LiveIds, *, filename: str, max_bytes: int
    ) -> ValidatedSubmission: ...


class RoundScorer(Protocol):
    """Scores a closed round.

    ``predictions`` holds one column per model (named by model id) over the round's live
    ids, sorted; ``stakes`` the stake at risk per model column (base units as floats; zero
    for late or unstaked models, which are scored but not in the meta model);
    ``outcome`` what the source knows (targets, plus features, benchmarks or ``extras``).
    Returns one row per scored model with a column per metric of ``config.metrics`` (NaN
    for a metric it could not compute) and the meta model (None when nothing is staked).
    """

    def __call__(
        self,
        predictions: pd.DataFrame,
        outcome: Outcome,
        stakes: pd.Series,
        config: RoundConfig,
    ) -> RoundScores: ...


class BlockScorer(Protocol):
    """Scores a closed round in column blocks on a compute backend (what ``scorer`` does,
    to the last bit, without holding every column at once).

    ``source`` names the round's stored prediction columns (by model id, rows sorted);
    ``backend`` runs the blocks (this process, a local pool or a Dask cluster). Used in
    place of ``scorer`` when the tournament is given a backend (``TournamentConfig.compute``).
    """

    def __call__(
        self,
        source: ColumnSource,
        outcome: Outcome,
        stakes: pd.Series,
        config: RoundConfig,
        backend: ComputeBackend,
    ) -> RoundScores: ...


class StakeGate(Protocol):
    """Measures a submission against the model's earlier ones when the round closes.

    ``current`` is model ``model_id``'s selected, on-time predictions of round ``number``
    (indexed by the round's live ids; NaN where the file had no value); ``history`` the
    model's selected predictions of its last rounds (at most
    :data:`~crowdalpha.tournament.lifecycle.GATE_HISTORY`), newest first, as ``(round
    number, predictions)``. Returns the measures by name (``churn``, ``turnover``); the core
    compares them with the round's thresholds (:attr:`RoundConfig.gate_thresholds`),
    zeroes the stake at risk of a submission that reaches one (or whose measure is NaN),
    and records the measures as final scores of the round.
    """

    def __call__(
        self,
        number: int,
        model_id: int,
        current: pd.Series,
        history: Sequence[tuple[int, pd.Series]],
    ) -> Mapping[str, float]: ...


class RoundConfigProvider(Protocol):
    """Decides the configuration round ``number`` of ``competition`` opens with (its
    scheduled opening ``opens_at``); consulted once, when the round opens, and stored with
    the round. Without a provider a round opens with ``competition.round_config``."""

    def __call__(
        self, competition: Competition, number: int, opens_at: datetime
    ) -> RoundConfig: ...

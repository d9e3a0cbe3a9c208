"""Scoring closed rounds: provisional scores while the outcome firms up, then resolution.

Resolution is one unit of work — the scores, the meta model, the payouts, the burns and the
releases of a round commit together or not at all — and it runs on the configuration the
round opened with (:class:`~crowdalpha.tournament.round_config.RoundConfig`), through the
competition's scorer.

With a compute backend (``TournamentConfig.compute``) and a competition that has a
``block_scorer``, the scores are computed in column blocks on that backend from the stored
prediction files (:class:`~crowdalpha.scoring.blocks.StoredColumns`; every worker must
reach the file store) — the same numbers as the one-frame path, to the last bit — while
the scores, payouts and ledger postings are still written here, in one transaction.
"""

from __future__ import annotations

import logging
from datetime import datetime

import numpy as np
import pandas as pd
from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from crowdalpha import observe
from crowdalpha.compute import ComputeBackend
from crowdalpha.errors import (
    CorruptFileError,
    InvalidParameterError,
    NotFoundError,
    RoundStateError,
)
from crowdalpha.scoring.blocks import StoredColumns
from crowdalpha.scoring.metrics import RoundScores
from crowdalpha.tournament.competitions import Competition
from crowdalpha.tournament.data import Outcome
from crowdalpha.tournament.files import RoundFiles
from crowdalpha.tournament.models import Round, RoundStake, RoundState, Score, Submission
from crowdalpha.tournament.models import SubmissionState as SubState
from crowdalpha.tournament.round_config import RoundConfig
from crowdalpha.tournament.rounds import get_round
from crowdalpha.tournament.settlement import Scores, settle
from crowdalpha.tournament.unit_of_work import UnitOfWork
from crowdalpha.tournament.views import ResolutionReport

log = logging.getLogger("crowdalpha.tournament")

__all__ = ["Resolution", "score_table"]


def score_table(
    scores: pd.DataFrame, metrics: tuple[str, ...]
) -> dict[int, dict[str, float | None]]:
    """Scores per model id, each metric of ``metrics`` as a float or None (missing or not
    finite)."""
    columns = {
        metric: scores[metric].to_numpy(dtype=np.float64) if metric in scores.columns else None
        for metric in metrics
    }
    out: dict[int, dict[str, float | None]] = {}
    for i, model_id in enumerate(scores.index):
        out[int(model_id)] = {
            metric: float(values[i]) if values is not None and np.isfinite(values[i]) else None
            for metric, values in columns.items()
        }
    return out


class Resolution:
    """Provisional scoring and resolution of a competition's closed rounds."""

    def __init__(
        self, uow: UnitOfWork, files: RoundFiles, *, compute: ComputeBackend | None = None
    ) -> None:
        self.uow = uow
        self.files = files
        self.compute = compute

    def score_provisional(
        self, c: Competition, number: int, outcome: Outcome, now: datetime
    ) -> None:
        def op(session: Session) -> None:
            row = get_round(session, c, number, lock=True)
            if row.state != RoundState.CLOSED.value:
                return
            config = RoundConfig.from_json(row.config)
            result, subs, _at_risk = self._score(session, c, row, config, outcome)
            _write_scores(
                session,
                row,
                config,
                score_table(result.scores, config.metrics),
                subs,
                final=False,
                now=now,
            )
            for sub in subs.values():
                if sub.state == SubState.VALIDATED.value:
                    sub.state = SubState.SCORED.value
            row.state = RoundState.SCORING.value

        self.uow.run(op)

    def resolve(
        self, c: Competition, number: int, outcome: Outcome, now: datetime
    ) -> ResolutionReport:
        """Scores, meta model, payouts, burns and releases of one round — atomically
        (reported to :mod:`crowdalpha.observe` as ``resolution``)."""

        def op(session: Session) -> ResolutionReport:
            row = get_round(session, c, number, lock=True)
            if row.state == RoundState.RESOLVED.value:
                labels["outcome"] = "already_resolved"  # the timed block's labels, below
                return ResolutionReport(
                    number, 0, 0, 0, 0, 0, 0, row.payout_factor or "1", competition=c.slug
                )
            if row.state not in (RoundState.CLOSED.value, RoundState.SCORING.value):
                raise RoundStateError(f"round {number} is {row.state}; it cannot resolve")
            config = RoundConfig.from_json(row.config)
            result, subs, at_risk = self._score(session, c, row, config, outcome)
            if result.meta_model is not None:
                row.meta_model_key = self.files.put_meta_model(c, number, result.meta_model)
            table = score_table(result.scores, config.metrics)
            _write_scores(session, row, config, table, subs, final=True, now=now)
            report = settle(
                session,
                self.uow.ledger(session),
                c,
                row,
                config,
                table,
                at_risk,
                mint_cap=self.uow.mint_cap,
                now=now,
            )
            for sub in subs.values():
                if sub.state in (SubState.VALIDATED.value, SubState.SCORED.value):
                    sub.state = SubState.RESOLVED.value
            row.state = RoundState.RESOLVED.value
            row.resolved_at = now
            row.regime = outcome.regime
            return report

        with observe.timed("resolution", competition=c.slug) as labels:
            return self.uow.run(op)

    def _score(
        self, session: Session, c: Competition, row: Round, config: RoundConfig, outcome: Outcome
    ) -> tuple[RoundScores, dict[int, Submission], dict[int, int]]:
        if c.scorer is None:
            raise InvalidParameterError(f"{c.name} has no scorer plugged in")
        # the live ids every score is taken over: damaged, they would misalign every
        # model's predictions with the targets, so the round waits for the operator
        recorded = self.files.manifest(c, row.dataset_version).get(row.live_ids_key)
        if recorded is not None:
            self.files.verify(row.live_ids_key, recorded)
        at_risk = {
            rs.model_id: rs.stake_at_risk
            for rs in session.scalars(select(RoundStake).where(RoundStake.round_id == row.id))
        }
        if self.compute is not None and c.block_scorer is not None:
            return self._score_blocks(session, c, row, config, outcome, at_risk)
        preds, subs = self._load_predictions(session, row)
        if preds.empty:
            return RoundScores(scores=pd.DataFrame(), meta_model=None), subs, at_risk
        stakes = pd.Series(
            [at_risk.get(int(m), 0) for m in preds.columns], index=preds.columns, dtype=float
        )
        return c.scorer(preds, outcome, stakes, config), subs, at_risk

    def _score_blocks(
        self,
        session: Session,
        c: Competition,
        row: Round,
        config: RoundConfig,
        outcome: Outcome,
        at_risk: dict[int, int],
    ) -> tuple[RoundScores, dict[int, Submission], dict[int, int]]:
        assert self.compute is not None and c.block_scorer is not None
        subs = self._selected(session, row)
        names: list[int] = []
        keys: list[str] = []
        for model_id, sub in sorted(subs.items()):
            if sub.storage_key is None:
                continue
            key = sub.storage_key + ".npy"
            if not self.files.store.exists(key):
                _unreadable(sub, f"no stored file {key!r}")
                continue
            if (
                sub.predictions_sha256 is not None
                and self.files.store.sha256(key) != sub.predictions_sha256
            ):
                _corrupt(sub, key)
                continue
            names.append(model_id)
            keys.append(key)
        if not names:
            return RoundScores(scores=pd.DataFrame(), meta_model=None), subs, at_risk
        source = StoredColumns(
            self.files.store, keys, names, self.files.live_index(row.live_ids_key)
        )
        stakes = pd.Series([at_risk.get(m, 0) for m in names], index=source.columns, dtype=float)
        result = c.block_scorer(source, outcome, stakes, config, self.compute)
        return result, subs, at_risk

    @staticmethod
    def _selected(session: Session, row: Round) -> dict[int, Submission]:
        return {
            s.model_id: s
            for s in session.scalars(
                select(Submission).where(Submission.round_id == row.id, Submission.selected)
            )
        }

    def _load_predictions(
        self, session: Session, row: Round
    ) -> tuple[pd.DataFrame, dict[int, Submission]]:
        subs = self._selected(session, row)
        ids = pd.Index(self.files.live_ids(row.live_ids_key), name="id")
        matrix = np.empty((len(ids), len(subs)), dtype=np.float64)
        loaded: list[int] = []
        for model_id, sub in sorted(subs.items()):
            if sub.storage_key is None:
                continue
            try:
                values = self.files.predictions(sub.storage_key, sub.predictions_sha256)
                if values.shape != (len(ids),):
                    raise ValueError(f"{values.shape[0]} predictions for {len(ids)} live ids")
            except CorruptFileError:
                _corrupt(sub, sub.storage_key + ".npy")
                continue
            except (NotFoundError, ValueError, OSError) as exc:
                _unreadable(sub, str(exc))
                continue
            matrix[:, len(loaded)] = values
            loaded.append(model_id)
        frame = pd.DataFrame(matrix[:, : len(loaded)], index=ids, columns=loaded, copy=False)
        # Scoring wants ids in order (as numerai-tools does); sort once here.
        if not frame.index.is_monotonic_increasing:
            frame = frame.sort_index()
        return frame, subs


def _corrupt(sub: Submission, key: str) -> None:
    """A stored predictions file that no longer matches its hash is never scored: the
    submission fails visibly like an unreadable one, and the operator's log names the
    file to restore."""
    log.error(
        "submission %s: the stored predictions %r do not match the SHA-256 recorded at "
        "upload; left out of scoring — restore the file from a backup",
        sub.id,
        key,
    )
    _unreadable(sub, "they do not match the SHA-256 recorded at upload (damaged at rest)")


def _unreadable(sub: Submission, reason: str) -> None:
    """Visible, never silent: the submission fails with its reason and is left out of
    scoring (its stake is neither paid nor burned for it)."""
    sub.state = SubState.FAILED.value
    sub.error_code = "submission_unreadable"
    sub.error_message = f"the stored predictions could not be read: {reason}"


def _write_scores(
    session: Session,
    row: Round,
    config: RoundConfig,
    table: Scores,
    subs: dict[int, Submission],
    *,
    final: bool,
    now: datetime,
) -> None:
    """Replace the round's scores of the configured metrics (provisional ones are
    superseded by final ones; what the stake gate recorded at the close stays)."""
    session.execute(
        delete(Score).where(Score.round_id == row.id, Score.metric.in_(list(config.metrics)))
    )
    rows = [
        {
            "round_id": row.id,
            "model_id": model_id,
            "metric": metric,
            "submission_id": subs[model_id].id,
            "value": value,
            "final": final,
            "scored_at": now,
        }
        for model_id, values in table.items()
        for metric, value in values.items()
    ]
    if rows:
        session.execute(insert(Score), rows)

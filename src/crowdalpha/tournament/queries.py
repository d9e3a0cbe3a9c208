"""The read side of a competition: rounds, submissions, scores, payouts, leaderboard,
reputation, dataset files and meta models.

Every method only reads (no write lock on SQLite) and returns plain records.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crowdalpha.errors import InvalidParameterError, NotFoundError
from crowdalpha.ledger import stake
from crowdalpha.tournament.competitions import Competition
from crowdalpha.tournament.files import RoundFiles
from crowdalpha.tournament.meta_model_file import meta_model_file
from crowdalpha.tournament.models import (
    Account,
    Model,
    Payout,
    Round,
    RoundStake,
    RoundState,
    Score,
    Submission,
)
from crowdalpha.tournament.rounds import get_round, round_info
from crowdalpha.tournament.submitting import submission_info
from crowdalpha.tournament.unit_of_work import UnitOfWork
from crowdalpha.tournament.views import (
    DatasetFile,
    LeaderboardRow,
    PayoutInfo,
    RoundInfo,
    ScoreInfo,
    SubmissionInfo,
)

__all__ = ["LEADERBOARD_ORDERS", "Queries"]

#: How a leaderboard can be ranked.
LEADERBOARD_ORDERS = ("reputation", "stake")


class Queries:
    """Reads of one competition's rounds and results (the competition is an argument)."""

    def __init__(self, uow: UnitOfWork, files: RoundFiles) -> None:
        self.uow = uow
        self.files = files

    # -- rounds ---------------------------------------------------------------------------

    def rounds(self, c: Competition, *, states: Sequence[str] | None = None) -> list[RoundInfo]:
        def op(session: Session) -> list[RoundInfo]:
            query = select(Round).where(Round.competition_id == c.id).order_by(Round.number)
            if states:
                query = query.where(Round.state.in_(list(states)))
            rows = list(session.scalars(query))
            # count only the rounds asked for: the open round's page must not scan history
            counts = (
                dict(
                    session.execute(
                        select(Submission.round_id, func.count())
                        .where(Submission.selected)
                        .where(Submission.round_id.in_([r.id for r in rows]))
                        .group_by(Submission.round_id)
                    ).all()
                )
                if rows
                else {}
            )
            return [round_info(r, counts.get(r.id, 0)) for r in rows]

        return self.uow.read(op)

    def round_counts(self, competitions: Sequence[Competition]) -> dict[tuple[str, str], int]:
        """How many rounds each competition has in each state, every state listed (0 where
        none): one grouped count, for the server's metrics at each scrape."""
        slugs = {c.id: c.slug for c in competitions}

        def op(session: Session) -> list[tuple[int, str, int]]:
            query = select(Round.competition_id, Round.state, func.count()).group_by(
                Round.competition_id, Round.state
            )
            return [(int(c), str(s), int(n)) for c, s, n in session.execute(query).all()]

        counts = {(slug, state.value): 0 for slug in slugs.values() for state in RoundState}
        for competition_id, state, n in self.uow.read(op):
            if competition_id in slugs:
                counts[(slugs[competition_id], state)] = n
        return counts

    def round(self, c: Competition, number: int) -> RoundInfo:
        def op(session: Session) -> RoundInfo:
            row = get_round(session, c, number)
            count = session.scalar(
                select(func.count()).where(Submission.round_id == row.id, Submission.selected)
            )
            return round_info(row, int(count or 0))

        return self.uow.read(op)

    def current_round(self, c: Competition) -> RoundInfo | None:
        """The open round (the newest one, if several were ever open at once)."""
        open_rounds = self.rounds(c, states=[RoundState.OPEN.value])
        return open_rounds[-1] if open_rounds else None

    def live_ids(self, c: Competition, number: int) -> list[str]:
        key = self.uow.read(lambda s: get_round(s, c, number).live_ids_key)
        return self.files.live_ids(key)

    def dataset_files(self, c: Competition, number: int) -> list[DatasetFile]:
        """The round's published files, by name, with their storage keys and sizes."""
        return self.files.dataset_files(c, self.round(c, number).dataset_version)

    def dataset_file(self, c: Competition, number: int, name: str) -> DatasetFile:
        """One published file of the round; NotFoundError (naming the files it has) if none."""
        files = self.dataset_files(c, number)
        for item in files:
            if item.name == name:
                return item
        raise NotFoundError(
            f"round {number}'s dataset has no file {name!r}; it has "
            f"{', '.join(f.name for f in files) or 'no files'}",
            details={"name": name, "round": number},
        )

    def meta_model_file(self, c: Competition) -> DatasetFile | None:
        """``meta_model.parquet`` of every resolved round of ``c`` (see
        :mod:`crowdalpha.tournament.meta_model_file`); None before any has a meta model."""

        def live_key(number: int) -> str | None:
            try:
                return self.dataset_file(c, number, "live.parquet").key
            except NotFoundError:
                return None

        rounds = self.rounds(c, states=[RoundState.RESOLVED.value])
        return meta_model_file(self.files.store, c, rounds, live_key)

    def meta_model(self, c: Competition, number: int) -> pd.Series:
        """A resolved round's meta model (published to participants after resolution)."""
        info = self.round(c, number)
        if info.meta_model_key is None:
            raise NotFoundError(f"round {number} has no meta model (unresolved or unstaked)")
        return self.files.meta_model(info.meta_model_key)

    def round_predictions(self, c: Competition, number: int) -> tuple[pd.DataFrame, pd.Series]:
        """The on-time predictions the round staked (the meta model's inputs), operator only.

        Returns the predictions (live ids × model ids, the stored float64 values of each
        model's selected on-time submission; unreadable files are left out) and each of
        those models' stake at risk in base units (an ``object`` Series of ints; 0 when
        nothing was at risk).
        """

        def op(session: Session) -> tuple[pd.DataFrame, pd.Series]:
            row = get_round(session, c, number)
            subs = session.scalars(
                select(Submission)
                .where(
                    Submission.round_id == row.id,
                    Submission.selected,
                    Submission.late.is_(False),
                    Submission.storage_key.is_not(None),
                )
                .order_by(Submission.model_id)
            ).all()
            at_risk = {
                rs.model_id: int(rs.stake_at_risk)
                for rs in session.scalars(select(RoundStake).where(RoundStake.round_id == row.id))
            }
            keys = {s.model_id: (str(s.storage_key), s.predictions_sha256) for s in subs}
            ids = self.files.live_ids(row.live_ids_key)
            columns: dict[int, object] = {}
            for model_id, (key, sha256) in keys.items():
                try:
                    values = self.files.predictions(key, sha256)
                except (NotFoundError, OSError, ValueError):
                    continue
                if values.shape == (len(ids),):
                    columns[model_id] = values
            frame = pd.DataFrame(columns, index=pd.Index(ids, name="id"))
            stakes = pd.Series(
                [at_risk.get(m, 0) for m in columns],
                index=frame.columns,
                dtype=object,
                name="stake",
            )
            return frame, stakes

        return self.uow.read(op)

    # -- submissions, scores, payouts -----------------------------------------------------

    def submissions(
        self,
        c: Competition,
        *,
        model_id: int | None = None,
        round_number: int | None = None,
        latest: int | None = None,
    ) -> list[SubmissionInfo]:
        """Submissions oldest first; with ``latest``, only the newest ``latest`` of them."""
        if latest is not None and latest < 1:
            raise InvalidParameterError("latest must be at least 1", details={"latest": latest})

        def op(session: Session) -> list[SubmissionInfo]:
            query = (
                select(Submission, Round.number)
                .join(Round, Round.id == Submission.round_id)
                .where(Round.competition_id == c.id)
            )
            if model_id is not None:
                query = query.where(Submission.model_id == model_id)
            if round_number is not None:
                query = query.where(Round.number == round_number)
            if latest is None:
                rows = session.execute(query.order_by(Submission.id)).all()
            else:
                newest = query.order_by(Submission.id.desc()).limit(latest)
                rows = list(reversed(session.execute(newest).all()))
            return [submission_info(sub, n) for sub, n in rows]

        return self.uow.read(op)

    def scores(
        self, c: Competition, *, model_id: int | None = None, round_number: int | None = None
    ) -> list[ScoreInfo]:
        """Each model's scores per round, every metric the round recorded."""

        def op(session: Session) -> list[ScoreInfo]:
            query = (
                select(Score, Round.number)
                .join(Round, Round.id == Score.round_id)
                .where(Round.competition_id == c.id)
            )
            if model_id is not None:
                query = query.where(Score.model_id == model_id)
            if round_number is not None:
                query = query.where(Round.number == round_number)
            query = query.order_by(Round.number, Score.model_id, Score.metric)
            grouped: dict[tuple[int, int], list[Score]] = {}
            for score, number in session.execute(query).all():
                grouped.setdefault((int(number), score.model_id), []).append(score)
            return [
                ScoreInfo(
                    number,
                    model,
                    {s.metric: s.value for s in rows},
                    # the scorer's rows decide; the gate's (final at the close) do not
                    all(s.final for s in rows),
                    max(s.scored_at for s in rows),
                )
                for (number, model), rows in grouped.items()
            ]

        return self.uow.read(op)

    def payouts(
        self, c: Competition, *, model_id: int | None = None, round_number: int | None = None
    ) -> list[PayoutInfo]:
        def op(session: Session) -> list[PayoutInfo]:
            query = (
                select(Payout, Round.number)
                .join(Round, Round.id == Payout.round_id)
                .where(Round.competition_id == c.id)
            )
            if model_id is not None:
                query = query.where(Payout.model_id == model_id)
            if round_number is not None:
                query = query.where(Round.number == round_number)
            query = query.order_by(Round.number, Payout.model_id)
            return [
                PayoutInfo(n, p.model_id, p.stake_at_risk, p.amount)
                for p, n in session.execute(query).all()
            ]

        return self.uow.read(op)

    # -- leaderboard and reputation -------------------------------------------------------

    def leaderboard(
        self,
        c: Competition,
        *,
        since: datetime,
        by: str = "reputation",
        limit: int | None = None,
        offset: int = 0,
    ) -> list[LeaderboardRow]:
        """The competition's models ranked by reputation (the mean final score of its
        first metric over rounds resolved ``since``) or by stake: ``limit`` rows from rank
        ``offset + 1`` (all of them by default)."""
        if by not in LEADERBOARD_ORDERS:
            raise InvalidParameterError("rank the leaderboard by 'reputation' or 'stake'")
        if offset < 0 or (limit is not None and limit < 0):
            raise InvalidParameterError("the leaderboard's limit and offset cannot be negative")
        metric = c.round_config.metrics[0]

        def op(session: Session) -> list[LeaderboardRow]:
            models = session.execute(
                select(Model.id, Model.name, Account.username)
                .join(Account, Account.id == Model.account_id)
                .where(Model.competition_id == c.id)
            ).all()
            stats = {
                model_id: (mean, count)
                for model_id, mean, count in session.execute(
                    select(Score.model_id, func.avg(Score.value), func.count())
                    .join(Round, Round.id == Score.round_id)
                    .where(
                        Round.competition_id == c.id,
                        Score.metric == metric,
                        Score.final,
                        Round.resolved_at >= since,
                        Score.value.is_not(None),
                    )
                    .group_by(Score.model_id)
                ).all()
            }
            stakes = self.uow.ledger(session).balances([stake(m) for m, _, _ in models])
            rows = []
            for model_id, name, username in models:
                mean, count = stats.get(model_id, (None, 0))
                rows.append(
                    (
                        model_id,
                        name,
                        username,
                        stakes[stake(model_id)],
                        None if mean is None else float(mean),
                        int(count),
                    )
                )
            if by == "stake":
                rows.sort(key=lambda r: (-r[3], r[1]))
            else:
                rows.sort(key=lambda r: (r[4] is None, -(r[4] or 0.0), r[1]))
            chosen = rows[offset:] if limit is None else rows[offset : offset + limit]
            return [
                LeaderboardRow(offset + i + 1, m, n, u, s, rep, cnt)
                for i, (m, n, u, s, rep, cnt) in enumerate(chosen)
            ]

        return self.uow.read(op)

    def account_reputation(
        self, c: Competition, account_id: int, *, since: datetime
    ) -> float | None:
        """The stake-weighted average of the account's models' reputations (a plain mean
        when nothing is staked); None before any of its models has a final score."""
        mine = set(
            self.uow.read(
                lambda s: list(
                    s.scalars(
                        select(Model.id).where(
                            Model.account_id == account_id, Model.competition_id == c.id
                        )
                    )
                )
            )
        )
        rated = [
            r
            for r in self.leaderboard(c, since=since)
            if r.model_id in mine and r.reputation is not None
        ]
        if not rated:
            return None
        total = sum(r.stake for r in rated)
        if total == 0:
            return sum(r.reputation or 0.0 for r in rated) / len(rated)
        return sum((r.reputation or 0.0) * r.stake for r in rated) / total

"""Numerai Signals' own GraphQL operations, as numerapi 3.1.1's ``SignalsAPI`` calls them.

``SignalsAPI`` shares most of its calls with Classic (``listDatasets``, ``dataset``,
``account``, ``submissionScores``, ``v2ChangeStake``, ``pendingModelPayouts``,
``diagnosticsUploadAuth``/``createDiagnostics``…, every one sent with ``tournament: 11``;
the shared schema serves them for whichever competition is asked). Four are its own:

- ``submissionUploadSignalsAuth(filename, tournament, modelId)``: an upload name and a
  signed PUT URL, as ``submission_upload_auth``;
- ``createSignalsSubmission(filename, modelId, triggerId, source, dataDatestamp)``: no
  tournament argument (the model's competition is Signals); validates the staged file with
  Signals' rules and returns the submission's ``id`` and ``firstEffectiveDate`` (the close of
  the round it counts in), and how many tickers it named outside the universe;
- ``signalsLeaderboard(limit, offset)``: models ranked by reputation (the mean final CORR
  over the reputation window), with their mean MMC and its rank, the Sharpe ratio of their
  final CORRs and their latest paid score (``today``);
- ``v2SignalsProfile(modelName)``: one entry per resolved round, the model's reputations
  (CORR, MMC, ALPHA, MPC) and their ranks among the competition's models at that date.

They run only where the server runs Signals (``Tournament.using("signals")``); elsewhere
they are refused with ``invalid_parameter``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import datetime
from typing import Annotated

import strawberry

from crowdalpha.errors import InvalidParameterError
from crowdalpha.server.graphql.context import GraphQLContext, utc
from crowdalpha.server.graphql.schema import _upload_auth, amount
from crowdalpha.server.graphql.types import UploadAuth
from crowdalpha.tournament import SIGNALS, ModelInfo, RoundInfo, ScoreInfo, Tournament

__all__ = [
    "SignalsDailyPerformance",
    "SignalsLeaderboardRow",
    "SignalsMutation",
    "SignalsProfile",
    "SignalsQuery",
    "SignalsSubmission",
]

Info = strawberry.Info[GraphQLContext, None]

#: The metrics whose reputations a profile reports (when the round computes them).
_PROFILE_METRICS = ("corr", "mmc", "alpha", "mpc")


@strawberry.type(description="A Signals submission, as createSignalsSubmission returns it.")
class SignalsSubmission:
    id: strawberry.ID
    filename: str
    inserted_at: datetime
    first_effective_date: datetime = strawberry.field(
        description="When the signal starts to count: the close of the round it is in"
    )
    round_number: int
    model_id: strawberry.ID
    rows: int
    unknown_tickers: int = strawberry.field(
        description="Tickers the file named outside the round's universe (ignored, not fatal)"
    )
    selected: bool
    late: bool


@strawberry.type(description="One row of the Signals leaderboard.")
class SignalsLeaderboardRow:
    rank: int
    prev_rank: int | None
    username: str
    nmr_staked: str
    sharpe: float | None
    today: float | None
    corr_rep: float | None
    mmc: float | None
    mmc_rank: int | None
    ic_rep: float | None
    ic_rank: int | None
    tc_rep: float | None
    tc_rank: int | None
    rounds: int


@strawberry.type
class SignalsDailyPerformance:
    date: datetime
    corr_rep: float | None
    corr_rank: int | None
    mmc_rep: float | None
    mmc_rank: int | None
    alpha_rep: float | None
    alpha_rank: int | None
    mpc_rep: float | None
    mpc_rank: int | None
    corr20d_rep: float | None
    corr20d_rank: int | None
    corr60_rep: float | None
    corr60_rank: int | None
    mmc20d_rep: float | None
    mmc20d_rank: int | None
    ic_rep: float | None
    ic_rank: int | None
    tc_rep: float | None
    tc_rank: int | None


@strawberry.type(description="A Signals model's public profile.")
class SignalsProfile:
    id: strawberry.ID
    username: str
    nmr_staked: str
    daily_model_performances: list[SignalsDailyPerformance]


# -- reputations ----------------------------------------------------------------------------


def _mean(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None and math.isfinite(v)]
    return sum(present) / len(present) if present else None


def _ranks(values: dict[int, float | None]) -> dict[int, int]:
    """Model id → rank (1 = highest) among the models that have a value."""
    rated = sorted((v, m) for m, v in values.items() if v is not None)
    ordered = sorted(rated, key=lambda vm: (-vm[0], vm[1]))
    return {m: i + 1 for i, (_, m) in enumerate(ordered)}


class _Finals:
    """A competition's final scores of resolved rounds, by model, with the rounds' times."""

    def __init__(self, view: Tournament) -> None:
        self.window = view.config.reputation_window
        self.rounds: dict[int, RoundInfo] = {
            r.number: r for r in view.rounds() if r.resolved_at is not None
        }
        self.by_model: dict[int, list[ScoreInfo]] = {}
        for score in view.scores():
            if score.final and score.round_number in self.rounds:
                self.by_model.setdefault(score.model_id, []).append(score)

    def resolved(self, number: int) -> datetime:
        return utc(self.rounds[number].resolved_at)  # type: ignore[arg-type]

    def reputation(self, model_id: int, metric: str, when: datetime) -> float | None:
        """The model's mean final ``metric`` over rounds resolved in the window up to ``when``."""
        return _mean(
            s.get(metric)
            for s in self.by_model.get(model_id, [])
            if when - self.window <= self.resolved(s.round_number) <= when
        )

    def ranks(self, metric: str, when: datetime) -> dict[int, int]:
        return _ranks({m: self.reputation(m, metric, when) for m in self.by_model})


def _profile(view: Tournament, model: ModelInfo) -> list[SignalsDailyPerformance]:
    finals = _Finals(view)
    out = []
    for number in sorted({s.round_number for s in finals.by_model.get(model.id, [])}):
        when = finals.resolved(number)
        reps = {m: finals.reputation(model.id, m, when) for m in _PROFILE_METRICS}
        ranks = {m: finals.ranks(m, when).get(model.id) for m in _PROFILE_METRICS}
        out.append(
            SignalsDailyPerformance(
                date=when,
                corr_rep=reps["corr"],
                corr_rank=ranks["corr"],
                mmc_rep=reps["mmc"],
                mmc_rank=ranks["mmc"],
                alpha_rep=reps["alpha"],
                alpha_rank=ranks["alpha"],
                mpc_rep=reps["mpc"],
                mpc_rank=ranks["mpc"],
                corr20d_rep=reps["corr"],
                corr20d_rank=ranks["corr"],
                corr60_rep=None,
                corr60_rank=None,
                mmc20d_rep=reps["mmc"],
                mmc20d_rank=ranks["mmc"],
                ic_rep=None,
                ic_rank=None,
                tc_rep=None,
                tc_rank=None,
            )
        )
    return out


def _sharpe(values: list[float]) -> float | None:
    if len(values) < 2:
        return None
    mean = sum(values) / len(values)
    var = sum((v - mean) ** 2 for v in values) / (len(values) - 1)
    return mean / math.sqrt(var) if var > 0 else None


# -- resolvers --------------------------------------------------------------------------------


def signals_view(context: GraphQLContext) -> Tournament:
    """The Signals view; refused (``invalid_parameter``) where Signals does not run."""
    return context.view(SIGNALS.id)


def _signals_leaderboard(
    info: Info, limit: int | None = 50, offset: int | None = 0
) -> list[SignalsLeaderboardRow]:
    view = signals_view(info.context)
    rows = view.leaderboard()
    finals = _Finals(view)
    now = view.clock.now()
    mmc = {r.model_id: finals.reputation(r.model_id, "mmc", now) for r in rows}
    mmc_ranks = _ranks(mmc)
    canon = view.competition.round_config.paid_metrics[0]
    latest: dict[int, float | None] = {}
    for score in view.scores():  # oldest round first: the last one seen is the latest
        value = score.get(canon)
        if value is not None:
            latest[score.model_id] = value
    start = max(0, offset or 0)
    chosen = rows[start:] if limit is None else rows[start : start + max(0, limit)]
    out = []
    for r in chosen:
        corrs = [
            v
            for s in finals.by_model.get(r.model_id, [])
            if (v := s.get("corr")) is not None and math.isfinite(v)
        ]
        out.append(
            SignalsLeaderboardRow(
                rank=r.rank,
                prev_rank=None,
                username=r.model_name,
                nmr_staked=amount(r.stake),
                sharpe=_sharpe(corrs),
                today=latest.get(r.model_id),
                corr_rep=r.reputation,
                mmc=mmc.get(r.model_id),
                mmc_rank=mmc_ranks.get(r.model_id),
                ic_rep=None,
                ic_rank=None,
                tc_rep=None,
                tc_rank=None,
                rounds=r.rounds,
            )
        )
    return out


def _v2_signals_profile(
    info: Info,
    model_name: str | None = None,
    model_name_snake: Annotated[str | None, strawberry.argument(name="model_name")] = None,
) -> SignalsProfile:
    context = info.context
    view = signals_view(context)
    name = model_name if model_name is not None else model_name_snake
    if name is None:
        raise InvalidParameterError("v2SignalsProfile needs modelName")
    model = context.find_model(name)
    context.check_model_in(model, SIGNALS.id)
    return SignalsProfile(
        id=strawberry.ID(str(model.id)),
        username=model.name,
        nmr_staked=amount(view.stake_info(model.id).stake),
        daily_model_performances=_profile(view, model),
    )


def _submission_upload_signals_auth(
    info: Info, filename: str, tournament: int | None = None, model_id: str | None = None
) -> UploadAuth:
    number = SIGNALS.id if tournament is None else tournament
    signals_view(info.context)
    return _upload_auth(info.context, "submissions", filename, number, model_id)


def _create_signals_submission(
    info: Info,
    filename: str,
    model_id: str | None = None,
    trigger_id: str | None = None,
    source: str | None = None,
    data_datestamp: int | None = None,
    round_: Annotated[
        int | None,
        strawberry.argument(
            name="round",
            description="crowdalpha: the round to submit to (default: the open one)",
        ),
    ] = None,
) -> SignalsSubmission:
    context = info.context
    view = signals_view(context)
    principal, model = context.own_model(model_id, "upload", SIGNALS.id)
    del trigger_id, source, data_datestamp  # Numerai Compute's; nothing to do here
    submission = context.submit_staged(view, model, principal, filename, round_)
    round_info = view.round(submission.round_number)
    return SignalsSubmission(
        id=strawberry.ID(str(submission.id)),
        filename=submission.filename,
        inserted_at=utc(submission.created_at),
        first_effective_date=utc(round_info.closes_at),
        round_number=submission.round_number,
        model_id=strawberry.ID(str(model.id)),
        rows=submission.rows,
        unknown_tickers=submission.unknown_ids,
        selected=submission.selected,
        late=submission.late,
    )


@strawberry.type
class SignalsQuery:
    signals_leaderboard: list[SignalsLeaderboardRow] = strawberry.field(
        resolver=_signals_leaderboard,
        name="signalsLeaderboard",
        description="Signals models ranked by reputation.",
    )
    v2_signals_profile: SignalsProfile = strawberry.field(
        resolver=_v2_signals_profile,
        name="v2SignalsProfile",
        description="A Signals model's daily reputations (one entry per resolved round).",
    )
    submission_upload_signals_auth: UploadAuth = strawberry.field(
        resolver=_submission_upload_signals_auth,
        name="submissionUploadSignalsAuth",
        description="An upload name and a signed PUT URL for a Signals submission.",
    )


@strawberry.type
class SignalsMutation:
    create_signals_submission: SignalsSubmission = strawberry.mutation(
        resolver=_create_signals_submission,
        name="createSignalsSubmission",
        description="Record the file PUT to the upload URL as the Signals model's submission.",
    )

"""The schema: Numerai's queries and mutations on the public :class:`Tournament` API.

Authentication and scopes: public data (rounds, datasets, model profiles, scores, round
performances, the leaderboards) need no key, because numerapi asks for them without one;
everything about an account needs a key with the ``read`` scope, uploads ``upload`` and
stake changes ``stake``. A key acts only on its own account's models.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime
from typing import Annotated, Any

import pandas as pd
import strawberry
from graphql import GraphQLError
from strawberry.types import ExecutionContext

from crowdalpha.errors import (
    CrowdAlphaError,
    InvalidAmountError,
    InvalidParameterError,
    NotFoundError,
)
from crowdalpha.ledger import format_nmr, to_base_units
from crowdalpha.server.graphql import diagnostics as diag
from crowdalpha.server.graphql import naming as names
from crowdalpha.server.graphql import staking_v3
from crowdalpha.server.graphql.context import CLASSIC, GraphQLContext, utc
from crowdalpha.server.graphql.staking_v3 import (
    V3StakeAuth,
    V3StakeClaim,
    V3StakeConfig,
    V3StakeRound,
)
from crowdalpha.server.graphql.types import (
    Account,
    AccountLeaderboardRow,
    AccountProfile,
    ApiToken,
    DailyModelPerformance,
    Diagnostics,
    LeaderboardRow,
    Model,
    ModelPayout,
    ModelPayouts,
    PayoutMultiplier,
    PerEraDiagnostics,
    ProfileModel,
    RegimeDiagnostics,
    Round,
    RoundModelPerformance,
    RoundScore,
    RoundScoreConfig,
    RoundStatus,
    StakeChange,
    Submission,
    SubmissionRound,
    SubmissionScore,
    UploadAuth,
    UserProfile,
    V2Stake,
)
from crowdalpha.tournament import (
    ModelInfo,
    RoundInfo,
    RoundState,
    ScoreInfo,
    StakeInfo,
    SubmissionInfo,
    Tournament,
)

__all__ = ["METRICS", "CrowdAlphaSchema", "Mutation", "Query"]

log = logging.getLogger("crowdalpha.server.graphql")

Info = strawberry.Info[GraphQLContext, None]

#: Classic's metrics under Numerai's score names: (our name, Numerai's name, payout).
METRICS = names.CLASSIC_METRICS
_SCORE_VERSION = "1"
_STATUS_STATES = {
    RoundStatus.UPCOMING: (),
    RoundStatus.OPEN: (RoundState.OPEN.value,),
    RoundStatus.RESOLVING: (RoundState.CLOSED.value, RoundState.SCORING.value),
    RoundStatus.RESOLVED: (RoundState.RESOLVED.value,),
}


def amount(units: int) -> str:
    """Base units as Numerai sends amounts: an exact decimal string with 18 decimals."""
    return format_nmr(units, trim=False)


def positive_amount(value: str, what: str = "the amount") -> int:
    """A positive amount of NMR given as a string, in base units (floats never enter)."""
    units = to_base_units(value)
    if units == 0:
        raise InvalidAmountError(f"{what} must be more than 0 NMR", details={"value": value})
    return units


def _resolved(info: RoundInfo) -> bool:
    return info.state == RoundState.RESOLVED.value


def _resolve_time(info: RoundInfo) -> datetime:
    return utc(info.resolved_at or info.resolves_at)


# -- rounds -------------------------------------------------------------------------------


def _score_configs(info: RoundInfo) -> list[RoundScoreConfig]:
    """The round's own payout configuration (stored when it opened), as Numerai's
    ``roundScoreConfigs``."""
    config = info.config
    multipliers = dict(config.multipliers)
    canon = names.canon(info.competition, config)
    out = []
    for ours, theirs, pays in names.metrics(info.competition, config):
        multiplier = multipliers.get(ours) if pays else None
        out.append(
            RoundScoreConfig(
                id=strawberry.ID(f"{info.number}:{theirs}"),
                score_config_id=strawberry.ID(theirs),
                round_number_start=None,
                round_number_end=None,
                name=theirs,
                version=_SCORE_VERSION,
                display_name=theirs,
                total_score_days=None,
                returns_lag_days=None,
                data_delay_days=None,
                universe=None,
                is_canon_score=theirs == canon,
                is_payout=pays,
                scoring_start=utc(info.closes_at),
                scoring_end=_resolve_time(info),
                min_multiplier=multiplier,
                max_multiplier=multiplier,
                default_multiplier=multiplier,
                clip_threshold=config.clip if pays else None,
                stake_threshold=amount(config.threshold) if pays else None,
                payout_factor=info.payout_factor,
            )
        )
    return out


def round_of(tournament: Tournament, info: RoundInfo) -> Round:
    return Round(
        id=strawberry.ID(str(info.number)),
        tournament=tournament.competition.id,
        number=info.number,
        target=None,
        state=info.state,
        open_time=utc(info.opens_at),
        close_time=utc(info.closes_at),
        close_staking_time=utc(info.closes_at),
        score_time=utc(info.closed_at) if info.closed_at else None,
        resolve_time=_resolve_time(info),
        resolved_general=_resolved(info),
        resolved_staking=_resolved(info),
        payout_factor=info.payout_factor,
        stake_threshold=amount(info.config.threshold),
        data_datestamp=int(utc(info.opens_at).strftime("%Y%m%d")),
        total_at_risk=None if info.total_at_risk is None else amount(info.total_at_risk),
        round_score_configs=_score_configs(info),
    )


# -- datasets -----------------------------------------------------------------------------


def dataset_files(
    context: GraphQLContext, info: RoundInfo, view: Tournament | None = None
) -> dict[str, str]:
    """Advertised names (``v5.0/live.parquet``, ``signals/v2.0/live.parquet``) → storage keys
    of round ``info``'s files (of ``view``'s competition; Classic by default)."""
    t = view or context.tournament
    files = names.advertised(
        t.competition, context.dataset_folder, info.number, t.dataset_files(info.number)
    )
    if t.competition.slug == "classic":
        meta = t.meta_model_file()  # every resolved round's meta model, as in v5
        if meta is not None:
            files[f"{names.folder(t.competition, context.dataset_folder)}/{meta.name}"] = meta.key
    return dict(sorted(files.items()))


def _dataset_key(
    context: GraphQLContext, info: RoundInfo, filename: str, view: Tournament | None = None
) -> str:
    t = view or context.tournament
    files = dataset_files(context, info, t)
    name = filename.strip().lstrip("/")
    folder, _, rest = name.rpartition("/")
    candidates = [name]
    if folder in ("", info.dataset_version):
        candidates.append(f"{names.folder(t.competition, context.dataset_folder)}/{rest}")
    for candidate in candidates:
        if candidate in files:
            return files[candidate]
    raise NotFoundError(
        f"round {info.number} has no file {filename!r}; it has "
        f"{', '.join(files) or 'no files'} (napi.list_datasets() lists them)",
        details={"filename": filename, "round": info.number},
    )


# -- submissions, models, accounts ---------------------------------------------------------


def submission_of(sub: SubmissionInfo, tournament: int = CLASSIC) -> Submission:
    return Submission(
        id=strawberry.ID(str(sub.id)),
        filename=sub.filename,
        inserted_at=utc(sub.created_at),
        selected=sub.selected,
        state=sub.state,
        late=sub.late,
        rows=sub.rows,
        round=SubmissionRound(tournament=tournament, number=sub.round_number),
        round_number=sub.round_number,
        model_id=strawberry.ID(str(sub.model_id)),
        error_message=sub.error_message,
    )


def model_of(tournament: Tournament, model: ModelInfo) -> Model:
    own = tournament.using(model.competition)  # the model's competition's view
    number = own.competition.id
    staked = own.stake_info(model.id).stake
    return Model(
        id=strawberry.ID(str(model.id)),
        name=model.name,
        display_name=model.name,
        tournament=number,
        inserted_at=utc(model.created_at),
        submissions=[submission_of(s, number) for s in own.submissions(model_id=model.id)],
        v2_stake=V2Stake(
            status="staked" if staked else "unstaked", tx_hash=None, value=amount(staked)
        ),
    )


# -- scores -------------------------------------------------------------------------------


def _percentiles(scores: list[ScoreInfo], metrics: Iterable[str]) -> dict[tuple[int, str], float]:
    """(model id, metric) → the model's percentile among the round's models, in (0, 1]."""
    if not scores:
        return {}
    wanted = list(metrics)
    frame = pd.DataFrame(
        {ours: [s.get(ours) for s in scores] for ours in wanted},
        index=[s.model_id for s in scores],
        dtype="float64",
    )
    ranks = frame.rank(pct=True)
    out: dict[tuple[int, str], float] = {}
    for ours in wanted:
        for model_id, value in zip(frame.index, ranks[ours].to_numpy(), strict=True):
            if pd.notna(value):
                out[(int(model_id), ours)] = float(value)
    return out


class _ScoreRow:
    """One metric of one round of one model, with what the API types need."""

    __slots__ = ("day", "info", "name", "percentile", "score", "submission_id", "value")

    def __init__(
        self,
        info: RoundInfo,
        score: ScoreInfo,
        name: str,
        value: float | None,
        percentile: float | None,
        submission_id: int | None,
    ) -> None:
        self.info = info
        self.score = score
        self.name = name
        self.value = value
        self.percentile = percentile
        self.submission_id = submission_id
        self.day = max(0, (utc(score.scored_at) - utc(info.closes_at)).days)


def score_rows(tournament: Tournament, model: ModelInfo) -> list[_ScoreRow]:
    """Every score of ``model``, one row per round and metric, oldest round first."""
    tournament = tournament.using(model.competition)
    own = tournament.scores(model_id=model.id)
    selected = {
        s.round_number: s.id for s in tournament.submissions(model_id=model.id) if s.selected
    }
    rows: list[_ScoreRow] = []
    for score in own:
        info = tournament.round(score.round_number)
        table = names.metrics(info.competition, info.config)
        percentiles = _percentiles(
            tournament.scores(round_number=score.round_number), (m for m, _, _ in table)
        )
        for ours, theirs, _ in table:
            value = score.get(ours)
            if value is None:
                continue
            rows.append(
                _ScoreRow(
                    info,
                    score,
                    theirs,
                    float(value),
                    percentiles.get((model.id, ours)),
                    selected.get(score.round_number),
                )
            )
    return rows


def _round_score(row: _ScoreRow, payout: int | None) -> RoundScore:
    settled = pending = None
    canon = names.canon(row.info.competition, row.info.config)
    if row.name == canon and payout is not None:
        if _resolved(row.info):
            settled = amount(payout)
        else:
            pending = amount(payout)
    return RoundScore(
        date=utc(row.score.scored_at),
        day=row.day,
        display_name=row.name,
        payout_pending=pending,
        payout_settled=settled,
        percentile=row.percentile,
        value=row.value,
    )


def _payout_multipliers(info: RoundInfo) -> list[PayoutMultiplier]:
    """The round's own payout multipliers (stored when it opened)."""
    values = dict(info.config.multipliers)
    return [
        PayoutMultiplier(
            id=strawberry.ID(theirs),
            score_config_id=strawberry.ID(theirs),
            name=theirs,
            version=_SCORE_VERSION,
            display_name=theirs,
            multiplier=float(values[ours]),
        )
        for ours, theirs, pays in names.metrics(info.competition, info.config)
        if pays and ours in values
    ]


def _reputation(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return sum(present) / len(present) if present else None


def daily_performances(tournament: Tournament, model: ModelInfo) -> list[DailyModelPerformance]:
    """One entry per resolved round: the model's reputations (mean final scores over the
    reputation window) as of that round's resolution."""
    tournament = tournament.using(model.competition)
    window = tournament.config.reputation_window
    finals = [
        (tournament.round(s.round_number), s)
        for s in tournament.scores(model_id=model.id)
        if s.final
    ]
    finals = [(i, s) for i, s in finals if i.resolved_at is not None]
    out = []
    for info, _ in finals:
        when = _resolve_time(info)
        recent = [s for i, s in finals if when - window <= _resolve_time(i) <= when]
        out.append(
            DailyModelPerformance(
                date=when,
                corr_rep=_reputation(s.corr for s in recent),
                corr_rank=None,
                mmc_rep=_reputation(s.mmc for s in recent),
                mmc_rank=None,
                fnc_rep=_reputation(s.fnc for s in recent),
                fnc_rank=None,
                fnc_v3_rep=None,
                fnc_v3_rank=None,
                tc_rep=None,
                tc_rank=None,
            )
        )
    return out


# -- stakes -------------------------------------------------------------------------------


def _stake_change(
    tournament: Tournament,
    model: ModelInfo,
    action: str,
    units: int,
    *,
    drain: bool = False,
) -> StakeChange:
    tournament = tournament.using(model.competition)
    before: StakeInfo = tournament.stake_info(model.id)
    if action == "increase":
        after = tournament.increase_stake(model.id, units)
        return StakeChange(
            id=None,
            due_date=None,
            requested_amount=amount(units),
            status="staked",
            type="increase",
            drain=False,
            stake=amount(after.stake),
        )
    after = tournament.decrease_stake(model.id, units)
    known = {r.id for r in before.releases}
    new = [r for r in after.releases if r.id not in known]
    due = None
    status = "released"
    release_id = None
    if new and new[-1].released_at is None and new[-1].release_round is not None:
        release = new[-1]
        release_id = strawberry.ID(str(release.id))
        due = _resolve_time(tournament.round(release.release_round))  # type: ignore[arg-type]
        status = "pending"
    return StakeChange(
        id=release_id,
        due_date=due,
        requested_amount=amount(units),
        status=status,
        type="decrease",
        drain=drain,
        stake=amount(after.stake),
    )


# -- the schema ---------------------------------------------------------------------------

TournamentArg = Annotated[int | None, strawberry.argument(name="tournament")]


def _rounds(
    info: Info,
    tournament: int | None = None,
    number: int | None = None,
    target: str | None = None,
    status: RoundStatus | None = None,
    limit: int | None = None,
) -> list[Round]:
    context = info.context
    t = context.view(tournament)
    if number == 0:
        current = t.current_round()
        if current is None:
            raise NotFoundError("Current round not open for submissions")
        chosen = [current]
    elif number is not None:
        chosen = [r for r in t.rounds() if r.number == number]
    else:
        chosen = t.rounds()
    if status is not None:
        states = _STATUS_STATES[status]
        chosen = [r for r in chosen if r.state in states]
    chosen = sorted(chosen, key=lambda r: -r.number)
    if limit is not None:
        chosen = chosen[: max(0, limit)]
    return [round_of(t, r) for r in chosen]


def _list_datasets(
    info: Info,
    round_: Annotated[int | None, strawberry.argument(name="round")] = None,
    tournament: int | None = None,
) -> list[str]:
    context = info.context
    t = context.view(tournament)
    if round_ is None or round_ == 0:
        latest = context.current_or_latest_round(t)
        if latest is None:
            return []
        return list(dataset_files(context, latest, t))
    return list(dataset_files(context, t.round(round_), t))


def _dataset(
    info: Info,
    filename: str,
    round_: Annotated[int | None, strawberry.argument(name="round")] = None,
    tournament: int | None = None,
) -> str:
    context = info.context
    t = context.view(tournament)
    round_info = context.round_or_current(round_, t)
    key = _dataset_key(context, round_info, filename, t)
    return context.server.download_url(key, filename=filename.rsplit("/", 1)[-1])


def _submission_upload_auth(
    info: Info,
    filename: str,
    tournament: int | None = None,
    model_id: str | None = None,
) -> UploadAuth:
    return _upload_auth(info.context, "submissions", filename, tournament, model_id)


def _diagnostics_upload_auth(
    info: Info,
    filename: str,
    tournament: int | None = None,
    model_id: str | None = None,
) -> UploadAuth:
    return _upload_auth(info.context, "diagnostics", filename, tournament, model_id)


def _account(info: Info) -> Account:
    context = info.context
    principal = context.require("read")
    t = context.tournament
    who = principal.account
    return Account(
        id=strawberry.ID(str(who.id)),
        username=who.username,
        email=who.email,
        wallet_address=who.wallet_address,
        assigned_eth_address=who.wallet_address,
        available_nmr=amount(t.wallet_balance(who.id)),
        available_usd=None,
        mfa_enabled=False,
        status="VERIFIED",
        inserted_at=utc(who.created_at),
        models=[model_of(t, m) for c in t.competitions for m in t.using(c).models(who.id)],
        api_tokens=[
            ApiToken(name=k.name, public_id=k.public_id, scopes=sorted(k.scopes))
            for k in t.api_keys(who.id)
            if k.revoked_at is None
        ],
        wallet_txns=[],
    )


def _model(info: Info, model_id: str | None = None) -> Model:
    context = info.context
    _, model = context.own_model(model_id, "read")
    return model_of(context.tournament, model)


def _submissions(info: Info, model_id: str | None = None) -> list[Submission]:
    context = info.context
    _, model = context.own_model(model_id, "read")
    own = context.view_of(model)
    return [submission_of(s, own.competition.id) for s in own.submissions(model_id=model.id)]


def _v3_user_profile(
    info: Info,
    model_name_snake: Annotated[str | None, strawberry.argument(name="model_name")] = None,
    model_name: str | None = None,
    tournament: int | None = None,
) -> UserProfile:
    context = info.context
    context.check_tournament(tournament)
    name = model_name_snake if model_name_snake is not None else model_name
    if name is None:
        raise InvalidParameterError("v3UserProfile needs model_name (or modelName)")
    t = context.tournament
    model = context.find_model(name)
    context.check_model_in(model, tournament)
    staked = t.stake_info(model.id).stake
    profile = t.profiles.profile(model.id)
    return UserProfile(
        id=strawberry.ID(str(model.id)),
        username=model.name,
        start_date=utc(model.created_at),
        bio=profile.bio,
        link_text=profile.link_text,
        link_url=profile.link_url,
        nmr_staked=amount(staked),
        stake_value=amount(staked) if staked else None,
        daily_model_performances=daily_performances(t, model),
    )


def _account_profile(info: Info, username: str, tournament: int | None = None) -> AccountProfile:
    context = info.context
    t = context.view(tournament)
    who = t.account_by_username(username)
    return AccountProfile(
        username=who.username,
        models=[
            ProfileModel(id=strawberry.ID(str(m.id)), name=m.name, display_name=m.name)
            for m in t.models(who.id)
        ],
    )


def _submission_scores(
    info: Info,
    model_id: strawberry.ID,
    display_name: str | None = None,
    version: str | None = None,
    day: int | None = None,
    resolved: bool | None = None,
    tournament: int | None = None,
    last_n_rounds: int | None = None,
    distinct_on_round: bool | None = None,
) -> list[SubmissionScore]:
    context = info.context
    model = context.find_model(str(model_id))
    context.check_model_in(model, tournament)
    rows = score_rows(context.tournament, model)
    wanted = names.alias(model.competition, display_name) if display_name else None
    rows = [
        r
        for r in rows
        if (wanted is None or r.name == wanted)
        and (version is None or version == _SCORE_VERSION)
        and (day is None or r.day == day)
        and (resolved is None or r.score.final == resolved)
    ]
    if last_n_rounds is not None:
        keep = sorted({r.info.number for r in rows})[-max(0, last_n_rounds) :]
        rows = [r for r in rows if r.info.number in set(keep)] if last_n_rounds > 0 else []
    # One score per round and metric is all crowdalpha keeps, so distinctOnRound
    # changes nothing.
    del distinct_on_round
    return [
        SubmissionScore(
            round_id=strawberry.ID(str(r.info.number)),
            submission_id=None if r.submission_id is None else strawberry.ID(str(r.submission_id)),
            round_number=r.info.number,
            round_resolve_time=_resolve_time(r.info),
            round_score_time=utc(r.info.closed_at) if r.info.closed_at else None,
            round_close_staking_time=utc(r.info.closes_at),
            value=r.value,
            percentile=r.percentile,
            display_name=r.name,
            version=_SCORE_VERSION,
            date=utc(r.score.scored_at),
            day=r.day,
            resolve_date=utc(r.info.resolved_at) if r.info.resolved_at else None,
            resolved=r.score.final,
        )
        for r in rows
    ]


def _v2_round_model_performances(
    info: Info, model_id: str, tournament: int | None = None
) -> list[RoundModelPerformance]:
    context = info.context
    model = context.find_model(model_id)
    context.check_model_in(model, tournament)
    t = context.view_of(model)
    payouts = {p.round_number: p for p in t.payouts(model_id=model.id)}
    rows = score_rows(t, model)
    numbers = {s.round_number for s in t.submissions(model_id=model.id) if s.selected}
    numbers |= set(payouts) | {r.info.number for r in rows}
    current_stake = t.stake_info(model.id).stake
    frozen = t.stakes_at_risk(model.id)
    out = []
    for number in sorted(numbers, reverse=True):
        round_info = t.round(number)
        paid = payouts.get(number)
        mine = [r for r in rows if r.info.number == number]
        if paid is not None:
            at_risk: str | None = amount(paid.stake_at_risk)
        elif round_info.state == RoundState.OPEN.value:
            at_risk = amount(current_stake)
        else:  # frozen at the close (0: no stake, or no on-time submission)
            at_risk = amount(frozen.get(number, 0))
        payout = paid.amount if paid is not None else None
        out.append(
            RoundModelPerformance(
                at_risk=at_risk,
                payout_multipliers=_payout_multipliers(round_info),
                round_payout_factor=None
                if round_info.payout_factor is None
                else float(round_info.payout_factor),
                round_number=number,
                round_open_time=utc(round_info.opens_at),
                round_resolve_time=_resolve_time(round_info),
                round_resolved=_resolved(round_info),
                round_target=None,
                submission_scores=[_round_score(r, payout) for r in mine],
                intra_round_submission_scores=[
                    _round_score(r, None) for r in mine if not r.score.final
                ],
                corr_w_metamodel=next(
                    (r.value for r in mine if r.name == names.CORR_W_METAMODEL), None
                ),
            )
        )
    return out


def _pending_model_payouts(info: Info, tournament: int | None = None) -> ModelPayouts:
    context = info.context
    t = context.view(tournament)
    principal = context.require("read")
    actual: list[ModelPayout] = []
    pending: list[ModelPayout] = []
    rounds = {r.number: r for r in t.rounds()}
    for model in t.models(principal.account.id):
        for p in t.payouts(model_id=model.id):
            actual.append(_model_payout(rounds[p.round_number], model, p.amount, p.stake_at_risk))
        frozen = t.stakes_at_risk(model.id)  # one query per model, not per submission
        for sub in t.submissions(model_id=model.id):
            round_info = rounds[sub.round_number]
            if (
                sub.selected
                and not sub.late
                and round_info.state in (RoundState.CLOSED.value, RoundState.SCORING.value)
            ):
                risk = frozen.get(sub.round_number)
                pending.append(_model_payout(round_info, model, None, risk))
    return ModelPayouts(actual=actual, pending=pending)


def _v2_leaderboard(
    info: Info, limit: int | None = 50, offset: int | None = 0
) -> list[LeaderboardRow]:
    rows = info.context.tournament.leaderboard()
    start = max(0, offset or 0)
    chosen = rows[start:] if limit is None else rows[start : start + max(0, limit)]
    return [
        LeaderboardRow(
            rank=r.rank,
            username=r.model_name,
            nmr_staked=amount(r.stake),
            corr20_rep=r.reputation,
            corr20_v2_rep=r.reputation,
            corj60_rep=None,
            fnc_rep=None,
            fnc_v3_rep=None,
            tc_rep=None,
            mmc_rep=None,
            bmc_rep=None,
            team=False,
            return_1_day=None,
            return_52_weeks=None,
            return_13_weeks=None,
            rounds=r.rounds,
        )
        for r in chosen
    ]


def _account_leaderboard(
    info: Info,
    limit: int | None = 50,
    offset: int | None = 0,
    tournament: int | None = None,
) -> list[AccountLeaderboardRow]:
    context = info.context
    rows = context.view(tournament).leaderboard()
    accounts: dict[str, list[Any]] = {}
    for r in rows:
        accounts.setdefault(r.username, []).append(r)
    summary = []
    for username, models in accounts.items():
        staked = sum(m.stake for m in models)
        rated = [m for m in models if m.reputation is not None]
        if rated and staked:
            weight = sum(m.stake for m in rated)
            rep = (
                sum(m.reputation * m.stake for m in rated) / weight
                if weight
                else _reputation(m.reputation for m in rated)
            )
        else:
            rep = _reputation(m.reputation for m in rated)
        summary.append((username, staked, rep))
    summary.sort(key=lambda s: (s[2] is None, -(s[2] or 0.0), s[0]))
    start = max(0, offset or 0)
    chosen = summary[start:] if limit is None else summary[start : start + max(0, limit)]
    return [
        AccountLeaderboardRow(
            rank=start + i + 1,
            username=username,
            display_name=username,
            nmr_staked=amount(staked),
            v2_corr20=rep,
            cort20=None,
            cor_j60=None,
            corr_v4=None,
            fnc_v4=None,
            ic_v2=None,
            mmc=None,
            ric=None,
            return1y=None,
            return3m=None,
            return_all_time=None,
            return1y_nmr=None,
            return3m_nmr=None,
            return_all_time_nmr=None,
        )
        for i, (username, staked, rep) in enumerate(chosen)
    ]


def _diagnostics(info: Info, model_id: str, id: str | None = None) -> Diagnostics:
    context = info.context
    principal, model = context.own_model(model_id, "read")
    t = context.view_of(model)
    jobs = context.server.jobs
    if id:
        result = diag.load_diagnostics(t, jobs, principal.account.id, model.id, id)
    else:
        result = diag.latest_diagnostics(t, jobs, principal.account.id, model.id)
    return _diagnostics_of(result)


@strawberry.type
class Query:
    rounds: list[Round] = strawberry.field(
        resolver=_rounds, description="Rounds, newest first; number 0 is the current round."
    )
    list_datasets: list[str] = strawberry.field(
        resolver=_list_datasets,
        name="listDatasets",
        description="The round's files under a stable version folder (e.g. v5.0/live.parquet).",
    )
    dataset: str = strawberry.field(
        resolver=_dataset, description="A signed URL to GET one dataset file (Range supported)."
    )
    submission_upload_auth: UploadAuth = strawberry.field(
        resolver=_submission_upload_auth, name="submission_upload_auth"
    )
    diagnostics_upload_auth: UploadAuth = strawberry.field(
        resolver=_diagnostics_upload_auth, name="diagnosticsUploadAuth"
    )
    account: Account = strawberry.field(
        resolver=_account, description="The caller's account (needs the read scope)."
    )
    model: Model = strawberry.field(
        resolver=_model, description="One of the caller's models (needs the read scope)."
    )
    submissions: list[Submission] = strawberry.field(
        resolver=_submissions, description="The submissions of one of the caller's models."
    )
    v3_user_profile: UserProfile = strawberry.field(
        resolver=_v3_user_profile,
        name="v3UserProfile",
        description="A model's public profile and stake.",
    )
    account_profile: AccountProfile = strawberry.field(
        resolver=_account_profile, name="accountProfile", description="An account's public models."
    )
    submission_scores: list[SubmissionScore] = strawberry.field(
        resolver=_submission_scores,
        name="submissionScores",
        description="A model's scores, one per metric.",
    )
    v2_round_model_performances: list[RoundModelPerformance] = strawberry.field(
        resolver=_v2_round_model_performances,
        name="v2RoundModelPerformances",
        description="Per round: the model's stake at risk, scores and payout.",
    )
    pending_model_payouts: ModelPayouts = strawberry.field(
        resolver=_pending_model_payouts,
        name="pendingModelPayouts",
        description="The caller's models' payouts: settled (actual) and still open (pending).",
    )
    v2_leaderboard: list[LeaderboardRow] = strawberry.field(
        resolver=_v2_leaderboard, name="v2Leaderboard", description="Models ranked by reputation."
    )
    account_leaderboard: list[AccountLeaderboardRow] = strawberry.field(
        resolver=_account_leaderboard,
        name="accountLeaderboard",
        description="Accounts ranked by reputation.",
    )
    diagnostics: Diagnostics = strawberry.field(
        resolver=_diagnostics,
        description="Diagnostics of one of the caller's models: by id or latest.",
    )
    # staking v3, answered from the chain integration (see staking_v3)
    v3_stake_config: V3StakeConfig = staking_v3.config_field
    v3_stake_auth: V3StakeAuth = staking_v3.auth_field
    v3_stake_round: V3StakeRound = staking_v3.round_field
    v3_stake_claim: V3StakeClaim = staking_v3.claim_field


def _model_payout(
    info: RoundInfo, model: ModelInfo, paid: int | None, at_risk: int | None
) -> ModelPayout:
    return ModelPayout(
        round_id=strawberry.ID(str(info.number)),
        round_number=info.number,
        round_resolve_time=_resolve_time(info),
        model_id=strawberry.ID(str(model.id)),
        model_name=model.name,
        model_display_name=model.name,
        payout_nmr=None if paid is None else amount(paid),
        payout_value=None,
        currency_symbol="NMR",
        stake_at_risk=None if at_risk is None else amount(at_risk),
    )


def _upload_auth(
    context: GraphQLContext,
    kind: str,
    filename: str,
    tournament: int | None,
    model_id: str | None,
) -> UploadAuth:
    principal, _model = context.own_model(model_id, "upload", tournament)
    name = context.upload_name(principal.account.id, filename)
    url = context.server.upload_url(context.upload_key(kind, name), principal.account.id)
    return UploadAuth(filename=name, url=url)


def _diagnostics_of(result: dict[str, Any]) -> Diagnostics:
    summary = result.get("summary", {})

    def stat(name: str) -> float | None:
        return diag.as_float(summary.get(name))

    def era(row: dict[str, Any]) -> PerEraDiagnostics:
        return PerEraDiagnostics(
            era=str(row["era"]),
            validation_corr=diag.as_float(row.get("validation_corr")),
            validation_corr_v4=diag.as_float(row.get("validation_corr_v4")),
            validation_feature_neutral_corr=diag.as_float(
                row.get("validation_feature_neutral_corr")
            ),
            validation_fnc_v4=diag.as_float(row.get("validation_fnc_v4")),
            validation_mmc=diag.as_float(row.get("validation_mmc")),
            validation_feature_corr_max=diag.as_float(row.get("validation_feature_corr_max")),
        )

    def regime(name: str, row: dict[str, Any]) -> RegimeDiagnostics:
        return RegimeDiagnostics(
            regime=name,
            eras=int(row.get("eras", 0)),
            validation_corr_mean=diag.as_float(row.get("corr")),
            validation_mmc_mean=diag.as_float(row.get("mmc")),
            validation_fnc_v4_mean=diag.as_float(row.get("fnc")),
            validation_feature_corr_max=diag.as_float(row.get("feature_exposure")),
        )

    return Diagnostics(
        id=strawberry.ID(str(result["id"])),
        model_id=strawberry.ID(str(result["model_id"])),
        status=str(result["status"]),
        message=result.get("message"),
        updated_at=utc(datetime.fromisoformat(result["updated_at"])),
        trained_on_val=False,
        eras_accepted_count=int(result["eras_accepted_count"]),
        round_number=int(result["round_number"]),
        per_era_diagnostics=[era(r) for r in result.get("per_era", [])],
        validation_corr_mean=stat("corr_mean"),
        validation_corr_std=stat("corr_std"),
        validation_corr_sharpe=stat("corr_sharpe"),
        validation_max_drawdown=stat("corr_max_drawdown"),
        validation_corr_max_drawdown=stat("corr_max_drawdown"),
        validation_corr_v4_mean=stat("corr_mean"),
        validation_corr_v4_std=stat("corr_std"),
        validation_corr_v4_sharpe=stat("corr_sharpe"),
        validation_corr_v4_max_drawdown=stat("corr_max_drawdown"),
        validation_feature_neutral_corr_mean=stat("fnc_mean"),
        validation_fnc_v4_mean=stat("fnc_mean"),
        validation_fnc_v4_std=stat("fnc_std"),
        validation_fnc_v4_sharpe=stat("fnc_sharpe"),
        validation_fnc_v4_max_drawdown=stat("fnc_max_drawdown"),
        validation_mmc_mean=stat("mmc_mean"),
        validation_mmc_std=stat("mmc_std"),
        validation_mmc_sharpe=stat("mmc_sharpe"),
        # Numerai's example scripts: the mean over eras of each era's maximum exposure
        validation_feature_corr_max=stat("feature_exposure_mean"),
        by_regime=[regime(str(k), v) for k, v in result.get("by_regime", {}).items()],
    )


def _create_submission(
    info: Info,
    filename: str,
    tournament: int | None = None,
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
) -> Submission:
    context = info.context
    principal, model = context.own_model(model_id, "upload", tournament)
    del trigger_id, source, data_datestamp  # Numerai Compute's; nothing to do here
    submission = context.submit_staged(context.tournament, model, principal, filename, round_)
    log.info(
        "submission %s of model %s for round %s via the GraphQL API",
        submission.id,
        model.id,
        submission.round_number,
    )
    return submission_of(submission, context.view_of(model).competition.id)


def _create_diagnostics(
    info: Info,
    filename: str,
    tournament: int | None = None,
    model_id: str | None = None,
) -> Diagnostics:
    context = info.context
    principal, model = context.own_model(model_id, "upload", tournament)
    key, original = context.staged_upload("diagnostics", filename, principal.account.id)
    t = context.view_of(model)
    round_info = context.current_or_latest_round(t)
    if round_info is None:
        raise NotFoundError("no round has opened yet; diagnostics need its validation data")
    # scored by a background job (see diagnostics); numerapi polls `diagnostics` for it
    result = diag.enqueue_diagnostics(
        t,
        context.server.jobs,
        round_info,
        upload_key=key,
        upload_name=filename,
        filename=original,
        account_id=principal.account.id,
        model_id=model.id,
        max_attempts=context.server.settings.jobs_max_attempts,
    )
    return _diagnostics_of(result)


def _v2_change_stake(
    info: Info,
    value: str,
    type: str,
    tournament_number: int | None = None,
    model_id: str | None = None,
) -> StakeChange:
    context = info.context
    context.check_tournament(tournament_number)
    action = type.strip().lower()
    if action not in ("increase", "decrease"):
        raise InvalidParameterError(
            f"type must be 'increase' or 'decrease', not {type!r}", details={"type": type}
        )
    _, model = context.own_model(model_id, "stake", tournament_number)
    units = positive_amount(value)
    return _stake_change(context.tournament, model, action, units)


def _release_stake(
    info: Info,
    drain: bool | None = None,
    amount: str | None = None,
    model_id: str | None = None,
) -> StakeChange:
    context = info.context
    _, model = context.own_model(model_id, "stake")
    t = context.view_of(model)
    if drain:
        units = t.stake_info(model.id).stake
        if units == 0:
            raise InvalidAmountError(f"{model.name} has nothing staked to drain")
    else:
        if amount is None:
            raise InvalidParameterError("releaseStake needs an amount, or drain: true")
        units = positive_amount(amount)
    return _stake_change(t, model, "decrease", units, drain=bool(drain))


@strawberry.type
class Mutation:
    create_submission: Submission = strawberry.mutation(
        resolver=_create_submission,
        name="create_submission",
        description="Record the file PUT to the upload URL as the model's submission.",
    )
    create_diagnostics: Diagnostics = strawberry.mutation(
        resolver=_create_diagnostics, name="createDiagnostics"
    )
    v2_change_stake: StakeChange = strawberry.mutation(
        resolver=_v2_change_stake,
        name="v2ChangeStake",
        description="Increase or decrease a model's stake by value (a decimal string of NMR).",
    )
    release_stake: StakeChange = strawberry.mutation(
        resolver=_release_stake,
        name="releaseStake",
        description="Take stake off a model: amount, or everything with drain.",
    )


class CrowdAlphaSchema(strawberry.Schema):
    """The schema, logging only unexpected failures (typed errors are the caller's)."""

    def process_errors(
        self,
        errors: list[GraphQLError],
        execution_context: ExecutionContext | None = None,
    ) -> None:
        for error in errors:
            original = error.original_error
            if original is not None and not isinstance(original, CrowdAlphaError | GraphQLError):
                log.error("GraphQL resolver failed: %s", error.message, exc_info=original)

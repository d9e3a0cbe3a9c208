"""Fair play: near-identical submissions across accounts (copies, sybils), per round.

When a round closes, the core (:meth:`~crowdalpha.tournament.lifecycle.Lifecycle.close`)
hands its frozen stakes to :func:`check_round`: the selected on-time submissions are
clustered by rank correlation (:func:`crowdalpha.scoring.find_duplicates`, at the round's
:attr:`~crowdalpha.tournament.round_config.DuplicateRules.threshold`), every cluster is
stored for the operator (:class:`~crowdalpha.tournament.fairplay_models.DuplicateMember`),
and the round's policy is applied: ``report`` leaves the stakes as they are, ``one_stake``
holds each cluster spread over several accounts to one stake's limits
(:func:`one_stake`). The operator reads the clusters with :meth:`FairPlay.clusters`.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import cast

import numpy as np
import pandas as pd
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from crowdalpha.errors import NotFoundError
from crowdalpha.ledger import SqlLedger, pending, stake, wallet
from crowdalpha.scoring.duplicates import DuplicateCluster, find_duplicates
from crowdalpha.tournament.competitions import Competition
from crowdalpha.tournament.fairplay_models import DuplicateMember
from crowdalpha.tournament.files import RoundFiles
from crowdalpha.tournament.models import Account, Model, Round, Submission
from crowdalpha.tournament.round_config import RoundConfig
from crowdalpha.tournament.rounds import get_round
from crowdalpha.tournament.unit_of_work import UnitOfWork

__all__ = [
    "ClusterInfo",
    "FairPlay",
    "Limit",
    "MemberInfo",
    "check_round",
    "one_stake",
]


@dataclass(frozen=True)
class Limit:
    """An account's stake limits: the most per model, and the share of its holdings."""

    max_stake: int | None
    share_ppm: int | None
    holdings: int


def one_stake(
    members: Mapping[int, int], limits: Mapping[int, Limit], owner: Mapping[int, int]
) -> dict[int, int]:
    """The stakes at risk of one cluster's ``members`` (model id → stake at risk), held
    together to the limits one model of one account would have: the smallest
    ``max_stake`` of the cluster's accounts, and the smallest share of the accounts'
    combined holdings. Over the cap, every member keeps ``stake × cap // total`` (rounded
    down: never more at risk than the cap); under it, nothing changes."""
    accounts = sorted({owner[m] for m in members})
    caps: list[int] = []
    holdings = sum(limits[a].holdings for a in accounts)
    for a in accounts:
        if limits[a].max_stake is not None:
            caps.append(int(limits[a].max_stake or 0))
        if limits[a].share_ppm is not None:
            caps.append(holdings * int(limits[a].share_ppm or 0) // 1_000_000)
    total = sum(members.values())
    if not caps or total <= min(caps):
        return dict(members)
    cap = min(caps)
    return {m: s * cap // total for m, s in members.items()}


def check_round(
    session: Session,
    ledger: SqlLedger,
    files: RoundFiles,
    row: Round,
    config: RoundConfig,
    at_risk: dict[int, int],
    submissions: Mapping[int, int],
    now: datetime,
) -> dict[int, int]:
    """Cluster round ``row``'s on-time ``submissions`` (model id → submission id), store
    the clusters and return the stakes at risk after the round's policy (``at_risk``:
    model id → the stake the close froze)."""
    predictions, owner = _predictions(session, files, row, submissions)
    if predictions.shape[1] < 2 or predictions.shape[0] < 2:
        return at_risk
    report = find_duplicates(
        predictions, owners=pd.Series(owner), threshold=float(config.duplicates.threshold)
    )
    after = dict(at_risk)
    if config.duplicates.policy == "one_stake":
        spread = [c for c in report.across_accounts if not c.constant]
        accounts = {_id(a) for c in spread for a in c.accounts}
        limits = _limits(session, ledger, accounts)
        for cluster in spread:
            members = {_id(m): at_risk.get(_id(m), 0) for m in cluster.models}
            after.update(one_stake(members, limits, {m: owner[m] for m in members}))
    rows = [
        _member_row(row.id, number, cluster, _id(model), owner, at_risk, after, now)
        for number, cluster in enumerate(report.clusters, start=1)
        for model in cluster.models
    ]
    if rows:
        session.execute(insert(DuplicateMember), rows)
    return after


def _id(value: Hashable) -> int:
    """A model or account id as :func:`find_duplicates` hands it back."""
    return int(cast(int, value))


def _member_row(
    round_id: int,
    number: int,
    cluster: DuplicateCluster,
    model_id: int,
    owner: Mapping[int, int],
    before: Mapping[int, int],
    after: Mapping[int, int],
    now: datetime,
) -> dict[str, object]:
    return {
        "round_id": round_id,
        "model_id": model_id,
        "cluster": number,
        "account_id": owner[model_id],
        "min_correlation": cluster.min_correlation,
        "max_correlation": cluster.max_correlation,
        "across_accounts": cluster.across_accounts,
        "constant": cluster.constant,
        "stake_before": before.get(model_id, 0),
        "stake_at_risk": after.get(model_id, 0),
        "found_at": now,
    }


def _predictions(
    session: Session, files: RoundFiles, row: Round, submissions: Mapping[int, int]
) -> tuple[pd.DataFrame, dict[int, int]]:
    """The on-time predictions (one column per model id) and each model's account; an
    unreadable file is left out here (resolution marks it failed)."""
    found = session.execute(
        select(
            Submission.model_id,
            Submission.storage_key,
            Submission.predictions_sha256,
            Model.account_id,
        )
        .join(Model, Model.id == Submission.model_id)
        .where(Submission.id.in_(list(submissions.values())))
        .order_by(Submission.model_id)
    ).all()
    ids = files.live_index(row.live_ids_key)
    columns: dict[int, np.ndarray] = {}
    owner: dict[int, int] = {}
    for model_id, key, sha256, account_id in found:
        if key is None:
            continue
        try:
            values = files.predictions(key, sha256)
        except (NotFoundError, OSError, ValueError):  # CorruptFileError too: never used
            continue
        if values.shape == (len(ids),):
            columns[int(model_id)] = values
            owner[int(model_id)] = int(account_id)
    return pd.DataFrame(columns, index=ids), owner


def _limits(session: Session, ledger: SqlLedger, accounts: set[int]) -> dict[int, Limit]:
    """Each account's limits and holdings (wallet, stakes and pending of all its models),
    as :meth:`~crowdalpha.tournament.staking.Staking.increase` measures them."""
    out: dict[int, Limit] = {}
    for account in session.scalars(select(Account).where(Account.id.in_(accounts))):
        models = list(session.scalars(select(Model.id).where(Model.account_id == account.id)))
        names = [wallet(account.id)] + [stake(m) for m in models] + [pending(m) for m in models]
        out[account.id] = Limit(
            account.max_stake, account.max_stake_share_ppm, sum(ledger.balances(names).values())
        )
    return out


# -- the operator's view ------------------------------------------------------------------


@dataclass(frozen=True)
class MemberInfo:
    model_id: int
    model: str
    account_id: int
    account: str
    stake_before: int
    stake_at_risk: int


@dataclass(frozen=True)
class ClusterInfo:
    """One stored cluster of a round (members in model id order)."""

    competition: str
    round_number: int
    cluster: int
    policy: str
    threshold: str
    min_correlation: float
    max_correlation: float
    across_accounts: bool
    constant: bool
    members: tuple[MemberInfo, ...]

    @property
    def stake_cut(self) -> int:
        """What the policy took off the members' stakes at risk."""
        return sum(m.stake_before - m.stake_at_risk for m in self.members)


class FairPlay:
    """The stored clusters of a competition's closed rounds."""

    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow

    def clusters(
        self, c: Competition, number: int | None = None, *, across_only: bool = False
    ) -> list[ClusterInfo]:
        """Clusters of round ``number`` (every closed round when None), newest round
        first; with ``across_only``, only those spread over several accounts."""

        def op(session: Session) -> list[ClusterInfo]:
            query = (
                select(DuplicateMember, Round, Model.name, Account.username)
                .join(Round, Round.id == DuplicateMember.round_id)
                .join(Model, Model.id == DuplicateMember.model_id)
                .join(Account, Account.id == DuplicateMember.account_id)
                .where(Round.competition_id == c.id)
                .order_by(Round.number.desc(), DuplicateMember.cluster, DuplicateMember.model_id)
            )
            if number is not None:
                get_round(session, c, number)  # an unknown round is refused, not empty
                query = query.where(Round.number == number)
            if across_only:
                query = query.where(DuplicateMember.across_accounts)
            grouped: dict[tuple[int, int], list[tuple[DuplicateMember, Round, str, str]]] = {}
            for member, rnd, model, account in session.execute(query).all():
                grouped.setdefault((rnd.number, member.cluster), []).append(
                    (member, rnd, model, account)
                )
            return [_cluster_info(c, rows) for rows in grouped.values()]

        return self.uow.read(op)


def _cluster_info(
    c: Competition, rows: list[tuple[DuplicateMember, Round, str, str]]
) -> ClusterInfo:
    first, rnd, _, _ = rows[0]
    rules = RoundConfig.from_json(rnd.config).duplicates
    return ClusterInfo(
        competition=c.slug,
        round_number=rnd.number,
        cluster=first.cluster,
        policy=rules.policy,
        threshold=rules.threshold,
        min_correlation=first.min_correlation,
        max_correlation=first.max_correlation,
        across_accounts=first.across_accounts,
        constant=first.constant,
        members=tuple(
            MemberInfo(
                m.model_id, model, m.account_id, account, int(m.stake_before), int(m.stake_at_risk)
            )
            for m, _, model, account in rows
        ),
    )

"""Operators' routes under ``/v1/admin`` (``admin`` scope): grant NMR from the treasury,
every submission's state, the ledger check, one run of the round clock, and the clusters
of near-identical submissions (fair play)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from crowdalpha.errors import InvalidParameterError
from crowdalpha.ledger import format_nmr, to_base_units
from crowdalpha.server.rest.common import (
    Admin,
    CompetitionRef,
    Context,
    IdempotencyKey,
    RoundFilter,
    errors,
)
from crowdalpha.server.rest.schemas import (
    GrantIn,
    GrantOut,
    LedgerCheckOut,
    SubmissionOut,
    TickOut,
)
from crowdalpha.tournament.fairplay import ClusterInfo

__all__ = ["router"]

router = APIRouter(prefix="/admin", tags=["admin"])

_ERRORS = errors(401, 403, 422, 429)


@router.post(
    "/grants",
    summary="Grant NMR from the treasury",
    status_code=201,
    responses=errors(401, 403, 404, 409, 422, 429),
)
def grant(
    body: GrantIn,
    context: Context,
    principal: Admin,
    idempotency_key: IdempotencyKey = None,
) -> GrantOut:
    """Move ``amount`` NMR from the treasury to an account's wallet (name the account by
    ``account_id`` or ``username``, not both)."""
    t = context.tournament
    if (body.account_id is None) == (body.username is None):
        raise InvalidParameterError("name the account by exactly one of account_id, username")
    account = (
        t.account(body.account_id)
        if body.account_id is not None
        else t.account_by_username(str(body.username))
    )
    amount = to_base_units(body.amount)
    entry = t.grant(account.id, amount, key=idempotency_key, by=principal.account.id)
    return GrantOut(
        entry_id=entry,
        account_id=account.id,
        amount=format_nmr(amount),
        balance=format_nmr(t.wallet_balance(account.id)),
    )


@router.get("/submissions", summary="Every submission's state", responses=_ERRORS)
def all_submissions(
    context: Context,
    _principal: Admin,
    round_number: RoundFilter = None,
    model_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    state: Annotated[
        Literal["received", "validated", "scored", "resolved", "failed"] | None, Query()
    ] = None,
) -> list[SubmissionOut]:
    """All submissions of every account (filter by round, model, state), oldest first."""
    subs = context.tournament.submissions(model_id=model_id, round_number=round_number)
    return [SubmissionOut.of(s) for s in subs if state is None or s.state == state]


@router.get("/ledger/check", summary="Check the ledger", responses=_ERRORS)
def ledger_check(context: Context, _principal: Admin) -> LedgerCheckOut:
    """Recompute every balance and the supply from the postings (read-only); ``ok`` is
    false, with the problems listed, when anything does not add up."""
    return LedgerCheckOut.of(context.tournament.check_ledger())


@router.post("/tick", summary="Run the round clock once", responses=_ERRORS)
def tick(context: Context, _principal: Admin) -> TickOut:
    """Open, close, score and resolve whatever rounds are due now (what the server's
    clock does every ``tick_interval``)."""
    return TickOut.of(context.tournament.tick())


class DuplicateMemberOut(BaseModel):
    model_id: int
    model: str
    account_id: int
    account: str
    stake_before: str = Field(description="Stake at risk as the close froze it (NMR, exact)")
    stake_at_risk: str = Field(description="Stake at risk after the round's policy (NMR)")


class DuplicateClusterOut(BaseModel):
    competition: str
    round_number: int
    cluster: int = Field(description="The cluster's number in its round (1: largest)")
    policy: Literal["report", "one_stake"]
    threshold: str = Field(description="The rank correlation that links two submissions")
    min_correlation: float = Field(description="The weakest link that joined the cluster")
    max_correlation: float
    across_accounts: bool = Field(description="Spread over several accounts (a sybil?)")
    constant: bool = Field(description="Constant predictions (no ranking at all)")
    stake_cut: str = Field(description="What the policy took off the stakes at risk (NMR)")
    members: list[DuplicateMemberOut]

    @classmethod
    def of(cls, c: ClusterInfo) -> DuplicateClusterOut:
        return cls(
            competition=c.competition,
            round_number=c.round_number,
            cluster=c.cluster,
            policy=c.policy,  # type: ignore[arg-type]
            threshold=c.threshold,
            min_correlation=c.min_correlation,
            max_correlation=c.max_correlation,
            across_accounts=c.across_accounts,
            constant=c.constant,
            stake_cut=format_nmr(c.stake_cut),
            members=[
                DuplicateMemberOut(
                    model_id=m.model_id,
                    model=m.model,
                    account_id=m.account_id,
                    account=m.account,
                    stake_before=format_nmr(m.stake_before),
                    stake_at_risk=format_nmr(m.stake_at_risk),
                )
                for m in c.members
            ],
        )


@router.get(
    "/duplicates",
    summary="Clusters of near-identical submissions",
    responses=errors(401, 403, 404, 422, 429),
)
def duplicates(
    context: Context,
    _principal: Admin,
    round_number: RoundFilter = None,
    competition: CompetitionRef = "classic",
    across_only: Annotated[bool, Query(description="Only clusters over several accounts")] = False,
) -> list[DuplicateClusterOut]:
    """Each closed round's clusters of submissions whose rank correlation reached the
    round's threshold (copies, sybils), newest round first, with the stakes at risk before
    and after the round's duplicate policy (``report`` or ``one_stake``)."""
    view = context.tournament.using(competition)
    return [
        DuplicateClusterOut.of(c) for c in view.duplicates(round_number, across_only=across_only)
    ]

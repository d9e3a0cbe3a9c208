"""Governance routes (``/v1/governance``): proposals, votes, live tallies, the audit trail,
the governable settings and the recomputation of every tally from the ledger.

Scopes: ``read`` to look and verify; ``stake`` to propose (it locks a deposit) and to vote.
A key proposes and votes for its own account only.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field, StrictStr

from crowdalpha.governance import (
    GOVERNANCE_PARAMETERS,
    EventInfo,
    Governance,
    ProposalInfo,
    VoteInfo,
    verify,
)
from crowdalpha.ledger import format_nmr, to_base_units
from crowdalpha.server.rest.common import ERRORS, Context, Reader, Staker, errors
from crowdalpha.server.rest.schemas import AMOUNT_PATTERN, _In
from crowdalpha.tournament import Governable

__all__ = ["router"]

router = APIRouter(prefix="/governance", tags=["governance"])

ProposalId = Annotated[int, Path(ge=1, le=2**31 - 1, description="The proposal's id")]
_TEXT = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"


class TallyOut(BaseModel):
    votes_for: str
    votes_against: str
    votes_abstain: str
    turnout: str
    voters: int


class ProposalOut(BaseModel):
    id: int
    kind: str
    title: str
    description: str
    proposer_id: int
    competition: str | None
    changes: dict[str, str]
    grant_to: int | None
    grant_amount: str | None
    deposit: str
    quorum: str
    approval: str
    snapshot: int = Field(description="Voting power is read from the ledger as of this entry")
    total_power: str
    created_at: datetime
    voting_ends_at: datetime
    executable_at: datetime
    state: str
    tally: TallyOut
    tallied_at: datetime | None
    executed_at: datetime | None
    failure: str | None

    @classmethod
    def of(cls, p: ProposalInfo) -> ProposalOut:
        t = p.tally
        return cls(
            id=p.id,
            kind=p.kind,
            title=p.title,
            description=p.description,
            proposer_id=p.proposer_id,
            competition=p.competition,
            changes=p.changes,
            grant_to=p.grant_to,
            grant_amount=None if p.grant_amount is None else format_nmr(p.grant_amount),
            deposit=format_nmr(p.deposit),
            quorum=p.quorum,
            approval=p.approval,
            snapshot=p.snapshot,
            total_power=format_nmr(p.total_power),
            created_at=p.created_at,
            voting_ends_at=p.voting_ends_at,
            executable_at=p.executable_at,
            state=p.state,
            tally=TallyOut(
                votes_for=format_nmr(t.votes_for),
                votes_against=format_nmr(t.votes_against),
                votes_abstain=format_nmr(t.votes_abstain),
                turnout=format_nmr(t.turnout),
                voters=t.voters,
            ),
            tallied_at=p.tallied_at,
            executed_at=p.executed_at,
            failure=p.failure,
        )


class VoteOut(BaseModel):
    id: int
    proposal_id: int
    account_id: int
    choice: str
    power: str
    cast_at: datetime
    counts: bool

    @classmethod
    def of(cls, v: VoteInfo) -> VoteOut:
        return cls(
            id=v.id,
            proposal_id=v.proposal_id,
            account_id=v.account_id,
            choice=v.choice,
            power=format_nmr(v.power),
            cast_at=v.cast_at,
            counts=v.counts,
        )


class EventOut(BaseModel):
    id: int
    kind: str
    account_id: int | None
    detail: dict[str, Any]
    entry_id: int | None
    created_at: datetime

    @classmethod
    def of(cls, e: EventInfo) -> EventOut:
        return cls(
            id=e.id,
            kind=e.kind,
            account_id=e.account_id,
            detail=e.detail,
            entry_id=e.entry_id,
            created_at=e.created_at,
        )


class ProposalDetailOut(ProposalOut):
    votes: list[VoteOut]
    events: list[EventOut]


class ProposalIn(_In):
    title: StrictStr = Field(min_length=1, max_length=200, pattern=_TEXT)
    description: StrictStr = Field(default="", max_length=10_000, pattern=_TEXT)
    competition: StrictStr | None = Field(
        default=None, max_length=32, description="For round settings: classic, signals…"
    )
    changes: dict[StrictStr, StrictStr] | None = Field(
        default=None, description="Round settings to change, e.g. {'clip': '0.06'}"
    )
    governance: dict[StrictStr, StrictStr] | None = Field(
        default=None, description="Governance rules to change, e.g. {'quorum': '0.15'}"
    )
    grant_to: int | None = Field(default=None, ge=1, le=2**31 - 1)
    grant_amount: StrictStr | None = Field(
        default=None, pattern=AMOUNT_PATTERN, description="NMR as a decimal string"
    )


class VoteIn(_In):
    choice: Literal["for", "against", "abstain"]


class ParameterOut(BaseModel):
    name: str
    kind: str
    description: str
    value: str
    low: str | None
    high: str | None
    max_change: str | None
    choices: list[str]

    @classmethod
    def of(cls, spec: Governable, value: str) -> ParameterOut:
        return cls(
            name=spec.name,
            kind=spec.kind,
            description=spec.description,
            value=value,
            low=spec.low,
            high=spec.high,
            max_change=spec.max_change,
            choices=list(spec.choices),
        )


class ParametersOut(BaseModel):
    governance: list[ParameterOut]
    competitions: dict[str, list[ParameterOut]]


class VerifyOut(BaseModel):
    ok: bool
    proposals: int
    votes: int
    problems: list[str]


def _governance(context: Context) -> Governance:
    return context.governance


@router.get("/proposals", summary="List proposals", responses=ERRORS)
def list_proposals(
    context: Context,
    _principal: Reader,
    state: Annotated[
        list[str] | None, Query(max_length=8, description="Only proposals in these states")
    ] = None,
) -> list[ProposalOut]:
    """Every proposal, newest first, with its live (or final) tally."""
    return [ProposalOut.of(p) for p in _governance(context).proposals(states=state)]


@router.get("/proposals/{proposal_id}", summary="A proposal", responses=errors(401, 403, 404))
def get_proposal(
    proposal_id: ProposalId, context: Context, _principal: Reader
) -> ProposalDetailOut:
    """A proposal with every vote cast (``counts``: the account's last) and its audit trail."""
    gov = _governance(context)
    p = ProposalOut.of(gov.proposal(proposal_id))
    return ProposalDetailOut(
        **p.model_dump(),
        votes=[VoteOut.of(v) for v in gov.votes(proposal_id)],
        events=[EventOut.of(e) for e in gov.events(proposal_id)],
    )


@router.post(
    "/proposals", summary="Propose", status_code=201, responses=errors(401, 403, 404, 409, 422)
)
def propose(body: ProposalIn, context: Context, principal: Staker) -> ProposalOut:
    """Propose a change of round settings, of governance rules, or a treasury grant; the
    deposit is locked from the caller's wallet."""
    amount = None if body.grant_amount is None else to_base_units(body.grant_amount)
    info = _governance(context).propose(
        principal.account.id,
        body.title,
        description=body.description,
        competition=body.competition,
        changes=body.changes,
        governance=body.governance,
        grant_to=body.grant_to,
        grant_amount=amount,
    )
    return ProposalOut.of(info)


@router.post(
    "/proposals/{proposal_id}/votes",
    summary="Vote",
    status_code=201,
    responses=errors(401, 403, 404, 409, 422),
)
def vote(proposal_id: ProposalId, body: VoteIn, context: Context, principal: Staker) -> VoteOut:
    """Vote with the caller's power at the proposal's snapshot; a new vote replaces the
    caller's earlier one."""
    return VoteOut.of(_governance(context).vote(proposal_id, principal.account.id, body.choice))


@router.get("/parameters", summary="Governable settings", responses=ERRORS)
def parameters(context: Context, _principal: Reader) -> ParametersOut:
    """Every governable setting: its value in force, hard bounds and largest move."""
    gov = _governance(context)
    rules = gov.rules()
    by_competition = {}
    for c in context.tournament.competitions:
        config = gov.current_config(c)
        by_competition[c.slug] = [
            ParameterOut.of(spec, config.value(name))
            for name, spec in sorted(config.governable().items())
        ]
    return ParametersOut(
        governance=[
            ParameterOut.of(spec, rules.value(name))
            for name, spec in sorted(GOVERNANCE_PARAMETERS.items())
        ],
        competitions=by_competition,
    )


@router.get("/verify", summary="Recompute every tally", responses=ERRORS)
def verify_all(context: Context, _principal: Reader) -> VerifyOut:
    """Recompute every proposal's tally and deposit outcome from the ledger."""
    report = verify(_governance(context))
    return VerifyOut(
        ok=report.ok, proposals=report.proposals, votes=report.votes, problems=report.problems
    )

"""Recompute every proposal's tally from the ledger and compare it with what is recorded.

Read only. For each proposal: the deposit entry (from the proposer's wallet into the
proposal's escrow, after the snapshot); the snapshot's total voting power; every vote's
power, recomputed from the ledger as of the snapshot; the tally of each account's last
vote; the outcome the proposal's own quorum and approval give; the deposit's refund or
burn; the escrow's balance; a grant's entry; and an audit event for every vote.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crowdalpha.governance.models import GovernanceEvent, Proposal, ProposalState, Vote
from crowdalpha.governance.power import total_power, voting_power
from crowdalpha.governance.rules import approved, quorum_met
from crowdalpha.governance.service import Governance, count, ledger_key
from crowdalpha.governance.views import VerifyReport
from crowdalpha.ledger import BURNED, TREASURY, Entry, Ledger, escrow, wallet
from crowdalpha.units import format_nmr

__all__ = ["verify"]

_OUTCOMES = {
    ProposalState.PASSED.value: "passed",
    ProposalState.EXECUTED.value: "passed",
    ProposalState.FAILED.value: "passed",
    ProposalState.REJECTED.value: "rejected",
    ProposalState.NO_QUORUM.value: "no_quorum",
}


def verify(governance: Governance) -> VerifyReport:
    """Every disagreement between the recorded governance and the ledger (none: ok)."""
    models: dict[int, list[int]] = {}

    def model_ids(account_id: int) -> list[int]:
        if account_id not in models:
            models[account_id] = governance.model_ids(account_id)
        return models[account_id]

    def voters(session: Session) -> list[int]:
        return [int(a) for a in session.scalars(select(Vote.account_id).distinct())]

    for account_id in governance.uow.read(voters):
        model_ids(account_id)

    report = VerifyReport()

    def op(session: Session) -> None:
        ledger = governance.uow.ledger(session)
        for row in session.scalars(select(Proposal).order_by(Proposal.id)):
            report.proposals += 1
            problem = _problems(report, row.id)
            deposit = ledger.entry_for_key(ledger_key(row.id, "deposit"))
            _same_entry(
                problem,
                "deposit",
                deposit,
                row.deposit_entry_id,
                {wallet(row.proposer_id): -row.deposit, escrow(row.id): row.deposit},
            )
            if deposit is not None and deposit.id <= row.snapshot:
                problem(f"its deposit (entry {deposit.id}) is not after the snapshot")
            recomputed_total = total_power(ledger, row.snapshot)
            if recomputed_total != row.total_power:
                problem(
                    f"total voting power recorded {row.total_power}, the ledger gives "
                    f"{recomputed_total} as of entry {row.snapshot}"
                )
            votes = list(
                session.scalars(select(Vote).where(Vote.proposal_id == row.id).order_by(Vote.id))
            )
            for vote in votes:
                report.votes += 1
                power = voting_power(
                    ledger, vote.account_id, model_ids(vote.account_id), row.snapshot
                )
                if power != vote.power:
                    problem(
                        f"vote {vote.id} of account {vote.account_id} carries {vote.power}, "
                        f"the ledger gives {power} as of entry {row.snapshot}"
                    )
                if vote.cast_at >= row.voting_ends_at:
                    problem(f"vote {vote.id} was cast after the voting period")
            voted_events = session.scalar(
                select(func.count())
                .select_from(GovernanceEvent)
                .where(GovernanceEvent.proposal_id == row.id, GovernanceEvent.kind == "voted")
            )
            if voted_events != len(votes):
                problem(f"{len(votes)} votes but {voted_events} vote events in the audit trail")
            held = ledger.balances([escrow(row.id)])[escrow(row.id)]
            if row.state == ProposalState.VOTING.value:
                if held != row.deposit:
                    problem(f"escrow holds {format_nmr(held)} NMR while voting, not the deposit")
                continue
            # recomputed from the ledger's powers, not from the recorded ones
            recounted = count(
                [_with_power(v, model_ids, ledger, row.snapshot) for v in votes],
                row.voting_ends_at,
            )
            recorded = (row.votes_for, row.votes_against, row.votes_abstain)
            if recorded != (recounted.votes_for, recounted.votes_against, recounted.votes_abstain):
                problem(
                    f"tally recorded for/against/abstain {recorded}, recomputed "
                    f"({recounted.votes_for}, {recounted.votes_against}, {recounted.votes_abstain})"
                )
            met = quorum_met(recounted.turnout, recomputed_total, row.quorum)
            passed = met and approved(recounted.votes_for, recounted.votes_against, row.approval)
            expected = "passed" if passed else "rejected" if met else "no_quorum"
            if _OUTCOMES.get(row.state) != expected:
                problem(f"it is {row.state} but its votes make it {expected}")
            if held != 0:
                problem(f"escrow still holds {format_nmr(held)} NMR after the tally")
            if met:
                _same_entry(
                    problem,
                    "refund",
                    ledger.entry_for_key(ledger_key(row.id, "refund")),
                    row.settlement_entry_id,
                    {escrow(row.id): -row.deposit, wallet(row.proposer_id): row.deposit},
                )
            else:
                _same_entry(
                    problem,
                    "burn",
                    ledger.entry_for_key(ledger_key(row.id, "burn")),
                    row.settlement_entry_id,
                    {escrow(row.id): -row.deposit, BURNED: row.deposit},
                )
            grant = ledger.entry_for_key(ledger_key(row.id, "grant"))
            if (
                row.state == ProposalState.EXECUTED.value
                and row.grant_amount is not None
                and row.grant_to is not None
            ):
                _same_entry(
                    problem,
                    "grant",
                    grant,
                    row.execution_entry_id,
                    {TREASURY: -row.grant_amount, wallet(row.grant_to): row.grant_amount},
                )
            elif grant is not None:
                problem(f"a grant entry {grant.id} exists but the proposal is {row.state}")

    governance.uow.read(op)
    return report


def _with_power(
    vote: Vote, model_ids: Callable[[int], list[int]], ledger: Ledger, snapshot: int
) -> Vote:
    """A detached copy of ``vote`` carrying the power the ledger gives it."""
    return Vote(
        id=vote.id,
        proposal_id=vote.proposal_id,
        account_id=vote.account_id,
        choice=vote.choice,
        power=voting_power(ledger, vote.account_id, model_ids(vote.account_id), snapshot),
        cast_at=vote.cast_at,
    )


def _problems(report: VerifyReport, proposal_id: int) -> Callable[[str], None]:
    def add(message: str) -> None:
        report.problems.append(f"proposal {proposal_id}: {message}")

    return add


def _same_entry(
    problem: Callable[[str], None],
    what: str,
    entry: Entry | None,
    recorded_id: int | None,
    legs: dict[str, int],
) -> None:
    if entry is None:
        problem(f"no {what} entry in the ledger")
        return
    if recorded_id is not None and entry.id != recorded_id:
        problem(f"its {what} entry is {entry.id}, the proposal records {recorded_id}")
    got = sorted((p.account, p.amount) for p in entry.postings)
    if got != sorted(legs.items()):
        problem(f"its {what} entry {entry.id} moves {got}, expected {sorted(legs.items())}")

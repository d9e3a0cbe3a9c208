"""The governance process: propose, vote, tally, execute — and the configuration each
round opens with.

:class:`Governance` sits beside the tournament core and works through its public API
(accounts, models, competitions, :meth:`~crowdalpha.tournament.Tournament.provide_round_config`)
and the ledger interface (every deposit, refund, burn and grant is one balanced entry).

A proposal's life, on the tournament's clock:

1. **propose**: the rules in force are copied onto the proposal; the ledger is snapshot
   (voting power is read as of that entry); the deposit moves from the proposer's wallet
   into the proposal's escrow account.
2. **vote** until ``voting_ends_at``: for / against / abstain, with the account's power at
   the snapshot; an account may vote again, its last vote counts.
3. **tally** at the end (:meth:`Governance.process`): quorum met → the deposit returns to
   the proposer, else it is burned; passed when quorum is met and the votes for exceed the
   approval share of for + against.
4. **execute** once the timelock has run (``executable_at``): a grant moves NMR from the
   treasury; parameter changes apply to every round that opens at or after
   ``executable_at`` (never to a round already open), in order of ``executable_at`` then id,
   so of two passed proposals for the same round the later one's values win.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from crowdalpha.errors import (
    GovernanceStateError,
    InvalidParameterError,
    NotFoundError,
    NoVotingPowerError,
    TimelockError,
    VotingClosedError,
)
from crowdalpha.governance.models import (
    GovernanceEvent,
    Proposal,
    ProposalKind,
    ProposalState,
    Vote,
)
from crowdalpha.governance.power import total_power, voting_power
from crowdalpha.governance.rules import GovernanceRules, approved, quorum_met
from crowdalpha.governance.views import CHOICES, EventInfo, ProposalInfo, Tally, VoteInfo
from crowdalpha.ledger import TREASURY, escrow, wallet
from crowdalpha.tournament import Competition, RoundConfig, Tournament
from crowdalpha.units import format_nmr

__all__ = ["MAX_CHANGES", "Governance", "count", "ledger_key"]

MAX_CHANGES = 10


def ledger_key(proposal_id: int, what: str) -> str:
    """The idempotency key of proposal ``proposal_id``'s ``what`` (deposit, refund, burn,
    grant) ledger entry: how anyone finds the entries that governance made."""
    return f"governance:{proposal_id}:{what}"


class Governance:
    """Governance of one tournament; ``rules`` are the operator's defaults (within the hard
    bounds of :data:`~crowdalpha.governance.rules.GOVERNANCE_PARAMETERS`)."""

    def __init__(self, tournament: Tournament, *, rules: GovernanceRules | None = None) -> None:
        self.tournament = tournament
        self.defaults = rules or GovernanceRules()
        self.uow = tournament.uow

    def install(self) -> Governance:
        """Make passed proposals reach the rounds: the tournament asks governance for the
        configuration of each round it opens."""
        self.tournament.provide_round_config(self.round_config)
        return self

    # -- what is in force --------------------------------------------------------------------

    def rules(self, when: datetime | None = None) -> GovernanceRules:
        """The governance rules in force at ``when`` (default now): the defaults and every
        executed governance proposal executable by then, in order."""
        at = when or self.uow.clock.now()
        rules = self.defaults
        for changes in self._applied(ProposalKind.GOVERNANCE, None, at, pending=False):
            rules = rules.with_values(changes)
        return rules

    def round_config(
        self, competition: Competition, number: int, opens_at: datetime
    ) -> RoundConfig:
        """The configuration a round of ``competition`` opening at ``opens_at`` gets (the
        tournament's :class:`~crowdalpha.tournament.RoundConfigProvider`): due proposals are
        tallied and executed first, then every executed change executable by ``opens_at``
        is applied to the competition's own configuration, in order."""
        self.process()
        config = self._base(competition.id)
        for changes in self._applied(
            ProposalKind.PARAMETERS, competition.id, opens_at, pending=False
        ):
            config = config.with_values(changes)
        return config

    def current_config(self, competition: int | str | Competition) -> RoundConfig:
        """The configuration a round of ``competition`` opening now gets, as recorded (no
        tally or execution is triggered)."""
        c = self.tournament.using(competition).competition
        config = self._base(c.id)
        now = self.uow.clock.now()
        for changes in self._applied(ProposalKind.PARAMETERS, c.id, now, pending=False):
            config = config.with_values(changes)
        return config

    def planned_config(self, competition: int | str | Competition) -> RoundConfig:
        """The configuration rounds will open with once every passed proposal is executed:
        the baseline a new proposal's changes are measured against."""
        c = self.tournament.using(competition).competition
        config = self._base(c.id)
        for changes in self._applied(ProposalKind.PARAMETERS, c.id, None, pending=True):
            config = config.with_values(changes)
        return config

    def planned_rules(self) -> GovernanceRules:
        """Governance's rules once every passed governance proposal is executed."""
        rules = self.defaults
        for changes in self._applied(ProposalKind.GOVERNANCE, None, None, pending=True):
            rules = rules.with_values(changes)
        return rules

    # -- proposing -------------------------------------------------------------------------------

    def propose(
        self,
        proposer_id: int,
        title: str,
        *,
        description: str = "",
        competition: int | str | None = None,
        changes: Mapping[str, object] | None = None,
        governance: Mapping[str, object] | None = None,
        grant_to: int | None = None,
        grant_amount: int | None = None,
    ) -> ProposalInfo:
        """A new proposal of exactly one kind: ``changes`` to ``competition``'s round
        configuration, ``governance`` rule changes, or a grant of ``grant_amount`` to
        ``grant_to``. Everything is checked now (known settings, hard bounds, the largest
        move per proposal, the treasury's balance); the deposit is taken from the
        proposer's wallet (InsufficientFundsError if it holds less)."""
        title = title.strip()
        if not title or len(title) > 200:
            raise InvalidParameterError("a proposal needs a title of 1 to 200 characters")
        if len(description) > 10_000:
            raise InvalidParameterError("a proposal's description is at most 10,000 characters")
        self.tournament.account(proposer_id)
        kinds = [changes is not None, governance is not None, grant_to is not None]
        if sum(kinds) != 1:
            raise InvalidParameterError(
                "a proposal changes round settings (changes), governance rules (governance) "
                "or grants NMR (grant_to, grant_amount) — exactly one of them"
            )
        competition_id: int | None = None
        normalized: dict[str, str] = {}
        if changes is not None:
            if competition is None:
                raise InvalidParameterError("a change of round settings names its competition")
            c = self.tournament.using(competition).competition
            competition_id = c.id
            normalized = _checked(self.planned_config(c), changes)
            kind = ProposalKind.PARAMETERS
        elif governance is not None:
            normalized = _checked(self.planned_rules(), governance)
            kind = ProposalKind.GOVERNANCE
        elif grant_to is not None:
            kind = ProposalKind.GRANT
            self.tournament.account(grant_to)
            if (
                isinstance(grant_amount, bool)
                or not isinstance(grant_amount, int)
                or grant_amount <= 0
            ):
                raise InvalidParameterError(
                    "a grant is a positive int amount of base units",
                    details={"grant_amount": str(grant_amount)},
                )
            treasury = self.tournament.balance(TREASURY)
            if grant_amount > treasury:
                raise InvalidParameterError(
                    f"the treasury holds {format_nmr(treasury)} NMR; a grant of "
                    f"{format_nmr(grant_amount)} NMR cannot be paid",
                    details={"treasury": str(treasury), "grant_amount": str(grant_amount)},
                )
        now = self.uow.clock.now()
        rules = self.rules(now)

        def op(session: Session) -> int:
            ledger = self.uow.ledger(session)
            snapshot = ledger.snapshot()
            row = Proposal(
                kind=kind.value,
                title=title,
                description=description,
                proposer_id=proposer_id,
                competition_id=competition_id,
                changes=json.dumps(normalized, sort_keys=True),
                grant_to=grant_to,
                grant_amount=grant_amount if kind is ProposalKind.GRANT else None,
                deposit=rules.deposit,
                quorum=rules.quorum,
                approval=rules.approval,
                snapshot=snapshot,
                total_power=total_power(ledger, snapshot),
                deposit_entry_id=0,
                created_at=now,
                voting_ends_at=now + rules.voting_period,
                executable_at=now + rules.voting_period + rules.timelock,
                state=ProposalState.VOTING.value,
            )
            session.add(row)
            session.flush()
            entry = ledger.transfer(
                wallet(proposer_id),
                escrow(row.id),
                rules.deposit,
                kind="governance_deposit",
                key=ledger_key(row.id, "deposit"),
                memo=f"deposit of proposal {row.id}",
            )
            row.deposit_entry_id = entry.id
            _event(
                session,
                row.id,
                "proposed",
                now,
                account_id=proposer_id,
                entry_id=entry.id,
                detail={
                    "kind": kind.value,
                    "changes": normalized,
                    "snapshot": snapshot,
                    "grant_to": grant_to,
                    "grant_amount": _text(grant_amount),
                },
            )
            return row.id

        return self.proposal(self.uow.run(op))

    # -- voting ------------------------------------------------------------------------------------

    def vote(self, proposal_id: int, account_id: int, choice: str) -> VoteInfo:
        """Vote ``for``, ``against`` or ``abstain`` with the account's power at the
        proposal's snapshot; a later vote replaces this one. Refused after the voting
        period (VotingClosedError) and without power at the snapshot (NoVotingPowerError)."""
        if choice not in CHOICES:
            raise InvalidParameterError(
                f"a vote is one of {', '.join(CHOICES)}, got {choice!r}",
                details={"choice": choice},
            )
        self.tournament.account(account_id)
        models = self.model_ids(account_id)
        now = self.uow.clock.now()

        def op(session: Session) -> int:
            row = _proposal(session, proposal_id, lock=True)
            if row.state != ProposalState.VOTING.value or now >= row.voting_ends_at:
                raise VotingClosedError(
                    f"voting on proposal {proposal_id} ended at {row.voting_ends_at.isoformat()}",
                    details={"proposal": proposal_id, "state": row.state},
                )
            power = voting_power(self.uow.ledger(session), account_id, models, row.snapshot)
            if power <= 0:
                raise NoVotingPowerError(
                    f"account {account_id} held and staked no NMR at proposal {proposal_id}'s "
                    f"snapshot (ledger entry {row.snapshot}); NMR that arrived later carries "
                    "no vote on it",
                    details={"proposal": proposal_id, "snapshot": row.snapshot},
                )
            vote = Vote(
                proposal_id=proposal_id,
                account_id=account_id,
                choice=choice,
                power=power,
                cast_at=now,
            )
            session.add(vote)
            session.flush()
            _event(
                session,
                proposal_id,
                "voted",
                now,
                account_id=account_id,
                detail={"vote": vote.id, "choice": choice, "power": str(power)},
            )
            return vote.id

        vote_id = self.uow.run(op)
        return next(v for v in self.votes(proposal_id) if v.id == vote_id)

    # -- tallying and executing --------------------------------------------------------------------

    def process(self, now: datetime | None = None) -> list[int]:
        """Tally every proposal whose voting has ended and execute every passed one whose
        timelock has run out, as of ``now`` (default the clock); the ids acted on."""
        at = now or self.uow.clock.now()
        done: list[int] = []

        def due(session: Session) -> tuple[list[int], list[int]]:
            ended = session.scalars(
                select(Proposal.id)
                .where(
                    Proposal.state == ProposalState.VOTING.value,
                    Proposal.voting_ends_at <= at,
                )
                .order_by(Proposal.id)
            ).all()
            ready = session.scalars(
                select(Proposal.id)
                .where(
                    Proposal.state.in_([ProposalState.VOTING.value, ProposalState.PASSED.value]),
                    Proposal.executable_at <= at,
                )
                .order_by(Proposal.executable_at, Proposal.id)
            ).all()
            return list(ended), list(ready)

        ended, ready = self.uow.read(due)
        for proposal_id in ended:
            self._tally(proposal_id, at)
            done.append(proposal_id)
        for proposal_id in ready:
            if self.proposal(proposal_id).state == ProposalState.PASSED.value:
                self._execute(proposal_id, at)
                done.append(proposal_id)
        return sorted(set(done))

    def execute(self, proposal_id: int) -> ProposalInfo:
        """Execute a passed proposal now: TimelockError before ``executable_at``,
        GovernanceStateError unless it passed and has not been executed."""
        now = self.uow.clock.now()
        row = self.proposal(proposal_id)
        if row.state == ProposalState.VOTING.value and now >= row.voting_ends_at:
            self._tally(proposal_id, now)
        return self._execute(proposal_id, now)

    def _tally(self, proposal_id: int, now: datetime) -> None:
        def op(session: Session) -> None:
            row = _proposal(session, proposal_id, lock=True)
            if row.state != ProposalState.VOTING.value:
                return
            if now < row.voting_ends_at:
                raise GovernanceStateError(
                    f"proposal {proposal_id} is open for votes until "
                    f"{row.voting_ends_at.isoformat()}"
                )
            tally = count(_votes(session, proposal_id), row.voting_ends_at)
            met = quorum_met(tally.turnout, row.total_power, row.quorum)
            passed = met and approved(tally.votes_for, tally.votes_against, row.approval)
            row.votes_for = tally.votes_for
            row.votes_against = tally.votes_against
            row.votes_abstain = tally.votes_abstain
            row.tallied_at = now
            row.state = (
                ProposalState.PASSED
                if passed
                else ProposalState.REJECTED
                if met
                else ProposalState.NO_QUORUM
            ).value
            _event(
                session,
                proposal_id,
                "tallied",
                now,
                detail={
                    "for": str(tally.votes_for),
                    "against": str(tally.votes_against),
                    "abstain": str(tally.votes_abstain),
                    "voters": tally.voters,
                    "total_power": str(row.total_power),
                    "quorum_met": met,
                    "state": row.state,
                },
            )
            ledger = self.uow.ledger(session)
            if met:
                entry = ledger.transfer(
                    escrow(proposal_id),
                    wallet(row.proposer_id),
                    row.deposit,
                    kind="governance_refund",
                    key=ledger_key(proposal_id, "refund"),
                    memo=f"deposit of proposal {proposal_id} returned (quorum met)",
                )
                what = "deposit_returned"
            else:
                entry = ledger.burn(
                    escrow(proposal_id),
                    row.deposit,
                    key=ledger_key(proposal_id, "burn"),
                    memo=f"deposit of proposal {proposal_id} burned (no quorum)",
                )
                what = "deposit_burned"
            row.settlement_entry_id = entry.id
            _event(
                session,
                proposal_id,
                what,
                now,
                account_id=row.proposer_id,
                entry_id=entry.id,
                detail={"amount": str(row.deposit)},
            )

        self.uow.run(op)

    def _execute(self, proposal_id: int, now: datetime) -> ProposalInfo:
        base: dict[int, RoundConfig] = {
            c.id: self._base(c.id) for c in self.tournament.competitions
        }
        # the configuration (or rules) this proposal is applied on top of, to re-check it
        # against the hard bounds and the configuration's own consistency
        info = self.proposal(proposal_id)
        failure: str | None = None
        try:
            if info.kind == ProposalKind.PARAMETERS.value and info.competition_id is not None:
                config = base[info.competition_id]
                for changes in self._applied(
                    ProposalKind.PARAMETERS, info.competition_id, None, pending=False
                ):
                    config = config.with_values(changes)
                config.with_values(info.changes)
            elif info.kind == ProposalKind.GOVERNANCE.value:
                self.rules(now).with_values(info.changes)
        except InvalidParameterError as error:
            failure = str(error)

        def op(session: Session) -> None:
            row = _proposal(session, proposal_id, lock=True)
            if row.state != ProposalState.PASSED.value:
                raise GovernanceStateError(
                    f"proposal {proposal_id} is {row.state}; only a passed proposal executes",
                    details={"proposal": proposal_id, "state": row.state},
                )
            if now < row.executable_at:
                raise TimelockError(
                    f"proposal {proposal_id} is timelocked until {row.executable_at.isoformat()}",
                    details={
                        "proposal": proposal_id,
                        "executable_at": row.executable_at.isoformat(),
                    },
                )
            reason = failure
            entry_id: int | None = None
            if reason is None and row.kind == ProposalKind.GRANT.value:
                if row.grant_to is None or row.grant_amount is None:
                    raise GovernanceStateError(f"grant proposal {proposal_id} has no recipient")
                ledger = self.uow.ledger(session)
                held = ledger.balances([TREASURY])[TREASURY]
                if held < row.grant_amount:
                    reason = (
                        f"the treasury holds {format_nmr(held)} NMR, less than the "
                        f"{format_nmr(row.grant_amount)} NMR granted"
                    )
                else:
                    entry_id = ledger.transfer(
                        TREASURY,
                        wallet(row.grant_to),
                        row.grant_amount,
                        kind="governance_grant",
                        key=ledger_key(proposal_id, "grant"),
                        memo=f"grant of proposal {proposal_id}",
                    ).id
            row.executed_at = now
            if reason is not None:
                row.state = ProposalState.FAILED.value
                row.failure = reason[:500]
                _event(session, proposal_id, "failed", now, detail={"reason": reason})
                return
            row.state = ProposalState.EXECUTED.value
            row.execution_entry_id = entry_id
            _event(
                session,
                proposal_id,
                "executed",
                now,
                entry_id=entry_id,
                detail={"changes": json.loads(row.changes)},
            )

        self.uow.run(op)
        return self.proposal(proposal_id)

    # -- reading -----------------------------------------------------------------------------------

    def proposal(self, proposal_id: int) -> ProposalInfo:
        def op(session: Session) -> ProposalInfo:
            row = _proposal(session, proposal_id)
            return self._info(row, _votes(session, proposal_id))

        return self.uow.read(op)

    def proposals(self, *, states: Iterable[str] | None = None) -> list[ProposalInfo]:
        """Every proposal, newest first (only those in ``states``, if given)."""
        wanted = list(states) if states is not None else None

        def op(session: Session) -> list[ProposalInfo]:
            query = select(Proposal).order_by(Proposal.id.desc())
            if wanted is not None:
                query = query.where(Proposal.state.in_(wanted))
            return [self._info(row, _votes(session, row.id)) for row in session.scalars(query)]

        return self.uow.read(op)

    def votes(self, proposal_id: int) -> list[VoteInfo]:
        """Every vote cast on the proposal, in order; ``counts`` marks each account's last."""

        def op(session: Session) -> list[VoteInfo]:
            _proposal(session, proposal_id)
            rows = _votes(session, proposal_id)
            last = {row.account_id: row.id for row in rows}
            return [
                VoteInfo(
                    id=row.id,
                    proposal_id=row.proposal_id,
                    account_id=row.account_id,
                    choice=row.choice,
                    power=row.power,
                    cast_at=row.cast_at,
                    counts=last[row.account_id] == row.id,
                )
                for row in rows
            ]

        return self.uow.read(op)

    def events(self, proposal_id: int | None = None) -> list[EventInfo]:
        """The audit trail (of one proposal, or all), oldest first."""

        def op(session: Session) -> list[EventInfo]:
            query = select(GovernanceEvent).order_by(GovernanceEvent.id)
            if proposal_id is not None:
                _proposal(session, proposal_id)
                query = query.where(GovernanceEvent.proposal_id == proposal_id)
            return [
                EventInfo(
                    id=row.id,
                    proposal_id=row.proposal_id,
                    kind=row.kind,
                    account_id=row.account_id,
                    detail=json.loads(row.detail),
                    entry_id=row.entry_id,
                    created_at=row.created_at,
                )
                for row in session.scalars(query)
            ]

        return self.uow.read(op)

    def power(self, proposal_id: int, account_id: int) -> int:
        """``account_id``'s voting power on the proposal (as of its snapshot)."""
        models = self.model_ids(account_id)

        def op(session: Session) -> int:
            row = _proposal(session, proposal_id)
            return voting_power(self.uow.ledger(session), account_id, models, row.snapshot)

        return self.uow.read(op)

    # -- internals and helpers -------------------------------------------------------------

    def model_ids(self, account_id: int) -> list[int]:
        """Every model the account owns, in every competition the tournament runs."""
        return sorted(
            m.id
            for c in self.tournament.competitions
            for m in self.tournament.using(c).models(account_id)
        )

    def _base(self, competition_id: int) -> RoundConfig:
        for c in self.tournament.competitions:
            if c.id == competition_id:
                return c.round_config
        raise NotFoundError(f"this tournament runs no competition {competition_id}")

    def _applied(
        self,
        kind: ProposalKind,
        competition_id: int | None,
        until: datetime | None,
        *,
        pending: bool,
    ) -> list[dict[str, str]]:
        """The changes of executed proposals of ``kind`` (also passed ones with
        ``pending``) executable by ``until`` (None: any time), in order."""
        states = [ProposalState.EXECUTED.value]
        if pending:
            states.append(ProposalState.PASSED.value)

        def op(session: Session) -> list[dict[str, str]]:
            query = select(Proposal.changes).where(
                Proposal.kind == kind.value, Proposal.state.in_(states)
            )
            if competition_id is not None:
                query = query.where(Proposal.competition_id == competition_id)
            if until is not None:
                query = query.where(Proposal.executable_at <= until)
            query = query.order_by(Proposal.executable_at, Proposal.id)
            return [json.loads(text) for text in session.scalars(query)]

        return self.uow.read(op)

    def _info(self, row: Proposal, votes: list[Vote]) -> ProposalInfo:
        if row.tallied_at is not None:
            tally = Tally(
                votes_for=row.votes_for or 0,
                votes_against=row.votes_against or 0,
                votes_abstain=row.votes_abstain or 0,
                voters=count(votes, row.voting_ends_at).voters,
            )
        else:
            tally = count(votes, row.voting_ends_at)
        slug = None
        if row.competition_id is not None:
            slug = next(
                (c.slug for c in self.tournament.competitions if c.id == row.competition_id),
                str(row.competition_id),
            )
        return ProposalInfo(
            id=row.id,
            kind=row.kind,
            title=row.title,
            description=row.description,
            proposer_id=row.proposer_id,
            competition=slug,
            competition_id=row.competition_id,
            changes=json.loads(row.changes),
            grant_to=row.grant_to,
            grant_amount=row.grant_amount,
            deposit=row.deposit,
            quorum=row.quorum,
            approval=row.approval,
            snapshot=row.snapshot,
            total_power=row.total_power,
            created_at=row.created_at,
            voting_ends_at=row.voting_ends_at,
            executable_at=row.executable_at,
            state=row.state,
            tally=tally,
            tallied_at=row.tallied_at,
            executed_at=row.executed_at,
            failure=row.failure,
        )


# -- helpers -------------------------------------------------------------------------------------


def _checked(current: Any, changes: Mapping[str, object]) -> dict[str, str]:
    """Proposed values, parsed and checked against ``current`` (a RoundConfig or the
    governance rules): known settings, hard bounds, the largest move, a real change, and
    a consistent result."""
    if not changes:
        raise InvalidParameterError("a proposal changes at least one setting")
    if len(changes) > MAX_CHANGES:
        raise InvalidParameterError(f"a proposal changes at most {MAX_CHANGES} settings")
    specs = current.governable()
    out: dict[str, str] = {}
    for name, raw in changes.items():
        old = current.value(name)  # refuses an unknown setting
        spec = specs[name]
        new = spec.parse(raw)
        if new == old:
            raise InvalidParameterError(
                f"{name} already is {old}; a proposal changes something",
                details={"parameter": name},
            )
        spec.check_change(old, new)
        out[name] = new
    current.with_values(out)  # the result must be a valid configuration
    return out


def count(votes: Iterable[Vote], ends_at: datetime) -> Tally:
    """The tally of each account's last vote cast before ``ends_at``."""
    last: dict[int, Vote] = {}
    for vote in votes:
        if vote.cast_at < ends_at:
            last[vote.account_id] = vote
    sums = dict.fromkeys(CHOICES, 0)
    for vote in last.values():
        sums[vote.choice] += vote.power
    return Tally(
        votes_for=sums["for"],
        votes_against=sums["against"],
        votes_abstain=sums["abstain"],
        voters=len(last),
    )


def _proposal(session: Session, proposal_id: int, *, lock: bool = False) -> Proposal:
    query = select(Proposal).where(Proposal.id == proposal_id)
    if lock:
        query = query.with_for_update()
    row = session.scalar(query)
    if row is None:
        raise NotFoundError(f"no proposal {proposal_id}", details={"proposal": proposal_id})
    return row


def _votes(session: Session, proposal_id: int) -> list[Vote]:
    return list(
        session.scalars(select(Vote).where(Vote.proposal_id == proposal_id).order_by(Vote.id))
    )


def _event(
    session: Session,
    proposal_id: int,
    kind: str,
    now: datetime,
    *,
    account_id: int | None = None,
    entry_id: int | None = None,
    detail: Mapping[str, object] | None = None,
) -> None:
    session.add(
        GovernanceEvent(
            proposal_id=proposal_id,
            kind=kind,
            account_id=account_id,
            detail=json.dumps(dict(detail or {}), sort_keys=True),
            entry_id=entry_id,
            created_at=now,
        )
    )


def _text(amount: int | None) -> str | None:
    return None if amount is None else str(amount)

"""Hypothesis drives random sequences of proposals, votes, NMR movements and time, and
checks after every step that each proposal's tally equals what its voters held and staked
at the snapshot (read from the tournament just before the proposal was made), whatever
moved afterwards — and that verify and the ledger check agree."""

from __future__ import annotations

import contextlib
import tempfile
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from tests.conftest import DATABASES, fresh_engine

from crowdalpha.errors import InsufficientFundsError, NoVotingPowerError, VotingClosedError
from crowdalpha.governance import CHOICES, Governance, verify
from crowdalpha.ledger import TREASURY, nmr
from crowdalpha.storage import LocalFileStore
from crowdalpha.tournament import ManualClock, SyntheticRoundData, Tournament, TournamentConfig

PEOPLE = st.integers(min_value=0, max_value=3)
AMOUNTS = st.sampled_from([nmr(1), nmr(37), nmr(150), nmr(400), 7])


def machine_for(kind: str) -> type[RuleBasedStateMachine]:
    class GovernanceMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self._tmp = tempfile.TemporaryDirectory()
            folder = Path(self._tmp.name)
            self.engine = fresh_engine(kind, folder)
            self.clock = ManualClock(TournamentConfig().schedule.anchor - timedelta(days=30))
            self.t = Tournament(
                self.engine,
                LocalFileStore(folder / "files"),
                SyntheticRoundData(seed=1, rows=50),
                clock=self.clock,
            )
            self.t.mint(nmr(1_000_000), to=TREASURY)
            self.people = [
                self.t.create_account(f"person{i}", f"p{i}@example.org").id for i in range(4)
            ]
            self.models = {a: self.t.create_model(a, f"model{a}").id for a in self.people}
            for i, a in enumerate(self.people[:3]):
                self.t.grant(a, nmr(300 * (i + 1)))
            self.gov = Governance(self.t)
            # proposal id -> holdings at its snapshot; and -> {account: (choice, power)}
            self.snapshots: dict[int, dict[int, int]] = {}
            self.ballots: dict[int, dict[int, tuple[str, int]]] = {}

        def teardown(self) -> None:
            self.t.close()
            self._tmp.cleanup()

        def _holdings(self, account: int) -> int:
            info = self.t.stake_info(self.models[account])
            return self.t.wallet_balance(account) + info.stake + info.pending

        @rule(who=PEOPLE)
        def propose(self, who: int) -> None:
            account = self.people[who]
            before = {a: self._holdings(a) for a in self.people}
            # a change of what the next rounds will get (passed proposals included): a
            # proposal that changes nothing is refused
            planned = Decimal(str(self.gov.planned_config(self.t.competition).value("clip")))
            clip = "0.05" if planned == Decimal("0.06") else "0.06"
            try:
                p = self.gov.propose(account, "p", competition="classic", changes={"clip": clip})
            except InsufficientFundsError:
                assert self.t.wallet_balance(account) < nmr(100)
                return
            self.snapshots[p.id] = before
            self.ballots[p.id] = {}
            assert p.total_power == sum(before.values())

        @precondition(lambda self: bool(self.snapshots))
        @rule(data=st.data(), who=PEOPLE, choice=st.sampled_from(CHOICES))
        def vote(self, data: st.DataObject, who: int, choice: str) -> None:
            pid = data.draw(st.sampled_from(sorted(self.snapshots)))
            account = self.people[who]
            power = self.snapshots[pid][account]
            info = self.gov.proposal(pid)
            try:
                vote = self.gov.vote(pid, account, choice)
            except VotingClosedError:
                assert info.state != "voting" or self.clock.now() >= info.voting_ends_at
                return
            except NoVotingPowerError:
                assert power == 0
                return
            assert self.clock.now() < info.voting_ends_at and vote.power == power > 0
            self.ballots[pid][account] = (choice, power)

        @rule(who=PEOPLE, amount=AMOUNTS)
        def buy(self, who: int, amount: int) -> None:
            self.t.deposit(self.people[who], amount)

        @rule(who=PEOPLE, amount=AMOUNTS)
        def sell(self, who: int, amount: int) -> None:
            with contextlib.suppress(InsufficientFundsError):
                self.t.withdraw(self.people[who], amount)

        @rule(who=PEOPLE, amount=AMOUNTS)
        def stake(self, who: int, amount: int) -> None:
            with contextlib.suppress(InsufficientFundsError):
                self.t.increase_stake(self.models[self.people[who]], amount)

        @rule(days=st.integers(min_value=1, max_value=4))
        def wait(self, days: int) -> None:
            self.clock.advance(timedelta(days=days))
            self.gov.process()

        @invariant()
        def tallies_equal_the_snapshot(self) -> None:
            for pid, ballots in self.ballots.items():
                tally = self.gov.proposal(pid).tally
                sums = dict.fromkeys(CHOICES, 0)
                for choice, power in ballots.values():
                    sums[choice] += power
                assert (tally.votes_for, tally.votes_against, tally.votes_abstain) == (
                    sums["for"],
                    sums["against"],
                    sums["abstain"],
                )
                assert tally.voters == len(ballots)

        def check_books(self) -> None:
            assert verify(self.gov).ok
            assert self.t.check_ledger().ok

        @rule()
        def audit(self) -> None:
            self.check_books()

    return GovernanceMachine


@pytest.mark.parametrize("kind", DATABASES)
def test_random_governance_keeps_tallies_equal_to_the_snapshot(kind: str) -> None:
    machine = machine_for(kind)
    machine.TestCase.settings = settings(
        max_examples=8 if kind == "sqlite" else 4,
        stateful_step_count=20,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    machine.TestCase().runTest()

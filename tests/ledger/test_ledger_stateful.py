"""Hypothesis drives random sequences of ledger operations (with retries) and checks,
after every step, that the books match a plain-Python model and that the invariants hold."""

from __future__ import annotations

import itertools
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from tests.conftest import DATABASES, fresh_engine

from crowdalpha.db import session_factory, transact
from crowdalpha.errors import InsufficientFundsError, LimitExceededError
from crowdalpha.ledger import (
    BURNED,
    EXTERNAL,
    MINTED,
    REWARD_POOL,
    TREASURY,
    Entry,
    SqlLedger,
    check_ledger,
    nmr,
    pending,
    stake,
    wallet,
)

CAP = nmr(1_000_000)
PEOPLE = st.integers(min_value=1, max_value=3)
AMOUNTS = st.one_of(
    st.integers(min_value=1, max_value=nmr(500)),
    st.integers(min_value=1, max_value=10),  # base-unit dust
    st.sampled_from([nmr(1), nmr("0.1"), nmr(72_000)]),
)


def machine_for(kind: str) -> type[RuleBasedStateMachine]:
    class LedgerMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self._tmp = tempfile.TemporaryDirectory()
            self.engine = fresh_engine(kind, Path(self._tmp.name))
            self.factory = session_factory(self.engine)
            self.expected: dict[str, int] = {}
            self.keys = itertools.count()
            self.last: tuple[str, Entry] | None = None

        def teardown(self) -> None:
            self.engine.dispose()
            self._tmp.cleanup()

        def _move(self, source: str, destination: str, amount: int, op: str) -> None:
            key = f"k{next(self.keys)}"
            held = self.expected.get(source, 0)
            spends = source not in (MINTED, EXTERNAL)
            capped = source == MINTED and -held + amount > CAP

            def call(led: SqlLedger) -> Entry:
                if op == "mint":
                    return led.mint(destination, amount, key=key)
                if op == "burn":
                    return led.burn(source, amount, key=key)
                if op == "deposit":
                    return led.deposit(destination, amount, key=key)
                if op == "withdraw":
                    return led.withdraw(source, amount, key=key)
                return led.transfer(source, destination, amount, kind=op, key=key)

            try:
                entry = transact(self.factory, lambda s: call(SqlLedger(s, mint_cap=CAP)))
            except InsufficientFundsError:
                assert spends and held < amount
                return
            except LimitExceededError:
                assert capped
                return
            assert not (spends and held < amount) and not capped
            self.expected[source] = held - amount
            self.expected[destination] = self.expected.get(destination, 0) + amount
            self.last = (key, entry)

        @rule(amount=AMOUNTS)
        def mint_to_treasury(self, amount: int) -> None:
            self._move(MINTED, TREASURY, amount, "mint")

        @rule(amount=AMOUNTS)
        def fund_reward_pool(self, amount: int) -> None:
            self._move(TREASURY, REWARD_POOL, amount, "fund_pool")

        @rule(who=PEOPLE, amount=AMOUNTS)
        def deposit(self, who: int, amount: int) -> None:
            self._move(EXTERNAL, wallet(who), amount, "deposit")

        @rule(who=PEOPLE, amount=AMOUNTS)
        def grant(self, who: int, amount: int) -> None:
            self._move(TREASURY, wallet(who), amount, "grant")

        @rule(who=PEOPLE, amount=AMOUNTS)
        def stake_increase(self, who: int, amount: int) -> None:
            self._move(wallet(who), stake(who), amount, "stake_increase")

        @rule(who=PEOPLE, amount=AMOUNTS)
        def stake_decrease(self, who: int, amount: int) -> None:
            self._move(stake(who), pending(who), amount, "stake_decrease")

        @rule(who=PEOPLE, amount=AMOUNTS)
        def release(self, who: int, amount: int) -> None:
            self._move(pending(who), wallet(who), amount, "release")

        @rule(who=PEOPLE, amount=AMOUNTS)
        def payout(self, who: int, amount: int) -> None:
            self._move(REWARD_POOL, stake(who), amount, "payout")

        @rule(who=PEOPLE, amount=AMOUNTS, from_pending=st.booleans())
        def burn(self, who: int, amount: int, from_pending: bool) -> None:
            self._move(pending(who) if from_pending else stake(who), BURNED, amount, "burn")

        @rule(who=PEOPLE, amount=AMOUNTS)
        def withdraw(self, who: int, amount: int) -> None:
            self._move(wallet(who), EXTERNAL, amount, "withdraw")

        @precondition(lambda self: self.last is not None)
        @rule()
        def retry_the_last_operation(self) -> None:
            assert self.last is not None
            key, entry = self.last
            source = next(p.account for p in entry.postings if p.amount < 0)
            destination = next(p.account for p in entry.postings if p.amount > 0)
            amount = entry.amount_for(destination)
            again = transact(
                self.factory,
                lambda s: SqlLedger(s, mint_cap=CAP).transfer(
                    source, destination, amount, kind=entry.kind, key=key
                ),
            )
            assert again == entry  # same entry back, nothing moved

        @invariant()
        def books_match_the_model_and_the_check_passes(self) -> None:
            with self.factory() as session:
                report = check_ledger(session)
                got = SqlLedger(session).balances(self.expected)
            assert report.ok, report.problems
            assert got == self.expected
            minted = -self.expected.get(MINTED, 0)
            assert report.supply.minted == minted <= CAP
            assert report.supply.burned == self.expected.get(BURNED, 0)

    return LedgerMachine


@pytest.mark.parametrize("kind", DATABASES)
def test_random_operation_sequences_keep_the_books_exact(kind: str) -> None:
    machine = machine_for(kind)
    examples = 25 if kind == "sqlite" else 10
    machine.TestCase.settings = settings(
        max_examples=examples,
        stateful_step_count=25,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    machine.TestCase().runTest()

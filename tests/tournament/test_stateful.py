"""Hypothesis drives a whole tournament — grants, stake changes, submissions, withdrawals
and the clock moving by random amounts — and checks the books after every step."""

from __future__ import annotations

import contextlib
import tempfile
from datetime import timedelta
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule
from tests.conftest import fresh_engine
from tests.tournament.conftest import predictions_csv, skilled

from crowdalpha.errors import InsufficientFundsError, RoundStateError
from crowdalpha.ledger import nmr
from crowdalpha.storage import LocalFileStore
from crowdalpha.tournament import (
    ManualClock,
    SyntheticRoundData,
    Tournament,
    TournamentConfig,
)

MODELS = st.integers(min_value=0, max_value=3)
AMOUNTS = st.sampled_from([nmr(1), nmr(5), nmr("12.5"), nmr(40), 7])


class TournamentMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self._tmp = tempfile.TemporaryDirectory()
        folder = Path(self._tmp.name)
        self.engine = fresh_engine("sqlite", folder)
        self.clock = ManualClock(TournamentConfig().schedule.anchor)
        self.data = SyntheticRoundData(seed=3, rows=120, n_features=6)
        self.t = Tournament(
            self.engine, LocalFileStore(folder / "files"), self.data, clock=self.clock
        )
        self.t.mint(nmr(10_000))
        self.accounts = [self.t.create_account(f"bot{i}", f"bot{i}@example.org").id for i in (0, 1)]
        self.models = [
            self.t.create_model(self.accounts[i % 2], f"bot_model_{i}").id for i in range(4)
        ]
        for account in self.accounts:
            self.t.grant(account, nmr(500))
        for model in self.models:
            self.t.increase_stake(model, nmr(100))
        self.burned = 0
        self.t.tick()

    def teardown(self) -> None:
        self.engine.dispose()
        self._tmp.cleanup()

    @rule(who=st.integers(0, 1), amount=AMOUNTS)
    def grant(self, who: int, amount: int) -> None:
        self.t.grant(self.accounts[who], amount)

    @rule(model=MODELS, amount=AMOUNTS)
    def stake_more(self, model: int, amount: int) -> None:
        account = self.accounts[model % 2]
        before = self.t.wallet_balance(account)
        try:
            self.t.increase_stake(self.models[model], amount)
        except InsufficientFundsError:
            assert before < amount
            assert self.t.wallet_balance(account) == before

    @rule(model=MODELS, amount=AMOUNTS)
    def stake_less(self, model: int, amount: int) -> None:
        before = self.t.stake_info(self.models[model])
        try:
            after = self.t.decrease_stake(self.models[model], amount)
        except InsufficientFundsError:
            assert before.stake < amount
            return
        assert after.stake == before.stake - amount

    @rule(model=MODELS, noise=st.sampled_from([0.2, 1.0, 5.0]), flip=st.booleans())
    def submit(self, model: int, noise: float, flip: bool) -> None:
        current = self.t.current_round()
        if current is None:
            return
        values = skilled(self.data, current.number, noise, model)
        ids = self.t.live_ids(current.number)
        with contextlib.suppress(RoundStateError):  # the round may close in between
            self.t.submit(self.models[model], predictions_csv(ids, 1 - values if flip else values))

    @rule(skills=st.lists(st.sampled_from([0.2, 1.0, 5.0, -0.2]), min_size=4, max_size=4))
    def everyone_submits_and_a_week_passes(self, skills: list[float]) -> None:
        current = self.t.current_round()
        if current is not None:
            ids = self.t.live_ids(current.number)
            for model, skill in zip(self.models, skills, strict=True):
                values = skilled(self.data, current.number, abs(skill), model)
                self.t.submit(model, predictions_csv(ids, 1 - values if skill < 0 else values))
        self.clock.advance(timedelta(days=7))
        self.t.tick()

    @rule(who=st.integers(0, 1), amount=AMOUNTS)
    def withdraw(self, who: int, amount: int) -> None:
        before = self.t.wallet_balance(self.accounts[who])
        try:
            self.t.withdraw(self.accounts[who], amount)
        except InsufficientFundsError:
            assert before < amount
            return
        assert self.t.wallet_balance(self.accounts[who]) == before - amount

    @rule(days=st.sampled_from([1, 3, 14, 35]))
    def time_passes(self, days: int) -> None:
        self.clock.advance(timedelta(days=days))
        self.t.tick()
        assert not self.t.tick().changed  # a second tick at the same time does nothing

    @invariant()
    def the_books_hold(self) -> None:
        report = self.t.check_ledger()
        assert report.ok, report.problems
        supply = report.supply
        assert supply.burned >= self.burned  # burns are permanent
        self.burned = supply.burned
        for model in self.models:
            info = self.t.stake_info(model)
            assert info.stake >= 0 and info.pending >= 0
            assert info.pending == sum(r.remaining for r in info.releases if r.released_at is None)
        gains = sum(p.amount for p in self.t.payouts() if p.amount > 0)
        losses = -sum(p.amount for p in self.t.payouts() if p.amount < 0)
        assert supply.minted == nmr(10_000) + gains  # the pool starts empty: gains are minted
        assert supply.burned == losses


TournamentMachine.TestCase.settings = settings(
    max_examples=8,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_random_tournaments_keep_the_books_exact = TournamentMachine.TestCase

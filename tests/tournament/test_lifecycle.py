"""The full lifecycle on a moved clock: open, submit, stake, close, score, resolve, pay,
burn, release — with every NMR accounted for and every number recomputed independently."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest
from numerai_tools.scoring import correlation_contribution, numerai_corr
from tests.tournament.conftest import predictions_csv, predictions_parquet, skilled

from crowdalpha.ledger import BURNED, REWARD_POOL, TREASURY, nmr
from crowdalpha.payouts import PayoutRules, payout, payout_factor
from crowdalpha.tournament import ManualClock, SyntheticRoundData, Tournament

WEEK = timedelta(days=7)


def test_a_round_from_opening_to_payouts(
    tournament: Tournament, clock: ManualClock, data: SyntheticRoundData
) -> None:
    t = tournament
    alice = t.create_account("alice", "alice@example.org")
    bob = t.create_account("bob", "bob@example.org")
    good = t.create_model(alice.id, "alice_good")
    noisy = t.create_model(alice.id, "alice_noisy")
    bad = t.create_model(bob.id, "bob_bad")
    idle = t.create_model(bob.id, "bob_idle")
    t.grant(alice.id, nmr(1_000), key="grant-alice")
    t.grant(bob.id, nmr(500), key="grant-bob")

    assert t.tick().opened == []  # an hour before the first round
    clock.advance(timedelta(hours=1))
    report = t.tick()
    assert report.opened == [1] and t.current_round() is not None
    ids = t.live_ids(1)
    assert len(ids) == data.rows

    t.increase_stake(good.id, nmr(100), key="s1")
    t.increase_stake(good.id, nmr(100), key="s1")  # a retry: no second 100
    t.increase_stake(noisy.id, nmr(50))
    t.increase_stake(bad.id, nmr(200))
    t.increase_stake(idle.id, nmr(25))
    assert t.wallet_balance(alice.id) == nmr(850)
    # nothing at risk yet: a decrease goes straight back to the wallet
    t.decrease_stake(bad.id, nmr(50))
    assert t.wallet_balance(bob.id) == nmr(325)

    preds = {
        good.id: skilled(data, 1, noise=0.3, seed=1),
        noisy.id: skilled(data, 1, noise=3.0, seed=2),
        bad.id: 1 - skilled(data, 1, noise=0.3, seed=3),
    }
    t.submit(good.id, predictions_csv(ids, np.full(len(ids), 0.5) + 0.01 * preds[good.id]))
    sub = t.submit(good.id, predictions_csv(ids, preds[good.id]))  # replaces the first
    t.submit(noisy.id, predictions_parquet(ids, preds[noisy.id]), filename="p.parquet")
    t.submit(bad.id, predictions_csv(ids, preds[bad.id]))
    history = t.submissions(model_id=good.id)
    assert [s.selected for s in history] == [False, True] and history[1].id == sub.id
    assert sub.state == "validated" and not sub.late and sub.rows == len(ids)
    assert t.submission_file(sub.id) == predictions_csv(ids, preds[good.id])

    clock.advance(WEEK)
    report = t.tick()
    assert report.closed == [1] and report.opened == [2]
    assert t.round(1).state == "closed"
    assert t.round(1).total_at_risk == nmr(100) + nmr(50) + nmr(150)  # idle has no submission
    assert t.stakes_at_risk(good.id) == {1: nmr(100)} and t.stakes_at_risk(bad.id) == {1: nmr(150)}
    assert t.stakes_at_risk(idle.id) == {1: 0}  # staked, but no on-time submission

    # a late submission is accepted, marked late, and never staked
    late = t.submit(idle.id, predictions_csv(ids, preds[noisy.id]), round_number=1)
    assert late.late and late.selected

    # alice takes 40 off the good model: pending until round 1 resolves
    info = t.decrease_stake(good.id, nmr(40))
    assert info.stake == nmr(60) and info.pending == nmr(40)
    assert info.releases[0].release_round == 1

    clock.advance(WEEK)
    report = t.tick()
    assert report.scored == [1] and t.round(1).state == "scoring"
    provisional = t.scores(round_number=1)
    assert provisional and not any(s.final for s in provisional)

    clock.set(t.round(1).closes_at + timedelta(days=28))
    supply_before = t.supply()
    report = t.tick()
    assert [r.round_number for r in report.resolved] == [1]
    resolution = report.resolved[0]
    assert t.round(1).state == "resolved"

    # -- scores: recomputed with the reference numerai-tools ---------------------------------
    outcome = data.outcome(1, ids, closes_at=t.round(1).closes_at, now=clock.now())
    assert outcome is not None and outcome.final
    finals = {s.model_id: s for s in t.scores(round_number=1)}
    assert set(finals) == {good.id, noisy.id, bad.id, idle.id} and all(
        s.final for s in finals.values()
    )
    frame = pd.DataFrame(preds, index=pd.Index(ids, name="id"))
    frame[idle.id] = preds[noisy.id]
    ref_corr = numerai_corr(frame, outcome.targets)
    meta = t.meta_model(1)
    for model_id, score in finals.items():
        assert score.corr == pytest.approx(ref_corr[model_id], abs=1e-12)
        ref_mmc = correlation_contribution(frame[[model_id]], meta, outcome.targets)
        assert score.mmc == pytest.approx(ref_mmc[model_id], abs=1e-12)
        assert score.fnc is not None and score.bmc is not None
    assert finals[good.id].corr > 0.05 > 0 > finals[bad.id].corr

    # -- payouts: the policy formula, to the base unit ----------------------------------------
    rules = PayoutRules()
    factor = payout_factor(rules.threshold, nmr(300))
    assert factor == Decimal(1)
    paid = {p.model_id: p for p in t.payouts(round_number=1)}
    assert set(paid) == {good.id, noisy.id, bad.id}  # idle was not at risk, late not staked
    for model_id, risk in [(good.id, nmr(100)), (noisy.id, nmr(50)), (bad.id, nmr(150))]:
        s = finals[model_id]
        assert s.corr is not None
        want = payout(risk, s.corr, s.mmc, factor=factor, rules=rules)
        assert paid[model_id].stake_at_risk == risk and paid[model_id].amount == want
    assert paid[good.id].amount > 0 > paid[bad.id].amount

    # -- the books ----------------------------------------------------------------------------
    gains = sum(p.amount for p in paid.values() if p.amount > 0)
    losses = -sum(p.amount for p in paid.values() if p.amount < 0)
    assert resolution.paid == gains and resolution.burned == losses
    supply = t.supply()
    assert supply.burned - supply_before.burned == losses
    assert supply.minted - supply_before.minted == resolution.minted == gains  # pool was empty
    assert t.balance(BURNED) == losses
    assert t.balance(REWARD_POOL) == 0
    # the good model's payout lands on its stake; its pending 40 NMR came home
    assert t.stake_info(good.id).stake == nmr(60) + paid[good.id].amount
    assert t.stake_info(good.id).pending == 0
    assert t.wallet_balance(alice.id) == nmr(850) + nmr(40)
    assert t.stake_info(bad.id).stake == nmr(150) + paid[bad.id].amount
    assert t.stake_info(idle.id).stake == nmr(25)
    check = t.check_ledger()
    assert check.ok, check.problems
    assert [s.state for s in t.submissions(model_id=good.id)] == ["validated", "resolved"]

    # -- idempotent: ticking again changes nothing --------------------------------------------
    again = t.tick()
    assert not again.changed
    assert t.supply() == supply
    assert t.payouts(round_number=1) == list(paid.values())


def test_burns_reach_pending_releases(
    tournament: Tournament, clock: ManualClock, data: SyntheticRoundData
) -> None:
    """A stake taken off after the close can still be burned by that round."""
    t = tournament
    carol = t.create_account("carol", "carol@example.org")
    bad = t.create_model(carol.id, "carol_bad")
    t.grant(carol.id, nmr(100))
    clock.advance(timedelta(hours=1))
    t.tick()
    ids = t.live_ids(1)
    t.increase_stake(bad.id, nmr(100))
    t.submit(bad.id, predictions_csv(ids, 1 - skilled(data, 1, noise=0.1, seed=4)))
    clock.advance(WEEK)
    t.tick()
    t.decrease_stake(bad.id, nmr(100))  # everything off: all of it pending
    assert t.stake_info(bad.id).stake == 0
    clock.set(t.round(1).closes_at + timedelta(days=28))
    t.tick()
    loss = -t.payouts(round_number=1)[0].amount
    assert loss == nmr(5)  # clipped at 5 %
    info = t.stake_info(bad.id)
    assert info.pending == 0 and info.releases[0].remaining == nmr(95)
    assert info.releases[0].released_at is not None
    assert t.wallet_balance(carol.id) == nmr(95)
    assert t.balance(BURNED) == nmr(5)
    assert t.check_ledger().ok


def test_tiered_policy_reproduces_the_articles_table(
    make_tournament, clock: ManualClock, data: SyntheticRoundData
) -> None:  # type: ignore[no-untyped-def]
    from crowdalpha.tournament import TournamentConfig

    t: Tournament = make_tournament(TournamentConfig(payout=PayoutRules("tiered")))
    t.mint(nmr(10_000), to=TREASURY)
    dave = t.create_account("dave", "dave@example.org")
    t.grant(dave.id, nmr(1_000))
    models = [t.create_model(dave.id, f"dave_{i}") for i in range(4)]
    clock.advance(timedelta(hours=1))
    t.tick()
    ids = t.live_ids(1)
    skills = [(0.1, False), (3.0, False), (3.0, True), (0.1, True)]
    for model, (noise, flip) in zip(models, skills, strict=True):
        t.increase_stake(model.id, nmr(100))
        values = skilled(data, 1, noise=noise, seed=model.id)
        t.submit(model.id, predictions_csv(ids, 1 - values if flip else values))
    clock.advance(WEEK)
    t.tick()
    clock.set(t.round(1).closes_at + timedelta(days=28))
    t.tick()
    table = [(0.05, "250"), (0.02, "150"), (0.0, "100"), (-0.02, "50")]
    for s, p in zip(
        sorted(t.scores(round_number=1), key=lambda s: s.model_id),
        sorted(t.payouts(round_number=1), key=lambda p: p.model_id),
        strict=True,
    ):
        assert s.corr is not None
        want = next((nmr(v) for bound, v in table if s.corr > bound), -nmr(25))
        assert p.amount == want, (s.corr, p.amount)
    assert t.check_ledger().ok

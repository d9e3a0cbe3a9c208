"""A passed change of a payout rule reaches the money: the payouts to the base unit of the
first round opened after the timelock follow the new rule, earlier rounds' the old one."""

from __future__ import annotations

from datetime import timedelta

from tests.governance.conftest import ANCHOR, World
from tests.tournament.conftest import predictions_csv, skilled

from crowdalpha.governance import verify
from crowdalpha.payouts import payout_factor, weighted_payout
from crowdalpha.tournament import RoundConfig, SyntheticRoundData, Tournament

DAY = timedelta(days=1)
WEEK = timedelta(days=7)
CHANGES = {"clip": "0.07", "multiplier.corr": "1.0"}


def _by_hand(t: Tournament, number: int, config: RoundConfig) -> dict[int, int]:
    """Every staked model's payout in round ``number`` computed from its stored scores and
    stake at risk under ``config``, with crowdalpha.payouts directly."""
    info = t.round(number)
    factor = payout_factor(config.threshold, info.total_at_risk or 0)
    scores = {s.model_id: s for s in t.scores(round_number=number)}
    amounts = {}
    for p in t.payouts(round_number=number):
        values = {k: v for k, v in scores[p.model_id].values.items() if v is not None}
        amounts[p.model_id] = weighted_payout(
            p.stake_at_risk, values, dict(config.multipliers), factor=factor, clip=config.clip
        )
    return amounts


def test_a_passed_payout_rule_changes_the_payouts_from_the_right_round(world: World) -> None:
    t, gov, clock = world.tournament, world.governance, world.clock
    synthetic = SyntheticRoundData(seed=7, rows=200)  # the fixture's source, same seed
    bob_model = t.create_model(world.bob, "bob_model").id
    t.increase_stake(bob_model, t.wallet_balance(world.bob) // 2)
    models = {world.alice_model: 0.2, bob_model: 1.5}  # a skilled model and a noisy one

    def submit_round(number: int) -> None:
        ids = t.live_ids(number)
        for i, (m, noise) in enumerate(models.items()):
            t.submit(m, predictions_csv(ids, skilled(synthetic, number, noise, 100 * number + i)))

    old = t.next_round_config()
    clock.set(ANCHOR)
    t.tick()
    submit_round(1)
    clock.set(ANCHOR + timedelta(hours=1))
    p = gov.propose(
        world.alice, "Pay CORR more, clip wider", competition="classic", changes=CHANGES
    )
    gov.vote(p.id, world.alice, "for")
    gov.vote(p.id, world.carol, "against")
    clock.set(ANCHOR + WEEK)  # round 2 opens inside the timelock: old rules
    t.tick()
    submit_round(2)
    clock.set(ANCHOR + 2 * WEEK)  # round 3 opens after it: new rules
    t.tick()
    submit_round(3)
    assert gov.proposal(p.id).state == "executed"
    new = t.round(3).config
    assert [t.round(n).config for n in (1, 2)] == [old, old]
    assert (new.clip, dict(new.multipliers)["corr"]) == ("0.07", "1")
    assert new == old.with_values(CHANGES)

    # rounds 1 and 2 resolve only now, after the change executed: they still pay by the
    # rules they opened with
    clock.set(t.round(3).resolves_at)
    t.tick()
    assert all(t.round(n).state == "resolved" for n in (1, 2, 3))

    for number in (1, 2, 3):
        paid = {p.model_id: p.amount for p in t.payouts(round_number=number)}
        assert set(paid) == set(models)
        expected = _by_hand(t, number, new if number == 3 else old)
        assert paid == expected, number  # to the base unit
        other = _by_hand(t, number, old if number == 3 else new)
        assert paid != other, number  # and the rule made a difference in this round
    assert verify(gov).ok and t.check_ledger().ok

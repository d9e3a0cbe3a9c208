"""Fair play: the simulator's copy bots found as one cluster when their round closes, stored
for the operator, and the ``one_stake`` policy's effect on the payouts, to the base unit."""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import timedelta

import pandas as pd
import pytest

from crowdalpha.errors import InvalidParameterError
from crowdalpha.ledger import TREASURY, nmr, stake
from crowdalpha.payouts import PayoutRules, payout, payout_factor
from crowdalpha.simulation.bots import Bot, RoundView, make_bots
from crowdalpha.tournament import (
    DuplicateRules,
    ManualClock,
    RoundConfig,
    SyntheticRoundData,
    Tournament,
    TournamentConfig,
)
from crowdalpha.tournament.fairplay import Limit, one_stake

WEEK = timedelta(days=7)
THRESHOLD = nmr(500)  # below the total at risk: the payout factor is under 1
#: bot name → (stake, the account's max_stake or None)
STAKES = {
    "good_01": (nmr(200), None),
    "random_01": (nmr(400), None),
    "copy_01": (nmr(300), nmr(350)),
    "copy_02": (nmr(100), None),
}


def _play(
    make_tournament: Callable[..., Tournament],
    clock: ManualClock,
    data: SyntheticRoundData,
    policy: str,
) -> tuple[Tournament, dict[str, int], dict[str, int]]:
    """One round of the simulator's bots (a good one, a random one, two copies of the good
    one), resolved; the model ids and stakes before the round, by bot name."""
    config = TournamentConfig(
        payout=PayoutRules(threshold=THRESHOLD),
        duplicates=DuplicateRules(policy=policy),  # type: ignore[arg-type]
    )
    t = make_tournament(config)
    t.mint(nmr(100_000), to=TREASURY)
    bots: list[Bot] = make_bots([("good", 1), ("random", 1), ("copy", 2)], seed=11)
    assert {b.name: b.kind for b in bots}["copy_02"] == "copy"
    clock.advance(timedelta(hours=1))
    assert t.tick().opened == [1]
    ids: dict[str, int] = {}
    for bot in bots:
        bot.join(t)
        t.grant(bot.account_id, nmr(1_000), key=f"extra:{bot.name}")
        amount, limit = STAKES[bot.name]
        if limit is not None:
            t.set_limits(bot.account_id, max_stake=limit)
        ids[bot.name] = bot.model_ids[bot.name]
        t.increase_stake(ids[bot.name], amount)
    live = pd.read_parquet(io.BytesIO(t.store.get(t.dataset_key(1, "live.parquet"))))
    features = live[[c for c in live.columns if c.startswith("feature_")]]
    view = RoundView(1, features, signal=data.skill_signal(1))
    made: dict[str, pd.Series] = {}
    for bot in bots:
        bot.submit(t, 1, bot.predict(view, made))
    before = {name: t.stake_info(m).stake for name, m in ids.items()}
    clock.advance(WEEK)
    assert t.tick().closed == [1]
    clock.set(t.round(1).closes_at + timedelta(days=28))
    assert [r.round_number for r in t.tick().resolved] == [1]
    return t, ids, before


@pytest.mark.parametrize("policy", ["report", "one_stake"])
def test_copy_bots_are_one_cluster_and_the_policy_pays_exactly(
    make_tournament: Callable[..., Tournament],
    clock: ManualClock,
    data: SyntheticRoundData,
    policy: str,
) -> None:
    t, ids, before = _play(make_tournament, clock, data, policy)
    copies = ("good_01", "copy_01", "copy_02")

    # -- what the operator sees: one cluster of the three accounts, the random bot apart ---
    clusters = t.duplicates(1)
    assert len(clusters) == 1 and t.duplicates() == clusters
    cluster = clusters[0]
    assert cluster.across_accounts and not cluster.constant
    assert cluster.policy == policy and cluster.threshold == "0.99"
    assert cluster.min_correlation == cluster.max_correlation == 1.0  # unchanged copies
    assert sorted(m.model_id for m in cluster.members) == sorted(ids[n] for n in copies)
    assert len({m.account_id for m in cluster.members}) == 3
    assert t.duplicates(1, across_only=True) == clusters

    # -- the stakes at risk: unchanged under report; one stake's limit under one_stake -----
    total = sum(STAKES[n][0] for n in copies)  # 600 NMR, over copy_01's 350 NMR limit
    expected = {n: STAKES[n][0] for n in STAKES}
    if policy == "one_stake":
        expected.update({n: STAKES[n][0] * nmr(350) // total for n in copies})
        assert sum(expected[n] for n in copies) <= nmr(350)
    at_risk = {n: t.stakes_at_risk(ids[n])[1] for n in STAKES}
    assert at_risk == expected
    members = {m.model: m for m in cluster.members}
    for n in copies:
        assert members[n].stake_before == STAKES[n][0]
        assert members[n].stake_at_risk == expected[n]
    assert cluster.stake_cut == total - sum(expected[n] for n in copies)
    assert t.round(1).total_at_risk == sum(expected.values())

    # -- the payouts: the policy formula on what was at risk, to the base unit -------------
    factor = payout_factor(THRESHOLD, sum(expected.values()))
    assert str(factor.normalize()) == t.round(1).payout_factor
    rules = PayoutRules(threshold=THRESHOLD)
    scores = {s.model_id: s for s in t.scores(round_number=1)}
    paid = {p.model_id: p.amount for p in t.payouts(round_number=1)}
    for name, model_id in ids.items():
        s = scores[model_id]
        assert s.corr is not None
        want = payout(expected[name], s.corr, s.mmc, factor=factor, rules=rules)
        assert paid[model_id] == want
        # the ledger: the stake moved by exactly the payout (the cut part stayed staked)
        assert t.balance(stake(model_id)) == before[name] + want
    assert t.check_ledger().ok
    # the copies are paid the same rate: their payouts are proportional to what was at risk
    good, copy = paid[ids["good_01"]], paid[ids["copy_01"]]
    assert good != 0 and abs(good * expected["copy_01"] - copy * expected["good_01"]) <= max(
        expected["copy_01"], expected["good_01"]
    )


def test_one_stake_holds_a_cluster_to_the_tightest_limit_of_its_accounts() -> None:
    owner = {1: 10, 2: 20, 3: 20}
    members = {1: nmr(100), 2: nmr(50), 3: nmr(50)}
    free = {10: Limit(None, None, nmr(1_000)), 20: Limit(None, None, nmr(500))}
    assert one_stake(members, free, owner) == members  # no limit: nothing to hold to
    capped = {10: Limit(nmr(80), None, nmr(1_000)), 20: Limit(nmr(150), None, nmr(500))}
    assert one_stake(members, capped, owner) == {1: nmr(40), 2: nmr(20), 3: nmr(20)}
    # 10 % of the accounts' combined 1,500 NMR: 150 NMR for the whole cluster
    share = {10: Limit(None, 100_000, nmr(1_000)), 20: Limit(None, None, nmr(500))}
    assert one_stake(members, share, owner) == {1: nmr(75), 2: nmr("37.5"), 3: nmr("37.5")}
    odd = one_stake({1: 7, 2: 7, 3: 7}, {10: Limit(10, None, 0), 20: Limit(None, None, 0)}, owner)
    assert odd == {1: 3, 2: 3, 3: 3} and sum(odd.values()) <= 10  # rounded down, never over


def test_the_duplicate_rules_round_trip_and_refuse_nonsense() -> None:
    config = RoundConfig(metrics=("corr", "mmc"), duplicates=DuplicateRules("one_stake", "0.95"))
    assert RoundConfig.from_json(config.to_json()) == config
    legacy = config.to_json().replace('"duplicates"', '"ignored"')
    assert RoundConfig.from_json(legacy).duplicates == DuplicateRules()
    with pytest.raises(InvalidParameterError, match="duplicate policy"):
        DuplicateRules("merge")  # type: ignore[arg-type]
    for bad in ("0", "1.5", "x"):
        with pytest.raises(InvalidParameterError):
            DuplicateRules(threshold=bad)

"""Settlement building (results → leaves, root, totals, claims) and its JSON document."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.chain.support import NMR, key

from crowdalpha.chain.settlement import LEAF_ENCODING, StakeResult, build_settlement
from crowdalpha.errors import InvalidInputError, NotFoundError, SettlementError

ALICE, BOB = key("alice").address, key("bob").address


def test_totals_and_reward_add_up() -> None:
    settlement = build_settlement(
        7,
        [
            StakeResult.from_change(
                staker=ALICE, model_id=2, submission_id=20, stake=10 * NMR, change=3 * NMR
            ),
            StakeResult.from_change(
                staker=BOB, model_id=1, submission_id=10, stake=5 * NMR, change=-2 * NMR
            ),
        ],
    )
    assert [r.model_id for r in settlement.results] == [1, 2]  # by model
    assert (settlement.total_stake, settlement.total_payout, settlement.total_burn) == (
        15 * NMR,
        16 * NMR,
        2 * NMR,
    )
    assert settlement.reward == 3 * NMR
    bob = settlement.result(1)
    assert (bob.payout, bob.burn, bob.reward) == (3 * NMR, 2 * NMR, 0)
    assert bob.leaf == (BOB, 1, 10, 3 * NMR, 2 * NMR)
    assert settlement.tree.encoding == LEAF_ENCODING


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(1, 10**24), st.integers(-(10**24), 10**24)),
        min_size=1,
        max_size=40,
    )
)
def test_every_claim_proves_its_leaf_under_the_root(rows: list[tuple[int, int]]) -> None:
    results = [
        StakeResult.from_change(
            staker=ALICE if i % 2 else BOB,
            model_id=i,
            submission_id=100 + i,
            stake=stake,
            change=max(change, -stake),
        )
        for i, (stake, change) in enumerate(rows)
    ]
    settlement = build_settlement(3, results)
    assert (
        settlement.total_payout + settlement.total_burn
        == settlement.total_stake + settlement.reward
    )
    assert settlement.reward >= 0 and settlement.total_burn <= settlement.total_stake
    for claim in settlement.claims():
        assert claim.verify() and claim.merkle_root == settlement.root
        assert claim.round_id == 3
    copy = type(settlement).from_json(json.loads(json.dumps(settlement.to_json())))
    assert copy.root == settlement.root and copy.results == settlement.results


@pytest.mark.parametrize(
    ("stake", "payout", "burn", "message"),
    [
        (0, 0, 0, "no stake"),
        (5, 0, 6, "would burn 6 of a 5 stake"),
        (5, 2, 2, "unaccounted"),
        (5, -1, 0, "must be an int"),
    ],
)
def test_impossible_results_are_refused(stake: int, payout: int, burn: int, message: str) -> None:
    with pytest.raises(SettlementError, match=message):
        StakeResult(
            staker=ALICE, model_id=1, submission_id=1, stake=stake, payout=payout, burn=burn
        )


def test_a_model_twice_or_no_stake_at_all_is_refused() -> None:
    one = StakeResult(staker=ALICE, model_id=1, submission_id=1, stake=5, payout=5, burn=0)
    with pytest.raises(SettlementError, match="appears twice"):
        build_settlement(1, [one, one])
    with pytest.raises(SettlementError, match="no stakes"):
        build_settlement(1, [])


def test_claims_are_found_by_model_and_checked_against_the_staker() -> None:
    settlement = build_settlement(
        1, [StakeResult(staker=ALICE, model_id=4, submission_id=1, stake=5, payout=6, burn=0)]
    )
    assert settlement.claim(4, ALICE.lower()).payout == 6
    with pytest.raises(NotFoundError, match="not"):
        settlement.claim(4, BOB)
    with pytest.raises(NotFoundError, match="model 5"):
        settlement.claim(5)


def test_a_tampered_document_is_refused() -> None:
    settlement = build_settlement(
        1, [StakeResult(staker=ALICE, model_id=4, submission_id=1, stake=5, payout=6, burn=0)]
    )
    document = settlement.to_json()
    with pytest.raises(InvalidInputError, match="root"):
        type(settlement).from_json({**document, "merkleRoot": "0x" + "11" * 32})
    with pytest.raises(InvalidInputError, match="settlement document"):
        type(settlement).from_json({**document, "format": "other"})

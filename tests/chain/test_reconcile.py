"""Reconciliation lists every difference between the platform's books and the chain's.

The chain side is a ChainView folded from events written here by hand (the same events
the contracts emit; test_e2e_anvil reconciles against a real chain with zero differences).
"""

from __future__ import annotations

from typing import Any

from tests.chain.support import NMR, ROUND, key

from crowdalpha.chain import ExpectedRound, OffChainView, build_settlement, reconcile
from crowdalpha.chain.indexer import ChainEvent
from crowdalpha.chain.settlement import StakeResult
from crowdalpha.chain.view import ChainView

ZERO = "0x0000000000000000000000000000000000000000"
ALICE, BOB, STAKING = key("alice").address, key("bob").address, key("staking").address


def event(n: int, contract: str, name: str, **args: Any) -> ChainEvent:
    return ChainEvent(n, 0, bytes([n]) * 32, bytes(32), contract, name, args)


SETTLEMENT = build_settlement(
    ROUND,
    [
        StakeResult(
            staker=ALICE, model_id=1, submission_id=11, stake=10 * NMR, payout=12 * NMR, burn=0
        ),
        StakeResult(
            staker=BOB, model_id=2, submission_id=12, stake=5 * NMR, payout=3 * NMR, burn=2 * NMR
        ),
    ],
)


def chain_events() -> list[ChainEvent]:
    resolved = {
        "round_id": ROUND,
        "merkle_root": SETTLEMENT.root,
        "total_staked": 15 * NMR,
        "total_payout": 15 * NMR,
        "total_burn": 2 * NMR,
        "reward": 2 * NMR,
        "claim_deadline": 99,
    }
    return [
        event(1, "nmr", "Transfer", sender=ZERO, receiver=ALICE, value=100 * NMR),
        event(2, "nmr", "Transfer", sender=ZERO, receiver=BOB, value=100 * NMR),
        event(
            3,
            "staking",
            "RoundOpened",
            round_id=ROUND,
            tournament_id=8,
            open_time=0,
            close_time=1,
            resolve_time=2,
            stake_cap=0,
            stake_threshold=0,
        ),
        event(4, "nmr", "Transfer", sender=ALICE, receiver=STAKING, value=10 * NMR),
        event(
            4,
            "staking",
            "Staked",
            round_id=ROUND,
            staker=ALICE,
            model_id=1,
            submission_id=11,
            submission_hash=b"\x01" * 32,
            amount=10 * NMR,
            nonce=1,
        ),
        event(5, "nmr", "Transfer", sender=BOB, receiver=STAKING, value=5 * NMR),
        event(
            5,
            "staking",
            "Staked",
            round_id=ROUND,
            staker=BOB,
            model_id=2,
            submission_id=12,
            submission_hash=b"\x02" * 32,
            amount=5 * NMR,
            nonce=1,
        ),
        event(6, "nmr", "Transfer", sender=ALICE, receiver=STAKING, value=2 * NMR),  # reward
        event(6, "nmr", "Transfer", sender=STAKING, receiver=ZERO, value=2 * NMR),  # burn
        event(6, "staking", "RoundResolved", **resolved),
        event(7, "nmr", "Transfer", sender=STAKING, receiver=ALICE, value=12 * NMR),
        event(
            7,
            "staking",
            "Claimed",
            round_id=ROUND,
            staker=ALICE,
            model_id=1,
            submission_id=11,
            payout=12 * NMR,
            burn=0,
        ),
    ]


def expected(**overrides: Any) -> OffChainView:
    fields: dict[str, Any] = {
        "rounds": {
            ROUND: ExpectedRound(
                round_id=ROUND,
                stakes={1: (ALICE, 10 * NMR), 2: (BOB, 5 * NMR)},
                settlement=SETTLEMENT,
            )
        },
        "total_supply": 198 * NMR,
        "total_burned": 2 * NMR,
        "balances": {ALICE: 100 * NMR, BOB: 95 * NMR, STAKING: 3 * NMR},
    }
    fields.update(overrides)
    return OffChainView(**fields)


def test_agreeing_books_have_no_difference() -> None:
    view = ChainView.from_events(chain_events())
    assert reconcile(expected(), view) == []
    assert view.held_by_staking() == 3 * NMR  # Bob's unclaimed payout


def test_every_kind_of_difference_is_listed() -> None:
    view = ChainView.from_events(chain_events())
    other = build_settlement(
        ROUND,
        [
            StakeResult(
                staker=ALICE, model_id=1, submission_id=11, stake=10 * NMR, payout=13 * NMR, burn=0
            ),
            StakeResult(
                staker=BOB,
                model_id=2,
                submission_id=12,
                stake=5 * NMR,
                payout=3 * NMR,
                burn=2 * NMR,
            ),
        ],
    )
    books = expected(
        rounds={
            ROUND: ExpectedRound(
                round_id=ROUND,
                stakes={1: (BOB, 10 * NMR), 2: (BOB, 6 * NMR), 3: (ALICE, NMR)},
                settlement=other,
            ),
            9: ExpectedRound(round_id=9, stakes={}, settlement=other),
        },
        total_supply=200 * NMR,
        total_burned=0,
        balances={ALICE: 100 * NMR, BOB: 94 * NMR},
    )
    found = {(d.kind, d.subject) for d in reconcile(books, view)}
    assert found == {
        ("staker", f"round {ROUND} model 1"),
        ("stake_amount", f"round {ROUND} model 2"),
        ("stake_amount", f"round {ROUND} model 3"),
        ("merkle_root", f"round {ROUND}"),
        ("total_payout", f"round {ROUND}"),
        ("claim_payout", f"round {ROUND} model 1"),
        ("resolution_missing", "round 9"),
        ("round_missing", "round 9"),
        ("supply", "token"),
        ("burned", "token"),
        ("balance", BOB),
    }
    text = {str(d) for d in reconcile(books, view)}
    assert f"stake_amount round {ROUND} model 2: off chain {6 * NMR}, on chain {5 * NMR}" in text


def test_a_resolution_or_claim_the_platform_does_not_know_is_listed() -> None:
    view = ChainView.from_events(chain_events())
    books = expected(
        rounds={
            ROUND: ExpectedRound(round_id=ROUND, stakes={1: (ALICE, 10 * NMR), 2: (BOB, 5 * NMR)})
        }
    )
    assert {d.kind for d in reconcile(books, view)} == {"unexpected_resolution"}
    alone = build_settlement(ROUND, [SETTLEMENT.results[1]])
    books = expected(
        rounds={
            ROUND: ExpectedRound(
                round_id=ROUND,
                stakes={1: (ALICE, 10 * NMR), 2: (BOB, 5 * NMR)},
                settlement=alone,
            )
        }
    )
    kinds = {d.kind for d in reconcile(books, view)}
    assert "unexpected_claim" in kinds and "merkle_root" in kinds


def test_refunds_and_sweeps_leave_the_view_consistent() -> None:
    events = [
        *chain_events()[:7],
        event(8, "staking", "RoundCancelled", round_id=ROUND),
        event(9, "nmr", "Transfer", sender=STAKING, receiver=ALICE, value=10 * NMR),
        event(9, "staking", "Refunded", round_id=ROUND, staker=ALICE, model_id=1, amount=10 * NMR),
    ]
    view = ChainView.from_events(events)
    assert view.rounds[ROUND].cancelled
    assert view.stakes[(ROUND, 1)].amount == 0 and view.stakes[(ROUND, 1)].refunded == 10 * NMR
    assert view.held_by_staking() == 5 * NMR == view.balances[STAKING]
    books = expected(
        rounds={ROUND: ExpectedRound(round_id=ROUND, stakes={2: (BOB, 5 * NMR)})},
        total_supply=200 * NMR,
        total_burned=0,
        balances={},
    )
    assert reconcile(books, view) == []
    swept = ChainView.from_events(
        [
            *chain_events(),
            event(8, "staking", "Swept", round_id=ROUND, service_wallet=ALICE, amount=3 * NMR),
        ]
    )
    assert swept.held_by_staking() == 0

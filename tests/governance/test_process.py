"""The governance process end to end on a moved clock, and each of its rules."""

from __future__ import annotations

from datetime import timedelta

import pytest
from tests.governance.conftest import ANCHOR, World

from crowdalpha.errors import (
    GovernanceStateError,
    InsufficientFundsError,
    InvalidParameterError,
    NoVotingPowerError,
    TimelockError,
    VotingClosedError,
)
from crowdalpha.governance import GovernanceRules, verify
from crowdalpha.ledger import BURNED, TREASURY, escrow, nmr

DAY = timedelta(days=1)
WEEK = timedelta(days=7)


def test_a_passed_change_reaches_only_rounds_opening_after_its_timelock(world: World) -> None:
    t, gov, clock = world.tournament, world.governance, world.clock
    clock.set(ANCHOR)
    t.tick()
    assert t.round(1).config.clip == "0.05"  # round 1 opens under the operator's rules
    clock.set(ANCHOR + timedelta(hours=1))
    proposal = gov.propose(
        world.alice, "Wider clip", competition="classic", changes={"clip": "0.06"}
    )
    assert proposal.state == "voting"
    assert proposal.executable_at == clock.now() + 5 * DAY + 2 * DAY
    gov.vote(proposal.id, world.alice, "for")
    gov.vote(proposal.id, world.bob, "for")
    gov.vote(proposal.id, world.carol, "against")

    clock.set(ANCHOR + 5 * DAY + timedelta(hours=1))  # voting ends
    t.tick()  # nothing opens; governance tallies when it is next consulted
    gov.process()
    passed = gov.proposal(proposal.id)
    assert passed.state == "passed"
    assert passed.tally.votes_for == nmr(1_600) and passed.tally.votes_against == nmr(400)

    clock.set(ANCHOR + WEEK)  # round 2 opens before the timelock runs out
    t.tick()
    assert t.round(2).config.clip == "0.05"
    assert gov.proposal(proposal.id).state == "passed"

    clock.set(ANCHOR + WEEK + timedelta(hours=2))  # executable; round 2 is running
    gov.process()
    assert gov.proposal(proposal.id).state == "executed"
    t.tick()
    assert t.round(2).config.clip == "0.05"  # a running round keeps its rules

    clock.set(ANCHOR + 2 * WEEK)
    t.tick()
    assert t.round(3).config.clip == "0.06"  # the first round opened after the timelock
    assert [t.round(n).config.clip for n in (1, 2, 3)] == ["0.05", "0.05", "0.06"]
    assert t.next_round_config().clip == "0.06"
    kinds = [e.kind for e in gov.events(proposal.id)]
    assert kinds == [
        "proposed",
        "voted",
        "voted",
        "voted",
        "tallied",
        "deposit_returned",
        "executed",
    ]
    assert verify(gov).ok
    assert t.check_ledger().ok


def test_the_deposit_returns_on_quorum_and_burns_without(world: World) -> None:
    t, gov, clock = world.tournament, world.governance, world.clock
    before = t.wallet_balance(world.bob)
    heard = gov.propose(world.bob, "Heard", competition="classic", changes={"clip": "0.04"})
    ignored = gov.propose(world.bob, "Ignored", competition="classic", changes={"clip": "0.06"})
    assert t.wallet_balance(world.bob) == before - 2 * nmr(100)
    assert t.balance(escrow(heard.id)) == nmr(100)
    gov.vote(heard.id, world.carol, "against")  # 400 of 2,000 NMR: quorum (10 %) met
    burned = t.supply().burned
    clock.advance(5 * DAY)
    gov.process()
    assert gov.proposal(heard.id).state == "rejected"
    assert gov.proposal(ignored.id).state == "no_quorum"
    assert t.wallet_balance(world.bob) == before - nmr(100)  # one deposit back, one burned
    assert t.supply().burned == burned + nmr(100)
    assert t.balance(escrow(heard.id)) == t.balance(escrow(ignored.id)) == 0
    assert t.balance(BURNED) == burned + nmr(100)
    assert verify(gov).ok and t.check_ledger().ok


def test_quorum_is_exact_at_the_boundary(world: World) -> None:
    gov, clock = world.governance, world.clock
    # carol's 400 NMR out of 2,000 is 20 %; a quorum of 20 % is met exactly, 21 % is not
    for quorum, expected in (("0.2", "rejected"), ("0.21", "no_quorum")):
        gov.defaults = GovernanceRules(quorum=quorum)
        p = gov.propose(world.bob, f"q {quorum}", competition="classic", changes={"clip": "0.06"})
        gov.vote(p.id, world.carol, "against")
        clock.advance(5 * DAY)
        gov.process()
        assert gov.proposal(p.id).state == expected


def test_voting_twice_replaces_the_first_vote(world: World) -> None:
    gov = world.governance
    p = gov.propose(world.alice, "p", competition="classic", changes={"clip": "0.04"})
    gov.vote(p.id, world.bob, "for")
    gov.vote(p.id, world.bob, "against")
    gov.vote(p.id, world.bob, "against")
    tally = gov.proposal(p.id).tally
    assert (tally.votes_for, tally.votes_against, tally.voters) == (0, nmr(600), 1)
    votes = gov.votes(p.id)
    assert [(v.choice, v.counts) for v in votes] == [
        ("for", False),
        ("against", False),
        ("against", True),
    ]
    gov.vote(p.id, world.bob, "abstain")
    assert gov.proposal(p.id).tally.votes_abstain == nmr(600)
    assert gov.proposal(p.id).tally.turnout == nmr(600)


def test_a_vote_after_the_end_is_refused_and_changes_nothing(world: World) -> None:
    gov, clock = world.governance, world.clock
    p = gov.propose(world.alice, "p", competition="classic", changes={"clip": "0.04"})
    gov.vote(p.id, world.bob, "for")
    clock.advance(5 * DAY)  # the end itself is closed
    with pytest.raises(VotingClosedError):
        gov.vote(p.id, world.carol, "against")
    with pytest.raises(VotingClosedError):
        gov.vote(p.id, world.bob, "against")
    gov.process()
    final = gov.proposal(p.id)
    assert (final.tally.votes_for, final.tally.votes_against) == (nmr(600), 0)
    with pytest.raises(VotingClosedError):
        gov.vote(p.id, world.carol, "against")
    assert len(gov.votes(p.id)) == 1


def test_power_is_what_was_held_and_staked_at_the_snapshot(world: World) -> None:
    t, gov = world.tournament, world.governance
    p = gov.propose(world.bob, "p", competition="classic", changes={"clip": "0.04"})
    assert p.total_power == nmr(2_000)
    # alice's wallet and her model's stake both count; the deposit of the proposer too
    assert gov.power(p.id, world.alice) == nmr(1_000)
    assert gov.power(p.id, world.bob) == nmr(600)
    # after the snapshot: carol withdraws everything, bob stakes, a newcomer buys in
    t.withdraw(world.carol, nmr(400))
    bob_model = t.create_model(world.bob, "bob_model").id
    t.increase_stake(bob_model, nmr(100))
    dave = t.create_account("dave", "dave@example.org").id
    t.deposit(dave, nmr(50_000))
    assert gov.vote(p.id, world.carol, "against").power == nmr(400)
    assert gov.vote(p.id, world.bob, "for").power == nmr(600)  # the snapshot precedes his deposit
    with pytest.raises(NoVotingPowerError):
        gov.vote(p.id, dave, "for")
    # bob's power does not depend on when he votes
    assert gov.power(p.id, world.bob) == nmr(600)
    assert verify(gov).ok


def test_borrowed_power_cannot_be_counted_twice(world: World) -> None:
    """A flash loan needs the NMR in two places at one snapshot: impossible, since power is
    read from one ledger entry and every movement is one balanced entry."""
    t, gov = world.tournament, world.governance
    p = gov.propose(world.bob, "p", competition="classic", changes={"clip": "0.04"})
    # alice "lends" her NMR after the snapshot: it leaves her wallet and reaches carol's
    t.withdraw(world.alice, nmr(500))
    t.deposit(world.carol, nmr(500))
    alice = gov.vote(p.id, world.alice, "for").power
    carol = gov.vote(p.id, world.carol, "for").power
    bob = gov.vote(p.id, world.bob, "for").power
    assert (alice, carol) == (nmr(1_000), nmr(400))
    assert alice + carol + bob <= p.total_power
    # a loan made and repaid before a proposal leaves no trace in its snapshot either
    t.withdraw(world.carol, nmr(500))
    t.deposit(world.bob, nmr(500))
    t.withdraw(world.bob, nmr(500))
    t.deposit(world.carol, nmr(500))
    q = gov.propose(world.carol, "q", competition="classic", changes={"clip": "0.06"})
    assert gov.power(q.id, world.bob) == nmr(500)
    # everything held and staked: all NMR but the treasury's and p's escrowed deposit
    assert q.total_power == t.supply().circulating - t.balance(TREASURY) - nmr(100)


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        ({"clip": "0.5"}, "hard bounds"),
        ({"clip": "0.08"}, "at most 0.02"),
        ({"threshold": str(nmr(500))}, "hard bounds"),
        ({"multiplier.mmc": "3.0"}, "at most 0.5"),
        ({"multiplier.bogus": "1"}, "not a governable setting"),
        ({"schedule": "daily"}, "not a governable setting"),
        ({"policy": "winner_takes_all"}, "one of"),
        ({"clip": "lots"}, "must be a number"),
        ({"clip": "0.05"}, "already is"),
        ({}, "at least one"),
    ],
)
def test_out_of_range_changes_are_refused_at_proposal_time(
    world: World, changes: dict[str, str], fragment: str
) -> None:
    t, gov = world.tournament, world.governance
    wallet = t.wallet_balance(world.alice)
    with pytest.raises(InvalidParameterError, match=fragment):
        gov.propose(world.alice, "bad", competition="classic", changes=changes)
    assert gov.proposals() == [] and t.wallet_balance(world.alice) == wallet


def test_governance_rules_are_governable_within_hard_bounds(world: World) -> None:
    gov, clock = world.governance, world.clock
    for bad, fragment in (
        ({"quorum": "0"}, "hard bounds"),
        ({"timelock": "0"}, "hard bounds"),
        ({"deposit": "0"}, "hard bounds"),
        ({"approval": "0.75"}, "at most 0.1"),
    ):
        with pytest.raises(InvalidParameterError, match=fragment):
            gov.propose(world.alice, "bad", governance=bad)
    with pytest.raises(InvalidParameterError):
        GovernanceRules(quorum="0.9")  # an operator's defaults obey the same bounds
    p = gov.propose(world.alice, "Quicker", governance={"voting_period": str(3 * 86_400)})
    gov.vote(p.id, world.alice, "for")
    clock.advance(7 * DAY)
    gov.process()
    assert gov.proposal(p.id).state == "executed"
    assert gov.rules().voting_period == 3 * DAY
    q = gov.propose(world.alice, "after", competition="classic", changes={"clip": "0.04"})
    assert q.voting_ends_at - q.created_at == 3 * DAY


def test_executing_early_or_twice_or_a_rejected_proposal_is_refused(world: World) -> None:
    gov, clock = world.governance, world.clock
    p = gov.propose(world.alice, "p", competition="classic", changes={"clip": "0.04"})
    gov.vote(p.id, world.alice, "for")
    with pytest.raises(GovernanceStateError):
        gov.execute(p.id)  # still voting
    clock.advance(5 * DAY)
    gov.process()
    with pytest.raises(TimelockError):
        gov.execute(p.id)
    assert gov.proposal(p.id).state == "passed"
    clock.advance(2 * DAY - timedelta(seconds=1))
    assert gov.process() == []
    with pytest.raises(TimelockError):
        gov.execute(p.id)
    clock.advance(timedelta(seconds=1))
    assert gov.execute(p.id).state == "executed"
    with pytest.raises(GovernanceStateError):
        gov.execute(p.id)
    r = gov.propose(world.alice, "r", competition="classic", changes={"clip": "0.06"})
    gov.vote(r.id, world.alice, "against")
    clock.advance(7 * DAY)
    gov.process()
    with pytest.raises(GovernanceStateError):
        gov.execute(r.id)
    assert gov.proposal(r.id).state == "rejected"


def test_two_passed_proposals_for_one_round_execute_in_order(world: World) -> None:
    t, gov, clock = world.tournament, world.governance, world.clock
    first = gov.propose(world.alice, "up", competition="classic", changes={"clip": "0.06"})
    clock.advance(timedelta(hours=1))
    second = gov.propose(world.bob, "down", competition="classic", changes={"clip": "0.04"})
    for p in (first, second):
        gov.vote(p.id, world.alice, "for")
    clock.set(ANCHOR + WEEK)  # both executable when round 1 opens
    assert clock.now() >= second.executable_at
    t.tick()
    one, two = gov.proposal(first.id), gov.proposal(second.id)
    assert one.state == two.state == "executed"
    assert one.executed_at is not None and two.executed_at is not None
    assert t.round(1).config.clip == "0.04"  # the later proposal's value wins
    executed = [e.proposal_id for e in gov.events() if e.kind == "executed"]
    assert executed == [first.id, second.id]


def test_a_grant_pays_from_the_treasury_after_its_timelock(world: World) -> None:
    t, gov, clock = world.tournament, world.governance, world.clock
    treasury = t.balance(TREASURY)
    p = gov.propose(
        world.carol, "Fund carol's tooling", grant_to=world.carol, grant_amount=nmr(250)
    )
    gov.vote(p.id, world.alice, "for")
    clock.advance(5 * DAY)
    gov.process()
    assert t.balance(TREASURY) == treasury
    clock.advance(2 * DAY)
    gov.process()
    assert gov.proposal(p.id).state == "executed"
    assert t.balance(TREASURY) == treasury - nmr(250)
    assert t.wallet_balance(world.carol) == nmr(400) + nmr(250)
    assert verify(gov).ok and t.check_ledger().ok
    with pytest.raises(InvalidParameterError, match="treasury"):
        gov.propose(world.carol, "Too much", grant_to=world.carol, grant_amount=nmr(10**6))
    with pytest.raises(InvalidParameterError):
        gov.propose(world.carol, "Nothing", grant_to=world.carol, grant_amount=0)


def test_a_grant_the_treasury_can_no_longer_pay_fails_visibly(world: World) -> None:
    t, gov, clock = world.tournament, world.governance, world.clock
    p = gov.propose(world.bob, "Big", grant_to=world.bob, grant_amount=nmr(90_000))
    gov.vote(p.id, world.alice, "for")
    t.grant(world.carol, nmr(50_000))  # the treasury spends in the meantime
    clock.advance(7 * DAY)
    gov.process()
    failed = gov.proposal(p.id)
    assert failed.state == "failed" and failed.failure and "treasury" in failed.failure
    assert t.wallet_balance(world.bob) == nmr(600)  # deposit back, no grant
    assert verify(gov).ok


def test_a_proposer_without_the_deposit_is_refused(world: World) -> None:
    t, gov = world.tournament, world.governance
    poor = t.create_account("poor", "poor@example.org").id
    t.grant(poor, nmr(99))
    with pytest.raises(InsufficientFundsError):
        gov.propose(poor, "p", competition="classic", changes={"clip": "0.04"})
    assert gov.proposals() == [] and t.wallet_balance(poor) == nmr(99)


def test_verify_finds_a_tampered_tally_and_vote(world: World) -> None:
    from sqlalchemy import update

    from crowdalpha.governance.models import Proposal, Vote

    gov, clock = world.governance, world.clock
    p = gov.propose(world.alice, "p", competition="classic", changes={"clip": "0.04"})
    gov.vote(p.id, world.bob, "for")
    clock.advance(5 * DAY)
    gov.process()
    assert verify(gov).ok
    with world.tournament.engine.begin() as connection:
        connection.execute(update(Proposal).values(votes_for=nmr(601)))
    report = verify(gov)
    assert not report.ok and "tally recorded" in report.problems[0]
    with world.tournament.engine.begin() as connection:
        connection.execute(update(Proposal).values(votes_for=nmr(600)))
        connection.execute(update(Vote).values(power=nmr(601)))
    problems = verify(gov).problems
    assert any("the ledger gives" in problem for problem in problems)

"""The staking contract (contracts/staking.vy) on titanoboa: every function, every refusal."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from eth_account import Account
from tests.chain.support import CLAIM_PERIOD, DAY, GRACE, NMR, ROUND, BoaWorld, key

from crowdalpha.chain.artifacts import load_artifact
from crowdalpha.chain.contracts import RoundState
from crowdalpha.chain.settlement import Settlement, StakeResult, build_settlement
from crowdalpha.chain.signing import AuthorizationSigner, sign_permit

ZERO = "0x0000000000000000000000000000000000000000"


def events(contract: Any, name: str) -> list[Any]:
    return [e for e in contract.get_logs() if type(e).__name__ == name]


def result(world: BoaWorld, i: int, stake: int, payout: int, burn: int) -> StakeResult:
    return StakeResult(
        staker=world.stakers[i].address,
        model_id=i + 1,
        submission_id=1001 + i,
        stake=stake,
        payout=payout,
        burn=burn,
    )


def staked_round(world: BoaWorld) -> Settlement:
    """Stakers 0-2 stake 10, 20, 30 NMR on models 1-3; the round closes; staker 0 wins
    5 NMR, staker 1 loses 4 NMR (burned), staker 2 breaks even."""
    for i, amount in enumerate((10, 20, 30)):
        world.stake(world.stakers[i], i + 1, amount * NMR)
    world.close()
    return build_settlement(
        ROUND,
        [
            result(world, 0, 10 * NMR, 15 * NMR, 0),
            result(world, 1, 20 * NMR, 16 * NMR, 4 * NMR),
            result(world, 2, 30 * NMR, 30 * NMR, 0),
        ],
    )


def post(world: BoaWorld, settlement: Settlement) -> None:
    world.staking.post_root(
        settlement.round_id,
        settlement.root,
        settlement.total_payout,
        settlement.total_burn,
        sender=world.owner,
    )


# -- deployment and configuration -------------------------------------------------------


@pytest.mark.parametrize(
    ("position", "value", "reason"),
    [
        (0, ZERO, "staking: token is the zero address"),
        (1, ZERO, "staking: signer is the zero address"),
        (2, ZERO, "staking: service wallet is the zero address"),
        (3, ZERO, "staking: guardian is the zero address"),
        (4, DAY - 1, "staking: claim period under a day"),
        (5, DAY - 1, "staking: resolution grace under a day"),
    ],
)
def test_the_constructor_refuses_unusable_settings(
    world: BoaWorld, position: int, value: object, reason: str
) -> None:
    args: list[object] = [
        world.token.address,
        world.signer.address,
        world.service,
        world.guardian,
        CLAIM_PERIOD,
        GRACE,
    ]
    args[position] = value
    with world.boa.reverts(reason):
        world.staking_deployer.deploy(*args)


def test_the_configuration_is_readable_and_changed_only_by_the_owner(world: BoaWorld) -> None:
    staking, boa = world.staking, world.boa
    assert staking.TOKEN() == world.token.address
    assert (staking.CLAIM_PERIOD(), staking.RESOLUTION_GRACE()) == (CLAIM_PERIOD, GRACE)
    assert staking.owner() == world.owner and staking.pending_owner() == ZERO
    assert (staking.authorization_signer(), staking.guardian(), staking.service_wallet()) == (
        world.signer.address,
        world.guardian,
        world.service,
    )
    new = key("new role holder").address
    for setter, event, fields in (
        (
            "set_authorization_signer",
            "AuthorizationSignerChanged",
            ("previous_signer", "new_signer"),
        ),
        ("set_guardian", "GuardianChanged", ("previous_guardian", "new_guardian")),
        ("set_service_wallet", "ServiceWalletChanged", ("previous_wallet", "new_wallet")),
    ):
        with boa.reverts("ownable: caller is not the owner"):
            getattr(staking, setter)(new, sender=world.guardian)
        with boa.reverts():
            getattr(staking, setter)(ZERO, sender=world.owner)
        getattr(staking, setter)(new, sender=world.owner)
        [log] = events(staking, event)
        assert getattr(log, fields[1]) == new and getattr(log, fields[0]) != new
    assert staking.authorization_signer() == staking.guardian() == staking.service_wallet() == new


def test_ownership_moves_in_two_steps_and_cannot_be_renounced(world: BoaWorld) -> None:
    staking, boa = world.staking, world.boa
    heir, stranger = key("heir").address, key("stranger").address
    with boa.reverts("ownable: caller is not the owner"):
        staking.transfer_ownership(heir, sender=stranger)
    staking.transfer_ownership(heir, sender=world.owner)
    [started] = events(staking, "OwnershipTransferStarted")
    assert (started.previous_owner, started.new_owner) == (world.owner, heir)
    assert staking.pending_owner() == heir and staking.owner() == world.owner
    with boa.reverts("ownable_2step: caller is not the new owner"):
        staking.accept_ownership(sender=stranger)
    staking.accept_ownership(sender=heir)
    [transferred] = events(staking, "OwnershipTransferred")
    assert (transferred.previous_owner, transferred.new_owner) == (world.owner, heir)
    assert staking.owner() == heir and staking.pending_owner() == ZERO
    functions = {e["name"] for e in load_artifact("staking").abi if e["type"] == "function"}
    assert "renounce_ownership" not in functions


def test_the_guardian_or_the_owner_pauses_and_unpauses(world: BoaWorld) -> None:
    staking, boa = world.staking, world.boa
    with boa.reverts("staking: caller is not the guardian"):
        staking.pause(sender=world.service)
    with boa.reverts("pausable: contract is not paused"):
        staking.unpause(sender=world.guardian)
    staking.pause(sender=world.guardian)
    assert events(staking, "Paused")[0].account == world.guardian and staking.paused()
    with boa.reverts("pausable: contract is paused"):
        staking.pause(sender=world.owner)
    with boa.reverts("pausable: contract is paused"):
        world.stake(world.stakers[0], 1, NMR)
    staking.unpause(sender=world.owner)
    assert events(staking, "Unpaused")[0].account == world.owner and not staking.paused()
    world.stake(world.stakers[0], 1, NMR)


# -- rounds -----------------------------------------------------------------------------


def test_open_round_records_the_schedule_and_refuses_bad_ones(world: BoaWorld) -> None:
    staking, boa, now = world.staking, world.boa, world.boa.env.timestamp
    with boa.reverts("ownable: caller is not the owner"):
        staking.open_round(2, 8, now, now + 10, now + 20, 0, 0, sender=world.guardian)
    with boa.reverts("round: already exists"):
        staking.open_round(ROUND, 8, now, now + 10, now + 20, 0, 0, sender=world.owner)
    with boa.reverts("round: closes before it opens"):
        staking.open_round(2, 8, now + 10, now + 10, now + 20, 0, 0, sender=world.owner)
    with boa.reverts("round: resolves before it closes"):
        staking.open_round(2, 8, now, now + 10, now + 9, 0, 0, sender=world.owner)
    with boa.reverts("round: already closed"):
        staking.open_round(2, 8, now - 20, now, now + 9, 0, 0, sender=world.owner)
    staking.open_round(
        11_000_002, 11, now + 5, now + 10, now + 20, 7 * NMR, 3 * NMR, sender=world.owner
    )
    [opened] = events(staking, "RoundOpened")
    assert (opened.round_id, opened.tournament_id, opened.stake_cap, opened.stake_threshold) == (
        11_000_002,
        11,
        7 * NMR,
        3 * NMR,
    )
    assert staking.rounds(11_000_002) == (
        11,
        now + 5,
        now + 10,
        now + 20,
        7 * NMR,
        3 * NMR,
        0,
        False,
    )
    assert staking.round_state(11_000_002) == RoundState.PENDING
    assert staking.round_state(5) == RoundState.UNKNOWN


def test_a_round_walks_through_its_states(world: BoaWorld) -> None:
    staking, boa = world.staking, world.boa
    assert staking.round_state(ROUND) == RoundState.OPEN
    settlement = staked_round(world)
    assert staking.round_state(ROUND) == RoundState.CLOSED
    post(world, settlement)
    assert staking.round_state(ROUND) == RoundState.RESOLVED
    boa.env.timestamp += CLAIM_PERIOD + 1
    assert staking.round_state(ROUND) == RoundState.EXPIRED


def test_cancel_round_makes_stakes_refundable(world: BoaWorld) -> None:
    staking, boa = world.staking, world.boa
    world.stake(world.stakers[0], 1, 10 * NMR)
    world.stake(world.stakers[0], 1, 5 * NMR)  # a model's stake can be raised
    world.stake(world.stakers[1], 2, 20 * NMR)
    with boa.reverts("ownable: caller is not the owner"):
        staking.cancel_round(ROUND, sender=world.guardian)
    with boa.reverts("round: unknown"):
        staking.cancel_round(77, sender=world.owner)
    with boa.reverts("refund: round not cancelled or abandoned"):
        staking.refund(ROUND, 1)
    staking.cancel_round(ROUND, sender=world.owner)
    assert events(staking, "RoundCancelled")[0].round_id == ROUND
    assert staking.round_state(ROUND) == RoundState.CANCELLED
    with boa.reverts("round: cancelled"):
        staking.cancel_round(ROUND, sender=world.owner)
    with boa.reverts("round: cancelled"):
        world.stake(world.stakers[2], 3, NMR)
    staking.refund(ROUND, 1, sender=key("anyone").address)  # anyone may trigger it
    [refunded] = events(staking, "Refunded")
    assert (refunded.staker, refunded.model_id, refunded.amount) == (
        world.stakers[0].address,
        1,
        15 * NMR,
    )
    assert world.token.balanceOf(world.stakers[0].address) == 1_000 * NMR
    assert staking.stake_of(ROUND, 1) == (world.stakers[0].address, 0)
    assert staking.rounds(ROUND)[6] == 20 * NMR
    with boa.reverts("refund: nothing staked"):
        staking.refund(ROUND, 1)
    with boa.reverts("refund: nothing staked"):
        staking.refund(ROUND, 9)
    staking.pause(sender=world.guardian)
    with boa.reverts("pausable: contract is paused"):
        staking.refund(ROUND, 2)
    staking.unpause(sender=world.guardian)
    staking.refund(ROUND, 2)
    assert world.token.balanceOf(staking.address) == 0


def test_an_unresolved_round_is_abandoned_after_the_grace_and_refunds(world: BoaWorld) -> None:
    staking, boa = world.staking, world.boa
    settlement = staked_round(world)
    boa.env.timestamp = world.start + 2 * DAY + GRACE
    assert staking.round_state(ROUND) == RoundState.CLOSED
    with boa.reverts("refund: round not cancelled or abandoned"):
        staking.refund(ROUND, 1)
    boa.env.timestamp += 1
    assert staking.round_state(ROUND) == RoundState.ABANDONED
    with boa.reverts("round: abandoned"):
        post(world, settlement)
    for model_id in (1, 2, 3):
        staking.refund(ROUND, model_id)
    assert [world.token.balanceOf(s.address) for s in world.stakers[:3]] == [1_000 * NMR] * 3


# -- staking ----------------------------------------------------------------------------


def test_a_stake_is_pulled_against_a_valid_authorization(world: BoaWorld) -> None:
    staking, token = world.staking, world.token
    alice = world.stakers[0]
    signed = world.stake(alice, 1, 12 * NMR, max_amount=12 * NMR)
    [staked] = events(staking, "Staked")
    a = signed.authorization
    assert (staked.round_id, staked.staker, staked.model_id, staked.submission_id) == (
        ROUND,
        alice.address,
        1,
        a.submission_id,
    )
    assert (staked.submission_hash, staked.amount, staked.nonce) == (
        a.submission_hash,
        12 * NMR,
        a.nonce,
    )
    assert token.balanceOf(staking.address) == 12 * NMR
    assert token.balanceOf(alice.address) == 988 * NMR
    assert staking.stake_of(ROUND, 1) == (alice.address, 12 * NMR)
    assert staking.rounds(ROUND)[6] == 12 * NMR
    assert staking.authorization_used(alice.address, a.nonce)
    assert staking.authorization_digest(
        alice.address,
        ROUND,
        1,
        a.submission_id,
        a.submission_hash,
        a.max_amount,
        a.nonce,
        a.deadline,
    ) == a.digest(world.boa.env.evm.patch.chain_id, str(staking.address))


def test_a_replayed_or_expired_authorization_is_refused(world: BoaWorld) -> None:
    boa, alice = world.boa, world.stakers[0]
    signed = world.stake(alice, 1, NMR, nonce=42)
    with boa.reverts("stake: authorization already used"):
        world.staking.stake(*signed.stake_args(NMR), sender=alice.address)
    late = world.authorize(alice, 1, deadline=boa.env.timestamp - 1)
    with boa.reverts("stake: authorization expired"):
        world.staking.stake(*late.stake_args(NMR), sender=alice.address)
    # The same nonce is free for another staker: nonces are per staker.
    world.stake(world.stakers[1], 2, NMR, nonce=42)


def test_amounts_outside_the_authorization_are_refused(world: BoaWorld) -> None:
    boa, alice = world.boa, world.stakers[0]
    signed = world.authorize(alice, 1, max_amount=5 * NMR)
    with boa.reverts("stake: amount is zero"):
        world.staking.stake(*signed.stake_args(0), sender=alice.address)
    with boa.reverts("stake: amount above the authorized most"):
        world.staking.stake(*signed.stake_args(5 * NMR + 1), sender=alice.address)


def test_an_authorization_for_anything_else_is_refused(world: BoaWorld) -> None:
    boa, staking = world.boa, world.staking
    alice, bob = world.stakers[0], world.stakers[1]
    signed = world.authorize(alice, 1, max_amount=10 * NMR)
    args = list(signed.stake_args(NMR))
    with boa.reverts("stake: invalid authorization"):  # another staker
        staking.stake(*args, sender=bob.address)
    for position, other in (
        (1, 2),  # another model
        (2, 999),  # another submission
        (3, b"\x01" * 32),  # another file
        (5, 11 * NMR),  # a higher most
        (7, signed.authorization.deadline + 1),  # a later deadline
    ):
        forged = list(args)
        forged[position] = other
        with boa.reverts("stake: invalid authorization"):
            staking.stake(*forged, sender=alice.address)
    now = boa.env.timestamp
    staking.open_round(8_000_002, 8, now, now + DAY, now + 2 * DAY, 0, 0, sender=world.owner)
    forged = list(args)
    forged[0] = 8_000_002  # another round
    with boa.reverts("stake: invalid authorization"):
        staking.stake(*forged, sender=alice.address)
    for signer in (
        # another chain, another contract, another key
        AuthorizationSigner(
            world.signer,
            chain_id=1,
            staking_address=str(staking.address),
            nmr_address=str(world.token.address),
        ),
        AuthorizationSigner(
            world.signer,
            chain_id=31337,
            staking_address=str(world.token.address),
            nmr_address=str(world.token.address),
        ),
        AuthorizationSigner(
            Account.create(),
            chain_id=31337,
            staking_address=str(staking.address),
            nmr_address=str(world.token.address),
        ),
    ):
        other = signer.authorize(
            staker=alice.address,
            tournament_id=8,
            round_id=ROUND,
            model_id=1,
            submission_id=1001,
            submission_hash=signed.authorization.submission_hash,
            max_amount=10 * NMR,
            deadline=signed.authorization.deadline,
        )
        with boa.reverts("stake: invalid authorization"):
            staking.stake(*other.stake_args(NMR), sender=alice.address)
    with boa.reverts("stake: invalid authorization"):  # another tournament
        world.stake(alice, 1, NMR, tournament_id=11)
    bad = list(args)
    bad[8] = b"\x00" * 10  # not a signature at all
    with boa.reverts("stake: invalid authorization"):
        staking.stake(*bad, sender=alice.address)
    # Rotating the signer voids authorizations of the old key.
    staking.set_authorization_signer(key("rotated").address, sender=world.owner)
    with boa.reverts("stake: invalid authorization"):
        staking.stake(*args, sender=alice.address)


def test_stakes_only_while_the_round_is_open(world: BoaWorld) -> None:
    boa, staking, alice = world.boa, world.staking, world.stakers[0]
    with boa.reverts("round: unknown"):
        world.stake(alice, 1, NMR, round_id=5)
    now = boa.env.timestamp
    staking.open_round(8_000_002, 8, now + 100, now + DAY, now + 2 * DAY, 0, 0, sender=world.owner)
    with boa.reverts("round: not open yet"):
        world.stake(alice, 1, NMR, round_id=8_000_002)
    world.close()
    with boa.reverts("round: closed"):
        world.stake(alice, 1, NMR, deadline=boa.env.timestamp + 10)


def test_the_round_stake_cap_is_enforced(world: BoaWorld) -> None:
    boa, staking = world.boa, world.staking
    now = boa.env.timestamp
    staking.open_round(8_000_002, 8, now, now + DAY, now + 2 * DAY, 25 * NMR, 0, sender=world.owner)
    world.stake(world.stakers[0], 1, 20 * NMR, round_id=8_000_002)
    world.stake(world.stakers[1], 2, 5 * NMR, round_id=8_000_002)
    with boa.reverts("stake: round stake cap reached"):
        world.stake(world.stakers[2], 3, 1, round_id=8_000_002)


def test_a_model_has_one_staker_per_round(world: BoaWorld) -> None:
    world.stake(world.stakers[0], 1, NMR)
    with world.boa.reverts("stake: model staked by another wallet"):
        world.stake(world.stakers[1], 1, NMR)
    world.stake(world.stakers[0], 1, 2 * NMR)
    assert world.staking.stake_of(ROUND, 1) == (world.stakers[0].address, 3 * NMR)


def test_a_stake_without_allowance_or_funds_is_refused(world: BoaWorld) -> None:
    boa, alice = world.boa, world.stakers[0]
    with boa.reverts("erc20: transfer amount exceeds balance"):
        world.stake(alice, 1, 1_000 * NMR + 1, max_amount=2_000 * NMR)
    world.token.approve(world.staking.address, NMR - 1, sender=alice.address)
    with boa.reverts("erc20: insufficient allowance"):
        world.stake(alice, 1, NMR)


def test_a_model_stake_beyond_96_bits_is_refused(world: BoaWorld) -> None:
    boa, alice = world.boa, world.stakers[0]
    world.token.mint(alice.address, 5_000_000 * NMR, sender=world.owner)
    with boa.reverts("stake: amount too large"):
        world.stake(alice, 1, 2**96, max_amount=2**96)


def test_stake_with_permit_needs_no_prior_approval(world: BoaWorld) -> None:
    boa, staking, token = world.boa, world.staking, world.token
    carol = key("carol")
    token.mint(carol.address, 50 * NMR, sender=world.owner)
    chain_id = boa.env.evm.patch.chain_id
    signed = world.authorize(carol, 4)
    permit = sign_permit(
        carol,
        token_name="Numeraire",
        token_address=str(token.address),
        chain_id=chain_id,
        spender=str(staking.address),
        amount=30 * NMR,
        nonce=0,
        deadline=boa.env.timestamp + 600,
    )
    permit_args = (permit.deadline, permit.v, permit.r, permit.s)
    staking.stake_with_permit(*signed.stake_args(30 * NMR), *permit_args, sender=carol.address)
    assert token.balanceOf(carol.address) == 20 * NMR
    assert staking.stake_of(ROUND, 4) == (carol.address, 30 * NMR)
    # A permit someone already used (front-run) is skipped; the allowance it set is spent.
    again = world.authorize(carol, 4)
    permit2 = replace(
        sign_permit(
            carol,
            token_name="Numeraire",
            token_address=str(token.address),
            chain_id=chain_id,
            spender=str(staking.address),
            amount=5 * NMR,
            nonce=1,
            deadline=boa.env.timestamp + 600,
        )
    )
    token.permit(
        carol.address, staking.address, 5 * NMR, permit2.deadline, permit2.v, permit2.r, permit2.s
    )
    staking.stake_with_permit(
        *again.stake_args(5 * NMR),
        permit2.deadline,
        permit2.v,
        permit2.r,
        permit2.s,
        sender=carol.address,
    )
    assert staking.stake_of(ROUND, 4) == (carol.address, 35 * NMR)
    # A bad permit and no allowance: the transfer is refused.
    third = world.authorize(carol, 4)
    with boa.reverts("erc20: insufficient allowance"):
        staking.stake_with_permit(*third.stake_args(NMR), *permit_args, sender=carol.address)


# -- resolution -------------------------------------------------------------------------


def test_post_root_burns_and_pulls_the_reward_in_one_transaction(world: BoaWorld) -> None:
    staking, token = world.staking, world.token
    settlement = staked_round(world)
    supply, service = token.totalSupply(), token.balanceOf(world.service)
    post(world, settlement)
    transfers = [(t.sender, t.receiver, t.value) for t in events(staking, "Transfer")]
    assert transfers == [  # the reward pulled in, then the burn
        (world.service, staking.address, 5 * NMR),
        (staking.address, ZERO, 4 * NMR),
    ]
    [resolved] = events(staking, "RoundResolved")
    assert (resolved.round_id, resolved.merkle_root) == (ROUND, settlement.root)
    assert (resolved.total_staked, resolved.total_payout, resolved.total_burn, resolved.reward) == (
        60 * NMR,
        61 * NMR,
        4 * NMR,
        5 * NMR,
    )
    assert resolved.claim_deadline == world.boa.env.timestamp + CLAIM_PERIOD
    assert token.totalSupply() == supply - 4 * NMR
    assert token.balanceOf(world.service) == service - 5 * NMR
    assert token.balanceOf(staking.address) == 61 * NMR
    assert staking.merkle_root(ROUND) == settlement.root
    assert staking.settlement(ROUND) == (61 * NMR, 4 * NMR, resolved.claim_deadline)


def test_post_root_refuses_every_inconsistent_resolution(world: BoaWorld) -> None:
    boa, staking = world.boa, world.staking
    settlement = staked_round(world)
    root = settlement.root
    with boa.reverts("ownable: caller is not the owner"):
        staking.post_root(ROUND, root, 61 * NMR, 4 * NMR, sender=world.service)
    with boa.reverts("round: unknown"):
        staking.post_root(77, root, 61 * NMR, 4 * NMR, sender=world.owner)
    with boa.reverts("root: empty"):
        staking.post_root(ROUND, b"\x00" * 32, 61 * NMR, 4 * NMR, sender=world.owner)
    with boa.reverts("root: amount too large"):
        staking.post_root(ROUND, root, 2**96, 0, sender=world.owner)
    with boa.reverts("root: burns more than the stakes"):
        staking.post_root(ROUND, root, 0, 60 * NMR + 1, sender=world.owner)
    with boa.reverts("root: does not cover the stakes"):
        staking.post_root(ROUND, root, 50 * NMR, 4 * NMR, sender=world.owner)
    world.token.approve(staking.address, 0, sender=world.service)
    with boa.reverts("erc20: insufficient allowance"):  # the service wallet must pay rewards
        post(world, settlement)
    world.token.approve(staking.address, 2**256 - 1, sender=world.service)
    post(world, settlement)
    with boa.reverts("round: already resolved"):
        post(world, settlement)
    with boa.reverts("round: already resolved"):
        staking.cancel_round(ROUND, sender=world.owner)
    now = boa.env.timestamp
    staking.open_round(8_000_002, 8, now, now + DAY, now + 2 * DAY, 0, 0, sender=world.owner)
    with boa.reverts("round: not closed"):
        staking.post_root(8_000_002, root, 0, 0, sender=world.owner)
    staking.cancel_round(8_000_002, sender=world.owner)
    with boa.reverts("round: cancelled"):
        staking.post_root(8_000_002, root, 0, 0, sender=world.owner)


def test_every_staker_claims_once_with_the_proof(world: BoaWorld) -> None:
    staking, token = world.staking, world.token
    settlement = staked_round(world)
    post(world, settlement)
    relayer = key("relayer").address
    for claim in settlement.claims():
        before = token.balanceOf(claim.staker)
        assert not staking.is_claimed(ROUND, claim.model_id)
        staking.claim(*claim.args(), sender=relayer)  # anyone may relay a claim
        [claimed] = events(staking, "Claimed")
        assert (claimed.round_id, claimed.staker, claimed.model_id) == (
            ROUND,
            claim.staker,
            claim.model_id,
        )
        assert (claimed.submission_id, claimed.payout, claimed.burn) == (
            claim.submission_id,
            claim.payout,
            claim.burn,
        )
        assert token.balanceOf(claim.staker) == before + claim.payout
        assert staking.is_claimed(ROUND, claim.model_id)
        with world.boa.reverts("claim: already claimed"):
            staking.claim(*claim.args())
    assert token.balanceOf(staking.address) == 0
    assert staking.settlement(ROUND)[:2] == (0, 0)
    balances = [token.balanceOf(s.address) for s in world.stakers[:3]]
    assert balances == [1_005 * NMR, 996 * NMR, 1_000 * NMR]


def test_a_claim_that_is_not_in_the_tree_is_refused(world: BoaWorld) -> None:
    boa, staking = world.boa, world.staking
    settlement = staked_round(world)
    claim = settlement.claim(2)
    with boa.reverts("claim: round not resolved"):
        staking.claim(*claim.args())
    post(world, settlement)
    for forged in (
        replace(claim, payout=claim.payout + 1),
        replace(claim, burn=0),
        replace(claim, staker=world.stakers[3].address),
        replace(claim, submission_id=claim.submission_id + 1),
        replace(claim, model_id=3),
        replace(claim, proof=claim.proof[:-1]),
        replace(claim, proof=(b"\x11" * 32, *claim.proof[1:])),
    ):
        with boa.reverts("claim: invalid proof"):
            staking.claim(*forged.args())
    staking.claim(*claim.args())


def test_claims_never_pay_more_than_the_posted_total(world: BoaWorld) -> None:
    """A wrong root (leaves paying more than the total) cannot drain other rounds."""
    boa, staking = world.boa, world.staking
    for i, amount in enumerate((10, 20)):
        world.stake(world.stakers[i], i + 1, amount * NMR)
    world.close()
    greedy = build_settlement(
        ROUND,
        [result(world, 0, 10 * NMR, 25 * NMR, 0), result(world, 1, 20 * NMR, 20 * NMR, 0)],
    )
    staking.post_root(ROUND, greedy.root, 30 * NMR, 0, sender=world.owner)  # understated
    staking.claim(*greedy.claim(1).args())
    with boa.reverts("claim: exceeds the round's unclaimed payout"):
        staking.claim(*greedy.claim(2).args())


def test_a_burn_only_leaf_is_claimable_and_shows_the_burn(world: BoaWorld) -> None:
    staking, token = world.staking, world.token
    world.stake(world.stakers[0], 1, 8 * NMR)
    world.close()
    settlement = build_settlement(ROUND, [result(world, 0, 8 * NMR, 0, 8 * NMR)])
    post(world, settlement)
    assert settlement.claim(1).proof == ()  # a one-leaf tree: the root is the leaf
    before = token.balanceOf(world.stakers[0].address)
    staking.claim(*settlement.claim(1).args())
    [claimed] = events(staking, "Claimed")
    assert (claimed.payout, claimed.burn) == (0, 8 * NMR)
    assert events(staking, "Transfer") == []  # nothing to pay
    assert token.balanceOf(world.stakers[0].address) == before
    assert staking.settlement(ROUND)[:2] == (0, 0)


def test_claims_stop_at_the_deadline_and_the_rest_is_swept(world: BoaWorld) -> None:
    boa, staking, token = world.boa, world.staking, world.token
    settlement = staked_round(world)
    post(world, settlement)
    with boa.reverts("sweep: claim period not over"):
        staking.sweep(ROUND)
    staking.claim(*settlement.claim(1).args())
    deadline = staking.settlement(ROUND)[2]
    boa.env.timestamp = deadline
    staking.claim(*settlement.claim(2).args())  # the deadline itself is still in time
    boa.env.timestamp = deadline + 1
    with boa.reverts("claim: claim period over"):
        staking.claim(*settlement.claim(3).args())
    service = token.balanceOf(world.service)
    staking.pause(sender=world.guardian)
    with boa.reverts("pausable: contract is paused"):
        staking.sweep(ROUND)
    staking.unpause(sender=world.guardian)
    staking.sweep(ROUND, sender=key("anyone").address)
    [swept] = events(staking, "Swept")
    assert (swept.round_id, swept.service_wallet, swept.amount) == (ROUND, world.service, 30 * NMR)
    assert token.balanceOf(world.service) == service + 30 * NMR
    assert token.balanceOf(staking.address) == 0
    with boa.reverts("sweep: nothing to sweep"):
        staking.sweep(ROUND)
    with boa.reverts("sweep: round not resolved"):
        staking.sweep(77)


def test_a_paused_contract_takes_no_claims(world: BoaWorld) -> None:
    settlement = staked_round(world)
    post(world, settlement)
    world.staking.pause(sender=world.guardian)
    with world.boa.reverts("pausable: contract is paused"):
        world.staking.claim(*settlement.claim(1).args())


def test_the_payout_factor_follows_the_threshold(world: BoaWorld) -> None:
    boa, staking = world.boa, world.staking
    now = boa.env.timestamp
    staking.open_round(8_000_002, 8, now, now + DAY, now + 2 * DAY, 0, 40 * NMR, sender=world.owner)
    assert staking.payout_factor(8_000_002) == NMR
    world.stake(world.stakers[0], 1, 40 * NMR, round_id=8_000_002)
    assert staking.payout_factor(8_000_002) == NMR
    world.stake(world.stakers[1], 2, 60 * NMR, round_id=8_000_002)
    assert staking.payout_factor(8_000_002) == 4 * NMR // 10  # 40 / 100
    assert staking.payout_factor(ROUND) == NMR  # no threshold: never scaled

"""The NMR token (contracts/nmr.vy) on titanoboa: every function and every refusal."""

from __future__ import annotations

from typing import Any

import pytest
from eth_account import Account
from tests.chain.support import CAP, NMR, BoaWorld, key

from crowdalpha.chain.artifacts import load_artifact
from crowdalpha.chain.signing import domain_separator, sign_permit

ZERO = "0x0000000000000000000000000000000000000000"


def events(contract: Any, name: str) -> list[Any]:
    return [e for e in contract.get_logs() if type(e).__name__ == name]


def test_the_token_describes_itself_and_its_owner(world: BoaWorld) -> None:
    token = world.token
    assert (token.name(), token.symbol(), token.decimals()) == ("Numeraire", "NMR", 18)
    assert token.SUPPLY_CAP() == CAP
    assert token.owner() == world.owner
    # Setup minted 100,000 to the service wallet and 1,000 to each of four stakers.
    assert token.totalSupply() == token.total_minted() == 104_000 * NMR
    assert token.mintable() == CAP - 104_000 * NMR


def test_the_abi_has_no_minter_role_and_no_unlisted_mint() -> None:
    names = {e["name"] for e in load_artifact("nmr").abi if e["type"] == "function"}
    assert "mint" in names and "permit" in names and "burn_from" in names
    assert not names & {"set_minter", "is_minter"}


def test_a_zero_cap_is_refused(world: BoaWorld) -> None:
    with world.boa.reverts("nmr: supply cap is zero"):
        world.token_deployer.deploy("Numeraire", "NMR", 0)


def test_only_the_owner_mints_and_never_beyond_the_cap(world: BoaWorld) -> None:
    token, boa = world.token, world.boa
    receiver = boa.env.generate_address("receiver")
    with boa.reverts("ownable: caller is not the owner"):
        token.mint(receiver, NMR, sender=world.service)
    room = token.mintable()
    with boa.reverts("nmr: supply cap exceeded"):
        token.mint(receiver, room + 1, sender=world.owner)
    token.mint(receiver, room, sender=world.owner)
    [transfer] = events(token, "Transfer")
    assert (transfer.sender, transfer.receiver, transfer.value) == (ZERO, receiver, room)
    assert token.totalSupply() == token.total_minted() == CAP and token.mintable() == 0
    with boa.reverts("nmr: supply cap exceeded"):
        token.mint(receiver, 1, sender=world.owner)
    with boa.reverts("erc20: mint to the zero address"):
        token.mint(ZERO, 0, sender=world.owner)


def test_burned_tokens_never_make_room_for_new_ones(world: BoaWorld) -> None:
    token, boa = world.token, world.boa
    token.mint(world.service, token.mintable(), sender=world.owner)
    token.burn(5 * NMR, sender=world.service)
    assert token.totalSupply() == CAP - 5 * NMR and token.total_minted() == CAP
    with boa.reverts("nmr: supply cap exceeded"):
        token.mint(world.service, 1, sender=world.owner)


def test_transfer_moves_balances_and_refuses_overdrafts(world: BoaWorld) -> None:
    token, boa = world.token, world.boa
    alice, bob = world.stakers[0].address, world.stakers[1].address
    assert token.transfer(bob, 10 * NMR, sender=alice) is True
    [transfer] = events(token, "Transfer")
    assert (transfer.sender, transfer.receiver, transfer.value) == (alice, bob, 10 * NMR)
    assert token.balanceOf(alice) == 990 * NMR and token.balanceOf(bob) == 1010 * NMR
    with boa.reverts("erc20: transfer amount exceeds balance"):
        token.transfer(bob, 990 * NMR + 1, sender=alice)
    with boa.reverts("erc20: transfer to the zero address"):
        token.transfer(ZERO, 1, sender=alice)


def test_approve_and_transfer_from_spend_the_allowance(world: BoaWorld) -> None:
    token, boa = world.token, world.boa
    alice, spender = world.stakers[0].address, boa.env.generate_address("spender")
    token.approve(spender, 3 * NMR, sender=alice)
    [approval] = events(token, "Approval")
    assert (approval.owner, approval.spender, approval.value) == (alice, spender, 3 * NMR)
    token.transferFrom(alice, spender, 2 * NMR, sender=spender)
    assert token.allowance(alice, spender) == NMR
    with boa.reverts("erc20: insufficient allowance"):
        token.transferFrom(alice, spender, NMR + 1, sender=spender)
    with boa.reverts("erc20: approve to the zero address"):
        token.approve(ZERO, 1, sender=alice)
    # The maximum allowance is never spent down.
    token.approve(spender, 2**256 - 1, sender=alice)
    token.transferFrom(alice, spender, NMR, sender=spender)
    assert token.allowance(alice, spender) == 2**256 - 1


def test_burn_and_burn_from_emit_a_transfer_to_zero(world: BoaWorld) -> None:
    token, boa = world.token, world.boa
    alice, burner = world.stakers[0].address, boa.env.generate_address("burner")
    supply = token.totalSupply()
    token.burn(4 * NMR, sender=alice)
    [burn] = events(token, "Transfer")
    assert (burn.sender, burn.receiver, burn.value) == (alice, ZERO, 4 * NMR)
    with boa.reverts("erc20: burn amount exceeds balance"):
        token.burn(996 * NMR + 1, sender=alice)
    with boa.reverts("erc20: insufficient allowance"):
        token.burn_from(alice, NMR, sender=burner)
    token.approve(burner, NMR, sender=alice)
    token.burn_from(alice, NMR, sender=burner)
    [burn] = events(token, "Transfer")
    assert (burn.sender, burn.receiver, burn.value) == (alice, ZERO, NMR)
    assert token.totalSupply() == supply - 5 * NMR
    assert token.allowance(alice, burner) == 0


def test_permit_sets_an_allowance_from_a_signature_once(world: BoaWorld) -> None:
    token, boa = world.token, world.boa
    holder, spender = world.stakers[0], boa.env.generate_address("spender")
    chain_id = boa.env.evm.patch.chain_id
    assert token.DOMAIN_SEPARATOR() == domain_separator(
        "Numeraire", "1", chain_id, str(token.address)
    )
    deadline = boa.env.timestamp + 60
    permit = sign_permit(
        holder,
        token_name="Numeraire",
        token_address=str(token.address),
        chain_id=chain_id,
        spender=spender,
        amount=7 * NMR,
        nonce=token.nonces(holder.address),
        deadline=deadline,
    )
    args = (holder.address, spender, 7 * NMR, deadline, permit.v, permit.r, permit.s)
    token.permit(*args, sender=spender)  # anyone may submit it
    assert token.allowance(holder.address, spender) == 7 * NMR
    assert token.nonces(holder.address) == 1
    with boa.reverts("erc20: invalid signature"):  # the nonce moved on: a replay
        token.permit(*args, sender=spender)
    stranger = Account.create()
    forged = sign_permit(
        stranger,
        token_name="Numeraire",
        token_address=str(token.address),
        chain_id=chain_id,
        spender=spender,
        amount=7 * NMR,
        nonce=1,
        deadline=deadline,
    )
    with boa.reverts("erc20: invalid signature"):
        token.permit(holder.address, spender, 7 * NMR, deadline, forged.v, forged.r, forged.s)
    boa.env.timestamp = deadline + 1
    late = sign_permit(
        holder,
        token_name="Numeraire",
        token_address=str(token.address),
        chain_id=chain_id,
        spender=spender,
        amount=NMR,
        nonce=1,
        deadline=deadline,
    )
    with boa.reverts("erc20: expired deadline"):
        token.permit(holder.address, spender, NMR, deadline, late.v, late.r, late.s)


def test_eip5267_domain_names_the_token(world: BoaWorld) -> None:
    fields, name, version, chain_id, contract, _salt, _ext = world.token.eip712Domain()
    assert (fields, name, version) == (b"\x0f", "Numeraire", "1")
    assert (chain_id, contract) == (world.boa.env.evm.patch.chain_id, world.token.address)


def test_ownership_moves_minting_and_can_be_renounced(world: BoaWorld) -> None:
    token, boa = world.token, world.boa
    new_owner = key("new token owner").address
    with boa.reverts("ownable: caller is not the owner"):
        token.transfer_ownership(new_owner, sender=world.service)
    with boa.reverts("erc20: new owner is the zero address"):
        token.transfer_ownership(ZERO, sender=world.owner)
    token.transfer_ownership(new_owner, sender=world.owner)
    assert [type(e).__name__ for e in token.get_logs()].count("OwnershipTransferred") == 1
    assert token.owner() == new_owner
    with boa.reverts("ownable: caller is not the owner"):
        token.mint(new_owner, 1, sender=world.owner)
    token.mint(new_owner, 1, sender=new_owner)
    with boa.reverts("ownable: caller is not the owner"):
        token.renounce_ownership(sender=world.owner)
    token.renounce_ownership(sender=new_owner)
    assert token.owner() == ZERO
    with boa.reverts("ownable: caller is not the owner"):
        token.mint(new_owner, 1, sender=new_owner)


@pytest.mark.parametrize("amount", [0, 1, 10**30])
def test_zero_and_huge_transfers_behave_like_any_other(world: BoaWorld, amount: int) -> None:
    token, boa = world.token, world.boa
    alice, bob = world.stakers[0].address, world.stakers[1].address
    if amount > token.balanceOf(alice):
        with boa.reverts("erc20: transfer amount exceeds balance"):
            token.transfer(bob, amount, sender=alice)
    else:
        token.transfer(bob, amount, sender=alice)
        assert token.balanceOf(bob) == 1_000 * NMR + amount

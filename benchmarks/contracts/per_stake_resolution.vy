# pragma version ~=0.4.3
# pragma evm-version cancun
"""
@title Per-stake resolution, for comparison only (benchmarks/chain.py)
@notice What settling costs when the operator resolves every stake itself, as Numerai's
        NumeraiTournamentV3 does (`resolveStake` per stake, batched with
        `batchResolveStake`): each stake is read and cleared, its remainder transferred
        back and its burn burned, in the operator's transactions. `seed` writes stakes
        directly (the benchmark measures resolution, not staking). Not deployed by
        crowdalpha.
"""

from ethereum.ercs import IERC20


interface INMR:
    def burn(amount: uint256): nonpayable


TOKEN: immutable(address)
OWNER: immutable(address)
stakes: public(HashMap[address, uint256])

event StakeResolved:
    staker: indexed(address)
    original_stake: uint256
    burn_amount: uint256


@deploy
def __init__(token_: address):
    TOKEN = token_
    OWNER = msg.sender


@external
def seed(stakers: DynArray[address, 1000], amount: uint256):
    assert msg.sender == OWNER
    for staker: address in stakers:
        self.stakes[staker] = amount


@external
def batch_resolve(stakers: DynArray[address, 1000], burns: DynArray[uint256, 1000]):
    assert msg.sender == OWNER
    assert len(stakers) == len(burns)
    for i: uint256 in range(len(stakers), bound=1000):
        staker: address = stakers[i]
        amount: uint256 = self.stakes[staker]
        burn: uint256 = burns[i]
        self.stakes[staker] = 0
        if amount > burn:
            assert extcall IERC20(TOKEN).transfer(staker, amount - burn)
        if burn > 0:
            extcall INMR(TOKEN).burn(burn)
        log StakeResolved(staker=staker, original_stake=amount, burn_amount=burn)

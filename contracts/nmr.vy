# pragma version ~=0.4.3
# pragma evm-version cancun
"""
@title NMR, the tournament's token
@custom:contract-name nmr
@license MIT
@notice A plain ERC-20 with 18 decimals on snekmate's `erc20` module, plus:
        - a hard cap on the NMR that may ever be minted (`SUPPLY_CAP`, fixed at
          deployment): burned tokens never make room for new ones, so
          `totalSupply <= total_minted <= SUPPLY_CAP` at all times;
        - minting by the owner only (snekmate's minter role is not exported);
        - `burn` and `burn_from`, both emitting `Transfer(owner, 0x0, amount)`;
        - EIP-2612 `permit` and the EIP-5267 `eip712Domain`.
        Numerai's mainnet NMR differs (an `approve` that only moves from or to zero,
        burns named `mint` and `numeraiTransfer`); this token keeps the standard
        names so that any wallet and library can use it unchanged.
"""

from ethereum.ercs import IERC20
implements: IERC20

from ethereum.ercs import IERC20Detailed
implements: IERC20Detailed

from snekmate.auth import ownable
initializes: ownable

from snekmate.tokens import erc20
initializes: erc20[ownable := ownable]

# Every erc20 function except `mint`, `set_minter` and `is_minter`: minting is the
# owner's alone, under the cap (`mint` below). `transfer_ownership` and
# `renounce_ownership` are erc20's, which also move its (unused) minter flag.
exports: (
    erc20.name,
    erc20.symbol,
    erc20.decimals,
    erc20.totalSupply,
    erc20.balanceOf,
    erc20.allowance,
    erc20.transfer,
    erc20.transferFrom,
    erc20.approve,
    erc20.burn,
    erc20.burn_from,
    erc20.permit,
    erc20.nonces,
    erc20.DOMAIN_SEPARATOR,
    erc20.eip712Domain,
    erc20.owner,
    erc20.transfer_ownership,
    erc20.renounce_ownership,
)


# The most NMR (in base units) that may ever be minted, burned tokens included.
SUPPLY_CAP: public(immutable(uint256))

# Base units minted since deployment (never decreases; burns lower `totalSupply` only).
total_minted: public(uint256)


@deploy
def __init__(name_: String[25], symbol_: String[5], supply_cap_: uint256):
    """
    @dev The deployer becomes the owner, the only account that may mint.
    @param name_ The token's name, also the EIP-712 domain name of `permit`.
    @param symbol_ The token's symbol.
    @param supply_cap_ The most base units that may ever be minted (> 0).
    """
    assert supply_cap_ > 0, "nmr: supply cap is zero"
    ownable.__init__()
    erc20.__init__(name_, symbol_, 18, name_, "1")
    SUPPLY_CAP = supply_cap_


@external
def mint(to: address, amount: uint256):
    """
    @dev Creates `amount` base units for `to`; only the owner may, and never beyond
         `SUPPLY_CAP` minted in all. Emits `Transfer(0x0, to, amount)`.
    @param to The receiver (not the zero address).
    @param amount The base units to create.
    """
    ownable._check_owner()
    minted: uint256 = self.total_minted + amount
    assert minted <= SUPPLY_CAP, "nmr: supply cap exceeded"
    self.total_minted = minted
    erc20._mint(to, amount)


@external
@view
def mintable() -> uint256:
    """
    @dev How many base units may still be minted.
    """
    return SUPPLY_CAP - self.total_minted

"""Ledger account names and the rules each kind of account obeys.

Accounts are strings ``kind`` or ``kind:owner``:

=============== ========================================= ===============================
account          holds                                     balance rule
=============== ========================================= ===============================
``minted``       the source of newly minted NMR            never positive (−minted)
``burned``       the sink of burned NMR (permanent)        never negative, never decreases
``external``     NMR outside the platform (chain wallets)  any sign (−net deposits)
``treasury``     the operator's NMR (grants, fees)         never negative
``reward_pool``  NMR waiting to be paid out                never negative
``wallet:<id>``  a participant account's free NMR          never negative
``stake:<id>``   a model's stake                           never negative
``pending:<id>`` a model's pending stake releases          never negative
``escrow:<id>``  NMR locked for a purpose (a proposal's       never negative
                 deposit), until returned or burned
=============== ========================================= ===============================

Every entry balances, so all balances sum to zero, and the supply identity
``platform holdings = minted − burned + net deposits`` holds by construction; the
ledger check recomputes it.
"""

from __future__ import annotations

from enum import StrEnum

from crowdalpha.errors import InvalidInputError

__all__ = [
    "BURNED",
    "EXTERNAL",
    "MINTED",
    "REWARD_POOL",
    "TREASURY",
    "AccountKind",
    "escrow",
    "kind_of",
    "pending",
    "stake",
    "wallet",
]


class AccountKind(StrEnum):
    MINTED = "minted"
    BURNED = "burned"
    EXTERNAL = "external"
    TREASURY = "treasury"
    REWARD_POOL = "reward_pool"
    WALLET = "wallet"
    STAKE = "stake"
    PENDING = "pending"
    ESCROW = "escrow"


MINTED = AccountKind.MINTED.value
BURNED = AccountKind.BURNED.value
EXTERNAL = AccountKind.EXTERNAL.value
TREASURY = AccountKind.TREASURY.value
REWARD_POOL = AccountKind.REWARD_POOL.value

_SINGLETONS = {MINTED, BURNED, EXTERNAL, TREASURY, REWARD_POOL}
_OWNED = {AccountKind.WALLET, AccountKind.STAKE, AccountKind.PENDING, AccountKind.ESCROW}


def wallet(account_id: int) -> str:
    """The free-NMR account of participant account ``account_id``."""
    return f"wallet:{int(account_id)}"


def stake(model_id: int) -> str:
    """The stake account of model ``model_id``."""
    return f"stake:{int(model_id)}"


def pending(model_id: int) -> str:
    """The pending-release account of model ``model_id``."""
    return f"pending:{int(model_id)}"


def escrow(number: int) -> str:
    """Escrow account ``number``: NMR locked until it is returned or burned (e.g. the
    deposit of governance proposal ``number``)."""
    return f"escrow:{int(number)}"


def kind_of(account: str) -> AccountKind:
    """The kind of a well-formed account name; anything else is refused."""
    if account in _SINGLETONS:
        return AccountKind(account)
    kind, sep, owner = account.partition(":")
    if sep and kind in {k.value for k in _OWNED} and owner.isdigit():
        return AccountKind(kind)
    raise InvalidInputError(f"{account!r} is not a ledger account name")


def may_be_negative(kind: AccountKind) -> bool:
    return kind in (AccountKind.MINTED, AccountKind.EXTERNAL)

"""Voting power: the NMR an account held and staked as of a proposal's ledger snapshot.

An account's power is the balance, as of the snapshot entry, of its wallet plus the stake
and pending releases of each of its models. The snapshot is an entry id fixed when the
proposal is created (:meth:`~crowdalpha.ledger.Ledger.snapshot`), and every later movement
is an entry with a higher id, so NMR bought, borrowed or moved afterwards changes nobody's
power: power is read from history, never from balances now. A transfer before the
snapshot moves power from one account to the other, never adds to both, so the powers of
all accounts always sum to the NMR held and staked at the snapshot.
"""

from __future__ import annotations

from collections.abc import Iterable

from crowdalpha.ledger import AccountKind, Ledger, pending, stake, wallet

__all__ = ["POWER_KINDS", "power_accounts", "total_power", "voting_power"]

#: The ledger accounts whose NMR carries votes.
POWER_KINDS: tuple[AccountKind, ...] = (AccountKind.WALLET, AccountKind.STAKE, AccountKind.PENDING)


def power_accounts(account_id: int, model_ids: Iterable[int]) -> list[str]:
    """The ledger accounts that make up ``account_id``'s power."""
    out = [wallet(account_id)]
    for model_id in sorted(model_ids):
        out += [stake(model_id), pending(model_id)]
    return out


def voting_power(ledger: Ledger, account_id: int, model_ids: Iterable[int], snapshot: int) -> int:
    """``account_id``'s power as of entry ``snapshot``."""
    return sum(ledger.balances_at(power_accounts(account_id, model_ids), snapshot).values())


def total_power(ledger: Ledger, snapshot: int) -> int:
    """Every account's power together as of entry ``snapshot``."""
    return sum(ledger.holdings_at(POWER_KINDS, snapshot).values())

"""NMR in and out of wallets, and the ledger's read side.

The operator mints into the treasury (or the reward pool, under the mint cap), funds the
reward pool and grants NMR to accounts; deposits and withdrawals move NMR between a wallet
and the outside. Every movement is one balanced ledger entry in one unit of work. Wallets
are shared by every competition.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from crowdalpha.errors import InvalidParameterError
from crowdalpha.ledger import (
    REWARD_POOL,
    TREASURY,
    Entry,
    LedgerCheckReport,
    Supply,
    check_ledger,
    wallet,
)
from crowdalpha.tournament.accounts import get_account
from crowdalpha.tournament.unit_of_work import UnitOfWork, check_amount, scoped_key

__all__ = ["Wallets"]


class Wallets:
    """The operator's NMR operations, wallet movements, balances and ledger history.

    Idempotency keys of operator operations are the operator's own (``by=None``, the
    console) or, with ``by``, those of the acting operator account (the APIs).
    """

    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow

    def mint(
        self, amount: int, *, to: str = TREASURY, key: str | None = None, by: int | None = None
    ) -> int:
        """Create NMR into the treasury or the reward pool (under the mint cap)."""
        check_amount(amount)
        if to not in (TREASURY, REWARD_POOL):
            raise InvalidParameterError("NMR is minted into the treasury or the reward pool")
        scoped = scoped_key(key, by)
        return self.uow.run(lambda s: self.uow.ledger(s).mint(to, amount, key=scoped).id)

    def fund_reward_pool(
        self, amount: int, *, key: str | None = None, by: int | None = None
    ) -> int:
        check_amount(amount)
        scoped = scoped_key(key, by)
        return self.uow.run(
            lambda s: (
                self.uow.ledger(s)
                .transfer(TREASURY, REWARD_POOL, amount, kind="fund_pool", key=scoped)
                .id
            )
        )

    def grant(
        self, account_id: int, amount: int, *, key: str | None = None, by: int | None = None
    ) -> int:
        """The operator gives NMR from the treasury to an account's wallet."""
        check_amount(amount)
        scoped = scoped_key(key, by)

        def op(session: Session) -> int:
            get_account(session, account_id)
            return (
                self.uow.ledger(session)
                .transfer(TREASURY, wallet(account_id), amount, kind="grant", key=scoped)
                .id
            )

        return self.uow.run(op)

    def deposit(
        self, account_id: int, amount: int, *, key: str | None = None, by: int | None = None
    ) -> int:
        check_amount(amount)
        scoped = scoped_key(key, by)

        def op(session: Session) -> int:
            get_account(session, account_id)
            return self.uow.ledger(session).deposit(wallet(account_id), amount, key=scoped).id

        return self.uow.run(op)

    def withdraw(
        self, account_id: int, amount: int, *, key: str | None = None, by: int | None = None
    ) -> int:
        check_amount(amount)
        scoped = scoped_key(key, by)

        def op(session: Session) -> int:
            get_account(session, account_id)
            return self.uow.ledger(session).withdraw(wallet(account_id), amount, key=scoped).id

        return self.uow.run(op)

    # -- the read side --------------------------------------------------------------------

    def wallet_balance(self, account_id: int) -> int:
        return self.balance(wallet(account_id))

    def balance(self, account: str) -> int:
        return self.uow.read(lambda s: self.uow.ledger(s).balance(account))

    def supply(self) -> Supply:
        return self.uow.read(lambda s: self.uow.ledger(s).supply())

    def check(self) -> LedgerCheckReport:
        return self.uow.read(check_ledger)

    def history(self, account: str, *, limit: int = 100) -> list[Entry]:
        """The newest ledger entries touching ``account`` (``wallet:7``, ``stake:3``,
        ``minted``…), newest first."""
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise InvalidParameterError("the history's limit must be a positive int")
        return self.uow.read(lambda s: self.uow.ledger(s).history(account, limit=limit))

    def wallet_history(self, account_id: int, *, limit: int = 100) -> list[Entry]:
        """The newest entries of the account's wallet, newest first."""
        return self.history(wallet(account_id), limit=limit)

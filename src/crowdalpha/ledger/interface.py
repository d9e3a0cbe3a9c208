"""The one ledger interface the rest of crowdalpha uses.

A backend implements its primitives — :meth:`Ledger.post`, :meth:`Ledger.balances`,
:meth:`Ledger.supply`, :meth:`Ledger.history`, and the snapshot reads
:meth:`Ledger.snapshot`, :meth:`Ledger.balances_at` and :meth:`Ledger.holdings_at` — and
inherits every named operation
(transfer, mint, burn, deposit, withdraw) from :class:`LedgerOperations`, which turns each
into a balanced entry. :class:`~crowdalpha.ledger.sql.SqlLedger` keeps the books in the
database; a backend that settles on an EVM chain (an ERC-20 token and a staking contract)
can implement the same primitives without touching any caller.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from crowdalpha.errors import InvalidAmountError
from crowdalpha.ledger.accounts import BURNED, EXTERNAL, MINTED, AccountKind

__all__ = ["Entry", "Ledger", "LedgerOperations", "Posting", "Supply"]


@dataclass(frozen=True, slots=True)
class Posting:
    """``amount`` base units added to ``account`` (negative: taken out of it)."""

    account: str
    amount: int


@dataclass(frozen=True, slots=True)
class Entry:
    """A recorded, balanced movement of NMR."""

    id: int
    kind: str
    postings: tuple[Posting, ...]
    created_at: datetime
    idempotency_key: str | None = None
    memo: str = ""

    def amount_for(self, account: str) -> int:
        """The net amount this entry moved into ``account``."""
        return sum(p.amount for p in self.postings if p.account == account)


@dataclass(frozen=True, slots=True)
class Supply:
    """Where all NMR is: ``circulating == minted − burned + net_deposits`` always."""

    minted: int
    burned: int
    net_deposits: int
    circulating: int


class Ledger(ABC):
    """What every ledger backend provides. Amounts are ``int`` base units throughout."""

    @abstractmethod
    def post(
        self,
        postings: Sequence[Posting],
        *,
        kind: str,
        key: str | None = None,
        memo: str = "",
    ) -> Entry:
        """Record a balanced entry atomically; with ``key``, a retry returns the first entry.

        Raises ``UnbalancedEntryError`` (postings do not sum to zero),
        ``InsufficientFundsError`` (an account would go below zero),
        ``IdempotencyKeyReusedError`` (``key`` was used for different postings).
        """

    @abstractmethod
    def balances(self, accounts: Iterable[str]) -> dict[str, int]:
        """Current balances (0 for an account never used)."""

    @abstractmethod
    def supply(self) -> Supply:
        """Minted, burned, net deposits and circulating NMR."""

    @abstractmethod
    def history(self, account: str, *, limit: int = 100) -> list[Entry]:
        """The newest entries that touched ``account``, newest first."""

    @abstractmethod
    def entry_for_key(self, key: str) -> Entry | None:
        """The entry recorded under an idempotency key, if any."""

    # -- snapshots: the books as of one entry -------------------------------------------

    @abstractmethod
    def snapshot(self) -> int:
        """The id of the newest entry (0: none yet), with the books held still until the
        caller's transaction ends, so that no entry can ever appear at or below it: the
        ledger "as of" this id is fixed for good (what :meth:`balances_at` reads)."""

    @abstractmethod
    def balances_at(self, accounts: Iterable[str], snapshot: int) -> dict[str, int]:
        """Balances as of entry ``snapshot`` (the sum of postings of entries ≤ it)."""

    @abstractmethod
    def holdings_at(self, kinds: Iterable[AccountKind], snapshot: int) -> dict[str, int]:
        """Every account of the given owned kinds (``wallet``, ``stake``…) with a non-zero
        balance as of ``snapshot``."""


class LedgerOperations(Ledger, ABC):
    """Named operations, each one balanced entry built on :meth:`post`."""

    def balance(self, account: str) -> int:
        return self.balances([account])[account]

    def transfer(
        self,
        source: str,
        destination: str,
        amount: int,
        *,
        kind: str = "transfer",
        key: str | None = None,
        memo: str = "",
    ) -> Entry:
        """Move ``amount`` from ``source`` to ``destination``."""
        _positive(amount)
        return self.post(
            [Posting(source, -amount), Posting(destination, amount)],
            kind=kind,
            key=key,
            memo=memo,
        )

    def mint(
        self, destination: str, amount: int, *, key: str | None = None, memo: str = ""
    ) -> Entry:
        """Create ``amount`` new NMR into ``destination`` (the treasury or the reward pool)."""
        return self.transfer(MINTED, destination, amount, kind="mint", key=key, memo=memo)

    def burn(self, source: str, amount: int, *, key: str | None = None, memo: str = "") -> Entry:
        """Destroy ``amount`` NMR held by ``source``; it never comes back."""
        return self.transfer(source, BURNED, amount, kind="burn", key=key, memo=memo)

    def deposit(self, wallet: str, amount: int, *, key: str | None = None, memo: str = "") -> Entry:
        """NMR arriving from outside the platform (a chain transfer to the custodian)."""
        return self.transfer(EXTERNAL, wallet, amount, kind="deposit", key=key, memo=memo)

    def withdraw(
        self, wallet: str, amount: int, *, key: str | None = None, memo: str = ""
    ) -> Entry:
        """NMR leaving the platform to the participant's own address."""
        return self.transfer(wallet, EXTERNAL, amount, kind="withdraw", key=key, memo=memo)


def _positive(amount: int) -> None:
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise InvalidAmountError(f"amounts are int base units, got {type(amount).__name__}")
    if amount <= 0:
        raise InvalidAmountError(
            f"amount must be positive, got {amount}", details={"amount": str(amount)}
        )

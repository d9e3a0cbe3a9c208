"""The ledger check (``crowdalpha ledger check``): recompute everything from postings.

It streams every posting once and verifies that every entry balances, that each stored
balance equals the sum of its postings (and counts them), that no account breaks its
kind's rule (no negative wallet or stake, nothing taken out of the burn sink, nothing
returned to the mint), and that the supply adds up. It reads only; run it any time.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from crowdalpha.errors import InvalidInputError, LedgerInvariantError
from crowdalpha.ledger.accounts import BURNED, EXTERNAL, MINTED, AccountKind, kind_of
from crowdalpha.ledger.interface import Supply
from crowdalpha.ledger.models import LedgerBalance, LedgerPosting

__all__ = ["LedgerCheckReport", "check_ledger"]

_MAX_PROBLEMS = 100


@dataclass(frozen=True)
class LedgerCheckReport:
    """What the check saw; ``ok`` when ``problems`` is empty."""

    entries: int
    postings: int
    accounts: int
    supply: Supply
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def raise_for_problems(self) -> None:
        if self.problems:
            raise LedgerInvariantError(
                f"the ledger check found {len(self.problems)} problem(s): "
                + "; ".join(self.problems[:5]),
                details={"problems": self.problems},
            )


def check_ledger(session: Session) -> LedgerCheckReport:
    problems: list[str] = []

    def problem(text: str) -> None:
        if len(problems) < _MAX_PROBLEMS:
            problems.append(text)

    sums: dict[str, int] = defaultdict(int)
    counts: dict[str, int] = defaultdict(int)
    entries = postings = 0
    current_entry: int | None = None
    entry_total = 0
    rows = session.execute(
        select(LedgerPosting.entry_id, LedgerPosting.account, LedgerPosting.amount)
        .order_by(LedgerPosting.entry_id, LedgerPosting.id)
        .execution_options(yield_per=10_000)
    )
    for entry_id, account, amount in rows:
        if entry_id != current_entry:
            if current_entry is not None and entry_total != 0:
                problem(f"entry {current_entry} does not balance (sum {entry_total})")
            current_entry, entry_total = entry_id, 0
            entries += 1
        entry_total += amount
        postings += 1
        sums[account] += amount
        counts[account] += 1
        if account == BURNED and amount < 0:
            problem(f"entry {entry_id} takes NMR out of the burn sink")
    if current_entry is not None and entry_total != 0:
        problem(f"entry {current_entry} does not balance (sum {entry_total})")

    stored = {
        row.account: (row.balance, row.postings)
        for row in session.scalars(select(LedgerBalance).execution_options(yield_per=10_000))
    }
    accounts = set(sums) | set(stored)
    for account in sorted(accounts):
        balance, count = stored.get(account, (0, 0))
        if balance != sums[account] or count != counts[account]:
            problem(
                f"{account}: stored balance {balance} ({count} postings) but its postings sum "
                f"to {sums[account]} ({counts[account]} postings)"
            )
        try:
            kind = kind_of(account)
        except InvalidInputError:
            problem(f"{account!r} is not a valid account name")
            continue
        if kind is AccountKind.MINTED:
            if sums[account] > 0:
                problem(f"the mint has a positive balance {sums[account]}")
        elif kind not in (AccountKind.EXTERNAL,) and sums[account] < 0:
            problem(f"{account} is negative ({sums[account]})")

    minted, burned = -sums.get(MINTED, 0), sums.get(BURNED, 0)
    net_deposits = -sums.get(EXTERNAL, 0)
    circulating = sum(v for a, v in sums.items() if a not in (MINTED, BURNED, EXTERNAL))
    if circulating != minted - burned + net_deposits:
        problem(
            f"supply does not add up: holdings {circulating} != minted {minted} − burned "
            f"{burned} + net deposits {net_deposits}"
        )
    if sum(sums.values()) != 0:
        problem(f"all balances sum to {sum(sums.values())} instead of 0")
    return LedgerCheckReport(
        entries=entries,
        postings=postings,
        accounts=len(accounts),
        supply=Supply(minted, burned, net_deposits, circulating),
        problems=problems,
    )

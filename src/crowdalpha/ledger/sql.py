"""The ledger kept in the database (SQLite or PostgreSQL), inside the caller's transaction.

:class:`SqlLedger` never commits: the service that owns the unit of work does. Balances
are updated under row locks taken in account order (``SELECT … FOR UPDATE`` on PostgreSQL;
SQLite transactions start with ``BEGIN IMMEDIATE`` and so run one writer at a time), so two
concurrent operations can never spend the same NMR.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime

from sqlalchemy import func, insert, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from crowdalpha.errors import (
    IdempotencyKeyReusedError,
    InsufficientFundsError,
    InvalidAmountError,
    LimitExceededError,
    UnbalancedEntryError,
)
from crowdalpha.ledger.accounts import BURNED, EXTERNAL, MINTED, AccountKind, kind_of
from crowdalpha.ledger.amounts import format_nmr
from crowdalpha.ledger.interface import Entry, LedgerOperations, Posting, Supply
from crowdalpha.ledger.models import LedgerBalance, LedgerEntry, LedgerPosting

__all__ = ["SqlLedger", "entry_fingerprint"]

# Rows per statement: well under SQLite's 32,766 bound parameters.
_CHUNK = 1000


def entry_fingerprint(kind: str, postings: Sequence[Posting], memo: str) -> str:
    """A digest of what an entry does, to tell an idempotent retry from a key reuse."""
    legs = sorted((p.account, str(p.amount)) for p in postings)
    payload = json.dumps({"kind": kind, "postings": legs, "memo": memo}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()


def _to_entry(row: LedgerEntry) -> Entry:
    return Entry(
        id=row.id,
        kind=row.kind,
        postings=tuple(Posting(p.account, p.amount) for p in row.postings),
        created_at=row.created_at,
        idempotency_key=row.idempotency_key,
        memo=row.memo,
    )


class SqlLedger(LedgerOperations):
    """Double-entry books in the ``ledger_*`` tables of ``session``'s database.

    ``mint_cap`` bounds the total ever minted (``None``: no cap); ``now`` is the clock
    used to time-stamp entries (the tournament passes its own, which tests can move).
    """

    def __init__(
        self,
        session: Session,
        *,
        mint_cap: int | None = None,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self.session = session
        self.mint_cap = mint_cap
        self._now = now or (lambda: datetime.now(UTC))

    # -- primitives ---------------------------------------------------------------------

    def post(
        self,
        postings: Sequence[Posting],
        *,
        kind: str,
        key: str | None = None,
        memo: str = "",
    ) -> Entry:
        legs = list(postings)
        _validate(legs)
        fingerprint = entry_fingerprint(kind, legs, memo)
        if key is not None:
            existing = self.session.scalar(
                select(LedgerEntry).where(LedgerEntry.idempotency_key == key)
            )
            if existing is not None:
                if existing.fingerprint != fingerprint:
                    raise IdempotencyKeyReusedError(
                        f"idempotency key {key!r} was already used for a different "
                        f"{existing.kind} entry; use a new key for a new operation",
                        details={"key": key, "entry_id": existing.id},
                    )
                return _to_entry(existing)

        net: dict[str, int] = defaultdict(int)
        counts: dict[str, int] = defaultdict(int)
        for leg in legs:
            net[leg.account] += leg.amount
            counts[leg.account] += 1
        held = self._lock(sorted(net))
        for account in sorted(net):
            old, _ = held[account]
            _check_rule(account, old, old + net[account], net[account], self.mint_cap)
        # Core statements, not ORM objects: an entry of a round's resolution carries one
        # posting per staked model (tens of thousands), written with executemany.
        created = self._now()
        entry_id = self.session.execute(
            insert(LedgerEntry)
            .values(
                kind=kind,
                idempotency_key=key,
                fingerprint=fingerprint,
                memo=memo,
                created_at=created,
            )
            .returning(LedgerEntry.id)
        ).scalar_one()
        self.session.execute(
            insert(LedgerPosting),
            [{"entry_id": entry_id, "account": p.account, "amount": p.amount} for p in legs],
        )
        self.session.execute(
            update(LedgerBalance),
            [
                {
                    "account": account,
                    "balance": held[account][0] + delta,
                    "postings": held[account][1] + counts[account],
                }
                for account, delta in net.items()
            ],
        )
        return Entry(
            id=entry_id,
            kind=kind,
            postings=tuple(legs),
            created_at=created,
            idempotency_key=key,
            memo=memo,
        )

    def balances(self, accounts: Iterable[str]) -> dict[str, int]:
        names = list(dict.fromkeys(accounts))
        for name in names:
            kind_of(name)
        found: dict[str, int] = {}
        for start in range(0, len(names), _CHUNK):
            chunk = names[start : start + _CHUNK]
            rows = self.session.execute(
                select(LedgerBalance.account, LedgerBalance.balance).where(
                    LedgerBalance.account.in_(chunk)
                )
            )
            found.update((account, balance) for account, balance in rows)
        return {name: found.get(name, 0) for name in names}

    def supply(self) -> Supply:
        sinks = self.balances([MINTED, BURNED, EXTERNAL])
        minted, burned, net_deposits = -sinks[MINTED], sinks[BURNED], -sinks[EXTERNAL]
        return Supply(
            minted=minted,
            burned=burned,
            net_deposits=net_deposits,
            circulating=minted - burned + net_deposits,
        )

    def history(self, account: str, *, limit: int = 100) -> list[Entry]:
        kind_of(account)
        ids = (
            select(LedgerPosting.entry_id)
            .where(LedgerPosting.account == account)
            .distinct()
            .order_by(LedgerPosting.entry_id.desc())
            .limit(limit)
        )
        rows = self.session.scalars(
            select(LedgerEntry).where(LedgerEntry.id.in_(ids)).order_by(LedgerEntry.id.desc())
        )
        return [_to_entry(row) for row in rows]

    def entry_for_key(self, key: str) -> Entry | None:
        row = self.session.scalar(select(LedgerEntry).where(LedgerEntry.idempotency_key == key))
        return None if row is None else _to_entry(row)

    def snapshot(self) -> int:
        if self.session.get_bind().dialect.name == "postgresql":
            # Entry ids come from a sequence: a transaction that took a lower id may still
            # commit after a higher one. This lock waits for every writer of entries to
            # finish and keeps new ones out until our transaction ends, so nothing can
            # appear at or below the id read here. (SQLite runs one writer at a time.)
            self.session.execute(text("LOCK TABLE ledger_entries IN SHARE ROW EXCLUSIVE MODE"))
        newest = self.session.scalar(select(func.max(LedgerEntry.id)))
        return int(newest or 0)

    def balances_at(self, accounts: Iterable[str], snapshot: int) -> dict[str, int]:
        names = list(dict.fromkeys(accounts))
        for name in names:
            kind_of(name)
        found: dict[str, int] = defaultdict(int)
        for start in range(0, len(names), _CHUNK):
            chunk = names[start : start + _CHUNK]
            rows = self.session.execute(
                select(LedgerPosting.account, LedgerPosting.amount).where(
                    LedgerPosting.account.in_(chunk), LedgerPosting.entry_id <= snapshot
                )
            )
            for account, amount in rows:  # summed in Python: SQLite stores amounts as text
                found[account] += amount
        return {name: found[name] for name in names}

    def holdings_at(self, kinds: Iterable[AccountKind], snapshot: int) -> dict[str, int]:
        prefixes = [f"{AccountKind(k).value}:" for k in kinds]
        if not prefixes:
            return {}
        rows = self.session.execute(
            select(LedgerPosting.account, LedgerPosting.amount)
            .where(
                LedgerPosting.entry_id <= snapshot,
                or_(*(LedgerPosting.account.startswith(p, autoescape=True) for p in prefixes)),
            )
            .execution_options(yield_per=10_000)
        )
        sums: dict[str, int] = defaultdict(int)
        for account, amount in rows:
            sums[account] += amount
        return {account: total for account, total in sums.items() if total != 0}

    # -- internals ----------------------------------------------------------------------

    def _lock(self, accounts: list[str]) -> dict[str, tuple[int, int]]:
        """(balance, postings) of ``accounts``, rows created if missing, locked in name order."""
        dialect = self.session.get_bind().dialect.name
        upsert = pg_insert if dialect == "postgresql" else sqlite_insert
        held: dict[str, tuple[int, int]] = {}
        for start in range(0, len(accounts), _CHUNK):
            chunk = accounts[start : start + _CHUNK]
            self.session.execute(
                upsert(LedgerBalance)
                .values([{"account": a, "balance": 0, "postings": 0} for a in chunk])
                .on_conflict_do_nothing(index_elements=["account"])
            )
            rows = self.session.execute(
                select(LedgerBalance.account, LedgerBalance.balance, LedgerBalance.postings)
                .where(LedgerBalance.account.in_(chunk))
                .order_by(LedgerBalance.account)
                .with_for_update()
            )
            held.update((account, (balance, count)) for account, balance, count in rows)
        return held


def _validate(legs: list[Posting]) -> None:
    if not legs:
        raise UnbalancedEntryError("an entry needs at least two postings; got none")
    for leg in legs:
        kind_of(leg.account)
        if isinstance(leg.amount, bool) or not isinstance(leg.amount, int):
            raise InvalidAmountError(
                f"posting to {leg.account} has a {type(leg.amount).__name__} amount; "
                "amounts are int base units"
            )
        if leg.amount == 0:
            raise InvalidAmountError(f"posting to {leg.account} moves nothing (amount 0)")
    total = sum(leg.amount for leg in legs)
    if total != 0:
        raise UnbalancedEntryError(
            f"postings sum to {total} base units instead of 0",
            details={"postings": [(p.account, str(p.amount)) for p in legs]},
        )


def _check_rule(account: str, old: int, new: int, delta: int, mint_cap: int | None) -> None:
    kind = kind_of(account)
    if kind is AccountKind.MINTED:
        if new > 0:
            raise UnbalancedEntryError("minted NMR cannot be returned to the mint; burn it")
        if mint_cap is not None and -new > mint_cap:
            raise LimitExceededError(
                f"minting {format_nmr(-delta)} NMR would take the total minted to "
                f"{format_nmr(-new)} NMR, above the cap of {format_nmr(mint_cap)} NMR",
                details={"minted": str(-old), "cap": str(mint_cap)},
            )
        return
    if kind is AccountKind.BURNED:
        if delta < 0:
            raise UnbalancedEntryError("burned NMR can never be taken back out of the burn sink")
        return
    if kind is AccountKind.EXTERNAL:
        return
    if new < 0:
        raise InsufficientFundsError(
            f"{account} holds {format_nmr(old)} NMR; this needs {format_nmr(-delta)} NMR",
            details={"account": account, "balance": str(old), "needed": str(-delta)},
        )

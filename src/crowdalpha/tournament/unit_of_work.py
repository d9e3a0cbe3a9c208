"""The unit of work: one transaction per operation, retries, idempotency keys.

Every operation of the core runs its database work through :class:`UnitOfWork`: ``run``
for work that writes (one transaction, retried whole on a transient conflict), ``read``
for work that only reads (no write lock on SQLite), ``connection`` for the few hot reads
that run one prebuilt statement. Money moves only through :meth:`UnitOfWork.ledger`, the
ledger bound to the operation's session, so a payout and the rows that record it commit
or roll back together.

Idempotency is one rule, kept here: a caller's key is namespaced by the account it acts
for (:func:`scoped_key`), and :meth:`UnitOfWork.once` stores an operation's result under it
so that a retry returns the first result instead of acting twice.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from sqlalchemy import Connection, Engine, select
from sqlalchemy.orm import Session

from crowdalpha.db import read_engine, session_factory, transact
from crowdalpha.errors import IdempotencyKeyReusedError, InvalidParameterError
from crowdalpha.ledger import SqlLedger
from crowdalpha.tournament.clock import Clock
from crowdalpha.tournament.models import IdempotencyRecord

__all__ = ["UnitOfWork", "check_amount", "fingerprint", "scoped_key"]

T = TypeVar("T")


def scoped_key(key: str | None, account_id: int | None) -> str | None:
    """A caller's idempotency key in the namespace of the account it acts for: one
    account's key can neither replay nor block another's, nor the core's own keys
    (``round:…``). ``account_id=None`` (the operator's console) keeps the key as given."""
    if key is None or account_id is None:
        return key
    return f"account:{account_id}:{key}"


def fingerprint(*parts: object) -> str:
    """A digest of an operation's arguments: a key reused for other arguments is refused."""
    return hashlib.sha256(json.dumps([str(p) for p in parts]).encode()).hexdigest()


def check_amount(amount: int) -> int:
    """A positive ``int`` of base units, or InvalidParameterError."""
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise InvalidParameterError(f"amount must be a positive int of base units, got {amount!r}")
    return amount


class UnitOfWork:
    """Transactions on one database, with the ledger bound to each.

    ``mint_cap`` bounds what the ledger may ever mint; ``clock`` time-stamps ledger
    entries and idempotency records.
    """

    def __init__(self, engine: Engine, clock: Clock, *, mint_cap: int | None = None) -> None:
        self.engine = engine
        self.clock = clock
        self.mint_cap = mint_cap
        self._factory = session_factory(engine)
        # reads take no write lock on SQLite (see crowdalpha.db.read_engine)
        self.read_engine = read_engine(engine)
        self._read_factory = session_factory(self.read_engine)

    def close(self) -> None:
        """Close the database connections (the read engine's too)."""
        if self.read_engine is not self.engine:
            self.read_engine.dispose()
        self.engine.dispose()

    def run(self, operation: Callable[[Session], T]) -> T:
        """``operation`` in one transaction, retried whole on a transient conflict."""
        return transact(self._factory, operation)

    def read(self, operation: Callable[[Session], T]) -> T:
        """A unit of work that only reads."""
        return transact(self._read_factory, operation)

    @contextmanager
    def connection(self) -> Iterator[Connection]:
        """A plain read connection, for one prebuilt statement on a hot path (an ORM
        session's bookkeeping would cost more than the query)."""
        with self.read_engine.connect() as conn:
            yield conn

    def ledger(self, session: Session) -> SqlLedger:
        """The ledger, inside ``session``'s transaction."""
        return SqlLedger(session, mint_cap=self.mint_cap, now=self.clock.now)

    def once(
        self,
        session: Session,
        key: str | None,
        operation: str,
        digest: str,
        body: Callable[[], dict[str, object]],
    ) -> dict[str, object]:
        """Run ``body`` once per idempotency key (already scoped), returning the first
        run's result; a key used for another operation or other arguments is refused."""
        if key is None:
            return body()
        earlier = recorded(session, key, operation, digest)
        if earlier is not None:
            return earlier
        result = body()
        session.add(
            IdempotencyRecord(
                key=key,
                operation=operation,
                fingerprint=digest,
                result=json.dumps(result),
                created_at=self.clock.now(),
            )
        )
        session.flush()
        return result


def recorded(session: Session, key: str, operation: str, digest: str) -> dict[str, object] | None:
    """The result stored under ``key`` for this operation and these arguments, if any."""
    record = session.scalar(select(IdempotencyRecord).where(IdempotencyRecord.key == key))
    if record is None:
        return None
    if record.operation != operation or record.fingerprint != digest:
        raise IdempotencyKeyReusedError(
            f"idempotency key {key!r} was already used for another {record.operation}; "
            "use a new key for a new operation",
            details={"key": key},
        )
    result: dict[str, object] = json.loads(record.result)
    return result

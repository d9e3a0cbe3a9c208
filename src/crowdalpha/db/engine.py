"""Engines and the unit of work.

Services own the unit of work: each operation runs in one transaction opened with
:func:`unit_of_work`, and repositories only add to the session they are given. On SQLite
every transaction starts with ``BEGIN IMMEDIATE`` (the write lock is taken up front, so two
writers queue instead of failing halfway) and foreign keys are enforced; on PostgreSQL the
code takes row locks (``SELECT … FOR UPDATE``) where money moves.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from crowdalpha.errors import InvalidInputError

__all__ = [
    "create_database_engine",
    "is_postgresql",
    "is_sqlite",
    "read_engine",
    "session_factory",
    "transact",
    "unit_of_work",
]

T = TypeVar("T")

# PostgreSQL: serialization_failure, deadlock_detected; both are safe to retry.
_RETRYABLE_SQLSTATES = {"40001", "40P01"}


#: PostgreSQL URLs without a driver (``postgresql://``, Heroku's ``postgres://``) use the
#: driver the project installs, psycopg 3 — SQLAlchemy's default, psycopg2, is not installed.
_POSTGRESQL_DRIVERLESS = {"postgresql", "postgres"}


def create_database_engine(url: str, *, echo: bool = False) -> Engine:
    """An engine for ``url`` (``sqlite:///path.db`` or ``postgresql+psycopg://…``; a plain
    ``postgresql://`` or ``postgres://`` URL means the same as ``postgresql+psycopg://``)."""
    parsed = make_url(url)
    if parsed.drivername in _POSTGRESQL_DRIVERLESS:
        parsed = parsed.set(drivername="postgresql+psycopg")
        url = parsed.render_as_string(hide_password=False)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url, echo=echo, connect_args={"timeout": 30, "check_same_thread": False}
        )
        _configure_sqlite(engine)
        return engine
    engine = create_engine(url, echo=echo, pool_pre_ping=True)
    if engine.dialect.name == "postgresql":
        event.listen(engine, "before_cursor_execute", _refuse_nul)
    return engine


def _has_nul(value: object) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(_has_nul(v) for v in value)
    return False


def _refuse_nul(
    _conn: Any, _cursor: Any, _statement: str, parameters: Any, _context: Any, _many: bool
) -> None:
    """PostgreSQL text cannot hold NUL characters: refuse such input as bad input (a clear
    422), not as a database failure (a 500). SQLite stores them; the same input is refused
    there by the validations that see it."""
    if _has_nul(parameters):
        raise InvalidInputError("text must not contain NUL (\\x00) characters")


def read_engine(engine: Engine) -> Engine:
    """An engine for read-only units of work on ``engine``'s database.

    On a SQLite file it is a sibling engine whose transactions begin *deferred*: readers
    take no write lock, so they never queue behind writers (WAL lets both run at once).
    Elsewhere — PostgreSQL, or SQLite in memory — it is ``engine`` itself.
    """
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        return engine
    sibling = create_engine(engine.url, connect_args={"timeout": 30, "check_same_thread": False})
    _configure_sqlite(sibling, begin="BEGIN")
    return sibling


def _configure_sqlite(engine: Engine, *, begin: str = "BEGIN IMMEDIATE") -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event emit BEGIN itself (pysqlite's own is deferred).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA busy_timeout = 30000")
        if engine.url.database not in (None, "", ":memory:"):
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql(begin)


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def is_postgresql(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded objects readable after commit."""
    return sessionmaker(engine, expire_on_commit=False, autoflush=True)


@contextmanager
def unit_of_work(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One transaction: committed when the block ends, rolled back if it raises."""
    with factory() as session, session.begin():
        yield session


def _retryable(exc: DBAPIError) -> bool:
    if isinstance(exc, IntegrityError):
        # A concurrent twin of an idempotent operation inserted the same key first; the
        # retry finds its result and returns it.
        return True
    sqlstate = getattr(exc.orig, "sqlstate", None)
    if sqlstate in _RETRYABLE_SQLSTATES:
        return True
    return "database is locked" in str(exc.orig)


def transact(
    factory: sessionmaker[Session], operation: Callable[[Session], T], *, attempts: int = 4
) -> T:
    """Run ``operation`` in one unit of work, retrying it whole on transient conflicts.

    Conflicts are deadlocks and serialization failures on PostgreSQL, a busy SQLite file,
    and a unique key taken by a concurrent retry of the same idempotent operation. Every
    attempt starts from a fresh transaction, so nothing of a failed attempt remains.
    """
    for attempt in range(1, attempts + 1):
        try:
            with unit_of_work(factory) as session:
                return operation(session)
        except DBAPIError as exc:
            if attempt == attempts or not _retryable(exc):
                raise
            time.sleep(0.01 * 2**attempt)
    raise AssertionError("unreachable")  # pragma: no cover

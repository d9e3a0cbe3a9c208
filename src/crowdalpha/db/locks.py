"""A lock across processes on one database: the round clock's.

Two schedulers on one database — two ``crowdalpha serve`` processes, or a server and a
cron ``crowdalpha tick`` — must never tick at once. :class:`DatabaseLock` is held for the
length of one tick:

- PostgreSQL: a session-level advisory lock (``pg_try_advisory_lock``) on a connection
  kept open while it is held; the server releases it when the connection ends, so a
  process killed mid-tick frees it at once.
- SQLite (a file): an exclusive ``flock`` on ``<database>.clock-lock`` beside the database
  file; the system releases it when the process dies. (SQLite has one writer machine, so a
  file lock beside the database reaches every process that can open it.)
- SQLite in memory: a lock of this process and engine (nothing else can see that
  database).

Inside one process a thread lock serialises the holders first, so threads that share one
:class:`DatabaseLock` queue cheaply; separate instances exclude each other through the
database (or the file) as separate processes do.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Connection, Engine, text

__all__ = ["DatabaseLock"]

_MEMORY_LOCKS: dict[str, threading.Lock] = {}
_MEMORY_GUARD = threading.Lock()


def _advisory_key(name: str) -> int:
    """A stable signed 64-bit key for ``name`` (PostgreSQL advisory locks take a bigint)."""
    digest = hashlib.sha256(f"crowdalpha:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class DatabaseLock:
    """An exclusive lock named ``name`` on ``engine``'s database, across processes."""

    def __init__(self, engine: Engine, name: str) -> None:
        self.engine = engine
        self.name = name
        self._local = threading.Lock()
        self._connection: Connection | None = None
        self._fd: int | None = None
        self._memory: threading.Lock | None = None
        database = engine.url.database
        if engine.dialect.name == "sqlite":
            if database and database != ":memory:":
                self._path: Path | None = Path(f"{database}.{name}-lock")
            else:
                self._path = None
                # an in-memory database is its engine's alone: one lock per engine
                with _MEMORY_GUARD:
                    key = f"{name}:{id(engine)}"
                    self._memory = _MEMORY_LOCKS.setdefault(key, threading.Lock())
        else:
            self._path = None

    @contextmanager
    def held(self, wait: float = 0.0) -> Iterator[bool]:
        """Hold the lock for the block, waiting up to ``wait`` seconds for it; yields
        whether it was obtained (the block runs either way, and must look)."""
        got = self.acquire(wait)
        try:
            yield got
        finally:
            if got:
                self.release()

    def acquire(self, wait: float = 0.0) -> bool:
        """Take the lock, waiting up to ``wait`` seconds; False if another holder kept it."""
        deadline = time.monotonic() + max(wait, 0.0)
        local = self._local.acquire(timeout=wait) if wait > 0 else self._local.acquire(False)
        if not local:
            return False
        delay = 0.01
        while True:
            try:
                if self._try_outer():
                    return True
            except BaseException:
                self._local.release()
                raise
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self._local.release()
                return False
            time.sleep(min(delay, remaining))
            delay = min(delay * 2, 0.25)

    def release(self) -> None:
        try:
            self._release_outer()
        finally:
            self._local.release()

    # -- the lock across processes ----------------------------------------------------------

    def _try_outer(self) -> bool:
        if self._memory is not None:
            return self._memory.acquire(blocking=False)
        if self._path is not None:
            fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                return False
            self._fd = fd
            return True
        connection = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            got = bool(
                connection.scalar(
                    text("SELECT pg_try_advisory_lock(:key)"), {"key": _advisory_key(self.name)}
                )
            )
        except BaseException:
            connection.close()
            raise
        if not got:
            connection.close()
            return False
        self._connection = connection
        return True

    def _release_outer(self) -> None:
        if self._memory is not None:
            self._memory.release()
        elif self._fd is not None:
            fd, self._fd = self._fd, None
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
        elif self._connection is not None:
            connection, self._connection = self._connection, None
            try:
                connection.execute(
                    text("SELECT pg_advisory_unlock(:key)"), {"key": _advisory_key(self.name)}
                )
            except BaseException:
                # never pool a connection that may still hold the lock: dropping it ends
                # the session, and the server frees the lock with it
                connection.invalidate()
                raise
            finally:
                connection.close()

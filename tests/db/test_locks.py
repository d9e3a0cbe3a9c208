"""The database lock: exclusive per database, reentrant for nobody, free after release."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine

from crowdalpha.db import create_database_engine
from crowdalpha.db.locks import DatabaseLock


def test_one_holder_per_database_and_name(engine: Engine) -> None:
    a, b = DatabaseLock(engine, "clock"), DatabaseLock(engine, "clock")
    other_name = DatabaseLock(engine, "other")
    assert a.acquire()
    assert not b.acquire(wait=0.1)
    assert not a.acquire(wait=0.1)  # not reentrant: a second tick in a process waits too
    assert other_name.acquire()  # another name is another lock
    other_name.release()
    a.release()
    with b.held() as got:
        assert got
        assert not a.acquire()
    assert a.acquire()
    a.release()


def test_in_memory_databases_have_a_lock_each(tmp_path: Path) -> None:
    first, second = create_database_engine("sqlite://"), create_database_engine("sqlite://")
    a, b = DatabaseLock(first, "clock"), DatabaseLock(second, "clock")
    assert a.acquire() and b.acquire()
    assert not DatabaseLock(first, "clock").acquire(wait=0.05)
    a.release()
    b.release()

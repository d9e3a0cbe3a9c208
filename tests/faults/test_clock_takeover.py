"""The clock lock across processes: a scheduler killed with ``kill -9`` while it holds
the lock frees it at once (the database ends its session; the system drops its file lock),
so another process's next tick takes over — within one tick interval, not after a lease."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
import warnings
from pathlib import Path

from sqlalchemy import Engine
from tests.faults.report import record

from crowdalpha.db import create_database_engine
from crowdalpha.db.locks import DatabaseLock
from crowdalpha.tournament.lifecycle import CLOCK_LOCK


def _hold(url: str, ready: str) -> None:
    """A scheduler process mid-tick: it takes the clock lock and keeps it."""
    lock = DatabaseLock(create_database_engine(url), CLOCK_LOCK)
    assert lock.acquire(wait=30)
    Path(ready).touch()
    time.sleep(600)
    os._exit(0)  # pragma: no cover - killed before


def test_a_killed_schedulers_lock_passes_to_the_next_tick(
    engine: Engine, db_kind: str, tmp_path: Path
) -> None:
    url = engine.url.render_as_string(hide_password=False)
    ready = tmp_path / "ready"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads (3.12+)
        holder = multiprocessing.get_context("fork").Process(target=_hold, args=(url, str(ready)))
        holder.start()
    try:
        deadline = time.monotonic() + 60
        while not ready.exists():
            assert time.monotonic() < deadline and holder.is_alive()
            time.sleep(0.01)
        other = DatabaseLock(engine, CLOCK_LOCK)
        assert not other.acquire(wait=0.3)  # held by the other process
        os.kill(holder.pid or 0, signal.SIGKILL)
        killed = time.monotonic()
        assert other.acquire(wait=10)
        taken_s = time.monotonic() - killed
        other.release()
        record("kill -9 of the scheduler holding the clock", db_kind, takeover_s=taken_s)
        assert taken_s < 10
    finally:
        if holder.is_alive():
            holder.kill()
        holder.join(timeout=10)

"""Two schedulers on one database: every round opens, closes and resolves once.

Two tournaments on their own engines (as two server processes, or a server and a cron
``tick``, would be) tick the same database at the same instants, released together by a
barrier, week after week until rounds have resolved; across all their reports each round
is opened, closed and resolved by exactly one of them, and paid once.
"""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from tests.faults.report import record
from tests.tournament.conftest import predictions_csv, skilled

from crowdalpha.db import create_database_engine
from crowdalpha.errors import SchedulerBusyError
from crowdalpha.ledger import TREASURY, nmr
from crowdalpha.storage import LocalFileStore
from crowdalpha.tournament import ManualClock, SyntheticRoundData, TickReport, Tournament

WEEK = timedelta(days=7)
WEEKS = 5  # rounds 1-5 open and take submissions; 1-5 resolve by the last instant
RACES = 2  # concurrent tick pairs at each instant


def _pair(engine: Engine, tmp_path: Path, clock: ManualClock, data: SyntheticRoundData):
    store = LocalFileStore(tmp_path / "files")
    second = create_database_engine(engine.url.render_as_string(hide_password=False))
    return Tournament(engine, store, data, clock=clock), Tournament(
        second, store, data, clock=clock
    )


def _race(schedulers: list[Tournament], when: object) -> list[TickReport]:
    barrier = threading.Barrier(len(schedulers))
    reports: list[TickReport] = []
    errors: list[BaseException] = []

    def run(t: Tournament) -> None:
        try:
            barrier.wait()
            reports.append(t.tick(when))  # type: ignore[arg-type]
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(t,)) for t in schedulers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    assert len(reports) == len(schedulers)
    return reports


def test_two_schedulers_open_close_and_resolve_each_round_once(
    engine: Engine, db_kind: str, tmp_path: Path, clock: ManualClock, data: SyntheticRoundData
) -> None:
    a, b = _pair(engine, tmp_path, clock, data)
    try:
        a.mint(nmr(100_000), to=TREASURY)
        acct = a.create_account("erin", "erin@example.org")
        a.grant(acct.id, nmr(1_000))
        models = [a.create_model(acct.id, f"erin_{i}").id for i in range(3)]
        for m in models:
            a.increase_stake(m, nmr(50))
        reports: list[TickReport] = []
        clock.advance(timedelta(hours=1))
        for week in range(WEEKS + 5):
            for _ in range(RACES):
                reports += _race([a, b], clock.now())
            current = a.current_round()
            if current is not None and week < WEEKS:
                ids = a.live_ids(current.number)
                for i, m in enumerate(models):
                    values = skilled(data, current.number, noise=0.3, seed=i)
                    a.submit(m, predictions_csv(ids, values), round_number=current.number)
            clock.advance(WEEK)

        opened = Counter(n for r in reports for n in r.opened)
        closed = Counter(n for r in reports for n in r.closed)
        resolved = Counter(r.round_number for rep in reports for r in rep.resolved)
        record(
            "two schedulers ticking at once",
            db_kind,
            races=(WEEKS + 5) * RACES,
            double_opens=sum(v - 1 for v in opened.values()),
            double_closes=sum(v - 1 for v in closed.values()),
            double_resolutions=sum(v - 1 for v in resolved.values()),
        )
        assert set(opened.values()) == {1} and len(opened) >= WEEKS
        assert set(closed.values()) == {1} and len(closed) >= WEEKS
        assert set(resolved.values()) == {1} and len(resolved) >= 3
        for number in resolved:
            assert a.round(number).state == "resolved"
            assert sorted(p.model_id for p in a.payouts(round_number=number)) == models
        assert a.check_ledger().ok
    finally:
        a.close()
        b.close()


def test_a_tick_while_another_scheduler_holds_the_clock_does_nothing(
    engine: Engine, tmp_path: Path, clock: ManualClock, data: SyntheticRoundData
) -> None:
    a, b = _pair(engine, tmp_path, clock, data)
    try:
        clock.advance(timedelta(hours=1))
        lock = a._core.lifecycle.clock_lock
        assert lock.acquire()
        try:
            with pytest.raises(SchedulerBusyError) as refused:
                b.tick(wait=0.2)
            assert refused.value.code == "scheduler_busy"
            assert b.rounds() == []  # nothing was done
        finally:
            lock.release()
        assert b.tick(wait=0).opened == [1]
        assert not a.tick(wait=0).changed
    finally:
        a.close()
        b.close()

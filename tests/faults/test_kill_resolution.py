"""``kill -9`` of the process resolving a round, at random points.

A round with stakes and submissions waits at its resolution time. A separate process
(forked from this one, with engines of its own) ticks it; a listener on its engine sends
it SIGKILL just before its k-th SQL statement, k drawn by a seed from the statement count
of a crash-free run (so kills land anywhere from the first read to the last write, and
during the file writes in between). A second process then ticks again — the restart.
Each run starts from an identical copy of the database and the file store; afterwards the
round is resolved once, ``ledger check`` passes, and every payout, stake, wallet and the
supply equal the crash-free run's to the base unit.

Seeds: ``FAULT_SEEDS`` per database in the suite; ``CROWDALPHA_FAULT_SEEDS=N`` runs N
(``benchmarks/faults.py`` sets it and prints the table).
"""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import shutil
import signal
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event, make_url, text
from tests.faults.report import record
from tests.tournament.conftest import predictions_csv, skilled

from crowdalpha.db import create_database_engine
from crowdalpha.ledger import TREASURY, nmr
from crowdalpha.storage import LocalFileStore
from crowdalpha.tournament import ManualClock, SyntheticRoundData, Tournament, TournamentConfig

ROWS = 300
MODELS = 4
FAULT_SEEDS = int(os.environ.get("CROWDALPHA_FAULT_SEEDS", "3"))


def _data() -> SyntheticRoundData:
    return SyntheticRoundData(seed=11, rows=ROWS)


@dataclass(frozen=True)
class Copy:
    url: str
    files: Path


def _tournament(copy: Copy, when: datetime, engine: Engine | None = None) -> Tournament:
    engine = engine or create_database_engine(copy.url)
    return Tournament(engine, LocalFileStore(copy.files), _data(), clock=ManualClock(when))


def _prepare(copy: Copy) -> datetime:
    """Round 1 staked and submitted, closed; the time its outcome is final."""
    start = TournamentConfig().schedule.anchor + timedelta(hours=1)
    clock = ManualClock(start)
    data = _data()
    with Tournament(
        create_database_engine(copy.url), LocalFileStore(copy.files), data, clock=clock
    ) as t:
        t.mint(nmr(100_000), to=TREASURY)
        acct = t.create_account("kim", "kim@example.org")
        t.grant(acct.id, nmr(1_000))
        models = [t.create_model(acct.id, f"kim_{i}").id for i in range(MODELS)]
        t.tick()
        ids = t.live_ids(1)
        for i, m in enumerate(models):
            t.increase_stake(m, nmr(50 + 10 * i))
            values = skilled(data, 1, noise=0.3, seed=i)
            t.submit(m, predictions_csv(ids, values if i % 2 == 0 else 1 - values))
        clock.advance(timedelta(days=7))
        t.tick()
        t.decrease_stake(models[0], nmr(20))
        return t.round(1).closes_at + timedelta(days=28, hours=1)


def _child(copy: Copy, when: datetime, kill_before: int | None, out: str) -> None:
    """The resolving process: tick once; with ``kill_before``, SIGKILL itself just before
    that SQL statement. Writes the statements it ran and what it resolved."""
    engine = create_database_engine(copy.url)
    statements = 0

    @event.listens_for(engine, "before_cursor_execute")
    def _count(*_args: Any) -> None:
        nonlocal statements
        statements += 1
        if statements == kill_before:
            os.kill(os.getpid(), signal.SIGKILL)

    t = _tournament(copy, when, engine)
    # the read engine (SQLite) counts too: a kill may land on a read
    if t._core.uow.read_engine is not engine:
        event.listen(t._core.uow.read_engine, "before_cursor_execute", _count)
    report = t.tick(wait=30)
    Path(out).write_text(
        json.dumps(
            {"statements": statements, "resolved": [r.round_number for r in report.resolved]}
        )
    )
    os._exit(0)


def _run(copy: Copy, when: datetime, kill_before: int | None, tmp: Path) -> dict[str, Any]:
    """A separate process ticks ``copy`` at ``when``; its exit code and what it wrote."""
    out = tmp / f"child-{time.monotonic_ns()}.json"
    context = multiprocessing.get_context("fork")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads (3.12+)
        process = context.Process(target=_child, args=(copy, when, kill_before, str(out)))
        process.start()
    process.join(timeout=120)
    assert process.exitcode is not None, "the resolving process hung"
    result: dict[str, Any] = {"exitcode": process.exitcode}
    if out.exists():
        result.update(json.loads(out.read_text()))
    return result


def _outcome(copy: Copy, when: datetime) -> dict[str, Any]:
    """Everything money-related after the round, to compare across runs."""
    with _tournament(copy, when) as t:
        models = sorted(m.id for m in t.models())
        check = t.check_ledger()
        return {
            "state": t.round(1).state,
            "payouts": sorted((p.model_id, p.stake_at_risk, p.amount) for p in t.payouts()),
            "stakes": [t.stake_info(m) for m in models],
            "wallet": t.wallet_balance(t.account_by_username("kim").id),
            "supply": t.supply(),
            "ledger_ok": check.ok,
        }


@pytest.fixture
def copies(db_kind: str, tmp_path: Path) -> Iterator[Callable[[str], Copy]]:
    """``make(name)``: an identical copy of one prepared deployment (database and files)."""
    from tests.conftest import fresh_engine

    engine = fresh_engine(db_kind, tmp_path / "origin")
    origin = Copy(engine.url.render_as_string(hide_password=False), tmp_path / "origin-files")
    engine.dispose()
    when = _prepare(origin)
    made: list[str] = []
    admin = None
    if db_kind == "postgresql":
        # CREATE DATABASE … TEMPLATE needs no connection to the template: work from the
        # server's maintenance database
        maintenance = make_url(origin.url).set(database="postgres")
        admin = create_database_engine(
            maintenance.render_as_string(hide_password=False)
        ).execution_options(isolation_level="AUTOCOMMIT")

    def make(name: str) -> Copy:
        files = tmp_path / f"{name}-files"
        shutil.copytree(origin.files, files)
        if db_kind == "sqlite":
            source = Path(make_url(origin.url).database or "")
            folder = tmp_path / name
            folder.mkdir()
            for part in source.parent.glob(source.name + "*"):
                shutil.copy2(part, folder / part.name)
            return Copy(f"sqlite:///{folder / source.name}", files)
        base = make_url(origin.url)
        database = f"{base.database}_{name}"
        assert admin is not None
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{database}"'))
            conn.execute(text(f'CREATE DATABASE "{database}" TEMPLATE "{base.database}"'))
        made.append(database)
        return Copy(base.set(database=database).render_as_string(hide_password=False), files)

    make.when = when  # type: ignore[attr-defined]
    yield make
    if admin is not None:
        with admin.connect() as conn:
            for database in made:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
        admin.dispose()


def test_kill_9_while_resolving_resolves_once_with_the_crash_free_payouts(
    copies: Callable[[str], Copy], db_kind: str, tmp_path: Path
) -> None:
    when: datetime = copies.when  # type: ignore[attr-defined]
    reference = copies("reference")
    clean = _run(reference, when, None, tmp_path)
    assert clean["exitcode"] == 0 and clean["resolved"] == [1]
    expected = _outcome(reference, when)
    assert expected["state"] == "resolved" and expected["ledger_ok"]
    assert len(expected["payouts"]) == MODELS
    total = clean["statements"]

    for seed in range(FAULT_SEEDS):
        kill_before = random.Random(seed).randint(1, total)
        copy = copies(f"seed{seed}")
        crashed = _run(copy, when, kill_before, tmp_path)
        assert crashed["exitcode"] == -signal.SIGKILL, (seed, kill_before, crashed)
        started = time.monotonic()
        restart = _run(copy, when, None, tmp_path)
        recovered_s = time.monotonic() - started
        assert restart["exitcode"] == 0
        # resolved once: by the restart, or — a kill after the commit — not again
        assert restart["resolved"] in ([1], [])
        after = _outcome(copy, when)
        record(
            "kill -9 while resolving",
            db_kind,
            seed=seed,
            point=f"statement {kill_before}/{total}",
            lost=0,
            ledger_discrepancies=int(not after["ledger_ok"]) + int(after != expected),
            double_resolutions=int(len(after["payouts"]) > MODELS),
            recover_s=recovered_s,
        )
        assert after == expected, (seed, kill_before)
        second = _run(copy, when, None, tmp_path)
        assert second["resolved"] == []  # and a further tick does nothing

"""``crowdalpha backup`` and ``crowdalpha restore``: a deployment with a resolved round,
backed up and restored into an empty one, on SQLite and on PostgreSQL — the same ledger
check, leaderboard, payouts, supply and file hashes; a damaged backup is refused before
anything is written."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import inspect, make_url, text
from tests.conftest import fresh_engine
from tests.faults.test_kill_resolution import Copy, _data, _prepare
from typer.testing import CliRunner

from crowdalpha.cli import app
from crowdalpha.db import create_database_engine
from crowdalpha.errors import BackupError, ConflictError
from crowdalpha.storage import LocalFileStore
from crowdalpha.tournament import ManualClock, Tournament

runner = CliRunner()


def _state(url: str, files: Path, when: datetime) -> dict[str, Any]:
    store = LocalFileStore(files)
    with Tournament(create_database_engine(url), store, _data(), clock=ManualClock(when)) as t:
        return {
            "ledger_ok": t.check_ledger().ok,
            "leaderboard": t.leaderboard(),
            "payouts": t.payouts(),
            "supply": t.supply(),
            "rounds": t.rounds(),
            "submissions": t.submissions(),
            "files": {key: store.sha256(key) for key in store.keys("")},
        }


@pytest.fixture
def target_url(db_kind: str, tmp_path: Path) -> Iterator[str]:
    """An empty database to restore into (a new SQLite file; a new PostgreSQL database)."""
    if db_kind == "sqlite":
        yield f"sqlite:///{tmp_path / 'target' / 'crowdalpha.db'}"
        return
    from tests.conftest import POSTGRES_URL

    assert POSTGRES_URL
    base = make_url(POSTGRES_URL)
    name = f"{base.database}_restore"
    admin = create_database_engine(
        base.set(database="postgres").render_as_string(hide_password=False)
    ).execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield base.set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def test_a_backup_restores_into_an_empty_deployment_identically(
    db_kind: str, tmp_path: Path, target_url: str
) -> None:
    engine = fresh_engine(db_kind, tmp_path / "origin")
    origin = Copy(engine.url.render_as_string(hide_password=False), tmp_path / "home" / "files")
    engine.dispose()
    when = _prepare(origin)
    with Tournament(
        create_database_engine(origin.url),
        LocalFileStore(origin.files),
        _data(),
        clock=ManualClock(when),
    ) as t:
        assert [r.round_number for r in t.tick().resolved] == [1]
    before = _state(origin.url, origin.files, when)
    assert before["ledger_ok"] and before["payouts"] and before["files"]

    dest = tmp_path / "backup"
    done = runner.invoke(
        app, ["backup", str(dest), "--home", str(tmp_path / "home"), "--database-url", origin.url]
    )
    assert done.exit_code == 0, done.output
    assert f"{len(before['files'])} files" in " ".join(done.output.split())

    # a damaged backup is refused before anything is written
    victim = next(p for p in (dest / "files").rglob("*") if p.is_file())
    intact = victim.read_bytes()
    victim.write_bytes(intact[:-1] + bytes([intact[-1] ^ 1]))
    target_home = tmp_path / "target-home"
    restore = ["restore", str(dest), "--home", str(target_home), "--database-url", target_url]
    refused = runner.invoke(app, restore)
    assert isinstance(refused.exception, BackupError)  # the CLI's main prints it, with its code
    assert "does not match its SHA-256" in refused.exception.message
    check = create_database_engine(target_url)
    assert inspect(check).get_table_names() == []
    check.dispose()
    assert not list(LocalFileStore(target_home / "files").keys())

    victim.write_bytes(intact)
    done = runner.invoke(app, restore)
    assert done.exit_code == 0, done.output
    assert _state(target_url, target_home / "files", when) == before

    # and a second restore into the now non-empty deployment is refused
    again = runner.invoke(app, restore)
    assert isinstance(again.exception, ConflictError) and "not empty" in again.exception.message

"""A database made by the previous release upgrades without loss, and plays on.

``tests/data/release_0001`` holds a SQLite database (and its files) made by the release
before schema revision 0002, with what its own code reported about it
(``expected.json``; see ``make_release_db.py`` there). On SQLite the test upgrades a copy;
on PostgreSQL it first loads the same rows into a revision-0001 schema. Either way, after
the upgrade the ledger check, the supply, every balance, round, score, payout, stake,
pending release, submission and API key read back exactly as before, and the tournament
then resolves the rounds still pending and opens the next ones under the same numbering.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, MetaData, insert, select, text
from sqlalchemy.types import Boolean, DateTime, Numeric
from tests.conftest import fresh_engine

from crowdalpha.db import create_database_engine, current_revision, downgrade, upgrade
from crowdalpha.ledger import kind_of
from crowdalpha.storage import LocalFileStore
from crowdalpha.tournament import ManualClock, SyntheticRoundData, Tournament

RELEASE = Path(__file__).resolve().parents[1] / "data" / "release_0001"
EXPECTED: dict[str, Any] = json.loads((RELEASE / "expected.json").read_text())
WEEK = timedelta(days=7)


def _raw_rows(engine: Engine) -> dict[str, list[dict[str, Any]]]:
    """Every table's rows as the driver returns them (no type conversion)."""
    metadata = MetaData()
    metadata.reflect(engine)
    out: dict[str, list[dict[str, Any]]] = {}
    with engine.connect() as connection:
        for table in metadata.sorted_tables:
            result = connection.exec_driver_sql(f'SELECT * FROM "{table.name}"')
            names = list(result.keys())
            out[table.name] = [dict(zip(names, row, strict=True)) for row in result]
    return out


def _load_into_postgresql(source: Engine, target: Engine) -> None:
    """Copy a revision-0001 SQLite database into an empty PostgreSQL one at 0001."""
    upgrade(target, "0001")
    rows = _raw_rows(source)
    metadata = MetaData()
    metadata.reflect(target)
    with target.begin() as connection:
        for table in metadata.sorted_tables:
            if table.name == "alembic_version":
                continue
            converted = []
            for row in rows[table.name]:
                item: dict[str, Any] = {}
                for column in table.columns:
                    value = row[column.name]
                    if value is None:
                        pass
                    elif isinstance(column.type, Boolean):
                        value = bool(value)
                    elif isinstance(column.type, Numeric):
                        value = int(value)
                    elif isinstance(column.type, DateTime):
                        value = datetime.fromisoformat(value).replace(tzinfo=UTC)
                    item[column.name] = value
                converted.append(item)
            if converted:
                connection.execute(insert(table), converted)
            if "id" in table.columns and converted:
                connection.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                        f"(SELECT MAX(id) FROM {table.name}))"
                    )
                )


@pytest.fixture
def released(db_kind: str, tmp_path: Path) -> Iterator[tuple[Engine, Path]]:
    """The release's database on ``db_kind`` (still at revision 0001), and its files."""
    files = tmp_path / "files"
    shutil.copytree(RELEASE / "files", files)
    copy = tmp_path / "release.db"
    shutil.copyfile(RELEASE / "crowdalpha.db", copy)
    engine = create_database_engine(f"sqlite:///{copy}")
    if db_kind != "sqlite":
        sqlite, engine = engine, fresh_engine(db_kind, tmp_path, migrate=False)
        _load_into_postgresql(sqlite, engine)
        sqlite.dispose()
    yield engine, files
    engine.dispose()


def _open(engine: Engine, files: Path) -> tuple[Tournament, ManualClock]:
    clock = ManualClock(datetime.fromisoformat(EXPECTED["clock"]))
    data = SyntheticRoundData(seed=EXPECTED["seed"], rows=EXPECTED["rows"])
    return Tournament(engine, LocalFileStore(files), data, clock=clock), clock


def _assert_unchanged(t: Tournament) -> None:
    report = t.check_ledger()
    assert report.ok, report.problems
    check = EXPECTED["ledger_check"]
    assert (report.entries, report.postings, report.accounts) == (
        check["entries"],
        check["postings"],
        check["accounts"],
    )
    supply = t.supply()
    assert {k: str(v) for k, v in dataclasses.asdict(supply).items()} == EXPECTED["supply"]
    assert {a: str(t.balance(a)) for a in EXPECTED["balances"]} == EXPECTED["balances"]
    assert all(kind_of(a) for a in EXPECTED["balances"])

    rounds = [
        {
            "number": r.number,
            "state": r.state,
            "opens_at": r.opens_at.isoformat(),
            "total_at_risk": None if r.total_at_risk is None else str(r.total_at_risk),
            "payout_factor": r.payout_factor,
            "payout_policy": r.payout_policy,
            "submissions": r.submissions,
            "dataset_version": r.dataset_version,
            "meta_model_key": r.meta_model_key,
        }
        for r in t.rounds()
    ]
    assert rounds == EXPECTED["rounds"]
    config = t.round(1).config
    assert dict(config.multipliers) == {"corr": "0.5", "mmc": "2.0"}
    assert (config.clip, config.threshold, config.metrics) == (
        "0.05",
        72_000 * 10**18,
        ("corr", "mmc", "fnc", "bmc"),
    )

    scores = [
        {
            "round": s.round_number,
            "model_id": s.model_id,
            "corr": s.corr,
            "mmc": s.mmc,
            "fnc": s.fnc,
            "bmc": s.bmc,
            "final": s.final,
        }
        for s in t.scores()
    ]
    assert scores == EXPECTED["scores"]  # every float exactly as stored
    payouts = [
        {
            "round": p.round_number,
            "model_id": p.model_id,
            "stake_at_risk": str(p.stake_at_risk),
            "amount": str(p.amount),
        }
        for p in t.payouts()
    ]
    assert payouts == EXPECTED["payouts"]
    for model_id, by_round in EXPECTED["stakes_at_risk"].items():
        got = t.stakes_at_risk(int(model_id))
        assert {str(n): str(v) for n, v in sorted(got.items())} == by_round
    for model_id, expected in EXPECTED["stakes"].items():
        info = t.stake_info(int(model_id))
        assert (str(info.stake), str(info.pending)) == (expected["stake"], expected["pending"])
        releases = [
            {
                "requested": str(r.requested),
                "remaining": str(r.remaining),
                "release_round": r.release_round,
                "released": r.released_at is not None,
            }
            for r in info.releases
        ]
        assert releases == expected["releases"]
    submissions = [
        {
            "id": s.id,
            "model_id": s.model_id,
            "round": s.round_number,
            "state": s.state,
            "late": s.late,
            "selected": s.selected,
            "sha256": s.sha256,
        }
        for s in t.submissions()
    ]
    assert submissions == EXPECTED["submissions"]
    board = [
        {"model_id": r.model_id, "reputation": r.reputation, "rounds": r.rounds}
        for r in t.leaderboard()
    ]
    # Reputation is the database's AVG of at most three stored scores: PostgreSQL may add
    # them in another order than SQLite did, a difference of a few ulps (≈ 1e-16 here).
    assert board == [
        {**row, "reputation": pytest.approx(row["reputation"], rel=1e-12, abs=1e-15)}
        for row in EXPECTED["leaderboard"]
    ]
    assert {m.name: m.id for m in t.models()} == EXPECTED["models"]
    assert all(m.competition == "classic" for m in t.models())
    keys = sorted(
        (
            {"public_id": k.public_id, "account_id": k.account_id, "revoked": bool(k.revoked_at)}
            for a in EXPECTED["accounts"].values()
            for k in t.api_keys(a)
        ),
        key=lambda k: str(k["public_id"]),
    )
    assert keys == EXPECTED["api_keys"]
    sign_in = EXPECTED["sign_in"]
    assert t.authenticate(sign_in["public_id"], sign_in["secret"]).account.username == "alice"
    assert len(t.meta_model(1)) == EXPECTED["rows"]


def test_a_database_of_the_previous_release_upgrades_without_loss_and_plays_on(
    released: tuple[Engine, Path],
) -> None:
    engine, files = released
    assert current_revision(engine) == EXPECTED["alembic_revision"] == "0001"
    upgrade(engine)
    t, clock = _open(engine, files)
    _assert_unchanged(t)

    # The upgraded tournament plays on: rounds keep their numbers (the next one is 9), the
    # pending rounds resolve, and the release waiting for round 5 is paid back.
    bob_anti = EXPECTED["models"]["bob_anti"]
    clock.advance(WEEK - timedelta(days=1))
    report = t.tick()
    assert (report.opened, [r.round_number for r in report.resolved]) == ([9], [4])
    clock.set(t.round(8).resolves_at + timedelta(hours=1))
    report = t.tick()
    assert sorted(r.round_number for r in report.resolved) == [5, 6, 7, 8]
    assert [r.state for r in t.rounds()].count("resolved") == 8
    info = t.stake_info(bob_anti)
    assert info.pending == 0 and all(r.released_at is not None for r in info.releases)
    assert t.check_ledger().ok
    t.close()


def test_the_upgrade_can_be_undone_and_redone(released: tuple[Engine, Path]) -> None:
    engine, files = released
    before = _raw_rows(engine)
    upgrade(engine)
    downgrade(engine, "0001")
    after = _raw_rows(engine)
    assert set(after) == set(before)
    for table, rows in before.items():
        key = sorted(rows[0]) if rows else []
        assert sorted(after[table], key=lambda r: [str(r[k]) for k in key]) == sorted(
            rows, key=lambda r: [str(r[k]) for k in key]
        ), table
    upgrade(engine)
    t, _clock = _open(engine, files)
    _assert_unchanged(t)
    t.close()


def test_a_fresh_database_numbers_its_first_round_1(db_kind: str, tmp_path: Path) -> None:
    """Revision 0002 on an empty database leaves Classic unstarted: the first round the
    tournament opens is round 1, whatever the calendar says."""
    engine = fresh_engine(db_kind, tmp_path)
    clock = ManualClock(datetime(2026, 11, 28, 18, 30, tzinfo=UTC))  # calendar slot 48
    t = Tournament(
        engine, LocalFileStore(tmp_path / "files"), SyntheticRoundData(rows=50), clock=clock
    )
    assert t.schedule.opens(1) == datetime(2026, 11, 28, 18, 0, tzinfo=UTC)
    assert t.tick().opened == [1]
    clock.advance(WEEK)
    assert t.tick().opened == [2]
    assert [r.number for r in t.rounds()] == [1, 2]
    with engine.connect() as connection:
        offset = connection.execute(
            select(text("numbering_offset")).select_from(text("competitions")).where(text("id = 8"))
        ).scalar_one()
    assert offset == 47
    t.close()

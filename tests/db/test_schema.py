"""The packaged migrations build exactly the schema the models describe; types are exact."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Column, Engine, Integer, MetaData, Table, insert, select
from sqlalchemy.exc import StatementError
from tests.conftest import fresh_engine

from crowdalpha.db import Amount, UtcDateTime, current_revision, head_revision, upgrade
from crowdalpha.db.schema import metadata


def test_migrations_match_the_models(engine: Engine) -> None:
    with engine.connect() as connection:
        diff = compare_metadata(
            MigrationContext.configure(connection, opts={"compare_type": True}), metadata
        )
    assert diff == []
    assert current_revision(engine) == head_revision()


def test_upgrade_is_idempotent_and_starts_from_nothing(db_kind: str, tmp_path: Path) -> None:
    engine = fresh_engine(db_kind, tmp_path, migrate=False)
    assert current_revision(engine) is None
    upgrade(engine)
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    engine.dispose()


@pytest.mark.parametrize(
    "value", [0, 1, -1, 10**18, 11 * 10**24 + 7, -(2**255), 2**256 - 1, 123456789012345678901]
)
def test_amounts_round_trip_exactly(engine: Engine, value: int) -> None:
    table = Table(
        "t_amounts", MetaData(), Column("id", Integer, primary_key=True), Column("v", Amount())
    )
    table.create(engine)
    with engine.begin() as connection:
        connection.execute(insert(table).values(id=1, v=value))
        got = connection.execute(select(table.c.v)).scalar_one()
    assert type(got) is int and got == value


@pytest.mark.parametrize("bad", [1.0, True, "5"])
def test_amount_refuses_anything_but_int(engine: Engine, bad: object) -> None:
    table = Table(
        "t_bad", MetaData(), Column("id", Integer, primary_key=True), Column("v", Amount())
    )
    table.create(engine)
    with pytest.raises(StatementError, match="int base units"), engine.begin() as connection:
        connection.execute(insert(table).values(id=1, v=bad))


def test_datetimes_come_back_aware_and_in_utc(engine: Engine) -> None:
    table = Table(
        "t_times", MetaData(), Column("id", Integer, primary_key=True), Column("t", UtcDateTime())
    )
    table.create(engine)
    local = datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=timezone(timedelta(hours=5)))
    with engine.begin() as connection:
        connection.execute(insert(table).values(id=1, t=local))
        got = connection.execute(select(table.c.t)).scalar_one()
    assert got == local and got.tzinfo is not None and got.utcoffset() == timedelta(0)
    assert got == datetime(2026, 1, 1, 22, 4, 5, 123456, tzinfo=UTC)
    with pytest.raises(StatementError, match="timezone-aware"), engine.begin() as connection:
        connection.execute(insert(table).values(id=2, t=datetime(2026, 1, 1)))


def test_text_with_nul_is_bad_input_not_a_database_failure(engine: Engine) -> None:
    """PostgreSQL cannot store NUL in text; the fuzzer found a 500 there. Now it is a typed
    InvalidInputError (a 422) on PostgreSQL, and plain text on SQLite."""
    from sqlalchemy import String

    from crowdalpha.errors import InvalidInputError

    table = Table(
        "t_text", MetaData(), Column("id", Integer, primary_key=True), Column("v", String(20))
    )
    table.create(engine)
    if engine.dialect.name == "postgresql":
        with pytest.raises(InvalidInputError, match="NUL"), engine.begin() as connection:
            connection.execute(insert(table).values(id=1, v="a\x00b"))
    else:
        with engine.begin() as connection:
            connection.execute(insert(table).values(id=1, v="a\x00b"))
            assert connection.execute(select(table.c.v)).scalar_one() == "a\x00b"

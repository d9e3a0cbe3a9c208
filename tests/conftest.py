"""Fixtures shared by every database test: each runs on SQLite, and on PostgreSQL too
when ``CROWDALPHA_TEST_DATABASE_URL`` is set (``.ci/run`` sets it when the server answers)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from crowdalpha.db import create_database_engine, upgrade

POSTGRES_URL = os.environ.get("CROWDALPHA_TEST_DATABASE_URL")

DATABASES = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param(
        "postgresql",
        id="postgresql",
        marks=pytest.mark.skipif(
            not POSTGRES_URL, reason="CROWDALPHA_TEST_DATABASE_URL is not set"
        ),
    ),
]


def fresh_engine(kind: str, tmp_path: Path, *, migrate: bool = True) -> Engine:
    """An empty database of ``kind`` (the PostgreSQL one is wiped first), migrated."""
    if kind == "sqlite":
        engine = create_database_engine(f"sqlite:///{tmp_path / 'crowdalpha.db'}")
    else:
        assert POSTGRES_URL
        engine = create_database_engine(POSTGRES_URL)
        with engine.begin() as connection:
            connection.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
    if migrate:
        upgrade(engine)
    return engine


@pytest.fixture(params=DATABASES)
def db_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def engine(db_kind: str, tmp_path: Path) -> Iterator[Engine]:
    engine = fresh_engine(db_kind, tmp_path)
    yield engine
    engine.dispose()

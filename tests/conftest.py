"""Fixtures shared by every database test: each runs on SQLite, and on PostgreSQL too
when ``CROWDALPHA_TEST_DATABASE_URL`` is set (``.ci/run`` sets it when the server answers).

Under pytest-xdist every worker gets a database of its own, named after the configured one
with the worker's id appended (``test`` → ``test_gw0``), created on first use: the tests wipe
their database's schema, so two workers must never share one."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings as hypothesis_settings
from sqlalchemy import Engine, make_url, text
from tests.services import dask_cluster, s3  # noqa: F401 - session fixtures for every test

from crowdalpha.db import create_database_engine, upgrade


def _worker_database(url: str | None) -> str | None:
    """``url`` for this process: the same server, a database of this xdist worker's own."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not url or not worker:
        return url
    base = make_url(url)
    name = f"{base.database}_{worker}"
    admin = create_database_engine(base.render_as_string(hide_password=False))
    try:
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            exists = connection.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
            ).first()
            if exists is None:
                connection.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()
    return base.set(database=name).render_as_string(hide_password=False)


POSTGRES_URL = _worker_database(os.environ.get("CROWDALPHA_TEST_DATABASE_URL"))

# `.ci/run` runs every property test on the same examples each time (``derandomize``: drawn
# from a seed that the test itself fixes), so a submission is never refused for a draw its
# change did not cause; `make test` anywhere else searches fresh examples on every run, and
# what such a search finds is kept as an ``@example`` of its test.
hypothesis_settings.register_profile("ci", derandomize=True)
hypothesis_settings.load_profile(os.environ.get("CROWDALPHA_HYPOTHESIS_PROFILE", "default"))

# pytest-xdist starts its workers with COLUMNS=80 and LINES=24; rich reads them once, when
# the CLI's module-level consoles are created at import, and would then ignore the width a
# test sets. Without them every test gets the width it asks for, as in a serial run.
os.environ.pop("COLUMNS", None)
os.environ.pop("LINES", None)

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

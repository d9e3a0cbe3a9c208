"""Database URLs as operators write them."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from tests.conftest import POSTGRES_URL

from crowdalpha.db import create_database_engine


@pytest.mark.parametrize("scheme", ["postgresql", "postgres", "postgresql+psycopg"])
def test_a_postgresql_url_without_a_driver_uses_psycopg_3(scheme: str) -> None:
    engine = create_database_engine(f"{scheme}://operator:s3cret@db.example:5433/tournament")
    try:
        assert (engine.dialect.name, engine.dialect.driver) == ("postgresql", "psycopg")
        assert engine.url.render_as_string(hide_password=False) == (
            "postgresql+psycopg://operator:s3cret@db.example:5433/tournament"
        )
    finally:
        engine.dispose()


@pytest.mark.skipif(not POSTGRES_URL, reason="CROWDALPHA_TEST_DATABASE_URL is not set")
def test_a_plain_postgresql_url_connects() -> None:
    assert POSTGRES_URL
    plain = POSTGRES_URL.replace("postgresql+psycopg://", "postgresql://", 1)
    engine = create_database_engine(plain)
    try:
        with engine.connect() as connection:
            assert connection.execute(text("SELECT 1")).scalar_one() == 1
    finally:
        engine.dispose()

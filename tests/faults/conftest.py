"""A deployment for the fault tests: a home folder and a fresh database of each kind
(SQLite, and the PostgreSQL of ``CROWDALPHA_TEST_DATABASE_URL`` when set), migrated,
with round 1 open on the system clock; processes are started by the tests."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from tests.conftest import fresh_engine
from tests.faults.processes import environment

from crowdalpha.runtime import open_tournament
from crowdalpha.settings import Settings

ROWS = 200


@dataclass
class Deployment:
    home: Path
    database_url: str
    env: dict[str, str]
    live_ids: list[str]

    def settings(self) -> Settings:
        return Settings(
            home=self.home, database_url=self.database_url, synthetic_rows=ROWS, tick_interval=0
        )


def predictions(ids: list[str], seed: int) -> bytes:
    """A valid prediction file, different for every seed."""
    values = np.random.default_rng(seed).uniform(0.01, 0.99, size=len(ids))
    buffer = io.StringIO()
    pd.DataFrame({"id": ids, "prediction": values}).to_csv(buffer, index=False)
    return buffer.getvalue().encode()


@pytest.fixture
def deployment(db_kind: str, tmp_path: Path) -> Iterator[Deployment]:
    engine = fresh_engine(db_kind, tmp_path / "db")
    url = engine.url.render_as_string(hide_password=False)
    engine.dispose()
    home = tmp_path / "home"
    env = environment(
        home, url, synthetic_rows=ROWS, tick_interval=0, rate_limit_per_minute=1_000_000
    )
    deployment = Deployment(home, url, env, [])
    with open_tournament(deployment.settings()) as t:
        report = t.tick()
        assert report.opened, "the system clock always has a round taking submissions"
        deployment.live_ids = t.live_ids(report.opened[0])
    yield deployment

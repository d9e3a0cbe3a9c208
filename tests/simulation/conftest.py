"""Short simulated tournaments, run once per module and shared by its tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from crowdalpha.simulation import RunSpec, TournamentRun, run_tournament

ROSTER = (
    ("good", 3),
    ("mediocre", 2),
    ("overfit", 2),
    ("random", 3),
    ("copy", 1),
    ("anti", 3),
    ("diversified", 2),
)


def _run(spec: RunSpec, folder: Path) -> Iterator[TournamentRun]:
    run = run_tournament(spec, folder)
    yield run
    run.tournament.engine.dispose()


@pytest.fixture(scope="package")
def numerai_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TournamentRun]:
    # 1,200 rows a round: a model's CORR on one round spreads by ~1/√rows, and the skill
    # ordering asserted in test_economics.py needs the kinds' means (9 rounds, 2-3 models
    # each) further apart than that spread; on 300 rows mediocre and random were 0.005
    # apart on some seeds
    spec = RunSpec("numerai", policy="numerai", rounds=9, roster=ROSTER, seed=3, rows=1200)
    yield from _run(spec, tmp_path_factory.mktemp("numerai"))


@pytest.fixture(scope="package")
def tiered_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TournamentRun]:
    spec = RunSpec(
        "tiered+limits",
        policy="tiered",
        rounds=6,
        roster=ROSTER,
        seed=4,
        rows=300,
        share_limit="0.35",
    )
    yield from _run(spec, tmp_path_factory.mktemp("tiered"))

"""A tournament on each database, with a synthetic data source and a clock tests move."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine

from crowdalpha.ledger import TREASURY, nmr
from crowdalpha.storage import LocalFileStore
from crowdalpha.tournament import ManualClock, SyntheticRoundData, Tournament, TournamentConfig

ROWS = 300


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(TournamentConfig().schedule.anchor - timedelta(hours=1))


@pytest.fixture
def data() -> SyntheticRoundData:
    return SyntheticRoundData(seed=7, rows=ROWS)


@pytest.fixture
def make_tournament(
    engine: Engine, tmp_path: Path, clock: ManualClock, data: SyntheticRoundData
) -> Iterator[Callable[..., Tournament]]:
    def make(config: TournamentConfig | None = None) -> Tournament:
        return Tournament(
            engine, LocalFileStore(tmp_path / "files"), data, config=config, clock=clock
        )

    yield make


@pytest.fixture
def tournament(make_tournament: Callable[..., Tournament]) -> Tournament:
    t = make_tournament()
    t.mint(nmr(100_000), to=TREASURY)
    return t


def predictions_csv(ids: list[str], values: np.ndarray) -> bytes:
    frame = pd.DataFrame({"id": ids, "prediction": values})
    return frame.to_csv(index=False).encode()


def skilled(data: SyntheticRoundData, number: int, noise: float, seed: int) -> np.ndarray:
    """Predictions of chosen skill: the hidden signal plus noise, as ranks in (0, 1)."""
    signal = data.skill_signal(number).to_numpy()
    rng = np.random.default_rng(seed)
    raw = signal + noise * rng.normal(size=len(signal))
    return (pd.Series(raw).rank().to_numpy() - 0.5) / len(raw)


def predictions_parquet(ids: list[str], values: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    pd.DataFrame({"id": ids, "prediction": values}).to_parquet(buffer, index=False)
    return buffer.getvalue()

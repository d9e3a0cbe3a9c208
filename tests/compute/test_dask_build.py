"""A dataset build with its time cells as tasks on a Dask cluster (two worker processes)
writes the same bytes as a build in one process; the era cache the tasks fill — here in an
S3 bucket — serves a later build anywhere."""

from __future__ import annotations

import pickle
import tracemalloc
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TypeVar, cast

import pandas as pd
import pytest
from distributed import Client, LocalCluster
from tests.services import S3Endpoint

from crowdalpha.compute import ComputeBackend, InProcess
from crowdalpha.compute.dask import DaskBackend
from crowdalpha.dataset.build import BuildConfig, BuildReport, build_round
from crowdalpha.dataset.cache import CachedEra, EraCache
from crowdalpha.dataset.cells import STAGING, CellTask
from crowdalpha.dataset.features import FeatureConfig
from crowdalpha.dataset.obfuscate import Vault
from crowdalpha.dataset.targets import TargetConfig
from crowdalpha.market import MarketConfig, simulate_market
from crowdalpha.storage import FileStore, LocalFileStore

T = TypeVar("T")
R = TypeVar("R")
VAULT = Vault(bytes(range(32)))
# Short windows and few features: six cells of 60 days in a 320-day history, built in seconds.
CONFIG = BuildConfig(
    features=FeatureConfig(
        momentum_windows=(5, 20),
        skip_momentum=((40, 5),),
        reversal_windows=(5,),
        volatility_windows=(5, 20),
        downside_windows=(20,),
        skew_windows=(20,),
        volume_windows=(5, 20),
        volume_trends=((5, 20),),
        turnover_windows=(5,),
        dollar_volume_windows=(5,),
        amihud_windows=(20,),
        drawdown_windows=(20,),
        beta_windows=(20,),
        range_windows=(5,),
        intraday_windows=(5,),
        lags=(0, 1),
        small_set_size=10,
    ),
    targets=TargetConfig(
        horizon=10,
        aux_horizons=(20,),
        styles=("size", "momskip_40_5", "vol_20", "beta_20"),
        beta_style="beta_20",
    ),
    validation_eras=6,
    block_days=60,
)


@pytest.fixture(scope="module")
def prices() -> pd.DataFrame:
    config = MarketConfig(n_stocks=80, n_days=320, seed=7)  # listings and delistings too
    return simulate_market(config).prices


@pytest.fixture
def backend(dask_cluster: LocalCluster) -> Iterator[DaskBackend]:
    with Client(dask_cluster, set_as_default=False) as client:
        client.wait_for_workers(2, timeout=60)
        yield DaskBackend(client)


def _build(
    prices: pd.DataFrame,
    root: Path,
    *,
    compute: ComputeBackend | None = None,
    cache: Path | FileStore | None = None,
) -> BuildReport:
    return build_round(
        prices,
        out_dir=root / "public",
        operator_dir=root / "operator",
        vault=VAULT,
        round_number=3,
        config=CONFIG,
        cache_dir=cache,
        compute=compute,
    )


def _same_bytes(a: Path, b: Path) -> None:
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    assert {f.name for f in files} >= {"train.parquet", "live.parquet", "live_ids.parquet"}
    for f in files:
        assert (a / f).read_bytes() == (b / f).read_bytes(), f


@pytest.fixture(scope="module")
def single(prices: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("single")
    _build(prices, root)
    return root


def test_cells_on_the_cluster_write_the_bytes_of_one_process(
    prices: pd.DataFrame, single: Path, backend: DaskBackend, tmp_path: Path
) -> None:
    report = _build(prices, tmp_path, compute=backend)
    _same_bytes(single, tmp_path)
    planned = sorted(d for dates in report.eras.values() for d in dates)
    assert report.reused == () and list(report.computed) == planned
    # the temporary cache that carried the eras is gone
    assert [p.name for p in (tmp_path / "operator").iterdir() if p.name.startswith(".")] == []


class _TasksHere(InProcess):
    """The tasks' path (staging, parts through a cache) run in this process."""

    remote = True


def test_a_build_without_cache_keeps_only_parts_and_the_live_era_in_its_temporary_one(
    prices: pd.DataFrame, single: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The temporary cache carries what the building process reads (every era's part, the
    live era's values): the other eras' values are not written."""
    saved: list[pd.Timestamp] = []
    original = EraCache.save

    def counted(self: EraCache, date: pd.Timestamp, key: str, era: CachedEra) -> None:
        saved.append(date)
        original(self, date, key, era)

    monkeypatch.setattr(EraCache, "save", counted)
    report = _build(prices, tmp_path, compute=_TasksHere())
    _same_bytes(single, tmp_path)
    assert saved == report.eras["live"] and len(report.computed) > 10


class _Watching(_TasksHere):
    """Notes, as each task is handed out, which of the build's staged price files exist."""

    def __init__(self, store: FileStore) -> None:
        self.store = store
        self.handed: list[tuple[int, bool]] = []

    def map(self, fn: Callable[[T], R], items: Iterable[T], *, name: str = "task") -> Iterator[R]:
        for item in items:
            staged = set(self.store.keys(STAGING))
            needed = set(cast(CellTask, item).staged)
            self.handed.append((len(staged), needed <= staged))
            yield fn(item)


def test_the_first_cells_are_handed_out_before_every_price_is_staged(
    prices: pd.DataFrame, single: Path, tmp_path: Path
) -> None:
    """Staging the prices for the tasks goes on while the first cells run: each cell is
    handed out once the files it reads exist — and no sooner."""
    store = LocalFileStore(tmp_path / "cache")
    watching = _Watching(store)
    _build(prices, tmp_path / "round", compute=watching, cache=store)
    _same_bytes(single, tmp_path / "round")
    counts = [count for count, _ in watching.handed]
    assert all(ready for _, ready in watching.handed) and len(counts) == 6
    assert counts[0] < counts[-1] and counts == sorted(counts)
    assert not list(store.keys(STAGING))  # and removed afterwards


def test_the_cache_the_tasks_fill_in_a_bucket_serves_the_next_build(
    prices: pd.DataFrame, single: Path, backend: DaskBackend, s3: S3Endpoint, tmp_path: Path
) -> None:
    bucket = s3.store()
    first = _build(prices, tmp_path / "a", compute=backend, cache=bucket)
    _same_bytes(single, tmp_path / "a")
    assert first.reused == () and first.damaged == 0
    cached = list(bucket.keys())
    assert not any(k.startswith(STAGING) for k in cached)
    values = sorted(k for k in cached if k.endswith(".npz"))
    parts = [k for k in cached if k.endswith(".part")]
    # the values of every era, the part of every era but the live one (published here)
    assert len(values) == len(first.computed) and len(parts) == len(first.computed) - 1
    # a build in one process finds every era the cluster computed, and copies its parts
    again = _build(prices, tmp_path / "b", cache=bucket)
    assert again.computed == () and sorted(again.reused) == sorted(first.computed)
    assert sorted(again.copied) == sorted(set(first.computed) - set(first.eras["live"]))
    _same_bytes(single, tmp_path / "b")
    # and the cluster finds them too; a damaged file is recomputed, as in one process
    damaged = values[5]
    day = damaged[-14:-4]
    bucket.put(damaged, bucket.get(damaged)[:2000])
    for key in parts:
        if f"/{day}-" in key:
            bucket.delete(key)  # so that the era's values are needed
    third = _build(prices, tmp_path / "c", compute=backend, cache=bucket)
    assert [f"{d:%Y-%m-%d}" for d in third.computed] == [day]
    assert third.damaged == 1 and len(third.copied) == len(first.computed) - 2
    _same_bytes(single, tmp_path / "c")


class _Weighing(_TasksHere):
    """Runs each task here as a worker would (from its pickled copy) and notes what it
    holds: the pickled task, the staged price bytes it reads and its traced peak
    (numpy's buffers and Python's objects)."""

    def __init__(self) -> None:
        self.weights: list[tuple[int, int, int, int]] = []

    def map(self, fn: Callable[[T], R], items: Iterable[T], *, name: str = "task") -> Iterator[R]:
        for item in items:
            task = cast(CellTask, item)
            pickled = pickle.dumps(task)
            staged = sum(len(task.cache.store.get(key)) for key in task.staged)
            copy = pickle.loads(pickled)
            tracemalloc.start()
            try:
                result = fn(copy)
                peak = tracemalloc.get_traced_memory()[1]
            finally:
                tracemalloc.stop()
            self.weights.append((task.cell.hi - task.cell.lo, len(pickled), staged, peak))
            yield result


def test_a_cell_task_holds_one_cell_whatever_the_length_of_the_history(
    tmp_path: Path,
) -> None:
    """A worker's memory is bounded by the cell, not by the dataset: a task carries no
    prices and reads only the staged files that cover its window, so the cells of a history
    twice as long weigh what the shorter history's weigh."""
    market = MarketConfig(n_stocks=80, n_days=640, seed=7)
    long = simulate_market(market).prices
    days = long["date"].drop_duplicates()
    short = long[long["date"] <= days.iloc[319]].reset_index(drop=True)
    weights: list[list[tuple[int, int, int, int]]] = []
    for n, frame in enumerate((short, long)):
        weighing = _Weighing()
        _build(frame, tmp_path / str(n), compute=weighing)
        # the cells with a whole window (the first has less history, the last less future)
        span = max(w[0] for w in weighing.weights)
        full = [w for w in weighing.weights[1:] if w[0] == span]
        assert len(full) >= 3 * n + 2, weighing.weights
        weights.append(full)
    for what in (1, 2, 3):  # the pickled task, the staged bytes read, the traced peak
        shorter = max(w[what] for w in weights[0])
        longer = max(w[what] for w in weights[1])
        # (a task that read every staged file would weigh about twice as much)
        assert longer < 1.25 * shorter, (what, weights)

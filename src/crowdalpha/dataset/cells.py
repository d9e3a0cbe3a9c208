"""A dataset build's time cells as tasks on a compute backend (a local pool, a Dask cluster).

:func:`~crowdalpha.dataset.build.build_round` computes eras in time cells that depend on
nothing but their own window of prices; here each cell is a task. The data travel through
the file store of the era cache, which every worker reaches:

1. the prices are staged there once, in Parquet files of ``block_days`` trading days each
   (the cells' grid), so a task reads only the few that cover its window;
2. each task rebuilds its cell's price frame from them — the same frame, row for row, as
   :func:`~crowdalpha.dataset.build.cell_prices` cuts from the whole — computes the eras the
   cache lacks with the same code as a build in one process, and saves them to the cache;
3. this process reads the eras back in date order and writes the round: the same bytes as a
   build in one process (``tests/compute/test_dask_build.py``).

A task only writes cache files under keys computed from its inputs, so one that runs twice
(its worker died) writes the same files again. Memory per worker is one cell's.
"""

from __future__ import annotations

import io
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from crowdalpha.compute import ComputeBackend
from crowdalpha.dataset.build import (
    CellPlan,
    EraShape,
    EraStream,
    cell_eras,
    cell_keys,
    cell_prices,
    compute_era,
    era_engines,
)
from crowdalpha.dataset.cache import EraCache
from crowdalpha.storage import FileStore

__all__ = ["CellTask", "fill_cell", "remote_eras"]

#: Where staged prices wait (under the era cache's store) while their build runs.
STAGING = "staging"


@dataclass(frozen=True)
class CellTask:
    """What a worker needs for one cell: where the staged prices and the cache are."""

    cell: CellPlan
    shape: EraShape
    cache: EraCache
    #: Keys of the staged price files covering the cell's window, in date order.
    parts: tuple[str, ...]
    #: The trading days ``cell.lo … cell.hi``.
    window: pd.DatetimeIndex
    #: The price frame's column types, restored after the Parquet round trip.
    dtypes: dict[str, str]


@dataclass(frozen=True)
class CellResult:
    """A cell's eras' cache keys, which of them the task computed, and which of those it
    computed because their cache file was damaged."""

    keys: dict[int, str]
    computed: frozenset[int]
    damaged: frozenset[int]


def fill_cell(task: CellTask) -> CellResult:
    """Make sure the cache holds every era of ``task.cell``: eras whose file is there (by
    its header) are left alone, the others computed and saved. Runs on a worker."""
    frame = _window_prices(task)
    cell = task.cell
    keys = cell_keys(frame, task.window, cell, task.shape.future, task.cache.settings)
    computed: set[int] = set()
    damaged: set[int] = set()
    engines = None
    for i, day, _position in cell.eras:
        found = task.cache.probe(day, keys[i])
        if found == "hit":
            continue
        engines = engines or era_engines(frame, task.shape)
        task.cache.save(day, keys[i], compute_era(engines, day))
        computed.add(i)
        if found == "damaged":
            damaged.add(i)
    return CellResult(keys=keys, computed=frozenset(computed), damaged=frozenset(damaged))


def _window_prices(task: CellTask) -> pd.DataFrame:
    """The cell's prices, as :func:`cell_prices` cuts them from the whole frame."""
    store = task.cache.store
    tables = [pq.read_table(io.BytesIO(store.get(key))) for key in task.parts]
    frame = pa.concat_tables(tables).to_pandas()
    frame = frame.astype(task.dtypes)
    window = task.window
    cell = task.cell
    return cell_prices(frame, window, 0, cell.end - cell.lo, cell.hi - cell.lo)


def _stage(
    prices: pd.DataFrame, days: pd.DatetimeIndex, step: int, store: FileStore, run: str
) -> list[str]:
    """Write the prices in files of ``step`` trading days each; their keys in date order."""
    dates = prices["date"].to_numpy()
    keys: list[str] = []
    for start in range(0, len(days), step):
        stop = min(start + step, len(days))
        first, last = days[start].to_datetime64(), days[stop - 1].to_datetime64()
        chunk = prices[(dates >= first) & (dates <= last)]
        buffer = io.BytesIO()
        pq.write_table(pa.Table.from_pandas(chunk, preserve_index=False), buffer)
        key = f"{STAGING}/{run}/prices-{start // step:05d}.parquet"
        store.put(key, buffer.getvalue())
        keys.append(key)
    return keys


def remote_eras(
    prices: pd.DataFrame,
    days: pd.DatetimeIndex,
    plan: list[CellPlan],
    shape: EraShape,
    store: EraCache | None,
    compute: ComputeBackend,
    *,
    step: int,
    scratch: Path,
) -> EraStream:
    """The build's eras in date order, every cell computed as a task on ``compute``.

    ``step`` is the cells' grid in trading days (``block_days``). Without an era cache a
    temporary one under ``scratch`` carries the eras (and is removed afterwards): enough for
    workers on this machine; workers on other machines need a cache they all reach
    (``cache_dir`` a bucket or a shared folder).
    """
    temporary: Path | None = None
    if store is None:
        temporary = scratch / f".build-{uuid.uuid4().hex[:12]}"
        store = EraCache(temporary, f"scratch-{uuid.uuid4().hex}")
    run = uuid.uuid4().hex[:16]
    try:
        parts = _stage(prices, days, step, store.store, run)
        dtypes = {str(name): str(dtype) for name, dtype in prices.dtypes.items()}
        tasks = [
            CellTask(
                cell=cell,
                shape=shape,
                cache=store,
                parts=tuple(parts[cell.lo // step : cell.hi // step + 1]),
                window=days[cell.lo : cell.hi + 1],
                dtypes=dtypes,
            )
            for cell in plan
        ]
        results = compute.map(fill_cell, tasks, name="era-cell")
        for task, result in zip(tasks, results, strict=True):
            yield from _read_back(prices, days, task, result)
    finally:
        for key in list(store.store.keys(f"{STAGING}/{run}/")):
            store.store.delete(key)
        if temporary is not None:
            shutil.rmtree(temporary, ignore_errors=True)


def _read_back(
    prices: pd.DataFrame, days: pd.DatetimeIndex, task: CellTask, result: CellResult
) -> EraStream:
    """A filled cell's eras from the cache, in date order. A file found damaged here (it
    passed the task's header check, or broke since) sends the rest of the cell through the
    one-process path, which recomputes what it cannot read."""
    cell, cache, shape = task.cell, task.cache, task.shape
    for n, (i, day, _position) in enumerate(cell.eras):
        era, bad = cache.load(day, result.keys[i], shape.n_features, shape.n_targets)
        if era is None:
            rest = CellPlan(eras=cell.eras[n:], lo=cell.lo, end=cell.end, hi=cell.hi)
            frame = cell_prices(prices, days, cell.lo, cell.end, cell.hi)
            yield from cell_eras(frame, task.window, rest, shape, cache)
            return
        yield i, era, i in result.computed, int(bad or i in result.damaged)

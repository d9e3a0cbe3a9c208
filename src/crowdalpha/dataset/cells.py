"""A dataset build's time cells as tasks on a compute backend (a local pool, a Dask cluster).

:func:`~crowdalpha.dataset.build.build_round` computes eras in time cells that depend on
nothing but their own window of prices; here each cell is a task. The data travel through
the file store of the era cache, which every worker reaches:

1. the prices are staged there once, in files of ``block_days`` trading days each (the
   cells' grid), so a task reads only the few that cover its window. They live only as
   long as the build, so they are Arrow IPC files with LZ4-compressed buffers, not
   Parquet: as small, but about three times faster to write here (which the workers wait
   for) and twice as fast to read back;
2. each task rebuilds its cell's price frame from them — the same frame, row for row, as
   :func:`~crowdalpha.dataset.build.cell_prices` cuts from the whole — computes the eras the
   cache lacks with the same code as a build in one process and saves them to the cache,
   then publishes every era of the cell whose part the cache lacks (binning, keyed ids and
   order, Parquet encoding: :class:`~crowdalpha.dataset.layout.EraPublisher`) and saves
   the parts, adding its train eras to the example model's sums (the cell's
   :class:`~crowdalpha.dataset.build.CellFit`, returned with the result);
3. this process copies the parts into the round's files in date order (and publishes the
   live era itself, whose ids' tickers it keeps): the same bytes as a build in one process
   (``tests/compute/test_dask_build.py``).

So nearly all of a build runs on the workers; what stays here is copying bytes, adding
the cells' sums and solving the example model's few-thousand-unknown system. The tasks
carry the :class:`~crowdalpha.dataset.obfuscate.Vault` (the ids are keyed): run them on
workers you would trust with the key, over TLS (``tls://`` scheduler addresses) when they
are on other machines. A task only writes cache files under keys computed from its inputs,
so one that runs twice (its worker died) writes the same files again.

Memory per worker is one cell's, whatever the length of the whole history: a task carries
no prices and reads only the staged files that cover its window (the cell's days with the
history its features look back on and the future its targets look ahead to), so a
worker holds that window and the engines over it (``tests/compute/test_dask_build.py``;
the figures per cell size are in ``benchmarks/README.md``).
"""

from __future__ import annotations

import io
import itertools
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.feather as feather

from crowdalpha.compute import ComputeBackend
from crowdalpha.dataset.build import (
    CellFit,
    CellPlan,
    EraShape,
    PartStream,
    Source,
    cell_keys,
    cell_part_keys,
    cell_parts,
    cell_prices,
    compute_era,
    day_rows,
    era_engines,
    publish_era,
)
from crowdalpha.dataset.cache import CachedEra, EraCache
from crowdalpha.dataset.example import ExampleSums
from crowdalpha.dataset.layout import EraPublisher, PublishedEra
from crowdalpha.storage import FileStore

__all__ = ["CellTask", "fill_cell", "remote_parts"]

#: Where staged prices wait (under the era cache's store) while their build runs.
STAGING = "staging"


@dataclass(frozen=True)
class CellTask:
    """What a worker needs for one cell: where the staged prices and the cache are."""

    cell: CellPlan
    shape: EraShape
    cache: EraCache
    publisher: EraPublisher
    #: Keys of the staged price files covering the cell's window, in date order.
    staged: tuple[str, ...]
    #: The trading days ``cell.lo … cell.hi``.
    window: pd.DatetimeIndex
    #: The price frame's column types, restored after the Parquet round trip.
    dtypes: dict[str, str]
    #: Whether to add the cell's train eras to the example model's sums.
    fit: bool = True
    #: Whether to keep the values of the eras it computes in the cache (a build's own
    #: temporary cache keeps only the parts and the live era's values, which is all the
    #: building process reads).
    keep_values: bool = True


@dataclass(frozen=True)
class CellResult:
    """A cell's eras' cache keys (of their values, and of their parts — none for the live
    era), which of them the task computed, and which of those it computed because their
    cache file was damaged."""

    keys: dict[int, str]
    parts: dict[int, str]
    computed: frozenset[int]
    damaged: frozenset[int]
    #: The eras whose part the task published (the others' parts were in the cache).
    published: frozenset[int]
    #: The example model's sums over the cell's train eras (None when not asked for).
    sums: ExampleSums | None = None


def fill_cell(task: CellTask) -> CellResult:
    """Make sure the cache holds the values of every era of ``task.cell`` and the part of
    every era but the live one: what is there (by its key) is left alone, the rest
    computed, published and saved. Runs on a worker."""
    frame = _window_prices(task)
    cell, cache, shape, publisher = task.cell, task.cache, task.shape, task.publisher
    keys = cell_keys(frame, task.window, cell, shape.future, cache.settings)
    parts = cell_part_keys(publisher, cell, keys)
    fit = CellFit(cell, publisher, cache, parts) if task.fit else None
    computed: set[int] = set()
    damaged: set[int] = set()
    published: set[int] = set()
    engines = None

    def compute(i: int, day: pd.Timestamp, bad: bool, keep: bool) -> CachedEra:
        nonlocal engines
        engines = engines or era_engines(frame, shape)
        era = compute_era(engines, day)
        if keep:
            cache.save(day, keys[i], era)
        computed.add(i)
        if bad:
            damaged.add(i)
        return era

    for slot in cell.eras:
        i, day = slot.number, slot.date
        if slot.split == "live":  # published by the building process, which keeps its ids
            found = cache.probe(day, keys[i])
            if found != "hit":
                compute(i, day, found == "damaged", True)
            continue
        if fit is not None and fit.pending(i):  # the sums need its bins: read the part
            part, _ = cache.load_part(day, slot.split, parts[i])
            if part is not None:
                fit.add_part(i, part)
                continue
        elif cache.probe_part(day, slot.split, parts[i]):
            continue
        era, bad = cache.load(day, keys[i], shape.n_features, shape.n_targets)
        if era is None:
            era = compute(i, day, bad, task.keep_values)
        part = publish_era(publisher, slot, era, fit).part
        cache.save_part(day, slot.split, parts[i], part)
        published.add(i)
    return CellResult(
        keys=keys,
        parts=parts,
        computed=frozenset(computed),
        damaged=frozenset(damaged),
        published=frozenset(published),
        sums=fit.finish() if fit is not None else None,
    )


def _window_prices(task: CellTask) -> pd.DataFrame:
    """The cell's prices, as :func:`cell_prices` cuts them from the whole frame."""
    store = task.cache.store
    tables = [feather.read_table(io.BytesIO(store.get(key))) for key in task.staged]
    frame = pa.concat_tables(tables).to_pandas()
    frame = frame.astype(task.dtypes)
    window = task.window
    cell = task.cell
    return cell_prices(frame, window, 0, cell.end - cell.lo, cell.hi - cell.lo)


def _stage(
    prices: pd.DataFrame, days: pd.DatetimeIndex, step: int, store: FileStore, run: str
) -> Iterator[str]:
    """Write the prices (sorted by date) in files of ``step`` trading days each, one file
    each time the next key is asked for; their keys in date order."""
    for start in range(0, len(days), step):
        chunk = day_rows(prices, days, start, min(start + step, len(days)) - 1)
        buffer = io.BytesIO()
        table = pa.Table.from_pandas(chunk, preserve_index=False)
        feather.write_feather(table, buffer, compression="lz4")
        key = f"{STAGING}/{run}/prices-{start // step:05d}.arrow"
        store.put(key, buffer.getvalue())
        yield key


def remote_parts(
    prices: pd.DataFrame,
    days: pd.DatetimeIndex,
    plan: list[CellPlan],
    shape: EraShape,
    store: EraCache | None,
    publisher: EraPublisher,
    compute: ComputeBackend,
    sums: ExampleSums | None,
    *,
    step: int,
    scratch: Path,
) -> PartStream:
    """The build's eras, published, in date order: every cell computed and published as a
    task on ``compute``, its example sums added to ``sums`` (None: none wanted).

    ``step`` is the cells' grid in trading days (``block_days``). Without an era cache a
    temporary one under ``scratch`` carries the parts and the live era (and is removed
    afterwards): enough for workers on this machine; workers on other machines need a
    cache they all reach (``cache_dir`` a bucket or a shared folder).
    """
    temporary: Path | None = None
    if store is None:
        temporary = scratch / f".build-{uuid.uuid4().hex[:12]}"
        store = EraCache(temporary, f"scratch-{uuid.uuid4().hex}")
    run = uuid.uuid4().hex[:16]
    try:
        pieces = _stage(prices, days, step, store.store, run)
        staged: list[str] = []
        dtypes = {str(name): str(dtype) for name, dtype in prices.dtypes.items()}
        tasks: list[CellTask] = []

        def handed_out() -> Iterator[CellTask]:
            # Each cell is handed out once the prices it reads are staged, so the first
            # cells run while the later ones' prices are still being written.
            for cell in plan:
                staged.extend(itertools.islice(pieces, max(0, cell.hi // step + 1 - len(staged))))
                task = CellTask(
                    cell=cell,
                    shape=shape,
                    cache=store,
                    publisher=publisher,
                    staged=tuple(staged[cell.lo // step : cell.hi // step + 1]),
                    window=days[cell.lo : cell.hi + 1],
                    dtypes=dtypes,
                    fit=sums is not None,
                    keep_values=temporary is None,
                )
                tasks.append(task)
                yield task

        # (results first: a backend may ask for the next task only when it needs it)
        for result, task in zip(
            compute.map(fill_cell, handed_out(), name="era-cell"), tasks, strict=True
        ):
            yield from _read_back(prices, days, task, result)
            if sums is not None and result.sums is not None:
                sums.add(result.sums)
    finally:
        for key in list(store.store.keys(f"{STAGING}/{run}/")):
            store.store.delete(key)
        if temporary is not None:
            shutil.rmtree(temporary, ignore_errors=True)


def _read_back(
    prices: pd.DataFrame, days: pd.DatetimeIndex, task: CellTask, result: CellResult
) -> PartStream:
    """A filled cell's parts from the cache, in date order (the live era published here).
    A file found damaged here (it passed the task's check, or broke since) sends the rest
    of the cell through the one-process path, which recomputes what it cannot read."""
    cell, cache, shape, publisher = task.cell, task.cache, task.shape, task.publisher
    for n, slot in enumerate(cell.eras):
        i = slot.number
        bad = i in result.damaged
        how: Source = "computed" if i in result.computed else "reused"
        published: PublishedEra | None = None
        if slot.split == "live":
            era, _ = cache.load(slot.date, result.keys[i], shape.n_features, shape.n_targets)
            if era is not None:
                published = publish_era(publisher, slot, era)
        else:
            part, _ = cache.load_part(slot.date, slot.split, result.parts[i])
            if part is not None:
                published = PublishedEra(slot.date, slot.split, part, key=result.parts[i])
                if i not in result.published:
                    how = "copied"
        if published is None:
            rest = CellPlan(eras=cell.eras[n:], lo=cell.lo, end=cell.end, hi=cell.hi)
            frame = cell_prices(prices, days, cell.lo, cell.end, cell.hi)
            # (the task's sums stand: the same eras give the same bins)
            yield from cell_parts(frame, task.window, rest, shape, cache, publisher, None)
            return
        yield i, published, how, int(bad)

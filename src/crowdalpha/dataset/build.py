"""Building a round's dataset from a price frame: features, targets, obfuscation, files.

Eras are weeks. The latest era is *live* (its targets lie in the future); of the eras whose
main target is known, the last ``validation_eras`` form *validation* and the ones before
them — minus an embargo long enough that no training target overlaps a validation one —
form *train*. Each era is computed, then published — binned, keyed, shuffled and encoded
as one Parquet row group, a *part* (:mod:`crowdalpha.dataset.parts`) — and copied into its
split's file before the next is touched.

Memory is bounded by time cells: an era's features look back at most the longest window
plus the lags, and its targets look ahead at most the longest horizon, so eras are built in
cells of ``block_days`` trading days — anchored at the first day of the prices, so a cell
keeps its days when later prices are appended — each from engines over just the days it
needs and the tickers that trade in it. The published values do not depend on the cell
size (a test checks it).

Builds are incremental when given a cache folder (:mod:`crowdalpha.dataset.cache`): an era
whose inputs are unchanged since a build that cached it is read back instead of recomputed
— bit for bit the values a full build computes — so the next round after a week of new
prices computes the new era and the eras whose targets came within the data; a corrected
price recomputes the eras computed from it. The cache also keeps each era's part, so an era
published the same way as before (a train era, whose targets are all known) is copied into
the new file without being read, binned or encoded again. :class:`BuildReport` says which
eras were computed and which reused.

The example model (:mod:`crowdalpha.dataset.example`) is fitted from sums each cell adds
as it publishes its train eras (:class:`CellFit`): exact, so the same weights whatever the
cells and wherever they run, and kept per cell in the cache for the next build.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal, NamedTuple

import numpy as np
import pandas as pd

from crowdalpha import __version__
from crowdalpha.compute import ComputeBackend
from crowdalpha.dataset.cache import CachedEra, EraCache, day_hashes, era_key, settings_key
from crowdalpha.dataset.example import (
    ExampleSums,
    FitCheckpoint,
    era_chain,
    write_example_predictions,
)
from crowdalpha.dataset.features import FeatureConfig, FeatureEngine, era_dates
from crowdalpha.dataset.layout import EraPublisher, EraRows, PublishedEra, RoundWriter, Split
from crowdalpha.dataset.obfuscate import (
    Mix,
    ObfuscationMode,
    Vault,
    check_mix,
    check_mode,
    published_eras,
)
from crowdalpha.dataset.targets import TargetConfig, TargetEngine
from crowdalpha.errors import ConflictError, InvalidInputError, InvalidParameterError
from crowdalpha.storage import FileStore

__all__ = [
    "BuildConfig",
    "BuildReport",
    "CellFit",
    "CellPlan",
    "EraShape",
    "EraSlot",
    "build_round",
    "cell_keys",
    "cell_part_keys",
    "cell_parts",
    "cell_prices",
    "compute_era",
    "era_engines",
    "era_reach",
    "plan_splits",
    "publish_era",
    "round_splits",
]

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class BuildConfig:
    """What a round's dataset holds."""

    features: FeatureConfig = field(default_factory=FeatureConfig)
    targets: TargetConfig = field(default_factory=TargetConfig)
    #: Eras of validation data (the most recent eras whose targets are known).
    validation_eras: int = 52
    #: Eras left out between train and validation; None: enough to keep targets apart.
    embargo_eras: int | None = None
    #: Keep only the most recent train eras (None: all history).
    max_train_eras: int | None = None
    #: Trading days of eras built from one set of engines (None: all at once), in cells
    #: anchored at the first day of the prices. With a cache, a build recomputes at least
    #: the last cell's eras when a ticker lists in it: smaller cells, smaller increments.
    block_days: int | None = 750
    #: How feature values are obfuscated: ``"standard"`` (bins), ``"noisy"`` (keyed noise
    #: on the ranks before binning) or ``"composite"`` (a few keyed-noise mixes of all
    #: features instead of the features; see :mod:`crowdalpha.dataset.obfuscate`).
    mode: ObfuscationMode = "standard"
    #: The noise of the ``"noisy"`` mode (standard deviation on ranks in (0, 1)) or of the
    #: ``"composite"`` mode (in standard deviations of a composite); None: default.
    noise: float | None = None
    #: Publish the example model's validation and live predictions with the round
    #: (:mod:`crowdalpha.dataset.example`).
    example_predictions: bool = True
    #: The ``"composite"`` mode's mixes (see :func:`crowdalpha.dataset.obfuscate.fit_mix`).
    mix: Mix | None = None

    def __post_init__(self) -> None:
        check_mode(self.mode, self.noise)
        check_mix(self.mode, self.mix)
        if self.validation_eras < 1:
            raise InvalidParameterError("validation_eras must be at least 1")
        if self.embargo_eras is not None and self.embargo_eras < 0:
            raise InvalidParameterError("embargo_eras must not be negative")
        if self.max_train_eras is not None and self.max_train_eras < 1:
            raise InvalidParameterError("max_train_eras must be at least 1 (or None)")
        if self.block_days is not None and self.block_days < 1:
            raise InvalidParameterError("block_days must be at least 1 (or None)")


@dataclass(frozen=True)
class BuildReport:
    """What was written, where."""

    out_dir: Path
    operator_dir: Path
    rows: dict[Split, int]
    eras: dict[Split, list[pd.Timestamp]]
    features: int
    targets: tuple[str, ...]
    #: Eras computed from prices in this build, in date order.
    computed: tuple[pd.Timestamp, ...] = ()
    #: Eras read back from the cache instead (always empty without a cache).
    reused: tuple[pd.Timestamp, ...] = ()
    #: Of those, the eras published as in an earlier build, whose cached part was copied
    #: into the file without being read, binned or encoded again.
    copied: tuple[pd.Timestamp, ...] = ()
    #: Cache files found damaged (unreadable, truncated, of another shape), whose eras were
    #: recomputed and rewritten; files of eras whose inputs changed are merely stale.
    damaged: int = 0


def plan_splits(
    dates: pd.DatetimeIndex, known: np.ndarray, config: BuildConfig, embargo: int
) -> dict[Split, list[pd.Timestamp]]:
    """Assign era dates to splits: the last era is live; known eras go to validation/train."""
    if len(dates) < 2:
        raise InvalidInputError("at least two eras of history are needed to build a round")
    live = [dates[-1]]
    known_dates = [d for d, k in zip(dates[:-1], known[:-1], strict=True) if k]
    if len(known_dates) < config.validation_eras + embargo + 1:
        raise InvalidInputError(
            f"only {len(known_dates)} eras have known targets; a round needs at least "
            f"{config.validation_eras + embargo + 1} ({config.validation_eras} validation, "
            f"{embargo} embargo, one train) — feed more history or lower validation_eras"
        )
    validation = known_dates[-config.validation_eras :]
    train = known_dates[: -(config.validation_eras + embargo)]
    if config.max_train_eras is not None:
        train = train[-config.max_train_eras :]
    return {"train": train, "validation": validation, "live": live}


def round_splits(
    prices: pd.DataFrame, config: BuildConfig | None = None
) -> dict[Split, list[pd.Timestamp]]:
    """The era dates a round built from ``prices`` would publish, by split.

    Only eras with enough history for every feature window are published; eras whose main
    target lies within the prices are known; the embargo keeps train targets from
    overlapping validation ones.
    """
    cfg = config or BuildConfig()
    days = pd.DatetimeIndex(np.unique(prices["date"].to_numpy()))
    dates = era_dates(prices)
    dates = dates[dates >= days[min(cfg.features.longest_window() + 1, len(days) - 1)]]
    index = days.get_indexer(dates)
    known = index + cfg.targets.lag + cfg.targets.horizon < len(days)
    embargo = (
        cfg.embargo_eras
        if cfg.embargo_eras is not None
        else -(-(cfg.targets.horizon + cfg.targets.lag) // 5) + 1
    )
    return plan_splits(dates, known, cfg, embargo)


def build_round(
    prices: pd.DataFrame,
    *,
    out_dir: str | Path,
    operator_dir: str | Path,
    vault: Vault,
    round_number: int,
    config: BuildConfig | None = None,
    progress: Progress | None = None,
    cache_dir: str | Path | FileStore | None = None,
    compute: ComputeBackend | None = None,
) -> BuildReport:
    """Compute, obfuscate and write a round's train, validation and live data.

    ``prices`` is a validated price frame (:func:`crowdalpha.market.validate_prices`).
    Public files go to ``out_dir``; the operator's maps to ``operator_dir``. With
    ``cache_dir`` (a folder, or a file store such as an S3 bucket), eras whose inputs are
    unchanged are read from that era cache instead of recomputed, eras published the same
    way before are copied from their cached parts, and what is computed is added to it; the
    files written are the same either way.

    With ``compute`` (a local pool or a Dask cluster: :mod:`crowdalpha.compute`), each time
    cell is a task, run where the backend runs it, which computes its eras and publishes
    them; the parts travel through the era cache (a temporary one in ``operator_dir``
    without ``cache_dir``: give a store every worker reaches when they are on other
    machines), and this process copies them into the files in date order — the same bytes
    as a build in one process (:mod:`crowdalpha.dataset.cells`).
    """
    cfg = config or BuildConfig()
    if (Path(out_dir) / "features.json").exists():
        raise ConflictError(f"{out_dir} already holds a round dataset; choose another folder")
    if not prices["date"].is_monotonic_increasing:  # cells are cut from a sorted frame
        prices = prices.sort_values(["date", "ticker"], kind="stable", ignore_index=True)
    days = pd.DatetimeIndex(np.unique(prices["date"].to_numpy()))
    history, future = era_reach(cfg)
    splits = round_splits(prices, cfg)
    labels = published_eras([d for s in splits.values() for d in s])
    # Splits follow each other in time, so date order visits train, validation, then live.
    todo = sorted((d, split) for split, split_dates in splits.items() for d in split_dates)
    positions = [int(p) for p in days.get_indexer(pd.DatetimeIndex([d for d, _ in todo]))]
    # An engine over the first day alone names the features and targets and checks them.
    first_day = prices[prices["date"] == days[0]].reset_index(drop=True)
    naming = FeatureEngine(first_day, cfg.features)
    spec = naming.spec
    target_names = TargetEngine(first_day, cfg.targets, features=naming).names
    del naming, first_day
    settings = settings_key(cfg.features, cfg.targets, cfg.block_days, __version__)
    store = None if cache_dir is None else EraCache(cache_dir, settings)
    plan = [
        CellPlan(
            eras=tuple(
                EraSlot(i, todo[i][0], positions[i], todo[i][1], labels[todo[i][0]])
                for i in range(first, last)
            ),
            lo=max(0, cell_start - history),
            end=min(cell_end, len(days) - 1),
            hi=min(len(days) - 1, cell_end + future),
        )
        for first, last, cell_start, cell_end in _cells(positions, cfg.block_days, len(days))
    ]
    shape = EraShape(cfg.features, cfg.targets, len(spec.names), len(target_names), future)
    total, done, damaged = len(todo), 0, 0
    computed: list[pd.Timestamp] = []
    reused: list[pd.Timestamp] = []
    copied: list[pd.Timestamp] = []
    writer = RoundWriter(
        out_dir,
        operator_dir,
        vault,
        round_number=round_number,
        feature_names=spec.names if cfg.mix is None else cfg.mix.names,
        feature_sets=spec.sets if cfg.mix is None else cfg.mix.feature_sets,
        target_names=target_names,
        era_labels=labels,
        mode=cfg.mode,
        noise=cfg.noise,
        mix=cfg.mix,
        mix_inputs=spec.names if cfg.mix is not None else (),
    )
    publisher = writer.publisher
    # The example model's sums over the train eras, added by the cells as they publish.
    sums = ExampleSums.empty(publisher.published_names) if cfg.example_predictions else None
    try:
        if compute is None or not compute.remote:
            eras = _local_parts(prices, days, plan, shape, store, publisher, sums)
        else:
            from crowdalpha.dataset.cells import remote_parts

            eras = remote_parts(
                prices,
                days,
                plan,
                shape,
                store,
                publisher,
                compute,
                sums,
                step=cfg.block_days or len(days),
                scratch=Path(operator_dir),
            )
        for i, published, how, bad in eras:
            damaged += bad
            (computed if how == "computed" else reused).append(todo[i][0])
            if how == "copied":
                copied.append(todo[i][0])
            writer.append(published)
            done += 1
            if progress is not None:
                progress(done, total)
    except BaseException:
        writer.close(completed=False)
        raise
    writer.close()
    if sums is not None:
        write_example_predictions(out_dir, sums=sums)
    return BuildReport(
        out_dir=Path(out_dir),
        operator_dir=Path(operator_dir),
        rows=writer.rows,
        eras=splits,
        features=len(spec.names),
        targets=tuple(target_names),
        computed=tuple(computed),
        reused=tuple(reused),
        copied=tuple(copied),
        damaged=damaged,
    )


class EraSlot(NamedTuple):
    """One era of a build: its number (in date order), date, day position, split, label."""

    number: int
    date: pd.Timestamp
    position: int
    split: Split
    label: str


@dataclass(frozen=True)
class CellPlan:
    """One time cell: its eras and the day positions of its window — ``lo`` (history
    starts), ``end`` (the cell's last day, the last on which a ticker must trade to be in
    it), ``hi`` (the targets' future ends)."""

    eras: tuple[EraSlot, ...]
    lo: int
    end: int
    hi: int


@dataclass(frozen=True)
class EraShape:
    """What every cell computes with: the configurations, the numbers of features and
    targets (to check cached files) and the targets' reach in trading days."""

    features: FeatureConfig
    targets: TargetConfig
    n_features: int
    n_targets: int
    future: int


#: Where a published era came from: computed from prices, its values read from the cache,
#: or its part copied from the cache.
Source = Literal["computed", "reused", "copied"]
#: ``(era number, published era, its source, damaged cache files found)`` in date order.
PartStream = Iterator[tuple[int, PublishedEra, Source, int]]


def publish_era(
    publisher: EraPublisher, slot: EraSlot, era: CachedEra, fit: CellFit | None = None
) -> PublishedEra:
    """Publish one computed era (its tickers, raw features, binned targets) in its slot,
    adding it to the cell's example sums (``fit``) when they still lack it."""
    rows = EraRows(
        date=slot.date,
        tickers=era.tickers.tolist(),
        features=era.features,
        targets=dict(zip(publisher.target_names, era.targets, strict=True)),
    )
    sums = fit.take(slot.number) if fit is not None else None
    return publisher.publish(slot.split, rows, slot.label, sums)


class CellFit:
    """The example model's sums over one cell's train eras.

    With an era cache, the sums kept by an earlier build for a prefix of the cell's train
    eras (named by the chain of their part keys: a changed era changes the chain) are
    resumed; every other train era is added as it is published (:func:`publish_era`) or,
    when its part is copied, read back from the part (:meth:`add_part`). :meth:`finish`
    keeps the sums for the next build and returns them.
    """

    def __init__(
        self,
        cell: CellPlan,
        publisher: EraPublisher,
        store: EraCache | None,
        part_keys: Mapping[int, str],
    ) -> None:
        self.publisher = publisher
        names = publisher.published_names
        train = [slot for slot in cell.eras if slot.split == "train"]
        self._checkpoint: FitCheckpoint | None = None
        self._chain: list[bytes] = []
        done, self.sums = 0, ExampleSums.empty(names)
        if store is not None and train:
            key = f"{store.prefix}/example-sums/{train[0].date:%Y-%m-%d}.sums"
            self._checkpoint = FitCheckpoint(store.store, key)
            self._chain = era_chain(names, [part_keys[slot.number] for slot in train])
            done, self.sums = self._checkpoint.load(self._chain, names)
        self._pending = {slot.number for slot in train[done:]}
        self._resumed = done

    def pending(self, number: int) -> bool:
        """Whether era ``number`` is a train era the sums still lack."""
        return number in self._pending

    def take(self, number: int) -> ExampleSums | None:
        """The sums to add era ``number`` to (None when it needs no adding): the caller
        adds it."""
        if number not in self._pending:
            return None
        self._pending.discard(number)
        return self.sums

    def add_part(self, number: int, part: bytes) -> None:
        """Add train era ``number`` from its part, when the sums still lack it."""
        sums = self.take(number)
        if sums is not None:
            self.publisher.add_part(sums, part)

    def finish(self) -> ExampleSums:
        """The sums over every train era of the cell, kept for the next build."""
        if self._pending:
            raise RuntimeError(f"train eras {sorted(self._pending)} were not added to the sums")
        if self._checkpoint is not None and self._resumed < len(self._chain):
            self._checkpoint.save(self._chain[-1], self.sums)
        return self.sums


def _local_parts(
    prices: pd.DataFrame,
    days: pd.DatetimeIndex,
    plan: list[CellPlan],
    shape: EraShape,
    store: EraCache | None,
    publisher: EraPublisher,
    sums: ExampleSums | None,
) -> PartStream:
    """Every cell in this process, one after the other; their example sums added to
    ``sums`` (None: none wanted)."""
    for cell in plan:
        frame = cell_prices(prices, days, cell.lo, cell.end, cell.hi)
        window = days[cell.lo : cell.hi + 1]
        yield from cell_parts(frame, window, cell, shape, store, publisher, sums)
        del frame


def cell_parts(
    frame: pd.DataFrame,
    window: pd.DatetimeIndex,
    cell: CellPlan,
    shape: EraShape,
    store: EraCache | None,
    publisher: EraPublisher,
    sums: ExampleSums | None,
) -> PartStream:
    """One cell's eras, published, from its prices (``frame``, :func:`cell_prices`) over
    the trading days ``window`` (positions ``cell.lo … cell.hi``). With a cache, an era
    whose part is there is copied; else its values are read from the cache when it holds
    them, computed (and cached) when not, and published (and the part cached). The cell's
    example sums are added to ``sums`` (None: none wanted) once its eras are through."""
    keys = cell_keys(frame, window, cell, shape.future, store.settings) if store else {}
    part_keys = cell_part_keys(publisher, cell, keys) if store else {}
    fit = CellFit(cell, publisher, store, part_keys) if sums is not None else None
    engines: Engines | None = None
    for slot in cell.eras:
        part_key = part_keys.get(slot.number)
        bad = False
        if store is not None and part_key is not None:
            part, bad = store.load_part(slot.date, slot.split, part_key)
            if part is not None:
                if fit is not None:
                    fit.add_part(slot.number, part)
                copied = PublishedEra(slot.date, slot.split, part, key=part_key)
                yield slot.number, copied, "copied", 0
                continue
        era: CachedEra | None = None
        if store is not None:
            era, damaged = store.load(
                slot.date, keys[slot.number], shape.n_features, shape.n_targets
            )
            bad = bad or damaged
        fresh = era is None
        if era is None:
            engines = engines or era_engines(frame, shape)
            era = compute_era(engines, slot.date)
            if store is not None:
                store.save(slot.date, keys[slot.number], era)
        published = publish_era(publisher, slot, era, fit)
        if store is not None and part_key is not None:
            store.save_part(slot.date, slot.split, part_key, published.part)
            published = replace(published, key=part_key)
        yield slot.number, published, "computed" if fresh else "reused", int(bad)
    if sums is not None and fit is not None:
        sums.add(fit.finish())


Engines = tuple[FeatureEngine, TargetEngine]


def era_engines(frame: pd.DataFrame, shape: EraShape) -> Engines:
    """The feature and target engines over one cell's prices."""
    features = FeatureEngine(frame, shape.features)
    return features, TargetEngine(frame, shape.targets, features=features)


def cell_part_keys(
    publisher: EraPublisher, cell: CellPlan, keys: Mapping[int, str]
) -> dict[int, str]:
    """The cache key of each of a cell's eras' parts (every era but the live one, which
    the building process publishes itself), from the keys of their values."""
    return {
        slot.number: publisher.key(keys[slot.number], slot.split, slot.label)
        for slot in cell.eras
        if slot.split != "live"
    }


def cell_keys(
    frame: pd.DataFrame,
    window: pd.DatetimeIndex,
    cell: CellPlan,
    future: int,
    settings: str,
) -> dict[int, str]:
    """The cache key of each of a cell's eras (:func:`~crowdalpha.dataset.cache.era_key`)."""
    chain: list[bytes] = []
    digest = b""
    for h in day_hashes(frame, window):
        digest = hashlib.sha256(digest + h).digest()
        chain.append(digest)
    keys: dict[int, str] = {}
    for slot in cell.eras:
        reach = min(slot.position + future - 1, cell.hi)
        keys[slot.number] = era_key(
            settings, slot.date, window[0], chain[reach - cell.lo], reach - slot.position
        )
    return keys


def compute_era(engines: Engines, day: pd.Timestamp) -> CachedEra:
    """One era's tickers, raw features ``(features, rows)`` and binned targets."""
    features, targets = engines
    feats = features.era(day)
    tgts = targets.era(day).reindex(feats.index)
    return CachedEra(
        tickers=np.asarray([str(t) for t in feats.index], dtype=np.str_),
        features=np.ascontiguousarray(feats.to_numpy(dtype=np.float32).T),
        targets=np.ascontiguousarray(tgts[list(targets.names)].to_numpy(dtype=np.float32).T),
    )


def era_reach(config: BuildConfig) -> tuple[int, int]:
    """Trading days an era's values reach back (features' windows, then lagged eras) and
    ahead (the longest target's lag and horizon) of the era's own day."""
    history = config.features.longest_window() + 1 + 5 * max(config.features.lags) + 10
    future = config.targets.lag + max(config.targets.horizon, *config.targets.aux_horizons) + 1
    return history, future


def day_rows(prices: pd.DataFrame, days: pd.DatetimeIndex, lo: int, hi: int) -> pd.DataFrame:
    """The rows of days ``lo … hi`` (positions in ``days``) of a frame sorted by date."""
    dates = prices["date"].to_numpy()
    first = int(np.searchsorted(dates, days[lo].to_datetime64(), side="left"))
    last = int(np.searchsorted(dates, days[hi].to_datetime64(), side="right"))
    return prices.iloc[first:last]


def cell_prices(
    prices: pd.DataFrame, days: pd.DatetimeIndex, lo: int, end: int, hi: int
) -> pd.DataFrame:
    """The prices of days ``lo … hi`` of the tickers that trade on days ``lo … end``, from
    a frame sorted by date (as :func:`~crowdalpha.market.validate_prices` leaves it).

    Tickers that list after ``end`` (the cell's last day) concern none of its eras; leaving
    them out keeps the cell's computation — and so its eras' values — the same when later
    days bring new listings. Every day keeps at least one row, or nothing is left out.
    """
    window = day_rows(prices, days, lo, hi)
    early = window["date"] <= days[end]
    keep = window["ticker"].isin(pd.unique(window.loc[early, "ticker"]))
    if not keep.all() and window.loc[keep, "date"].nunique() == hi - lo + 1:
        window = window[keep]
    return window.reset_index(drop=True)


def _cells(
    day_positions: list[int], block_days: int | None, n_days: int
) -> list[tuple[int, int, int, int]]:
    """Group eras (by their day positions, ascending) into cells of ``block_days`` days.

    Cells are anchored at day 0: ``(first, last, cell_start, cell_end)`` — the eras
    ``first … last - 1`` have day positions in ``cell_start … cell_end``.
    """
    if block_days is None:
        return [(0, len(day_positions), 0, n_days - 1)]
    out: list[tuple[int, int, int, int]] = []
    start = 0
    for i in range(1, len(day_positions) + 1):
        cell = day_positions[start] // block_days
        if i == len(day_positions) or day_positions[i] // block_days != cell:
            out.append((start, i, cell * block_days, (cell + 1) * block_days - 1))
            start = i
    return out

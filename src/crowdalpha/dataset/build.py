"""Building a round's dataset from a price frame: features, targets, obfuscation, files.

Eras are weeks. The latest era is *live* (its targets lie in the future); of the eras whose
main target is known, the last ``validation_eras`` form *validation* and the ones before
them — minus an embargo long enough that no training target overlaps a validation one —
form *train*. Each era is computed, obfuscated and written before the next is touched.

Memory is bounded by time cells: an era's features look back at most the longest window
plus the lags, and its targets look ahead at most the longest horizon, so eras are built in
cells of ``block_days`` trading days — anchored at the first day of the prices, so a cell
keeps its days when later prices are appended — each from engines over just the days it
needs and the tickers that trade in it. The published values do not depend on the cell
size (a test checks it).

Builds are incremental when given a cache folder (:mod:`crowdalpha.dataset.cache`): an era
whose inputs are unchanged since a build that cached it is read back instead of recomputed
— bit for bit the values a full build computes — so the next round after a week of new
prices computes the new era, the eras whose targets came within the data and the eras of
the last cell that gained a new ticker; a corrected price recomputes the eras computed from
it. :class:`BuildReport` says which eras were computed and which reused.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from crowdalpha import __version__
from crowdalpha.compute import ComputeBackend
from crowdalpha.dataset.cache import CachedEra, EraCache, day_hashes, era_key, settings_key
from crowdalpha.dataset.example import write_example_predictions
from crowdalpha.dataset.features import FeatureConfig, FeatureEngine, era_dates
from crowdalpha.dataset.layout import EraRows, RoundWriter, Split
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
    "CellPlan",
    "EraShape",
    "build_round",
    "cell_eras",
    "cell_keys",
    "cell_prices",
    "compute_era",
    "era_engines",
    "era_reach",
    "plan_splits",
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
    unchanged are read from that era cache instead of recomputed, and computed eras are
    added to it; the files written are the same either way.

    With ``compute`` (a local pool or a Dask cluster: :mod:`crowdalpha.compute`), each time
    cell is a task, run where the backend runs it; the cells' eras travel through the era
    cache (a temporary one in ``operator_dir`` without ``cache_dir``: give a store every
    worker reaches when they are on other machines), and this process writes them in date
    order — the same bytes as a build in one process (:mod:`crowdalpha.dataset.cells`).
    """
    cfg = config or BuildConfig()
    if (Path(out_dir) / "features.json").exists():
        raise ConflictError(f"{out_dir} already holds a round dataset; choose another folder")
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
            eras=tuple((i, todo[i][0], positions[i]) for i in range(first, last)),
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
    )
    try:
        if compute is None or not compute.remote:
            eras = _local_eras(prices, days, plan, shape, store)
        else:
            from crowdalpha.dataset.cells import remote_eras

            eras = remote_eras(
                prices,
                days,
                plan,
                shape,
                store,
                compute,
                step=cfg.block_days or len(days),
                scratch=Path(operator_dir),
            )
        for i, era, fresh, bad in eras:
            day, split = todo[i]
            damaged += bad
            (computed if fresh else reused).append(day)
            writer.add(
                split,
                EraRows(
                    date=day,
                    tickers=era.tickers.tolist(),
                    features=era.features
                    if cfg.mix is None
                    else cfg.mix.publish(era.features, spec.names, vault, day, cfg.noise),
                    targets=dict(zip(target_names, era.targets, strict=True)),
                ),
            )
            done += 1
            if progress is not None:
                progress(done, total)
    except BaseException:
        writer.close(completed=False)
        raise
    writer.close()
    if cfg.example_predictions:
        write_example_predictions(out_dir)
    return BuildReport(
        out_dir=Path(out_dir),
        operator_dir=Path(operator_dir),
        rows=writer.rows,
        eras=splits,
        features=len(spec.names),
        targets=tuple(target_names),
        computed=tuple(computed),
        reused=tuple(reused),
        damaged=damaged,
    )


@dataclass(frozen=True)
class CellPlan:
    """One time cell: its eras ``(index in the build, date, day position)`` and the day
    positions of its window — ``lo`` (history starts), ``end`` (the cell's last day, the
    last on which a ticker must trade to be in it), ``hi`` (the targets' future ends)."""

    eras: tuple[tuple[int, pd.Timestamp, int], ...]
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


EraStream = Iterator[tuple[int, CachedEra, bool, int]]


def _local_eras(
    prices: pd.DataFrame,
    days: pd.DatetimeIndex,
    plan: list[CellPlan],
    shape: EraShape,
    store: EraCache | None,
) -> EraStream:
    """Every cell in this process, one after the other: ``(era index, era, computed here,
    damaged cache files found)`` in date order."""
    for cell in plan:
        frame = cell_prices(prices, days, cell.lo, cell.end, cell.hi)
        yield from cell_eras(frame, days[cell.lo : cell.hi + 1], cell, shape, store)
        del frame


def cell_eras(
    frame: pd.DataFrame,
    window: pd.DatetimeIndex,
    cell: CellPlan,
    shape: EraShape,
    store: EraCache | None,
) -> EraStream:
    """One cell's eras from its prices (``frame``, :func:`cell_prices`) over the trading
    days ``window`` (positions ``cell.lo … cell.hi``): each read from the cache when it
    holds the era's key, else computed (and cached)."""
    keys = cell_keys(frame, window, cell, shape.future, store.settings) if store else {}
    engines: Engines | None = None
    for i, day, _position in cell.eras:
        era: CachedEra | None = None
        bad = False
        if store is not None:
            era, bad = store.load(day, keys[i], shape.n_features, shape.n_targets)
        if era is not None:
            yield i, era, False, int(bad)
            continue
        engines = engines or era_engines(frame, shape)
        era = compute_era(engines, day)
        if store is not None:
            store.save(day, keys[i], era)
        yield i, era, True, int(bad)


Engines = tuple[FeatureEngine, TargetEngine]


def era_engines(frame: pd.DataFrame, shape: EraShape) -> Engines:
    """The feature and target engines over one cell's prices."""
    features = FeatureEngine(frame, shape.features)
    return features, TargetEngine(frame, shape.targets, features=features)


def cell_keys(
    frame: pd.DataFrame,
    window: pd.DatetimeIndex,
    cell: CellPlan,
    future: int,
    settings: str,
) -> dict[int, str]:
    """The cache key of each of a cell's eras (:func:`~crowdalpha.dataset.cache.era_key`)."""
    tickers = [str(t) for t in np.unique(frame["ticker"].to_numpy())]
    chain: list[bytes] = []
    digest = b""
    for h in day_hashes(frame, window):
        digest = hashlib.sha256(digest + h).digest()
        chain.append(digest)
    keys: dict[int, str] = {}
    for i, day, position in cell.eras:
        reach = min(position + future - 1, cell.hi)
        keys[i] = era_key(
            settings, day, window[0], tickers, chain[reach - cell.lo], reach - position
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


def cell_prices(
    prices: pd.DataFrame, days: pd.DatetimeIndex, lo: int, end: int, hi: int
) -> pd.DataFrame:
    """The prices of days ``lo … hi`` of the tickers that trade on days ``lo … end``.

    Tickers that list after ``end`` (the cell's last day) concern none of its eras; leaving
    them out keeps the cell's computation — and so its eras' values — the same when later
    days bring new listings. Every day keeps at least one row, or nothing is left out.
    """
    window = prices[(prices["date"] >= days[lo]) & (prices["date"] <= days[hi])]
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

"""Building a round's dataset from a price frame: features, targets, obfuscation, files.

Eras are weeks. The latest era is *live* (its targets lie in the future); of the eras whose
main target is known, the last ``validation_eras`` form *validation* and the ones before
them — minus an embargo long enough that no training target overlaps a validation one —
form *train*. Each era is computed, obfuscated and written before the next is touched.

Memory is bounded by time blocks: an era's features look back at most the longest window
plus the lags, and its targets look ahead at most the longest horizon, so eras are built in
blocks of ``block_days`` trading days, each from engines over just the days it needs. The
result does not depend on the block size (a test checks it byte for byte).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from crowdalpha.dataset.features import FeatureConfig, FeatureEngine, era_dates
from crowdalpha.dataset.layout import EraRows, RoundWriter, Split
from crowdalpha.dataset.obfuscate import ObfuscationMode, Vault, check_mode, published_eras
from crowdalpha.dataset.targets import TargetConfig, TargetEngine
from crowdalpha.errors import ConflictError, InvalidInputError, InvalidParameterError

__all__ = ["BuildConfig", "BuildReport", "build_round", "plan_splits"]

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
    #: Trading days of eras built from one set of engines (None: all at once).
    block_days: int | None = 750
    #: How feature values are obfuscated: ``"standard"`` (bins) or ``"noisy"`` (keyed noise
    #: on the ranks before binning; see :mod:`crowdalpha.dataset.obfuscate`).
    mode: ObfuscationMode = "standard"
    #: The ``"noisy"`` mode's noise (standard deviation on ranks in (0, 1)); None: default.
    noise: float | None = None

    def __post_init__(self) -> None:
        check_mode(self.mode, self.noise)
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


def build_round(
    prices: pd.DataFrame,
    *,
    out_dir: str | Path,
    operator_dir: str | Path,
    vault: Vault,
    round_number: int,
    config: BuildConfig | None = None,
    progress: Progress | None = None,
) -> BuildReport:
    """Compute, obfuscate and write a round's train, validation and live data.

    ``prices`` is a validated price frame (:func:`crowdalpha.market.validate_prices`).
    Public files go to ``out_dir``; the operator's maps to ``operator_dir``.
    """
    cfg = config or BuildConfig()
    if (Path(out_dir) / "features.json").exists():
        raise ConflictError(f"{out_dir} already holds a round dataset; choose another folder")
    days = pd.DatetimeIndex(np.unique(prices["date"].to_numpy()))
    dates = era_dates(prices)
    lags = max(cfg.features.lags)
    history = cfg.features.longest_window() + 1 + 5 * lags + 10  # windows, then lagged eras
    future = cfg.targets.lag + max(cfg.targets.horizon, *cfg.targets.aux_horizons) + 1
    # Only eras with enough history for every feature window are published.
    dates = dates[dates >= days[min(cfg.features.longest_window() + 1, len(days) - 1)]]
    index = days.get_indexer(dates)
    known = index + cfg.targets.lag + cfg.targets.horizon < len(days)
    embargo = (
        cfg.embargo_eras
        if cfg.embargo_eras is not None
        else -(-(cfg.targets.horizon + cfg.targets.lag) // 5) + 1
    )
    splits = plan_splits(dates, known, cfg, embargo)
    labels = published_eras([d for s in splits.values() for d in s])
    # Splits follow each other in time, so date order visits train, validation, then live.
    todo = sorted((d, split) for split, split_dates in splits.items() for d in split_dates)
    positions = [int(p) for p in days.get_indexer(pd.DatetimeIndex([d for d, _ in todo]))]
    blocks = _blocks(positions, cfg.block_days)
    total, done = len(todo), 0
    writer: RoundWriter | None = None
    try:
        for first, last in blocks:
            lo, hi = positions[first], positions[last - 1]
            window = (prices["date"] >= days[max(0, lo - history)]) & (
                prices["date"] <= days[min(len(days) - 1, hi + future)]
            )
            block_prices = prices[window].reset_index(drop=True)
            features = FeatureEngine(block_prices, cfg.features)
            targets = TargetEngine(block_prices, cfg.targets, features=features)
            if writer is None:
                writer = RoundWriter(
                    out_dir,
                    operator_dir,
                    vault,
                    round_number=round_number,
                    feature_names=features.spec.names,
                    feature_sets=features.spec.sets,
                    target_names=targets.names,
                    era_labels=labels,
                    mode=cfg.mode,
                    noise=cfg.noise,
                )
                spec, target_names = features.spec, targets.names
            for day, split in todo[first:last]:
                feats = features.era(day)
                tgts = targets.era(day).reindex(feats.index)
                writer.add(
                    split,
                    EraRows(
                        date=day,
                        tickers=[str(t) for t in feats.index],
                        features=np.ascontiguousarray(feats.to_numpy(dtype=np.float32).T),
                        targets={n: tgts[n].to_numpy(dtype=np.float64) for n in targets.names},
                    ),
                )
                done += 1
                if progress is not None:
                    progress(done, total)
            del features, targets, block_prices
    except BaseException:
        if writer is not None:
            writer.close(completed=False)
        raise
    if writer is None:  # pragma: no cover - plan_splits always plans a live era
        raise InvalidInputError("no era to build")
    writer.close()
    return BuildReport(
        out_dir=Path(out_dir),
        operator_dir=Path(operator_dir),
        rows=writer.rows,
        eras=splits,
        features=len(spec.names),
        targets=tuple(target_names),
    )


def _blocks(day_positions: list[int], block_days: int | None) -> list[tuple[int, int]]:
    """Cut eras (by their day positions, ascending) into runs spanning at most block_days."""
    if block_days is None:
        return [(0, len(day_positions))]
    out, start = [], 0
    for i, pos in enumerate(day_positions):
        if pos - day_positions[start] >= block_days:
            out.append((start, i))
            start = i
    out.append((start, len(day_positions)))
    return out

"""Building a round's dataset from a price frame: features, targets, obfuscation, files.

Eras are weeks. The latest era is *live* (its targets lie in the future); of the eras whose
main target is known, the last ``validation_eras`` form *validation* and the ones before
them — minus an embargo long enough that no training target overlaps a validation one —
form *train*. Each era is computed, obfuscated and written before the next is touched.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from crowdalpha.dataset.features import FeatureConfig, FeatureEngine, era_dates
from crowdalpha.dataset.layout import EraRows, RoundWriter, Split
from crowdalpha.dataset.obfuscate import Vault, published_eras
from crowdalpha.dataset.targets import TargetConfig, TargetEngine
from crowdalpha.errors import InvalidInputError, InvalidParameterError

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

    def __post_init__(self) -> None:
        if self.validation_eras < 1:
            raise InvalidParameterError("validation_eras must be at least 1")
        if self.embargo_eras is not None and self.embargo_eras < 0:
            raise InvalidParameterError("embargo_eras must not be negative")
        if self.max_train_eras is not None and self.max_train_eras < 1:
            raise InvalidParameterError("max_train_eras must be at least 1 (or None)")


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
    features = FeatureEngine(prices, cfg.features)
    targets = TargetEngine(prices, cfg.targets, features=features)
    days = np.unique(prices["date"].to_numpy())
    dates = era_dates(prices)
    # Only eras with enough history for every feature window are published.
    first_day = pd.Timestamp(days[min(features.min_history, len(days) - 1)])
    dates = dates[dates >= first_day]
    known = np.array([targets.known(d) for d in dates], dtype=bool)
    embargo = (
        cfg.embargo_eras
        if cfg.embargo_eras is not None
        else -(-(cfg.targets.horizon + cfg.targets.lag) // 5) + 1
    )
    splits = plan_splits(dates, known, cfg, embargo)
    labels = published_eras([d for s in splits.values() for d in s])
    spec = features.spec
    total = sum(len(v) for v in splits.values())
    done = 0
    with RoundWriter(
        out_dir,
        operator_dir,
        vault,
        round_number=round_number,
        feature_names=spec.names,
        feature_sets=spec.sets,
        target_names=targets.names,
        era_labels=labels,
    ) as writer:
        for split, split_dates in splits.items():
            for day in split_dates:
                feats = features.era(day)
                tgts = targets.era(day).reindex(feats.index)
                values = np.ascontiguousarray(feats.to_numpy(dtype=np.float32).T)
                writer.add(
                    split,
                    EraRows(
                        date=day,
                        tickers=[str(t) for t in feats.index],
                        features=values,
                        targets={n: tgts[n].to_numpy(dtype=np.float64) for n in targets.names},
                    ),
                )
                done += 1
                if progress is not None:
                    progress(done, total)
    return BuildReport(
        out_dir=Path(out_dir),
        operator_dir=Path(operator_dir),
        rows=writer.rows,
        eras=splits,
        features=len(spec.names),
        targets=tuple(targets.names),
    )

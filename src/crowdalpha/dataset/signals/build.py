"""Building a Signals round's files from prices, never reading a price after the live date.

:func:`build_signals_round` cuts the prices at the round's live date before anything else,
so every published value — features, targets, ids, universe — is computed from prices up to
that date (a test perturbs every later price and finds the same bytes). Eras are weeks
(:func:`crowdalpha.dataset.features.era_dates`): of the weekly dates before the live date
with a year of history, those whose main target lies within the cut prices are *known*;
the last ``validation_eras`` known ones form validation, the ones before them — less an
embargo that keeps train targets apart from validation ones — form train. Each era is
computed and written (one Parquet row group) before the next is touched, so memory holds
one era at a time; the example model is fitted while the train eras stream past.

The files (:mod:`crowdalpha.dataset.signals.layout`) are built in temporary folders and
moved into place at the end — the operator's first, the public ``signals/`` folder last — so
a failed build leaves nothing behind that looks complete.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from crowdalpha.dataset.features import era_dates
from crowdalpha.dataset.obfuscate import Vault
from crowdalpha.dataset.signals.config import SignalsConfig
from crowdalpha.dataset.signals.era import EraData, EraEngine
from crowdalpha.dataset.signals.example import RidgeExample
from crowdalpha.dataset.signals.features import FEATURE_NAMES, LOOKBACK_DAYS
from crowdalpha.dataset.signals.ids import ID_COLUMNS
from crowdalpha.dataset.signals.layout import (
    EXAMPLE_FILES,
    LIVE_IDS_FILE,
    NEUTRALIZER_FILES,
    OPERATOR_FILES,
    PUBLIC_FILES,
    SAMPLE_WEIGHT_FILES,
    SPLIT_FILES,
    ParquetStream,
    data_schema,
    ids_schema,
    neutralizer_schema,
    sample_weight_schema,
)
from crowdalpha.dataset.signals.panel import PricePanel
from crowdalpha.dataset.signals.risk import Exposures, as_exposures
from crowdalpha.dataset.signals.targets import MAIN_TARGET
from crowdalpha.errors import ConflictError, InvalidInputError, InvalidParameterError

__all__ = [
    "SignalsBuildReport",
    "SignalsSplit",
    "build_signals_round",
    "cut_prices",
    "signals_splits",
]

Progress = Callable[[int, int], None]
SignalsSplit = Literal["train", "validation", "live"]
F64 = npt.NDArray[np.float64]


@dataclass(frozen=True)
class SignalsBuildReport:
    """What a build wrote, where."""

    out_dir: Path
    operator_dir: Path
    live_date: pd.Timestamp
    #: Public files written, relative to ``out_dir``, in publishing order.
    files: tuple[str, ...]
    #: Rows by split (``live``: the live universe's size).
    rows: dict[SignalsSplit, int]
    #: Era dates by split (``live``: the live date).
    eras: dict[SignalsSplit, list[pd.Timestamp]]
    features: tuple[str, ...]
    targets: tuple[str, ...]
    #: N's columns, as the neutralizer files name them.
    neutralizers: tuple[str, ...]


def cut_prices(prices: pd.DataFrame, last: pd.Timestamp | str) -> pd.DataFrame:
    """The rows of a date-sorted price frame up to ``last`` inclusive (a view-free copy)."""
    dates = prices["date"].to_numpy(dtype="datetime64[ns]")
    stop = int(np.searchsorted(dates, np.datetime64(pd.Timestamp(last), "ns"), side="right"))
    if len(dates) > 1 and (dates[1:] < dates[:-1]).any():
        raise InvalidInputError(
            "prices must be sorted by date (crowdalpha.market.validate_prices does it)"
        )
    return prices.iloc[:stop]


def signals_splits(
    prices: pd.DataFrame, live_date: pd.Timestamp | str, config: SignalsConfig | None = None
) -> dict[SignalsSplit, list[pd.Timestamp]]:
    """The era dates a round whose live date is ``live_date`` publishes, by split.

    Raises :class:`~crowdalpha.errors.InvalidInputError` when ``live_date`` is not a
    trading day of the prices or too few eras are known before it.
    """
    cfg = config if config is not None else SignalsConfig()
    dates = cut_prices(prices, live_date)["date"].to_numpy(dtype="datetime64[ns]")
    days = pd.DatetimeIndex(dates[np.r_[True, dates[1:] != dates[:-1]]] if len(dates) else dates)
    day = pd.Timestamp(live_date)
    if not len(days) or days[-1] != day:
        raise InvalidInputError(
            f"{day:%Y-%m-%d} is not a trading day of the prices",
            details={"date": f"{day:%Y-%m-%d}"},
        )
    return _splits(days, len(days) - 1, cfg)


def _splits(
    days: pd.DatetimeIndex, live: int, config: SignalsConfig
) -> dict[SignalsSplit, list[pd.Timestamp]]:
    weeks = era_dates(pd.DataFrame({"date": days[:live]}))
    positions = days.get_indexer(weeks)
    horizon = config.lag + config.main_horizon
    known = [
        d
        for d, t in zip(weeks, positions, strict=True)
        if t >= LOOKBACK_DAYS and t + horizon <= live
    ]
    need = config.validation_eras + config.embargo + 1
    if len(known) < need:
        raise InvalidInputError(
            f"only {len(known)} weekly eras before {days[live]:%Y-%m-%d} have a year "
            f"of history and a known target; a Signals round needs at least {need} "
            f"({config.validation_eras} validation, {config.embargo} embargo, one train) — "
            "feed more history or lower validation_eras",
            details={"known": len(known), "needed": need},
        )
    validation = known[-config.validation_eras :]
    train = known[: -(config.validation_eras + config.embargo)]
    if config.max_train_eras is not None:
        train = train[-config.max_train_eras :]
    return {"train": train, "validation": validation, "live": [days[live]]}


def _data_columns(era: EraData, targets: tuple[str, ...]) -> dict[str, npt.NDArray[Any]]:
    columns: dict[str, npt.NDArray[Any]] = {
        "numerai_ticker": era.universe["numerai_ticker"].to_numpy(),
        "composite_figi": era.universe["composite_figi"].to_numpy(),
    }
    for name in FEATURE_NAMES:
        columns[name] = era.features[name].to_numpy()
    for name in targets:
        columns[name] = era.targets[name]
    return columns


class _Writers:
    """The round's open Parquet streams, created on first use."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.streams: dict[str, ParquetStream] = {}
        self.written: list[str] = []

    def stream(self, name: str, schema: pa.Schema) -> ParquetStream:
        if name not in self.streams:
            self.streams[name] = ParquetStream(self.root / name, schema)
            self.written.append(name)
        return self.streams[name]

    def close(self) -> None:
        for stream in self.streams.values():
            stream.close()


def _write_example(root: Path, split: str, frame: pd.DataFrame) -> list[str]:
    parquet_name, csv_name = EXAMPLE_FILES[split]
    table = pa.Table.from_pandas(frame, preserve_index=False)
    pq.write_table(table, root / parquet_name)
    out = frame.copy()
    if "date" in out.columns:
        out["date"] = out["date"].dt.strftime("%Y-%m-%d")
    out.to_csv(root / csv_name, index=False)
    return [parquet_name, csv_name]


def build_signals_round(
    prices: pd.DataFrame,
    *,
    live_date: pd.Timestamp | str,
    out_dir: str | Path,
    operator_dir: str | Path,
    vault: Vault,
    config: SignalsConfig | None = None,
    exposures: pd.DataFrame | Exposures | None = None,
    progress: Progress | None = None,
) -> SignalsBuildReport:
    """Compute and write a Signals round whose live date is ``live_date``.

    ``prices`` is a validated, date-sorted price frame; its rows after ``live_date`` (which
    must be one of its trading days) are ignored. Public files go under
    ``out_dir/signals/``; the operator's (:data:`~crowdalpha.dataset.signals.layout.
    OPERATOR_FILES`) into ``operator_dir``. ``vault`` keys the FIGI and SEDOL ids (use the
    same vault every round: ids stay stable). ``exposures`` are optional operator risk
    exposures (``date``, ``ticker``, numeric factor columns) added to the neutralization,
    as of each date. ``progress(done, total)`` is called after each era.

    Deterministic: the same prices up to the live date, settings and vault give the same
    bytes.
    """
    cfg = config if config is not None else SignalsConfig()
    if not isinstance(cfg, SignalsConfig):
        raise InvalidParameterError("config must be a SignalsConfig")
    public_root, operator_root = Path(out_dir), Path(operator_dir)
    if (public_root / "signals").exists():
        raise ConflictError(
            f"{public_root} already holds a Signals round (signals/); choose another folder"
        )
    taken = [n for n in OPERATOR_FILES if (operator_root / n).exists()]
    if taken:
        raise ConflictError(f"{operator_root} already holds a round's operator files {taken}")
    live_day = pd.Timestamp(live_date)
    panel = PricePanel(cut_prices(prices, live_day), vault)
    live = panel.day_index(live_day)
    splits = _splits(panel.days, live, cfg)
    engine = EraEngine(panel, cfg, as_exposures(exposures))
    targets = cfg.target_names

    public_root.mkdir(parents=True, exist_ok=True)
    operator_root.mkdir(parents=True, exist_ok=True)
    tmp_public = Path(tempfile.mkdtemp(dir=public_root, prefix=".signals-"))
    tmp_operator = Path(tempfile.mkdtemp(dir=operator_root, prefix=".signals-"))
    try:
        files, rows = _write_round(
            engine, splits, targets, cfg, tmp_public, tmp_operator, live, progress
        )
        for name in sorted(p.name for p in tmp_operator.iterdir()):
            (tmp_operator / name).rename(operator_root / name)
        (tmp_public / "signals").rename(public_root / "signals")
    finally:
        for tmp in (tmp_public, tmp_operator):
            shutil.rmtree(tmp, ignore_errors=True)
    return SignalsBuildReport(
        out_dir=public_root,
        operator_dir=operator_root,
        live_date=live_day,
        files=tuple(files),
        rows=rows,
        eras=splits,
        features=FEATURE_NAMES,
        targets=targets,
        neutralizers=tuple(engine.neutralizer_names),
    )


def _write_round(
    engine: EraEngine,
    splits: dict[SignalsSplit, list[pd.Timestamp]],
    targets: tuple[str, ...],
    cfg: SignalsConfig,
    public: Path,
    operator: Path,
    live: int,
    progress: Progress | None,
) -> tuple[list[str], dict[SignalsSplit, int]]:
    """Write every file of the round into ``public`` and ``operator``; the files written
    and the rows by split."""
    panel = engine.panel
    writers = _Writers(public)
    example = RidgeExample(cfg.example_ridge)
    predictions: list[pd.DataFrame] = []
    universes: list[pd.DataFrame] = []
    rows: dict[SignalsSplit, int] = {"train": 0, "validation": 0, "live": 0}
    total = sum(len(v) for v in splits.values())
    done = 0
    try:
        for split in ("train", "validation"):
            for day in splits[split]:
                era = engine.era(panel.day_index(day))
                _write_history_era(writers, split, era, engine, targets, cfg)
                if cfg.example_predictions and split == "train":
                    example.add(era.features, era.targets[MAIN_TARGET])
                if split == "validation":
                    universes.append(era.universe)
                    if cfg.example_predictions:
                        predictions.append(_signal(era, example, dated=True))
                rows[split] += len(era.universe)
                done += 1
                if progress is not None:
                    progress(done, total)
        live_era = engine.era(live, targets=False)
        day = live_era.date
        writers.stream(SPLIT_FILES["live"], data_schema(())).write(day, _data_columns(live_era, ()))
        writers.stream(LIVE_IDS_FILE, ids_schema()).write(
            day, {c: live_era.universe[c].to_numpy() for c in ID_COLUMNS}
        )
        rows["live"] = len(live_era.universe)
    finally:
        writers.close()
    files = list(writers.written)
    if cfg.example_predictions:
        files += _write_example(public, "validation", pd.concat(predictions, ignore_index=True))
        files += _write_example(public, "live", _signal(live_era, example, dated=False))
    _write_operator(operator, [*universes, live_era.universe], live_era, engine)
    if progress is not None:
        progress(done + 1, total)
    return _ordered(files), rows


def _write_history_era(
    writers: _Writers,
    split: str,
    era: EraData,
    engine: EraEngine,
    targets: tuple[str, ...],
    cfg: SignalsConfig,
) -> None:
    """One train or validation era: its data rows, and its N and v when asked."""
    writers.stream(SPLIT_FILES[split], data_schema(targets)).write(
        era.date, _data_columns(era, targets)
    )
    if not cfg.neutralizer_files:
        return
    tickers = era.universe["numerai_ticker"].to_numpy()
    n_cols = {c: era.neutralizers[:, j] for j, c in enumerate(engine.neutralizer_names)}
    n_cols["numerai_ticker"] = tickers
    schema = neutralizer_schema(engine.neutralizer_names)
    writers.stream(NEUTRALIZER_FILES[split], schema).write(era.date, n_cols)
    writers.stream(SAMPLE_WEIGHT_FILES[split], sample_weight_schema()).write(
        era.date, {"numerai_ticker": tickers, "sample_weights": era.sample_weights}
    )


def _signal(era: EraData, example: RidgeExample, *, dated: bool) -> pd.DataFrame:
    """The example model's predictions for one era (with its ``date`` when ``dated``)."""
    columns: dict[str, npt.NDArray[Any]] = {}
    if dated:
        columns["date"] = np.full(len(era.universe), np.datetime64(era.date, "ns"))
    columns["numerai_ticker"] = era.universe["numerai_ticker"].to_numpy()
    columns["signal"] = example.predict(era.features)
    return pd.DataFrame(columns)


def _write_operator(
    operator: Path, universes: list[pd.DataFrame], live: EraData, engine: EraEngine
) -> None:
    """The operator's files: the id maps, and the live N and v (float64)."""
    pd.concat(universes, ignore_index=True).to_parquet(operator / "universe.parquet", index=False)
    index = pd.Index(live.universe["numerai_ticker"].to_numpy(), name="numerai_ticker")
    pd.DataFrame(live.neutralizers, index=index, columns=engine.neutralizer_names).to_parquet(
        operator / "live_neutralizer.parquet"
    )
    pd.Series(live.sample_weights, index=index, name="sample_weights").to_frame().to_parquet(
        operator / "live_sample_weights.parquet"
    )


def _ordered(files: list[str]) -> list[str]:
    return [f for f in PUBLIC_FILES if f in files]

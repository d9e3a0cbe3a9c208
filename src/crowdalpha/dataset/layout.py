"""Writing a round's dataset in Numerai's v5 layout, one era at a time.

A round folder holds ``train.parquet``, ``validation.parquet`` and ``live.parquet`` (index
``id``; columns ``era``, ``data_type``, ``feature_*`` as int8 in 0..4, ``target`` and the
auxiliary ``target_*`` as floats in {0, .25, .5, .75, 1}, NaN where unknown) and
``features.json`` (``feature_sets`` and ``targets``) — readable by the loading code
participants already use for Numerai. Each era is one Parquet row group, written as soon as
it is ready, so memory holds one era at a time however long the history.

Beside it, in the operator's own folder, the writer leaves what the key alone cannot
recompute cheaply: the published era labels with their dates, the feature name map, and the
live rows' ids with their tickers.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from crowdalpha.dataset.obfuscate import (
    ObfuscationMode,
    Vault,
    check_mode,
    noisy_bins,
    quantile_bins,
)
from crowdalpha.errors import ConflictError, InvalidInputError

__all__ = ["SPLITS", "EraRows", "RoundWriter", "Split"]

Split = Literal["train", "validation", "live"]
SPLITS: tuple[Split, ...] = ("train", "validation", "live")


@dataclass(frozen=True)
class EraRows:
    """One era's rows before obfuscation: tickers, raw feature values, binned targets."""

    date: pd.Timestamp
    tickers: Sequence[str]
    #: ``(features, rows)`` raw values, in the writer's feature order; NaN where missing.
    features: npt.NDArray[np.floating]
    #: ``(rows,)`` per target name, values in {0, .25, .5, .75, 1} or NaN.
    targets: Mapping[str, npt.NDArray[np.floating]] = field(default_factory=dict)


class RoundWriter:
    """Streams a round's eras into the three split files, obfuscating as it goes.

    Use as a context manager; eras of a split must come in date order. ``close`` writes
    ``features.json`` and the operator's maps; a folder that already holds a round is
    refused rather than overwritten.
    """

    def __init__(
        self,
        out_dir: str | Path,
        operator_dir: str | Path,
        vault: Vault,
        *,
        round_number: int,
        feature_names: Sequence[str],
        feature_sets: Mapping[str, Sequence[str]],
        target_names: Sequence[str],
        era_labels: Mapping[pd.Timestamp, str],
        mode: ObfuscationMode = "standard",
        noise: float | None = None,
    ) -> None:
        self.mode, self.noise = check_mode(mode, noise)
        self.out_dir = Path(out_dir)
        self.operator_dir = Path(operator_dir)
        if (self.out_dir / "features.json").exists():
            raise ConflictError(f"{self.out_dir} already holds a round dataset")
        if "target" not in target_names:
            raise InvalidInputError("the targets must include the main one, named 'target'")
        self.vault = vault
        self.round_number = round_number
        self.feature_names = list(feature_names)
        self.opaque = vault.feature_names(self.feature_names)
        # Published column order: sorted opaque names, which says nothing about the real ones.
        self.column_order = sorted(
            range(len(self.feature_names)), key=lambda i: self.opaque[self.feature_names[i]]
        )
        self.feature_sets = {k: list(v) for k, v in feature_sets.items()}
        self.target_names = list(target_names)
        self.era_labels = dict(era_labels)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.operator_dir.mkdir(parents=True, exist_ok=True)
        self._writers: dict[Split, pq.ParquetWriter] = {}
        self._last_date: dict[Split, pd.Timestamp] = {}
        self._rows: dict[Split, int] = dict.fromkeys(SPLITS, 0)
        self._live_ids: list[pd.DataFrame] = []
        self._schema: pa.Schema | None = None

    def __enter__(self) -> RoundWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close(completed=exc[0] is None)

    def add(self, split: Split, era: EraRows) -> int:
        """Obfuscate and append one era to a split; returns the rows written."""
        if split not in SPLITS:
            raise InvalidInputError(f"split must be one of {SPLITS}, not {split!r}")
        n = len(era.tickers)
        if era.features.shape != (len(self.feature_names), n):
            raise InvalidInputError(
                f"era {era.date:%Y-%m-%d}: features must be (features, rows) = "
                f"({len(self.feature_names)}, {n}), got {era.features.shape}"
            )
        last = self._last_date.get(split)
        if last is not None and era.date <= last:
            raise InvalidInputError(f"{split} eras must come in date order ({era.date} ≤ {last})")
        self._last_date[split] = era.date
        label = self.era_labels[era.date]
        live_round = self.round_number if split == "live" else None
        order = self.vault.shuffle(era.date, n, live_round=live_round)
        tickers = np.asarray(era.tickers, dtype=object)[order]
        ids = self.vault.row_ids(era.date, list(tickers), live_round=live_round)
        if self.mode == "noisy":
            raw = noisy_bins(era.features, self.feature_names, self.vault, era.date, self.noise)
        else:
            raw = quantile_bins(era.features)
        bins = raw[:, order]
        columns: dict[str, np.ndarray] = {
            "id": np.asarray(ids, dtype=object),
            "era": np.full(n, label, dtype=object),
            "data_type": np.full(n, split, dtype=object),
        }
        for i in self.column_order:
            columns[self.opaque[self.feature_names[i]]] = bins[i]
        for name in self.target_names:
            values = era.targets.get(name)
            columns[name] = (
                np.full(n, np.nan, np.float32)
                if values is None
                else np.asarray(values, dtype=np.float32)[order]
            )
        table = self._table(columns)
        writer = self._writers.get(split)
        if writer is None:
            writer = pq.ParquetWriter(self.out_dir / f"{split}.parquet", table.schema)
            self._writers[split] = writer
        writer.write_table(table)
        self._rows[split] += n
        if split == "live":
            self._live_ids.append(
                pd.DataFrame({"id": ids, "era": label, "date": era.date, "ticker": tickers})
            )
        return n

    def _table(self, columns: dict[str, np.ndarray]) -> pa.Table:
        """An era's Arrow table; pandas builds the first (and its metadata), arrays the rest."""
        if self._schema is None:
            frame = pd.DataFrame(
                {k: v for k, v in columns.items() if k != "id"},
                index=pd.Index(columns["id"], name="id", dtype=object),
            )
            table = pa.Table.from_pandas(frame, preserve_index=True)
            self._schema = table.schema
            return table
        schema = self._schema
        arrays = [pa.array(columns[f.name], type=f.type, from_pandas=True) for f in schema]
        return pa.Table.from_arrays(arrays, schema=schema)

    def close(self, *, completed: bool = True) -> None:
        """Finish the files; ``features.json`` marks a complete round and is written last."""
        for writer in self._writers.values():
            writer.close()
        self._writers.clear()
        if not completed:
            return
        if self._live_ids:
            pd.concat(self._live_ids, ignore_index=True).to_parquet(
                self.operator_dir / "live_ids.parquet", index=False
            )
        eras = pd.DataFrame(
            {"era": list(self.era_labels.values()), "date": list(self.era_labels.keys())}
        )
        eras.to_parquet(self.operator_dir / "eras.parquet", index=False)
        (self.operator_dir / "feature_names.json").write_text(
            json.dumps({v: k for k, v in self.opaque.items()}, indent=1, sort_keys=True)
        )
        published = {
            "feature_sets": {
                name: sorted(self.opaque[f] for f in members)
                for name, members in self.feature_sets.items()
            },
            "targets": self.target_names,
        }
        (self.out_dir / "features.json").write_text(json.dumps(published, indent=1))

    @property
    def rows(self) -> dict[Split, int]:
        return dict(self._rows)

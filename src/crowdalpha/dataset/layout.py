"""Writing a round's dataset in Numerai's v5 layout, one era at a time.

A round folder holds ``train.parquet``, ``validation.parquet`` and ``live.parquet`` (index
``id``; columns ``era``, ``data_type``, ``feature_*`` as int8 in 0..4, ``target`` and the
auxiliary ``target_*`` as floats in {0, .25, .5, .75, 1}, NaN where unknown) and
``features.json`` (``feature_sets`` and ``targets``) — readable by the loading code
participants already use for Numerai. Each era is one Parquet row group, written as soon as
it is ready, so memory holds one era at a time however long the history.

Publishing an era — binning, keyed ids and order, the Arrow table, its Parquet encoding — is
:class:`EraPublisher`'s, a picklable value that a worker can run as well as the building
process; it gives a *part* (:mod:`crowdalpha.dataset.parts`), which :class:`RoundWriter`
appends to the split's file by copying. Parts do not depend on who encoded them or when, so
an era's part can be kept (:meth:`EraPublisher.key` names what it depends on) and a later
round that publishes the same era the same way copies it instead of redoing it.

Beside it, in the operator's own folder, the writer leaves what the key alone cannot
recompute cheaply: the published era labels with their dates, the feature name map, and the
live rows' ids with their tickers.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
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

from crowdalpha.dataset.cache import source_digest
from crowdalpha.dataset.example import ExampleSums, table_bins
from crowdalpha.dataset.obfuscate import (
    Mix,
    ObfuscationMode,
    Vault,
    check_mix,
    check_mode,
    noisy_bins,
    quantile_bins,
)
from crowdalpha.dataset.parts import PartAssembler, encode_part, parquet_of
from crowdalpha.errors import ConflictError, InvalidInputError

__all__ = ["SPLITS", "EraPublisher", "EraRows", "PublishedEra", "RoundWriter", "Split"]

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


@dataclass(frozen=True)
class PublishedEra:
    """One era as published: its part (a one-row-group Parquet file) and, for a live era,
    the operator's map of its ids to tickers."""

    date: pd.Timestamp
    split: Split
    part: bytes
    #: ``id``, ``era``, ``date``, ``ticker`` of a live era's rows (None for other splits).
    live_ids: pd.DataFrame | None = None
    #: The part's key in the era cache (:meth:`EraPublisher.key`), when it has one.
    key: str | None = None


@functools.cache
def _code() -> str:
    """What shapes a part besides its inputs: this code and the encoding libraries."""
    digest = source_digest(
        "crowdalpha.dataset.layout",
        "crowdalpha.dataset.obfuscate",
        "crowdalpha.dataset.parts",
        "crowdalpha.scoring.kernels",  # the ranks behind the bins
    )
    return f"pyarrow={pa.__version__} numpy={np.__version__} {digest}"


@dataclass(frozen=True, eq=False)
class EraPublisher:
    """Everything that turns an era's values into its published rows: the vault, the
    round, the names and the obfuscation. Picklable, so workers can publish eras too — it
    carries the vault's key: send it only to workers you would give the key."""

    vault: Vault
    round_number: int
    #: The published features' real names (the composites' names in ``"composite"`` mode).
    feature_names: tuple[str, ...]
    target_names: tuple[str, ...]
    mode: ObfuscationMode = "standard"
    noise: float | None = None
    #: The ``"composite"`` mode's mixes, and the names of the computed features they weigh
    #: (the rows of the values given to :meth:`publish`).
    mix: Mix | None = None
    mix_inputs: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        mode, noise = check_mode(self.mode, self.noise)
        check_mix(mode, self.mix)
        object.__setattr__(self, "mode", mode)
        object.__setattr__(self, "noise", noise)
        object.__setattr__(self, "feature_names", tuple(self.feature_names))
        object.__setattr__(self, "target_names", tuple(self.target_names))
        object.__setattr__(self, "mix_inputs", tuple(self.mix_inputs))
        if "target" not in self.target_names:
            raise InvalidInputError("the targets must include the main one, named 'target'")

    @functools.cached_property
    def opaque(self) -> dict[str, str]:
        """Real feature name → published name."""
        return self.vault.feature_names(list(self.feature_names))

    @functools.cached_property
    def _columns(self) -> list[int]:
        # Published column order: sorted opaque names, which says nothing about the real ones.
        return sorted(
            range(len(self.feature_names)), key=lambda i: self.opaque[self.feature_names[i]]
        )

    @functools.cached_property
    def published_names(self) -> tuple[str, ...]:
        """The features' published names in file order (the ``all`` feature set's)."""
        return tuple(self.opaque[self.feature_names[i]] for i in self._columns)

    @functools.cached_property
    def schema(self) -> pa.Schema:
        """Every part's Arrow schema (with pandas' metadata: ``id`` is the index)."""
        columns: dict[str, object] = {
            "era": np.array(["0001"], dtype=object),
            "data_type": np.array(["train"], dtype=object),
        }
        for i in self._columns:
            columns[self.opaque[self.feature_names[i]]] = np.zeros(1, dtype=np.int8)
        for name in self.target_names:
            columns[name] = np.zeros(1, dtype=np.float32)
        frame = pd.DataFrame(columns, index=pd.Index(["n0"], name="id", dtype=object))
        return pa.Table.from_pandas(frame, preserve_index=True).schema

    @functools.cached_property
    def digest(self) -> str:
        """A digest of everything besides the era that its part depends on."""
        h = hashlib.sha256(_code().encode())
        fingerprint = hmac.new(self.vault.key, b"crowdalpha parts", hashlib.sha256).digest()
        h.update(fingerprint)
        settings = (self.mode, self.noise, self.feature_names, self.target_names, self.mix_inputs)
        h.update(repr(settings).encode())
        if self.mix is not None:
            h.update(repr(self.mix.features).encode() + self.mix.weights.tobytes())
        return h.hexdigest()

    def key(self, values: str, split: Split, label: str) -> str:
        """The key of an era's part: the key of its values (the era cache's), its split and
        label, the round for a live era, and :attr:`digest`."""
        live = str(self.round_number) if split == "live" else ""
        parts = (self.digest, values, split, label, live)
        return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()

    def publish(
        self, split: Split, era: EraRows, label: str, sums: ExampleSums | None = None
    ) -> PublishedEra:
        """Obfuscate one era and encode its part; with ``sums`` (over
        :attr:`published_names`), add the era's bins and main target to them."""
        if split not in SPLITS:
            raise InvalidInputError(f"split must be one of {SPLITS}, not {split!r}")
        n = len(era.tickers)
        inputs = self.mix_inputs if self.mix is not None else self.feature_names
        if era.features.shape != (len(inputs), n):
            raise InvalidInputError(
                f"era {era.date:%Y-%m-%d}: features must be (features, rows) = "
                f"({len(inputs)}, {n}), got {era.features.shape}"
            )
        values = era.features
        if self.mix is not None:
            values = self.mix.publish(values, list(inputs), self.vault, era.date, self.noise)
        live_round = self.round_number if split == "live" else None
        order = self.vault.shuffle(era.date, n, live_round=live_round)
        tickers = np.asarray(era.tickers, dtype=object)[order]
        ids = self.vault.row_ids(era.date, list(tickers), live_round=live_round)
        if self.mode == "noisy":
            assert self.noise is not None
            raw = noisy_bins(values, list(self.feature_names), self.vault, era.date, self.noise)
        else:
            raw = quantile_bins(values)
        if sums is not None:
            main = era.targets.get("target")
            sums.add_era(raw[self._columns], np.full(n, np.nan) if main is None else main)
        bins = raw[:, order]
        arrays: dict[str, np.ndarray] = {
            "id": np.asarray(ids, dtype=object),
            "era": np.full(n, label, dtype=object),
            "data_type": np.full(n, split, dtype=object),
        }
        for i in self._columns:
            arrays[self.opaque[self.feature_names[i]]] = bins[i]
        for name in self.target_names:
            target = era.targets.get(name)
            arrays[name] = (
                np.full(n, np.nan, np.float32)
                if target is None
                else np.asarray(target, dtype=np.float32)[order]
            )
        schema = self.schema
        table = pa.Table.from_arrays(
            [pa.array(arrays[f.name], type=f.type, from_pandas=True) for f in schema],
            schema=schema,
        )
        live = None
        if split == "live":
            live = pd.DataFrame({"id": ids, "era": label, "date": era.date, "ticker": tickers})
        return PublishedEra(era.date, split, encode_part(table), live)

    def add_part(self, sums: ExampleSums, part: bytes) -> None:
        """Add an era published before (its part) to the example model's sums."""
        names = list(self.published_names)
        table = pq.read_table(pa.BufferReader(parquet_of(part)), columns=[*names, "target"])
        sums.add_era(table_bins(table, names), table.column("target").to_numpy())


class RoundWriter:
    """Streams a round's eras into the three split files, obfuscating as it goes.

    Use as a context manager; eras of a split must come in date order. ``close`` writes
    ``features.json`` and the operator's maps; a folder that already holds a round is
    refused rather than overwritten, and a round not completed leaves no split file.
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
        mix: Mix | None = None,
        mix_inputs: Sequence[str] = (),
    ) -> None:
        self.publisher = EraPublisher(
            vault,
            round_number,
            tuple(feature_names),
            tuple(target_names),
            mode,
            noise,
            mix,
            tuple(mix_inputs),
        )
        self.out_dir = Path(out_dir)
        self.operator_dir = Path(operator_dir)
        if (self.out_dir / "features.json").exists():
            raise ConflictError(f"{self.out_dir} already holds a round dataset")
        self.feature_sets = {k: list(v) for k, v in feature_sets.items()}
        self.era_labels = dict(era_labels)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.operator_dir.mkdir(parents=True, exist_ok=True)
        self._files: dict[Split, PartAssembler] = {}
        self._last_date: dict[Split, pd.Timestamp] = {}
        self._rows: dict[Split, int] = dict.fromkeys(SPLITS, 0)
        self._live_ids: list[pd.DataFrame] = []

    def __enter__(self) -> RoundWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close(completed=exc[0] is None)

    def add(self, split: Split, era: EraRows) -> int:
        """Obfuscate and append one era to a split; returns the rows written."""
        self._check_order(split, era.date)
        return self.append(self.publisher.publish(split, era, self.label(era.date)))

    def label(self, date: pd.Timestamp) -> str:
        """The published label of an era."""
        return self.era_labels[date]

    def _check_order(self, split: Split, date: pd.Timestamp) -> None:
        if split not in SPLITS:
            raise InvalidInputError(f"split must be one of {SPLITS}, not {split!r}")
        last = self._last_date.get(split)
        if last is not None and date <= last:
            raise InvalidInputError(f"{split} eras must come in date order ({date} ≤ {last})")

    def append(self, era: PublishedEra) -> int:
        """Append an era published by this writer's :attr:`publisher` (here or on a
        worker, now or in an earlier build); returns its rows."""
        split = era.split
        self._check_order(split, era.date)
        if split == "live" and era.live_ids is None:
            raise InvalidInputError("a live era needs its ids' tickers")
        assembler = self._files.get(split)
        if assembler is None:
            assembler = PartAssembler(self.out_dir / f"{split}.parquet")
            self._files[split] = assembler
        rows = assembler.append(era.part)
        self._last_date[split] = era.date
        self._rows[split] += rows
        if era.live_ids is not None:
            self._live_ids.append(era.live_ids)
        return rows

    def close(self, *, completed: bool = True) -> None:
        """Finish the files; ``features.json`` marks a complete round and is written last."""
        files, self._files = self._files, {}
        if not completed:
            for assembler in files.values():
                assembler.abort()
            return
        for assembler in files.values():
            assembler.close()
        opaque = self.publisher.opaque
        if self._live_ids:
            pd.concat(self._live_ids, ignore_index=True).to_parquet(
                self.operator_dir / "live_ids.parquet", index=False
            )
        eras = pd.DataFrame(
            {"era": list(self.era_labels.values()), "date": list(self.era_labels.keys())}
        )
        eras.to_parquet(self.operator_dir / "eras.parquet", index=False)
        (self.operator_dir / "feature_names.json").write_text(
            json.dumps({v: k for k, v in opaque.items()}, indent=1, sort_keys=True)
        )
        published = {
            "feature_sets": {
                name: sorted(opaque[f] for f in members)
                for name, members in self.feature_sets.items()
            },
            "targets": list(self.publisher.target_names),
        }
        (self.out_dir / "features.json").write_text(json.dumps(published, indent=1))

    @property
    def rows(self) -> dict[Split, int]:
        return dict(self._rows)

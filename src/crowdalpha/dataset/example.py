"""The example model and the example predictions published with every round.

The example model is deliberately simple and frugal: a ridge regression of the main target
on the int8 bins (centred on the middle bin), fitted on the round's train file one row group
— one era — at a time, so memory holds one era plus a features × features matrix. Every
round publishes its predictions, as Numerai does, so participants can check their set-up
end to end (``validation_example_preds.parquet``, ``live_example_preds.parquet``: index
``id``, column ``prediction``, ranks in (0, 1) per era). The privacy audit uses the same
model to measure what an obfuscation mode costs.

The fit needs only the sums ``XᵀX`` and ``Xᵀ(y − ½)`` over the train rows
(:class:`ExampleSums`). Bins are small integers and targets quarter steps, so every sum is
exact: the sums over any grouping of eras, added in any order, are the same to the last
bit. A dataset build therefore adds each train era where it publishes it — in the time
cells' tasks, on a pool or a Dask cluster — and keeps each cell's sums in the era cache
(:class:`FitCheckpoint`, named by the chain of the cell's train eras' part keys), so the
next build adds only eras it has not added before; the weights are those of a fit on the
train file (:func:`fit_example_model`) to the last bit.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from crowdalpha.dataset.obfuscate import MISSING_BIN
from crowdalpha.errors import InvalidInputError, InvalidParameterError, NotFoundError
from crowdalpha.storage import FileStore

__all__ = [
    "EXAMPLE_FILES",
    "ExampleModel",
    "ExampleSums",
    "FitCheckpoint",
    "era_chain",
    "fit_example_model",
    "predict_file",
    "ridge_benchmark",
    "table_bins",
    "write_example_predictions",
]

#: The example prediction files of a round, by the split they predict.
EXAMPLE_FILES = {
    "validation": "validation_example_preds.parquet",
    "live": "live_example_preds.parquet",
}


@dataclass(frozen=True, eq=False)
class ExampleModel:
    """Ridge weights over named features (bins centred on the middle bin)."""

    features: tuple[str, ...]
    weights: npt.NDArray[np.float64]

    def predict(self, table: pa.Table) -> npt.NDArray[np.float64]:
        out: npt.NDArray[np.float64] = _centred(table, self.features) @ self.weights
        return out


def _centred(table: pa.Table, names: Sequence[str]) -> npt.NDArray[np.float64]:
    """The named int8 bin columns as a float ``(rows, features)`` matrix, centred."""
    rows = np.ascontiguousarray(table_bins(table, names).T, dtype=np.float64)
    return rows - float(MISSING_BIN)


def _feature_set(public: Path, feature_set: str) -> list[str]:
    try:
        sets = json.loads((public / "features.json").read_text())["feature_sets"]
    except (OSError, ValueError, KeyError) as exc:
        raise InvalidInputError(f"{public} holds no readable features.json: {exc}") from None
    if feature_set not in sets:
        raise InvalidParameterError(
            f"no feature set {feature_set!r} in {public}; have {', '.join(sorted(sets))}"
        )
    return list(sets[feature_set])


#: Below this many rows an era's sums are exact in float32 (integers and quarter steps
#: up to 2²⁴ in magnitude), which halves the cost of the products.
_F32_ROWS = 1 << 22


@dataclass(eq=False)
class ExampleSums:
    """The example model's sums over some train rows: ``XᵀX`` and ``Xᵀ(y − ½)`` of the bins
    centred on the middle bin (features in the order of :attr:`names`) and the rows added.

    With bins and quarter-step targets (what a build publishes) every sum is an exact
    float64, so adding eras in any grouping and order gives the same sums to the last bit.
    """

    names: tuple[str, ...]
    xtx: npt.NDArray[np.float64]
    xty: npt.NDArray[np.float64]
    rows: int = 0

    @classmethod
    def empty(cls, names: Sequence[str]) -> ExampleSums:
        k = len(names)
        return cls(tuple(names), np.zeros((k, k)), np.zeros(k))

    def add_era(self, bins: npt.NDArray[np.int8], target: npt.ArrayLike) -> None:
        """Add one era: ``bins`` ``(features, rows)`` in :attr:`names` order, ``target``
        ``(rows,)``; rows without a target are left out."""
        y = np.asarray(target, dtype=np.float64)
        if bins.shape != (len(self.names), len(y)):
            raise InvalidInputError(
                f"an era's bins must be (features, rows) = ({len(self.names)}, {len(y)}), "
                f"got {bins.shape}"
            )
        ok = np.isfinite(y)
        m = int(ok.sum())
        y = y[ok] - 0.5
        quarters = bool(np.all(y * 4 == np.round(y * 4)))
        dtype = np.float32 if quarters and m < _F32_ROWS else np.float64
        x: npt.NDArray[np.floating] = bins[:, ok].astype(dtype)
        x -= MISSING_BIN
        self.xtx += x @ x.T
        self.xty += x @ y.astype(dtype)
        self.rows += m

    def add(self, other: ExampleSums) -> None:
        """Add another set of sums over the same features."""
        if other.names != self.names:
            raise InvalidInputError("example sums over different features cannot be added")
        self.xtx += other.xtx
        self.xty += other.xty
        self.rows += other.rows

    def model(self, ridge: float = 10.0) -> ExampleModel:
        """The ridge weights (penalty ``ridge`` × rows)."""
        if ridge <= 0:
            raise InvalidParameterError("ridge must be positive")
        if self.rows == 0:
            raise InvalidInputError("the example model has no train rows with a target")
        penalty = ridge * self.rows * np.eye(len(self.names))
        weights = np.asarray(np.linalg.solve(self.xtx + penalty, self.xty), dtype=np.float64)
        return ExampleModel(self.names, weights)


def era_chain(names: Sequence[str], keys: Sequence[str]) -> list[bytes]:
    """Digests naming the features and each prefix of a sequence of eras (their keys)."""
    digest = hashlib.sha256("\x1f".join(names).encode()).digest()
    chain: list[bytes] = []
    for key in keys:
        digest = hashlib.sha256(digest + key.encode()).digest()
        chain.append(digest)
    return chain


@dataclass(frozen=True)
class FitCheckpoint:
    """Where sums over a sequence of eras are kept for the next build: one file in a store
    (the era cache's), named by the chain (:func:`era_chain`) of the eras it covers."""

    store: FileStore
    key: str

    def load(self, chain: Sequence[bytes], names: Sequence[str]) -> tuple[int, ExampleSums]:
        """How many of the eras the kept sums cover (the longest prefix of ``chain``) and
        the sums; ``(0, empty sums)`` when nothing usable is kept."""
        k = len(names)
        try:
            with np.load(io.BytesIO(self.store.get(self.key)), allow_pickle=False) as data:
                done = bytes(data["chain"])
                xtx, xty, rows = np.array(data["xtx"]), np.array(data["xty"]), int(data["rows"])
        except (NotFoundError, OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
            return 0, ExampleSums.empty(names)
        if xtx.shape != (k, k) or xty.shape != (k,) or done not in chain:
            return 0, ExampleSums.empty(names)
        return chain.index(done) + 1, ExampleSums(tuple(names), xtx, xty, rows)

    def save(self, chain: bytes, sums: ExampleSums) -> None:
        buffer = io.BytesIO()
        np.savez(
            buffer,
            chain=np.frombuffer(chain, dtype=np.uint8),
            xtx=sums.xtx,
            xty=sums.xty,
            rows=np.int64(sums.rows),
        )
        self.store.put(self.key, buffer.getvalue())


def table_bins(table: pa.Table, names: Sequence[str]) -> npt.NDArray[np.int8]:
    """The named int8 bin columns of a table as a ``(features, rows)`` matrix."""
    if not names:
        return np.zeros((0, table.num_rows), dtype=np.int8)
    columns = [table.column(n).to_numpy(zero_copy_only=False) for n in names]
    return np.stack(columns).astype(np.int8, copy=False)


def fit_example_model(
    public_dir: str | Path, *, feature_set: str = "all", ridge: float = 10.0
) -> ExampleModel:
    """Fit the example model on a round's train file, one era (row group) at a time.

    Rows without a main target are left out; the penalty is ``ridge`` × rows.
    """
    if ridge <= 0:
        raise InvalidParameterError("ridge must be positive")
    public = Path(public_dir)
    names = _feature_set(public, feature_set)
    train = pq.ParquetFile(public / "train.parquet")
    sums = ExampleSums.empty(names)
    for group in range(train.num_row_groups):
        table = train.read_row_group(group, columns=[*names, "target"])
        sums.add_era(table_bins(table, names), table.column("target").to_numpy())
    if sums.rows == 0:
        raise InvalidInputError(f"{public / 'train.parquet'} has no rows with a target")
    return sums.model(ridge)


def ridge_benchmark(public: Path, *, penalty: float = 0.1) -> pd.Series:
    """A benchmark model from a round's public files alone: the example model on the
    ``small`` feature set (all features when the round has none), with penalty
    ``penalty × rows``, fitted on the train file and applied to the live rows. Returns
    predictions indexed by live id, in file order."""
    sets = json.loads((public / "features.json").read_text())["feature_sets"]
    model = fit_example_model(
        public, feature_set="small" if sets.get("small") else "all", ridge=penalty
    )
    live = pq.read_table(public / "live.parquet", columns=["id", *model.features])
    ids = pd.Index([str(i) for i in live.column("id").to_pylist()], name="id")
    return pd.Series(model.predict(live), index=ids, name="prediction")


def predict_file(model: ExampleModel, path: str | Path) -> pd.DataFrame:
    """The model's raw predictions for a split file: columns ``era`` and ``prediction``."""
    parquet = pq.ParquetFile(path)
    frames = []
    for group in range(parquet.num_row_groups):
        table = parquet.read_row_group(group, columns=["id", "era", *model.features])
        frames.append(
            pd.DataFrame(
                {
                    "era": table.column("era").to_pylist(),
                    "prediction": model.predict(table),
                },
                index=pd.Index([str(i) for i in table.column("id").to_pylist()], name="id"),
            )
        )
    if not frames:
        return pd.DataFrame({"era": [], "prediction": []}, index=pd.Index([], name="id"))
    return pd.concat(frames)


def _write_atomically(frame: pd.DataFrame, path: Path) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        frame.to_parquet(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_example_predictions(
    public_dir: str | Path,
    *,
    feature_set: str = "all",
    ridge: float = 10.0,
    sums: ExampleSums | None = None,
) -> dict[str, Path]:
    """Fit the example model and write its validation and live predictions.

    Predictions are ranked within each era into (0, 1], so the live file is a valid
    submission as it stands. Written atomically; returns the paths by split. With ``sums``
    (over every train era, features of ``feature_set`` in file order: what a build adds
    while it publishes) the train file is not read again.
    """
    public = Path(public_dir)
    if sums is None:
        model = fit_example_model(public, feature_set=feature_set, ridge=ridge)
    else:
        if list(sums.names) != _feature_set(public, feature_set):
            raise InvalidInputError(f"the sums are not over the feature set {feature_set!r}")
        model = sums.model(ridge)
    written: dict[str, Path] = {}
    for split, name in EXAMPLE_FILES.items():
        raw = predict_file(model, public / f"{split}.parquet")
        ranked = raw.groupby("era")["prediction"].rank(method="average", pct=True)
        out = public / name
        _write_atomically(ranked.to_frame("prediction").astype(np.float32), out)
        written[split] = out
    return written

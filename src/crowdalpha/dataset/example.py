"""The example model and the example predictions published with every round.

The example model is deliberately simple and frugal: a ridge regression of the main target
on the int8 bins (centred on the middle bin), fitted on the round's train file one row group
— one era — at a time, so memory holds one era plus a features × features matrix. Every
round publishes its predictions, as Numerai does, so participants can check their set-up
end to end (``validation_example_preds.parquet``, ``live_example_preds.parquet``: index
``id``, column ``prediction``, ranks in (0, 1) per era). The privacy audit uses the same
model to measure what an obfuscation mode costs.

Fitting reads every train era (the sums ``XᵀX`` of a thousand features over ~850 eras of
5,000 rows are minutes of BLAS). A build with an era cache therefore keeps the sums in a
:class:`FitCheckpoint`, named by the chain of the train eras' part keys: the next build,
whose train file starts with the same eras (train eras are final), adds only its new eras
to the sums — the same additions in the same order as fitting from scratch, so the same
weights to the last bit.
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
    "FitCheckpoint",
    "fit_example_model",
    "predict_file",
    "ridge_benchmark",
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
    if not names:
        return np.zeros((table.num_rows, 0))
    columns = [table.column(n).to_numpy(zero_copy_only=False) for n in names]
    return np.column_stack(columns).astype(np.float64) - float(MISSING_BIN)


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


@dataclass(frozen=True)
class FitCheckpoint:
    """Where the example model's sums over a build's train eras are kept for the next
    build: one file in a store (the era cache's), replaced by every fit."""

    store: FileStore
    key: str

    def load(self, chain: Sequence[bytes], k: int) -> tuple[int, _Sums] | None:
        """The sums after the longest prefix of the eras whose chain the file holds."""
        try:
            with np.load(io.BytesIO(self.store.get(self.key)), allow_pickle=False) as data:
                done = bytes(data["chain"])
                sums = _Sums(np.array(data["xtx"]), np.array(data["xty"]), int(data["rows"]))
        except (NotFoundError, OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
            return None
        if sums.xtx.shape != (k, k) or sums.xty.shape != (k,) or done not in chain:
            return None
        return chain.index(done) + 1, sums

    def save(self, chain: bytes, sums: _Sums) -> None:
        buffer = io.BytesIO()
        np.savez(
            buffer,
            chain=np.frombuffer(chain, dtype=np.uint8),
            xtx=sums.xtx,
            xty=sums.xty,
            rows=np.int64(sums.rows),
        )
        self.store.put(self.key, buffer.getvalue())


@dataclass
class _Sums:
    xtx: npt.NDArray[np.float64]
    xty: npt.NDArray[np.float64]
    rows: int


def fit_example_model(
    public_dir: str | Path,
    *,
    feature_set: str = "all",
    ridge: float = 10.0,
    eras: Sequence[str] | None = None,
    checkpoint: FitCheckpoint | None = None,
) -> ExampleModel:
    """Fit the example model on a round's train file, one era (row group) at a time.

    Rows without a main target are left out; the penalty is ``ridge`` × rows. With
    ``eras`` (a key per train row group that changes whenever its bytes do: the parts'
    keys) and a ``checkpoint``, the sums over the eras a previous fit already added are
    read back, and this fit's sums are kept for the next.
    """
    if ridge <= 0:
        raise InvalidParameterError("ridge must be positive")
    public = Path(public_dir)
    names = _feature_set(public, feature_set)
    train = pq.ParquetFile(public / "train.parquet")
    k = len(names)
    chain: list[bytes] = []
    if eras is not None:
        if len(eras) != train.num_row_groups:
            raise InvalidParameterError("eras must name every row group of the train file")
        digest = hashlib.sha256("\x1f".join(names).encode()).digest()
        for key in eras:
            digest = hashlib.sha256(digest + key.encode()).digest()
            chain.append(digest)
    start, sums = 0, _Sums(np.zeros((k, k)), np.zeros(k), 0)
    if checkpoint is not None and chain:
        found = checkpoint.load(chain, k)
        if found is not None:
            start, sums = found
    for group in range(start, train.num_row_groups):
        table = train.read_row_group(group, columns=[*names, "target"])
        y = table.column("target").to_numpy(zero_copy_only=False).astype(np.float64)
        ok = np.isfinite(y)
        x = _centred(table, names)[ok]
        sums.xtx += x.T @ x
        sums.xty += x.T @ (y[ok] - 0.5)
        sums.rows += int(ok.sum())
    if checkpoint is not None and chain and start < len(chain):
        checkpoint.save(chain[-1], sums)
    if sums.rows == 0:
        raise InvalidInputError(f"{public / 'train.parquet'} has no rows with a target")
    penalty = ridge * sums.rows * np.eye(k)
    weights = np.asarray(np.linalg.solve(sums.xtx + penalty, sums.xty), dtype=np.float64)
    return ExampleModel(tuple(names), weights)


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
    eras: Sequence[str] | None = None,
    checkpoint: FitCheckpoint | None = None,
) -> dict[str, Path]:
    """Fit the example model and write its validation and live predictions.

    Predictions are ranked within each era into (0, 1], so the live file is a valid
    submission as it stands. Written atomically; returns the paths by split. ``eras`` and
    ``checkpoint``: see :func:`fit_example_model`.
    """
    public = Path(public_dir)
    model = fit_example_model(
        public, feature_set=feature_set, ridge=ridge, eras=eras, checkpoint=checkpoint
    )
    written: dict[str, Path] = {}
    for split, name in EXAMPLE_FILES.items():
        raw = predict_file(model, public / f"{split}.parquet")
        ranked = raw.groupby("era")["prediction"].rank(method="average", pct=True)
        out = public / name
        _write_atomically(ranked.to_frame("prediction").astype(np.float32), out)
        written[split] = out
    return written

"""The files of a Signals round, in Numerai's layout, and their byte-stable Parquet writer.

Public files (paths relative to the round's folder, as ``list_datasets`` names them):

=================================================  ==========================================
``signals/v2.0/train.parquet``                     ``date``, ``numerai_ticker``,
``signals/v2.0/validation.parquet``                ``composite_figi``, the features, the
                                                   targets — one row group per weekly era
``signals/v2.0/live.parquet``                      the live universe: the same without targets
``signals/v2.0/{validation,live}_example_preds``   the example model's ``signal`` (``.parquet``
                                                   and ``.csv``; validation with ``date``)
``signals/v1.0/live.parquet``                      the live universe's ids: ``date`` and every
                                                   id type (numerapi's ``ticker_universe``
                                                   reads its ``numerai_ticker``)
``signals/v2.1/{train,validation}_neutralizer``    ``date``, ``numerai_ticker``, N's columns
``signals/v2.1/{train,validation}_sample_weights`` ``date``, ``numerai_ticker``,
                                                   ``sample_weights``
=================================================  ==========================================

Operator files (kept private, beside the round): ``universe.parquet`` (the universe frame
of every validation era and of the live date — the id map for submissions and diagnostics
keyed by any id type), ``live_neutralizer.parquet`` and ``live_sample_weights.parquet``
(float64, indexed by ``numerai_ticker``: what churn, turnover, alpha and MPC need).

Files are written from Arrow arrays with fixed schemas (no pandas metadata), rows sorted by
date then ``numerai_ticker``: the same inputs give the same bytes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from crowdalpha.dataset.signals.features import NUMERIC_FEATURES
from crowdalpha.dataset.signals.ids import ID_COLUMNS

__all__ = [
    "EXAMPLE_FILES",
    "LIVE_IDS_FILE",
    "NEUTRALIZER_FILES",
    "OPERATOR_FILES",
    "PUBLIC_FILES",
    "SAMPLE_WEIGHT_FILES",
    "SPLIT_FILES",
    "ParquetStream",
    "data_schema",
    "ids_schema",
    "neutralizer_schema",
    "sample_weight_schema",
]

V2 = "signals/v2.0"
#: The data files by split.
SPLIT_FILES = {
    "train": f"{V2}/train.parquet",
    "validation": f"{V2}/validation.parquet",
    "live": f"{V2}/live.parquet",
}
#: The example predictions by split, Parquet and CSV.
EXAMPLE_FILES = {
    "validation": (f"{V2}/validation_example_preds.parquet", f"{V2}/validation_example_preds.csv"),
    "live": (f"{V2}/live_example_preds.parquet", f"{V2}/live_example_preds.csv"),
}
#: What numerapi's ``SignalsAPI.ticker_universe`` downloads.
LIVE_IDS_FILE = "signals/v1.0/live.parquet"
NEUTRALIZER_FILES = {
    "train": "signals/v2.1/train_neutralizer.parquet",
    "validation": "signals/v2.1/validation_neutralizer.parquet",
}
SAMPLE_WEIGHT_FILES = {
    "train": "signals/v2.1/train_sample_weights.parquet",
    "validation": "signals/v2.1/validation_sample_weights.parquet",
}
#: Every public file a round can hold, in publishing order.
PUBLIC_FILES: tuple[str, ...] = (
    *SPLIT_FILES.values(),
    *(name for pair in EXAMPLE_FILES.values() for name in pair),
    LIVE_IDS_FILE,
    *NEUTRALIZER_FILES.values(),
    *SAMPLE_WEIGHT_FILES.values(),
)
#: The operator's files of a round.
OPERATOR_FILES = ("universe.parquet", "live_neutralizer.parquet", "live_sample_weights.parquet")

_DATE = pa.timestamp("ns")


def data_schema(target_names: Sequence[str]) -> pa.Schema:
    """``date``, ``numerai_ticker``, ``composite_figi``, features (float32, country a
    string), then the targets (float32) if any."""
    fields = [
        pa.field("date", _DATE),
        pa.field("numerai_ticker", pa.string()),
        pa.field("composite_figi", pa.string()),
        *(pa.field(f, pa.float32()) for f in NUMERIC_FEATURES),
        pa.field("feature_country", pa.string()),
        *(pa.field(t, pa.float32()) for t in target_names),
    ]
    return pa.schema(fields)


def ids_schema() -> pa.Schema:
    return pa.schema([pa.field("date", _DATE), *(pa.field(c, pa.string()) for c in ID_COLUMNS)])


def neutralizer_schema(columns: Sequence[str]) -> pa.Schema:
    return pa.schema(
        [
            pa.field("date", _DATE),
            pa.field("numerai_ticker", pa.string()),
            *(pa.field(c, pa.float32()) for c in columns),
        ]
    )


def sample_weight_schema() -> pa.Schema:
    return pa.schema(
        [
            pa.field("date", _DATE),
            pa.field("numerai_ticker", pa.string()),
            pa.field("sample_weights", pa.float32()),
        ]
    )


class ParquetStream:
    """A Parquet file written one row group (one era) at a time, with a fixed schema."""

    def __init__(self, path: Path, schema: pa.Schema) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.schema = schema
        self.rows = 0
        self._writer = pq.ParquetWriter(path, schema)

    def write(self, date: pd.Timestamp, columns: Mapping[str, npt.NDArray[Any]]) -> None:
        """Append one era: ``columns`` by name (``date`` is filled in), one value per row."""
        n = len(next(iter(columns.values()))) if columns else 0
        arrays = []
        for f in self.schema:
            if f.name == "date":
                arrays.append(pa.array(np.full(n, np.datetime64(date, "ns")), type=f.type))
            else:
                arrays.append(pa.array(columns[f.name], type=f.type, from_pandas=True))
        self._writer.write_table(pa.Table.from_arrays(arrays, schema=self.schema))
        self.rows += n

    def close(self) -> None:
        self._writer.close()

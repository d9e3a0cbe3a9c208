"""``meta_model.parquet``: the stake-weighted meta model of every resolved round, as in
Numerai's v5 data.

One row per (round, live id): the index is ``id``; columns ``era`` (the round's live era,
as in its ``live.parquet``), ``data_type`` (``"live"``) and ``numerai_meta_model`` (the
stake-weighted meta model resolution computed for that round). Rounds without a meta model
(nothing staked) have no rows. The file is built once per set of resolved rounds and kept in
the store under a key that names the last of them, so it only changes when a round resolves.
"""

from __future__ import annotations

import io
from collections.abc import Callable

import pandas as pd

from crowdalpha.metamodel import META_MODEL_COLUMN
from crowdalpha.storage import FileStore
from crowdalpha.tournament.competitions import Competition
from crowdalpha.tournament.views import DatasetFile, RoundInfo

__all__ = ["NAME", "build_meta_model_frame", "meta_model_file"]

NAME = "meta_model.parquet"


def _era(store: FileStore, info: RoundInfo, live_key: str | None) -> str:
    """The round's live era label (its live.parquet's ``era``), else its number."""
    if live_key is not None:
        try:
            eras = pd.read_parquet(io.BytesIO(store.get(live_key)), columns=["era"])["era"]
        except (KeyError, ValueError, OSError):
            eras = pd.Series(dtype=object)
        if len(eras):
            return str(eras.iloc[0])
    return f"{info.number:04d}"


def build_meta_model_frame(
    store: FileStore, rounds: list[RoundInfo], live_key: Callable[[int], str | None]
) -> pd.DataFrame:
    """The table of ``rounds`` (those with a meta model; ``live_key(number)`` is the storage
    key of a round's live.parquet or None), oldest first."""
    parts = []
    for info in sorted(rounds, key=lambda r: r.number):
        if info.meta_model_key is None:
            continue
        frame = pd.read_parquet(io.BytesIO(store.get(info.meta_model_key)))
        values = frame[META_MODEL_COLUMN].astype("float64")
        parts.append(
            pd.DataFrame(
                {
                    "era": _era(store, info, live_key(info.number)),
                    "data_type": "live",
                    META_MODEL_COLUMN: values.to_numpy(),
                },
                index=pd.Index(values.index.astype(str), name="id"),
            )
        )
    if not parts:
        empty = pd.DataFrame(
            {"era": [], "data_type": [], META_MODEL_COLUMN: pd.Series([], dtype="float64")}
        )
        return empty.set_axis(pd.Index([], name="id", dtype=object))
    return pd.concat(parts)


def meta_model_file(
    store: FileStore,
    c: Competition,
    rounds: list[RoundInfo],
    live_key: Callable[[int], str | None],
) -> DatasetFile | None:
    """The competition's ``meta_model.parquet`` over its resolved rounds (built on first
    use and kept), or None while no round has a meta model."""
    resolved = [r for r in rounds if r.meta_model_key is not None]
    if not resolved:
        return None
    last = max(r.number for r in resolved)
    key = f"{c.store_prefix}published/meta_model_through_{last:05d}_{len(resolved)}.parquet"
    if not store.exists(key):
        frame = build_meta_model_frame(store, resolved, live_key)
        buffer = io.BytesIO()
        frame.to_parquet(buffer)
        store.put(key, buffer.getvalue())
    return DatasetFile(name=NAME, key=key, size_bytes=store.size(key))

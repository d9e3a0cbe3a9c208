"""Ticker universes: map a submission's ids to another id type through the universe frame.

A Signals universe is a frame with one row per stock and one column per id type
(``numerai_ticker``, ``composite_figi``, ``bloomberg_ticker``…). numerai-tools' ``remap_ids``
joins a submission onto it; :func:`remap_ids` does the same, refusing what the reference
silently multiplies (a submission naming an id twice).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from crowdalpha.errors import DuplicateIdsError, InvalidParameterError
from crowdalpha.submissions.checks import LiveIds, live_index

__all__ = ["LiveUniverse", "remap_ids"]


def _column(frame: pd.DataFrame, column: str, what: str) -> pd.Series:
    if column not in frame.columns:
        raise InvalidParameterError(
            f"{what} has no {column!r} column (it has {[str(c) for c in frame.columns]})",
            details={"column": column},
        )
    return frame[column]


def remap_ids(
    data: pd.DataFrame, ticker_map: pd.DataFrame, src_id_col: str, dst_id_col: str
) -> pd.DataFrame:
    """Left-join ``data`` onto ``ticker_map`` by ``src_id_col`` and key it by ``dst_id_col``.

    One row per row of ``ticker_map`` (the universe), sorted by ``dst_id_col`` (stably):
    the destination id, then ``data``'s other columns — NaN where ``data`` has no row for
    that stock. With ``src_id_col == dst_id_col`` this only spreads ``data`` over the
    universe. As numerai-tools' ``remap_ids``, except that ``data`` naming an id twice is
    refused (:class:`~crowdalpha.errors.DuplicateIdsError`) instead of duplicating rows.
    """
    src = _column(data, src_id_col, "data")
    _column(ticker_map, src_id_col, "ticker_map")
    dst = _column(ticker_map, dst_id_col, "ticker_map")
    if src.duplicated().any():
        twice = src[src.duplicated()].unique()[:5].tolist()
        raise DuplicateIdsError(
            f"data names {src_id_col} ids more than once (e.g. {twice}): one row per stock",
            details={"examples": [str(t) for t in twice]},
        )
    values = data[src.notna()].set_index(src_id_col)  # a missing id matches no stock
    joined = values.reindex(ticker_map[src_id_col].to_numpy())
    out = pd.DataFrame({dst_id_col: dst.to_numpy()})
    for column in values.columns:
        out[column] = joined[column].to_numpy()
    return out.sort_values(dst_id_col, kind="stable")


@dataclass(frozen=True)
class LiveUniverse:
    """A round's live ids for one id column, and what they map to.

    ``live``: the ids of the submitted id column that are live, as strings (unique).
    ``canonical``: each live id's id in ``canonical_column`` (same order), or ``None`` when
    ids are kept as sent (live ids given as a plain list, or a universe frame without the
    canonical column). ``frame``: the universe frame, when one was given.
    """

    live: pd.Index
    canonical: pd.Index | None = None
    canonical_column: str | None = None
    frame: pd.DataFrame | None = None

    @classmethod
    def of(cls, live_ids: LiveIds, id_col: str, canonical_id: str | None) -> LiveUniverse:
        """The live ids of ``id_col`` (see :func:`~crowdalpha.submissions.checks.live_index`),
        mapped to ``canonical_id`` when ``live_ids`` is a universe frame holding it."""
        if (
            not isinstance(live_ids, pd.DataFrame)
            or canonical_id is None
            or canonical_id not in live_ids.columns
        ):
            frame = live_ids if isinstance(live_ids, pd.DataFrame) else None
            return cls(live_index(live_ids, id_col), frame=frame)
        if id_col == canonical_id:
            live = live_index(live_ids, id_col)
            return cls(live, live, canonical_id, live_ids)
        if id_col not in live_ids.columns:
            live_index(live_ids, id_col)  # refuses with the message for a missing column
        both = live_ids[[id_col, canonical_id]].dropna()
        live = live_index(both[id_col], id_col)
        canonical = pd.Index(both[canonical_id].astype(str).to_numpy(), name=canonical_id)
        return cls(live, canonical, canonical_id, live_ids)

    def canonical_of(self, positions: np.ndarray) -> np.ndarray:
        """The canonical ids of the live ids at ``positions`` (the ids themselves when ids
        are kept as sent)."""
        ids = self.live if self.canonical is None else self.canonical
        return np.asarray(ids.to_numpy(dtype=object)[positions], dtype=object)

    def elsewhere(
        self, unknown: Sequence[str], id_col: str, id_columns: Sequence[str]
    ) -> list[tuple[str, str, str]]:
        """Unknown ids that are another id type's ids in the universe: ``(id, that column,
        its canonical id)`` for each (a column holding ids of several types)."""
        if self.frame is None or self.canonical_column is None or not len(unknown):
            return []
        found: list[tuple[str, str, str]] = []
        left = pd.Index(np.asarray(unknown, dtype=object))
        for column in id_columns:
            if column == id_col or column not in self.frame.columns or not len(left):
                continue
            both = self.frame[[column, self.canonical_column]].dropna()
            keys = pd.Index(both[column].astype(str).to_numpy(), dtype=object)
            values = both[self.canonical_column].astype(str).to_numpy()
            first = ~keys.duplicated()
            where = keys[first].get_indexer(left)
            values = values[first]
            hit = where >= 0
            found += [
                (str(u), column, str(values[w])) for u, w in zip(left[hit], where[hit], strict=True)
            ]
            left = left[~hit]
        return found

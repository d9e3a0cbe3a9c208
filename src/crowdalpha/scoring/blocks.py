"""Resolving a round in column blocks: memory bounded by the block, each block a task.

:func:`~crowdalpha.scoring.score_round` holds every submission's predictions at once — a
5,000 × 100,000 matrix is 4 GB before the kernels' working copies. :func:`score_round_blocks`
computes the same :class:`~crowdalpha.scoring.RoundScores` — the same numbers, to the last
bit — from a :class:`ColumnSource` that loads a few columns at a time, in two passes of
tasks run by a :class:`~crowdalpha.compute.ComputeBackend` (in this process by default, or
a local pool, or a Dask cluster):

1. *meta model*: the staked columns, in the stakes' order, in groups of whole
   :data:`~crowdalpha.scoring.metrics.META_CHUNK` chunks; each task ranks its columns and
   returns the chunks' stake-weighted partial sums of Gaussianized ranks, which are added
   here in order — exactly the sums and the order ``score_round`` uses;
2. *scores*: every column, in blocks of ``block_columns``; each task scores its block
   against the meta model (CORR, MMC, FNC, BMC as ``score_submissions``).

Staked columns are ranked twice (once per pass): the price of never holding them all.
Blocks are multiples of 64 columns and start at multiples of their size, so the BLAS
kernels see every column at the same place within their SIMD groups as in one big call —
what keeps each column's sums bit-identical (``tests/scoring/test_blocks.py`` checks it).
"""

from __future__ import annotations

import io
import itertools
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from crowdalpha.compute import ComputeBackend, InProcess
from crowdalpha.errors import (
    InvalidParameterError,
    MissingValuesError,
    NotFoundError,
    ScoringInputError,
)
from crowdalpha.scoring import kernels
from crowdalpha.scoring.kernels import FloatArray, IntArray, Segments
from crowdalpha.scoring.metrics import (
    DEFAULT_MAX_FILTERED_INDEX_RATIO,
    META_CHUNK,
    RoundScores,
    add_in_order,
    meta_model_of,
    meta_partial_sums,
    score_submissions,
    staked_columns,
)
from crowdalpha.storage import FileStore

__all__ = ["ColumnSource", "FrameColumns", "StoredColumns", "score_round_blocks"]

#: Columns per block unless told otherwise: ~40 MB of float64 predictions at 5,000 rows, a
#: few hundred MB with the kernels' working copies.
DEFAULT_BLOCK_COLUMNS = 1024
#: Blocks are whole multiples of this many columns (see the module docstring).
BLOCK_ALIGNMENT = 64


class ColumnSource(ABC):
    """A round's prediction columns, loaded a few at a time.

    ``ids`` are the rows in the order :meth:`load` returns them (sorted, unique: the order
    scoring works in); ``columns`` name the columns (the models).
    """

    #: Whether the source pickles small (it names where its data are rather than holding
    #: them), so a remote backend can ship it to every task.
    portable: bool = True

    @property
    @abstractmethod
    def ids(self) -> pd.Index:
        """The rows, sorted."""

    @property
    @abstractmethod
    def columns(self) -> pd.Index:
        """The columns' names."""

    @abstractmethod
    def load(self, positions: Sequence[int] | IntArray) -> FloatArray:
        """The columns at ``positions`` as a float64 ``(rows, len(positions))`` matrix."""

    @abstractmethod
    def select(self, positions: Sequence[int] | IntArray) -> ColumnSource:
        """The columns at ``positions``, in that order, as a source of their own: what one
        task is given, so that it carries its own columns and not the whole round's (at
        100,000 models the list of files alone pickles to megabytes per task)."""

    def load_all(self) -> FloatArray:
        """Every column, as :meth:`load` returns them."""
        return self.load(np.arange(len(self.columns), dtype=np.int64))


class FrameColumns(ColumnSource):
    """Columns of a DataFrame in this process's memory (ids sorted on the way in)."""

    portable = False

    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame = frame if frame.index.is_monotonic_increasing else frame.sort_index()

    @property
    def ids(self) -> pd.Index:
        return self.frame.index

    @property
    def columns(self) -> pd.Index:
        return self.frame.columns

    def load(self, positions: Sequence[int] | IntArray) -> FloatArray:
        try:
            return np.asarray(
                self.frame.iloc[:, np.asarray(positions, dtype=np.int64)].to_numpy(dtype=np.float64)
            )
        except (TypeError, ValueError) as exc:
            raise ScoringInputError(f"predictions must be numeric: {exc}") from None

    def select(self, positions: Sequence[int] | IntArray) -> FrameColumns:
        return FrameColumns(self.frame.iloc[:, np.asarray(positions, dtype=np.int64)])


@dataclass(frozen=True, eq=False)
class StoredColumns(ColumnSource):
    """One ``.npy`` file of float64 predictions per column in a file store — the way
    :meth:`Tournament.submit <crowdalpha.tournament.Tournament.submit>` stores them — each
    in the order of ``stored_ids``; :meth:`load` returns the rows sorted by id."""

    store: FileStore
    keys: Sequence[str]
    names: Sequence[object]
    stored_ids: pd.Index

    def __post_init__(self) -> None:
        if len(self.keys) != len(self.names):
            raise InvalidParameterError(
                f"{len(self.keys)} stored files for {len(self.names)} column names"
            )
        if not self.stored_ids.is_unique:
            raise ScoringInputError("the live ids must be unique")

    @property
    def ids(self) -> pd.Index:
        return self.stored_ids[self._order]

    @property
    def columns(self) -> pd.Index:
        return pd.Index(list(self.names))

    def select(self, positions: Sequence[int] | IntArray) -> StoredColumns:
        taken = [int(p) for p in positions]
        return StoredColumns(
            self.store,
            [self.keys[p] for p in taken],
            [self.names[p] for p in taken],
            self.stored_ids,
        )

    @property
    def _order(self) -> IntArray:
        return np.asarray(np.argsort(self.stored_ids.to_numpy(), kind="stable"), dtype=np.int64)

    def load(self, positions: Sequence[int] | IntArray) -> FloatArray:
        n = len(self.stored_ids)
        out = np.empty((n, len(positions)), dtype=np.float64)
        for j, position in enumerate(positions):
            key = self.keys[int(position)]
            path = self.store.local_path(key)
            try:
                values = (
                    np.load(path, allow_pickle=False)
                    if path is not None
                    else np.load(io.BytesIO(self.store.get(key)), allow_pickle=False)
                )
            except FileNotFoundError:
                raise NotFoundError(f"no stored file {key!r}", details={"key": key}) from None
            except ValueError as exc:
                raise ScoringInputError(f"{key} is not a predictions file: {exc}") from None
            if values.shape != (n,):
                raise ScoringInputError(
                    f"{key} holds {values.shape} predictions for {n} rows",
                    details={"key": key},
                )
            out[:, j] = values
        order = self._order
        return out if np.array_equal(order, np.arange(n)) else out[order]


@dataclass(frozen=True)
class _MetaTask:
    source: ColumnSource  # the group's staked columns, in the stakes' order
    weights: FloatArray


def _meta_partials(task: _MetaTask) -> list[FloatArray]:
    """One group of staked columns' partial sums (pass 1)."""
    p = np.ascontiguousarray(task.source.load_all().T)
    _require_complete(p, task.source.columns)
    rc = kernels.rank_codes(p, Segments.single(p.shape[1]))
    rows = np.arange(p.shape[0], dtype=np.int64)
    return meta_partial_sums(rc.gaussian, rows, task.weights)


@dataclass(frozen=True)
class _ScoreTask:
    source: ColumnSource  # the block's columns
    targets: pd.Series
    meta_model: pd.Series | None
    features: pd.DataFrame | None
    benchmark: pd.Series | None
    ratio: float


def _score_block(task: _ScoreTask) -> pd.DataFrame:
    """One block's scores (pass 2)."""
    values = task.source.load_all()
    names = task.source.columns
    _require_complete(values.T, names)
    frame = pd.DataFrame(values, index=task.source.ids, columns=names, copy=False)
    return score_submissions(
        frame,
        task.targets,
        meta_model=task.meta_model,
        features=task.features,
        benchmark_meta_model=task.benchmark,
        max_filtered_index_ratio=task.ratio,
    )


def _require_complete(rows: FloatArray, names: pd.Index) -> None:
    bad = np.isnan(rows).any(axis=1)
    if bad.any():
        raise MissingValuesError(
            f"predictions of {names[int(np.flatnonzero(bad)[0])]!r} hold NaN; resolving in "
            "blocks needs complete predictions (as validated uploads are)",
            details={"column": str(names[int(np.flatnonzero(bad)[0])])},
        )


def score_round_blocks(
    source: ColumnSource,
    targets: pd.Series,
    *,
    stakes: pd.Series | None = None,
    features: pd.DataFrame | None = None,
    benchmark_meta_model: pd.Series | None = None,
    max_filtered_index_ratio: float = DEFAULT_MAX_FILTERED_INDEX_RATIO,
    backend: ComputeBackend | None = None,
    block_columns: int = DEFAULT_BLOCK_COLUMNS,
) -> RoundScores:
    """:func:`~crowdalpha.scoring.score_round` of ``source``'s columns, in blocks.

    Same arguments and the same result, bit for bit, as ``score_round`` on the whole frame
    — for complete predictions (a NaN is refused with ``MissingValuesError``: the single
    call would drop the row for every column, which blocks cannot know). Peak memory is a
    block's (``block_columns``, a multiple of 64) per running task, plus the scores.
    """
    if block_columns < BLOCK_ALIGNMENT or block_columns % BLOCK_ALIGNMENT:
        raise InvalidParameterError(
            f"block_columns must be a positive multiple of {BLOCK_ALIGNMENT}, not {block_columns}",
            details={"block_columns": block_columns},
        )
    runner = backend if backend is not None else InProcess()
    if runner.remote and not source.portable:
        raise InvalidParameterError(
            "an in-memory frame cannot be shipped to every task of a cluster: store the "
            "columns (StoredColumns) or score in-process"
        )
    n = len(source.ids)
    meta: pd.Series | None = None
    staked = None if stakes is None else staked_columns(source.columns, stakes)
    if staked is not None:
        positions, weights = staked
        group = max(1, block_columns // META_CHUNK) * META_CHUNK
        parts = runner.map(
            _meta_partials,
            (
                _MetaTask(source.select(positions[s : s + group]), weights[s : s + group])
                for s in range(0, len(positions), group)
            ),
            name="meta-model",
        )
        total = add_in_order(itertools.chain.from_iterable(parts), n)
        meta = meta_model_of(total, source.ids)
    ratio = float(max_filtered_index_ratio)
    blocks = runner.map(
        _score_block,
        (
            _ScoreTask(
                source.select(range(start, min(start + block_columns, len(source.columns)))),
                targets,
                meta,
                features,
                benchmark_meta_model,
                ratio,
            )
            for start in range(0, len(source.columns), block_columns)
        ),
        name="score-block",
    )
    scores = list(blocks)
    if not scores:
        raise ScoringInputError("there are no prediction columns to score")
    return RoundScores(scores=pd.concat(scores), meta_model=meta)

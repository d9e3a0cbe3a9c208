"""The inputs of a Signals round, checked and aligned once, and its models in blocks.

:func:`crowdalpha.scoring.score_signals_round` scores blocks of models one after another (a
wave of one block per core at a time); this module holds what every block shares — the
signals, the targets each metric uses, the stakes, the universe's rows — and cuts the models
into blocks whose rank codes each set of scored rows computes once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Final, TypeVar

import numpy as np
import pandas as pd

from crowdalpha.errors import IndexMismatchError, InvalidParameterError, MissingValuesError
from crowdalpha.scoring import kernels
from crowdalpha.scoring.kernels import FloatArray, IntArray, Segments
from crowdalpha.scoring.metrics import (
    _as_frame,
    _as_series,
    _check_unique,
    _float_rows,
    _float_values,
    _Ids,
    _values_ids,
)

__all__ = ["MAIN_TARGET", "SIGNALS_METRICS", "Block", "RoundInputs", "Rows", "centred", "rows_of"]

#: Every metric :func:`~crowdalpha.scoring.score_signals_round` computes, in the order of
#: its result's columns.
SIGNALS_METRICS: Final = ("corr", "mmc", "fnc", "alpha", "mpc", "neutral_corr", "neutral_mmc")
#: The target column a metric uses when no other is named.
MAIN_TARGET: Final = "target"

_T = TypeVar("_T")

#: Models per block: 1,000 models × 5,000 tickers is 40 MB a float64 matrix.
_BLOCK_MODELS = 1000


@dataclass(frozen=True)
class Rows:
    """The tickers one metric scores: sorted positions into the signals' rows."""

    positions: IntArray
    ids: pd.Index

    @property
    def key(self) -> bytes:
        return self.positions.tobytes()

    @property
    def seg(self) -> Segments:
        return Segments.single(len(self.positions))


class Block:
    """One block of models: its signals and the rank codes each set of rows needed."""

    def __init__(
        self,
        number: int,
        x: FloatArray,
        columns: list[object],
        all_rows: int,
        ranks: dict[bytes, kernels.RankCodes] | None = None,
    ) -> None:
        self.number = number
        self.x = x
        self.columns = columns
        self._all_rows = all_rows
        self._ranks: dict[bytes, kernels.RankCodes] = {} if ranks is None else ranks

    def kept_ranks(self) -> dict[bytes, kernels.RankCodes]:
        """The rank codes computed so far, for a later pass (Gaussians dropped: they are
        a table lookup away, and as large as the signals)."""
        for rc in self._ranks.values():
            rc.__dict__.pop("gaussian", None)
            rc.__dict__.pop("gaussian_pow15", None)
        return self._ranks

    def rows(self, rows: Rows) -> FloatArray:
        if len(rows.positions) == self._all_rows:
            return self.x
        return np.ascontiguousarray(self.x[:, rows.positions])

    def ranks(self, rows: Rows) -> kernels.RankCodes:
        found = self._ranks.get(rows.key)
        if found is None:
            found = self._ranks[rows.key] = kernels.rank_codes(self.rows(rows), rows.seg)
        return found


def rows_of(index: pd.Index, ids: pd.Index) -> Rows:
    return Rows(np.asarray(index.get_indexer(ids), dtype=np.int64), ids)


def centred(t: FloatArray) -> FloatArray:
    valid = ~np.isnan(t)
    return t - t[valid].mean() if valid.any() else t


class RoundInputs:
    """The inputs of one round, checked and aligned once for every block of models."""

    def __init__(
        self,
        signals: pd.DataFrame,
        targets: pd.DataFrame | pd.Series,
        metrics: Mapping[str, str] | Sequence[str] | None,
        stakes: pd.Series | None,
        meta_model: pd.Series | None,
        features: pd.DataFrame | None,
        neutralizers: pd.DataFrame | None,
        sample_weights: pd.Series | None,
        ratio: float,
    ) -> None:
        frame = _as_frame(signals, "signals")
        _check_unique(frame, "signals")
        if not frame.columns.is_unique:
            raise InvalidParameterError("signals name a model twice")
        if len(frame) == 0 or frame.shape[1] == 0:
            raise InvalidParameterError("signals must hold at least one ticker and one model")
        self.frame = frame if frame.index.is_monotonic_increasing else frame.sort_index()
        self.ids = self.frame.index
        self.all = Rows(np.arange(len(self.ids), dtype=np.int64), self.ids)
        self.p_ids = _Ids("signals", self.ids, np.ones(len(self.ids), dtype=bool))
        self.ratio = ratio
        self.stakes = self._stake_weights(stakes)
        self.meta_given = None if meta_model is None else _as_series(meta_model, "meta_model")
        self.features = features
        self.neutralizers = neutralizers
        self.sample_weights = sample_weights
        self.targets = self._targets(
            targets, metrics, has_meta=self.meta_given is not None or self.stakes is not None
        )

    # --- inputs -------------------------------------------------------------------------

    def _stake_weights(self, stakes: pd.Series | None) -> FloatArray | None:
        """Stake shares over every model (0 where unstaked), or None without stakes."""
        if stakes is None:
            return None
        st = _as_series(stakes, "stakes")
        if not st.index.is_unique:
            raise InvalidParameterError("stakes name a model more than once")
        missing = st.index.difference(self.frame.columns)
        if len(missing):
            raise IndexMismatchError(
                f"stakes name models that have no signals column: {missing[:5].tolist()}",
                details={"missing": [str(m) for m in missing[:20]]},
            )
        values = _float_values(st, "stakes")
        if not np.isfinite(values).all() or (values < 0).any() or values.sum() <= 0:
            raise InvalidParameterError("stakes must be finite, not negative and not all zero")
        shares = np.zeros(self.frame.shape[1])
        shares[self.frame.columns.get_indexer(st.index)] = values / values.sum()
        return shares

    def _targets(
        self,
        targets: pd.DataFrame | pd.Series,
        metrics: Mapping[str, str] | Sequence[str] | None,
        *,
        has_meta: bool,
    ) -> dict[str, pd.Series]:
        """The target of each metric to compute, in :data:`SIGNALS_METRICS` order."""
        if isinstance(targets, pd.Series):
            table = targets.to_frame(MAIN_TARGET)
        elif isinstance(targets, pd.DataFrame):
            table = targets
        else:
            raise InvalidParameterError("targets must be a Series or a DataFrame of targets")
        available = {
            "corr": True,
            "mmc": has_meta,
            "fnc": self.features is not None,
            "alpha": self.neutralizers is not None and self.sample_weights is not None,
            "mpc": self.neutralizers is not None
            and self.sample_weights is not None
            and self.stakes is not None,
            "neutral_corr": self.neutralizers is not None,
            "neutral_mmc": self.neutralizers is not None and has_meta,
        }
        if metrics is None:
            named = {m: MAIN_TARGET for m in SIGNALS_METRICS if available[m]}
        elif isinstance(metrics, Mapping):
            named = dict(metrics)
        elif isinstance(metrics, str):
            raise InvalidParameterError("metrics must be a sequence of names, not one string")
        else:
            named = dict.fromkeys(metrics, MAIN_TARGET)
        unknown = [m for m in named if m not in SIGNALS_METRICS]
        if unknown:
            raise InvalidParameterError(
                f"unknown metric(s) {unknown}: use {', '.join(SIGNALS_METRICS)}",
                details={"unknown": unknown},
            )
        lacking = [m for m in named if not available[m]]
        if lacking:
            raise InvalidParameterError(
                f"metric(s) {lacking} need inputs that were not given (mmc: a meta model or "
                "stakes; fnc: features; alpha: neutralizers and sample weights; mpc: those and "
                "stakes; neutral_corr: neutralizers; neutral_mmc: neutralizers and a meta model)",
                details={"metrics": lacking},
            )
        out: dict[str, pd.Series] = {}
        for metric in SIGNALS_METRICS:
            if metric not in named:
                continue
            column = named[metric]
            if column not in table.columns:
                raise InvalidParameterError(
                    f"no target {column!r} for {metric} (targets: "
                    f"{[str(c) for c in table.columns]})",
                    details={"metric": metric, "target": column},
                )
            out[metric] = table[column]
        return out

    def target(self, metric: str) -> tuple[FloatArray, _Ids, pd.Index]:
        t_all, t_ids = _values_ids(self.targets[metric], f"the {metric} target")
        return t_all, t_ids, self.targets[metric].index

    @staticmethod
    def at(values: FloatArray, index: pd.Index, ids: pd.Index) -> FloatArray:
        return np.ascontiguousarray(values[index.get_indexer(ids)])

    def neutralizer_rows(self, ids: pd.Index) -> FloatArray:
        neut = _as_frame(self.neutralizers, "neutralizers")
        rows = _float_rows(neut, "neutralizers").T
        return np.ascontiguousarray(rows[neut.index.get_indexer(ids)])

    # --- blocks ---------------------------------------------------------------------------

    def slices(self) -> list[slice]:
        """The blocks of models, as column slices."""
        k = self.frame.shape[1]
        return [slice(lo, min(lo + _BLOCK_MODELS, k)) for lo in range(0, k, _BLOCK_MODELS)]

    def block(
        self, number: int, cols: slice, ranks: dict[bytes, kernels.RankCodes] | None = None
    ) -> Block:
        """Block ``number`` of models; ``ranks``: its rank codes kept from an earlier pass."""
        part = self.frame.iloc[:, cols]
        x = _float_rows(part, "signals")
        if np.isnan(x).any():
            raise MissingValuesError(
                "signals contain NaN: clean them first (clean_signals ranks each model "
                "over the universe and fills what it left out with 0.5)"
            )
        return Block(number, x, list(part.columns), len(self.ids), ranks)

    def map_blocks(self, work: Callable[[int, slice], _T]) -> list[_T]:
        """``work(number, columns)`` of every block, in block order; blocks run on all cores
        (numpy releases the GIL), a wave of one block per core at a time, with BLAS on one
        thread per block."""
        slices = list(enumerate(self.slices()))
        workers = min(kernels._cpu_count(), len(slices))
        if workers < 2:
            return [work(number, cols) for number, cols in slices]
        out: list[_T] = []
        with kernels._blas_threads(1), ThreadPoolExecutor(workers) as pool:
            for lo in range(0, len(slices), workers):
                out += pool.map(lambda item: work(*item), slices[lo : lo + workers])
        return out

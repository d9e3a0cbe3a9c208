"""Signals churn, turnover and neutral churn of many models against their earlier weeks.

Numerai gates a Signals stake on how much a submission changed from the model's last five:
``max churn`` (one minus the Spearman correlation of the cleaned signals) and ``max
turnover`` (half the absolute change of the neutral portfolio weights), and the newer payout
penalty uses the *mean neutral churn* (churn of the signals after neutralization).
numerai-tools computes these for one submission at a time
(``signals.calculate_max_churn_and_turnover``, ``calculate_mean_neutral_churn``); here each
week's cleaned signals of every model are one frame, and every model is compared with all
its earlier weeks in a few vectorised passes (in blocks of models, so memory stays bounded).

The numbers are the reference's for every model: each week's ranks are taken over that
week's whole universe, the comparisons over the tickers two weeks share — skipped, for every
model, when either side would lose more than the data-loss budget of its tickers (the
reference's ``continue``). A model missing from a week (no column) is not compared with it;
a model with nothing comparable gets 1.0, as in the reference.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import TypeVar

import numpy as np
import pandas as pd

from crowdalpha.errors import MissingValuesError, NotEnoughOverlapError
from crowdalpha.scoring import kernels, portfolio_kernels
from crowdalpha.scoring.kernels import FloatArray, Segments
from crowdalpha.scoring.metrics import (
    DEFAULT_MAX_FILTERED_INDEX_RATIO,
    _as_frame,
    _as_series,
    _check_ratio,
    _check_unique,
    _float_rows,
    _float_values,
    _guard_power,
    _Ids,
)

__all__ = [
    "ChurnTurnover",
    "NeutralChurn",
    "SignalsEra",
    "churn_and_turnover",
    "mean_neutral_churn",
]

#: A week's key (a datestamp, as numerai-tools uses, or any hashable label).
WeekKey = TypeVar("WeekKey", bound=Hashable)

#: Models handled per pass: a block of 2,000 models over 5,000 tickers is 80 MB a matrix.
_BLOCK_MODELS = 2000


@dataclass(frozen=True)
class SignalsEra:
    """One week of Signals: every model's cleaned signals and that week's scoring inputs.

    ``signals`` is tickers × models, cleaned the way :func:`crowdalpha.scoring.clean_submission`
    cleans (``rank_and_fill=True``: every universe ticker present, tie-kept ranks, 0.5 where
    a model gave none), so it holds no NaN. ``neutralizers`` (tickers × factors) and
    ``sample_weights`` (per ticker) are that week's, covering its whole universe.
    """

    signals: pd.DataFrame
    neutralizers: pd.DataFrame
    sample_weights: pd.Series | None = None


@dataclass(frozen=True)
class ChurnTurnover:
    """Churn and turnover of every model (rows) against each earlier week (columns).

    NaN where the model was not compared with that week: absent that week, its signal
    constant over the shared tickers, or the whole week ``skipped`` (its tickers or weights
    did not overlap enough with the current ones).
    """

    churn: pd.DataFrame
    turnover: pd.DataFrame
    skipped: tuple[Hashable, ...] = ()

    @cached_property
    def max_churn(self) -> pd.Series:
        """The largest churn of each model over its comparable weeks; 1.0 if none."""
        return self.churn.max(axis=1).fillna(1.0).rename("max_churn")

    @cached_property
    def max_turnover(self) -> pd.Series:
        """The largest turnover of each model over its comparable weeks; 1.0 if none."""
        return self.turnover.max(axis=1).fillna(1.0).rename("max_turnover")


@dataclass(frozen=True)
class NeutralChurn:
    """Neutral churn of every model (rows) against each earlier week (columns), and the mean.

    NaN where not compared (absent that week, too little overlap, or a constant neutral
    signal); ``mean`` is over the compared weeks, 1.0 when there are none.
    """

    per_week: pd.DataFrame
    mean: pd.Series


@dataclass
class _Week:
    """A week's signals as float rows ``(k, n)``, with its tickers and model columns."""

    name: str
    x: FloatArray
    tickers: pd.Index
    models: pd.Index
    era: SignalsEra

    @classmethod
    def of(cls, era: SignalsEra, name: str) -> _Week:
        signals = _as_frame(era.signals, f"signals of {name}")
        _check_unique(signals, f"signals of {name}")
        if not signals.columns.is_unique:
            raise MissingValuesError(f"signals of {name} name a model twice")
        x = _float_rows(signals, f"signals of {name}")
        if np.isnan(x).any():
            raise MissingValuesError(
                f"signals of {name} contain NaN: clean them first (rank and fill with 0.5)",
                details={"input": name},
            )
        return cls(name, x, signals.index, signals.columns, era)

    def block(self, models: pd.Index) -> FloatArray:
        return self.x[self.models.get_indexer(models)]


def _overlap_or_none(a: pd.Index, b: pd.Index, ratio: float) -> pd.Index | None:
    """The shared ids (sorted), or None when either side keeps less than ``1 − ratio``."""
    ids = a.intersection(b).sort_values()
    keep = 1 - ratio
    if not (len(ids) / max(len(a), 1) >= keep and len(ids) / max(len(b), 1) >= keep):
        return None
    return ids


def _positions(index: pd.Index, ids: pd.Index) -> np.ndarray:
    return np.asarray(index.get_indexer(ids), dtype=np.int64)


def _blocks(models: pd.Index) -> Iterator[pd.Index]:
    for lo in range(0, len(models), _BLOCK_MODELS):
        yield models[lo : lo + _BLOCK_MODELS]


def _churn(a: FloatArray, b: FloatArray) -> FloatArray:
    """``1 − Spearman`` per row of two aligned NaN-free ``(k, m)`` matrices; NaN if constant."""
    return 1.0 - portfolio_kernels.spearman_rows(a, b)


class _Weights:
    """A week's centred, normalized neutral weights, computed block by block of models."""

    def __init__(self, week: _Week, ratio: float) -> None:
        era = week.era
        if era.sample_weights is None:
            raise MissingValuesError(f"{week.name} has no sample weights: turnover needs them")
        neut = _as_frame(era.neutralizers, f"neutralizers of {week.name}")
        weights = _as_series(era.sample_weights, f"sample_weights of {week.name}")
        f = _float_rows(neut, f"neutralizers of {week.name}")
        v = _float_values(weights, f"sample_weights of {week.name}")
        if np.isnan(f).any() or np.isnan(v).any():
            raise MissingValuesError(f"the neutralizers or sample weights of {week.name} hold NaN")
        signals = _Ids(f"signals of {week.name}", week.tickers, np.ones(len(week.tickers), bool))
        n_ids = _Ids.of(neut, f"neutralizers of {week.name}")
        v_ids = _Ids.of(weights, f"sample_weights of {week.name}")
        ids = week.tickers.intersection(neut.index).intersection(weights.index).sort_values()
        for item in (signals, n_ids, v_ids):
            if not len(ids) / max(len(item.index), 1) >= 1 - ratio:
                raise NotEnoughOverlapError(
                    f"{item.name} does not have enough overlapping ids with the week's other "
                    f"inputs: {len(ids)} of {len(item.index)}",
                    details={"input": item.name, "overlapping": len(ids)},
                )
        self.week = week
        self.ids = ids
        self._cols = _positions(week.tickers, ids)
        self._n = np.ascontiguousarray(f.T[_positions(neut.index, ids)])
        self._v = v[_positions(weights.index, ids)]

    def of(self, x: FloatArray, models: pd.Index) -> FloatArray:
        seg = Segments.single(x.shape[1])
        rc = kernels.rank_codes(x, seg)
        _guard_power(rc, seg, list(models), None)
        s_prime = np.ascontiguousarray(rc.gaussian_pow15[:, self._cols])
        w = portfolio_kernels.neutral_weights(s_prime, self._n, self._v)
        return portfolio_kernels.center_and_normalize(w)


def _weeks(
    current: SignalsEra, previous: Mapping[WeekKey, SignalsEra]
) -> tuple[_Week, list[tuple[WeekKey, _Week]]]:
    return _Week.of(current, "the current week"), [
        (key, _Week.of(era, f"week {key!r}")) for key, era in previous.items()
    ]


def churn_and_turnover(
    current: SignalsEra,
    previous: Mapping[WeekKey, SignalsEra],
    *,
    max_filtered_index_ratio: float = DEFAULT_MAX_FILTERED_INDEX_RATIO,
) -> ChurnTurnover:
    """Churn and turnover of every current model against each earlier week it appears in.

    Churn is ``1 − Spearman`` of the cleaned signals over the tickers both weeks hold;
    turnover is ``Σ |w − w′| / 2`` of the centred, normalized neutral weights
    (:func:`crowdalpha.scoring.generate_neutralized_weights` with
    ``center_and_normalize=True``, each week with its own neutralizers and sample weights)
    over the tickers both weights hold. For a live stake gate pass the model's last five
    weeks; numerai-tools' ``calculate_max_churn_and_turnover`` gives each model's maxima.
    """
    ratio = _check_ratio(max_filtered_index_ratio)
    cur, weeks = _weeks(current, previous)
    cur_weights = _Weights(cur, ratio)
    churn = np.full((len(cur.models), len(weeks)), np.nan)
    turnover = churn.copy()
    column_of = {key: j for j, (key, _) in enumerate(weeks)}
    plans = []
    skipped: list[Hashable] = []
    for key, week in weeks:
        week_weights = _Weights(week, ratio)  # refuses bad inputs even if not compared
        ids = _overlap_or_none(cur.tickers, week.tickers, ratio)
        w_ids = _overlap_or_none(cur_weights.ids, week_weights.ids, ratio)
        if ids is not None and w_ids is not None:
            plans.append((key, week, week_weights, ids, w_ids))
        else:
            skipped.append(key)
    for block in _blocks(cur.models):
        x = cur.block(block)
        w = cur_weights.of(x, block)
        for key, week, week_weights, ids, w_ids in plans:
            models = block.intersection(week.models, sort=False)
            if len(models) == 0:
                continue
            rows = block.get_indexer(models)
            a, b = x[rows], week.block(models)
            if not (ids.equals(cur.tickers) and ids.equals(week.tickers)):
                a = np.ascontiguousarray(a[:, _positions(cur.tickers, ids)])
                b = np.ascontiguousarray(b[:, _positions(week.tickers, ids)])
            c = _churn(a, b)
            wa = w[rows][:, _positions(cur_weights.ids, w_ids)]
            wb = week_weights.of(week.block(models), models)
            t = portfolio_kernels.turnover(wa, wb[:, _positions(week_weights.ids, w_ids)])
            t[np.isnan(c)] = np.nan  # the reference keeps a week's two numbers or neither
            where = cur.models.get_indexer(models)
            churn[where, column_of[key]] = c
            turnover[where, column_of[key]] = t
    columns = pd.Index([key for key, _ in weeks], dtype=object)
    return ChurnTurnover(
        churn=pd.DataFrame(churn, index=cur.models, columns=columns),
        turnover=pd.DataFrame(turnover, index=cur.models, columns=columns),
        skipped=tuple(skipped),
    )


class _Neutral:
    """A week's signals, tie-kept ranked, Gaussianized and neutralized, block by block."""

    def __init__(self, week: _Week, ratio: float) -> None:
        neut = _as_frame(week.era.neutralizers, f"neutralizers of {week.name}")
        signals = _Ids(f"signals of {week.name}", week.tickers, np.ones(len(week.tickers), bool))
        n_ids = _Ids.of(neut, f"neutralizers of {week.name}")
        ids = week.tickers.intersection(neut.index[n_ids.valid]).sort_values()
        for item in (signals, n_ids):
            if not len(ids) / max(len(item.index), 1) >= 1 - ratio:
                raise NotEnoughOverlapError(
                    f"{item.name} does not have enough overlapping ids: {len(ids)} of "
                    f"{len(item.index)}",
                    details={"input": item.name, "overlapping": len(ids)},
                )
        f = _float_rows(neut, f"neutralizers of {week.name}").T
        self.ids = ids
        self._cols = _positions(week.tickers, ids)
        self._n = np.ascontiguousarray(f[_positions(neut.index, ids)])

    def of(self, x: FloatArray) -> FloatArray:
        """Neutral signals of the rows of ``x`` on :attr:`ids`; a constant row is NaN."""
        seg = Segments.single(len(self.ids))
        sub = np.ascontiguousarray(x[:, self._cols])
        return kernels.neutralize(kernels.rank_codes(sub, seg).gaussian, self._n, seg)


def mean_neutral_churn(
    current: SignalsEra,
    previous: Mapping[WeekKey, SignalsEra],
    *,
    max_filtered_index_ratio: float = DEFAULT_MAX_FILTERED_INDEX_RATIO,
) -> NeutralChurn:
    """Neutral churn of every current model against each earlier week, and their mean.

    Each week's signals are tie-kept ranked, Gaussianized and neutralized to that week's
    neutralizers; neutral churn is ``1 − Spearman`` of two weeks' neutral signals over the
    tickers both hold. ``mean`` is numerai-tools' ``calculate_mean_neutral_churn`` for each
    model. Sample weights are not used.
    """
    ratio = _check_ratio(max_filtered_index_ratio)
    cur, weeks = _weeks(current, previous)
    cur_neutral = _Neutral(cur, ratio)
    out = np.full((len(cur.models), len(weeks)), np.nan)
    column_of = {key: j for j, (key, _) in enumerate(weeks)}
    plans = []
    for key, week in weeks:
        week_neutral = _Neutral(week, ratio)  # refuses bad inputs even if not compared
        ids = _overlap_or_none(cur_neutral.ids, week_neutral.ids, ratio)
        if ids is not None:
            plans.append((key, week, week_neutral, ids))
    for block in _blocks(cur.models):
        neutral = cur_neutral.of(cur.block(block))
        for key, week, week_neutral, ids in plans:
            models = block.intersection(week.models, sort=False)
            if len(models) == 0:
                continue
            a = neutral[block.get_indexer(models)][:, _positions(cur_neutral.ids, ids)]
            b = week_neutral.of(week.block(models))[:, _positions(week_neutral.ids, ids)]
            usable = ~(np.isnan(a).any(axis=1) | np.isnan(b).any(axis=1))
            c = np.full(len(models), np.nan)
            if usable.any():
                c[usable] = _churn(np.ascontiguousarray(a[usable]), np.ascontiguousarray(b[usable]))
            out[cur.models.get_indexer(models), column_of[key]] = c
    per_week = pd.DataFrame(
        out, index=cur.models, columns=pd.Index([key for key, _ in weeks], dtype=object)
    )
    return NeutralChurn(per_week=per_week, mean=per_week.mean(axis=1).fillna(1.0).rename("mean"))

"""One strategy through the stages: schedule → point-in-time snapshots → targets → trades.

The *schedule* is set by the fund's primary signal (the stake-weighted meta model): one
rebalance per signal date, filled at the open the timing contract allows
(:func:`~crowdalpha.fund.signals.fill_sessions`); when two signal dates would fill on the
same session the later one wins. Its *universe* at each rebalance is the tradable names
(:func:`~crowdalpha.fund.market.snapshots`) that the primary signal scored, and every
strategy compared against it trades that same universe on the same sessions.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from crowdalpha.errors import FundInputError
from crowdalpha.fund.config import FundConfig
from crowdalpha.fund.construct import (
    Limits,
    _basis,
    check_book,
    design_matrix,
    limits,
    neutral_capped,
)
from crowdalpha.fund.market import MarketPanel, Snapshot, forward_returns, snapshots
from crowdalpha.fund.optimize import Optimizer
from crowdalpha.fund.signals import check_available, fill_sessions, gauss_rank
from crowdalpha.fund.trading import Ledger, Target, trade

__all__ = [
    "MIN_UNIVERSE",
    "Constructor",
    "Schedule",
    "Strategy",
    "StrategyRun",
    "build_schedule",
    "scores_on",
]

Float = npt.NDArray[np.float64]
Int = npt.NDArray[np.int64]
#: Fewest tradable, scored names a rebalance needs (fewer: it is skipped).
MIN_UNIVERSE = 50


@dataclass(frozen=True, eq=False)
class Strategy:
    """A signal the fund can trade, and how it is labelled in the comparisons."""

    name: str
    #: A one-signal frame (``signal_date``, ``ticker``, ``score``, ``available_at``), or
    #: precomputed scores aligned to the schedule's universe (one array per rebalance).
    signals: pd.DataFrame | None = None
    scores: list[Float] | None = None
    kind: str = "signal"
    #: Exposures left out of the neutralizers (12−1 momentum is not neutralized to itself).
    exclude: tuple[str, ...] = ()
    investable: bool = True
    #: Sees the future on purpose (the oracle); bypasses the timing guard, never investable.
    look_ahead: bool = False


@dataclass(frozen=True, eq=False)
class Schedule:
    """The rebalances every strategy of a run shares."""

    signal_dates: pd.DatetimeIndex
    fills: Int
    snaps: list[Snapshot]
    #: Per rebalance: positions in ``snaps[j].names`` of the universe (the primary's names).
    universe: list[Int]
    #: Per rebalance: the universe's realized return from this fill to the next one.
    forward: list[Float]
    rebalances_per_year: float

    def names(self, j: int) -> Int:
        """Panel ticker indices of rebalance ``j``'s universe."""
        return self.snaps[j].names[self.universe[j]]


def build_schedule(
    panel: MarketPanel,
    primary: pd.DataFrame,
    config: FundConfig,
    *,
    extra_exposures: pd.DataFrame | None = None,
) -> Schedule:
    """Rebalances from the primary signal's dates and availability (timing guard applied)."""
    check_available(primary, session_close=config.session_close)
    per_date = primary.groupby("signal_date", sort=True)["available_at"].max()
    fills = fill_sessions(
        per_date.to_numpy(),
        panel.sessions,
        session_open=config.session_open,
        lag=config.lag,
    )
    keep = fills >= 1
    dates = per_date.index[keep]
    fills = fills[keep]
    # Two signal dates filled on one session: the later one (it is the newer information).
    last = np.r_[fills[1:] != fills[:-1], True] if fills.size else np.zeros(0, dtype=bool)
    dates, fills = dates[last], fills[last]
    if fills.size == 0:
        raise FundInputError(
            "no signal can be traded inside the price history: every fill would come "
            "after the last session (or on the first)"
        )
    all_snaps = snapshots(panel, [int(f) for f in fills], config, extra=extra_exposures)
    by_date = dict(iter(primary.groupby("signal_date", sort=False)))
    universe: list[Int] = []
    snaps: list[Snapshot] = []
    kept: list[int] = []
    for j, (date, snap) in enumerate(zip(dates, all_snaps, strict=True)):
        scored = panel.tickers.get_indexer(pd.Index(by_date[date]["ticker"].unique()))
        pos = np.flatnonzero(np.isin(snap.names, scored[scored >= 0]))
        # Too few tradable names to build a neutral book (the history is too short yet).
        if pos.size < MIN_UNIVERSE:
            continue
        universe.append(pos)
        snaps.append(snap)
        kept.append(j)
    if not kept:
        raise FundInputError(
            f"no rebalance has {MIN_UNIVERSE} tradable names the signal scores: check that "
            "the tickers match the prices and that there is enough price history "
            f"(min_history={config.min_history} sessions)"
        )
    dates, fills = dates[kept], fills[kept]
    forward: list[Float] = []
    imputed = config.costs.delisting_return
    for j, snap in enumerate(snaps):
        pos = universe[j]
        end = int(fills[j + 1]) if j + 1 < fills.size else len(panel.sessions)
        forward.append(
            forward_returns(panel, int(fills[j]), end, snap.names[pos], imputed_delisting=imputed)
        )
    gap = float(np.median(np.diff(fills))) if fills.size > 1 else 5.0
    return Schedule(
        signal_dates=pd.DatetimeIndex(dates),
        fills=fills.astype(np.int64),
        snaps=snaps,
        universe=universe,
        forward=forward,
        rebalances_per_year=252.0 / gap,
    )


def scores_on(panel: MarketPanel, schedule: Schedule, signals: pd.DataFrame) -> list[Float]:
    """A signal's scores on each rebalance's universe (NaN where it has none)."""
    j_of = schedule.signal_dates.get_indexer(pd.DatetimeIndex(signals["signal_date"]))
    col = panel.tickers.get_indexer(pd.Index(signals["ticker"]))
    keep = (j_of >= 0) & (col >= 0)
    j_of, col = j_of[keep], col[keep]
    values = signals["score"].to_numpy(dtype=np.float64)[keep]
    order = np.argsort(j_of, kind="stable")
    j_of, col, values = j_of[order], col[order], values[order]
    bounds = np.searchsorted(j_of, np.arange(len(schedule.snaps) + 1))
    scratch = np.full(len(panel.tickers), np.nan)
    out: list[Float] = []
    for j in range(len(schedule.snaps)):
        lo, hi = bounds[j], bounds[j + 1]
        scratch[col[lo:hi]] = values[lo:hi]
        out.append(scratch[schedule.names(j)].copy())
        scratch[col[lo:hi]] = np.nan
    return out


@dataclass(frozen=True, eq=False)
class _Frame:
    x: Float
    snap_pos: Int

    @cached_property
    def q(self) -> Float:
        """An orthonormal basis of ``x``'s columns (the optimizer and the contributions use
        it; the closed form does not, so it is made on first use)."""
        return _basis(self.x)[0]


@dataclass(eq=False)
class Constructor:
    """Builds target books on a schedule; shares per-rebalance work between strategies."""

    panel: MarketPanel
    schedule: Schedule
    config: FundConfig
    optimizer: Optimizer | None = None
    _frames: dict[tuple[int, tuple[str, ...]], _Frame] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.config.method == "optimizer" and self.optimizer is None:
            self.optimizer = Optimizer(self.config)

    def frame(self, j: int, exclude: tuple[str, ...] = ()) -> _Frame:
        key = (j, exclude)
        if key not in self._frames:
            snap = self.schedule.snaps[j]
            pos = self.schedule.universe[j]
            x = design_matrix(snap, exclude=exclude)[pos]
            self._frames[key] = _Frame(x=x, snap_pos=pos)
        return self._frames[key]

    def limits(self, j: int, aum: float | None = None) -> Limits:
        snap = self.schedule.snaps[j]
        lim = limits(snap, self.config, aum=aum)
        pos = self.schedule.universe[j]
        caps = lim.caps[pos]
        gross = min(self.config.gross, 0.5 * float(caps.sum()))
        return Limits(caps=caps, gross=gross, gross_wanted=lim.gross_wanted)

    def variance(self, j: int) -> Float:
        """Each universe name's return variance over one rebalance period."""
        snap = self.schedule.snaps[j]
        period = 252.0 / self.schedule.rebalances_per_year
        return np.asarray(snap.vol[self.schedule.universe[j]] ** 2 * period)

    def build(
        self,
        scores: Sequence[Float],
        *,
        exclude: tuple[str, ...] = (),
        aum: float | None = None,
        label: str = "",
    ) -> tuple[list[Target], pd.DataFrame]:
        """Targets for every rebalance where ``scores`` has values, and their diagnostics."""
        cfg = self.config
        targets: list[Target] = []
        rows: list[dict[str, Any]] = []
        prev_w: Float | None = None
        prev_names: Int | None = None
        for j, s in enumerate(scores):
            have = np.isfinite(s)
            if not have.any():
                continue
            started = time.perf_counter()
            fr = self.frame(j, exclude)
            lim = self.limits(j, aum)
            names = self.schedule.names(j)
            z = np.zeros(s.size)
            z[have] = gauss_rank(np.asarray(s[have], dtype=np.float64))
            prev = np.zeros(names.size)
            if prev_w is not None and prev_names is not None:
                prev = _carry_over(prev_w, prev_names, names)
            info: dict[str, Any]
            if cfg.method == "optimizer" and self.optimizer is not None:
                var = self.variance(j)
                alpha = self.optimizer.alpha(z, var)
                w, info = self.optimizer.solve(alpha, var, prev, fr.q, fr.x, lim)
            else:
                w = neutral_capped(z, fr.x, lim)
                info = {"solver": "closed_form", "status": "optimal", "attempts": []}
                if cfg.smoothing < 1.0 and prev_w is not None:
                    blend = (1.0 - cfg.smoothing) * prev + cfg.smoothing * w
                    w = neutral_capped(blend, fr.x, lim)
            method = "closed_form" if info["solver"] == "closed_form" else "optimizer"
            where = f" of {label or 'a strategy'} on {self.schedule.signal_dates[j]:%Y-%m-%d}"
            checked = check_book(w, fr.x, lim, method=method, where=where)
            snap = self.schedule.snaps[j]
            pos = fr.snap_pos
            targets.append(
                Target(
                    fill=int(snap.fill),
                    asof=int(snap.asof),
                    names=names,
                    weights=w,
                    vol=snap.vol[pos],
                    adv=snap.adv[pos],
                    beta=snap.beta[pos],
                )
            )
            rows.append(
                {
                    "signal_date": self.schedule.signal_dates[j],
                    "fill_date": self.panel.sessions[snap.fill],
                    "asof_date": self.panel.sessions[snap.asof],
                    "n_names": int(names.size),
                    "solver": info["solver"],
                    "status": info["status"],
                    "attempts": "; ".join(
                        f"{a['solver']}: {a['status']} ({a['seconds']:.2f} s)"
                        for a in info["attempts"]
                    ),
                    "seconds": time.perf_counter() - started,
                    **checked,
                    "j": j,
                }
            )
            prev_w, prev_names = w, names
        return targets, pd.DataFrame(rows)


def _carry_over(weights: Float, before: Int, now: Int) -> Float:
    """Weights on ``before``'s names moved onto ``now``'s (0 for new names)."""
    order = np.argsort(before)
    pos = np.searchsorted(before, now, sorter=order)
    pos = np.minimum(pos, before.size - 1)
    hit = before[order[pos]] == now
    return np.where(hit, weights[order[pos]], 0.0)


@dataclass(frozen=True, eq=False)
class StrategyRun:
    """A strategy's targets, their diagnostics and its ledger."""

    strategy: Strategy
    scores: list[Float]
    targets: list[Target]
    diagnostics: pd.DataFrame
    ledger: Ledger


def run_strategy(
    constructor: Constructor,
    strategy: Strategy,
    *,
    keep_stock_pnl: bool = False,
    keep_trades: bool = False,
) -> StrategyRun:
    """Construct and trade one strategy on the constructor's schedule."""
    panel, schedule, cfg = constructor.panel, constructor.schedule, constructor.config
    if strategy.scores is not None:
        scores = strategy.scores
    elif strategy.signals is not None:
        if not strategy.look_ahead:
            check_available(strategy.signals, session_close=cfg.session_close)
        scores = scores_on(panel, schedule, strategy.signals)
    else:
        raise FundInputError(f"strategy {strategy.name!r} has neither signals nor scores")
    targets, diag = constructor.build(scores, exclude=strategy.exclude, label=strategy.name)
    ledger = trade(
        panel,
        targets,
        cfg.costs,
        aum=cfg.aum,
        keep_stock_pnl=keep_stock_pnl,
        keep_trades=keep_trades,
    )
    return StrategyRun(strategy, scores, targets, diag, ledger)

"""The strategies compared in one run, on the same schedule, universe, pipeline and costs.

* ``meta`` — the stake-weighted meta model (the fund); ``equal_weight`` — the models
  averaged with equal weights;
* ``best_point_in_time`` — at each rebalance, the book of the single model with the best
  trailing net Sharpe (its own backtest, sessions before the fill only);
  ``best_hindsight`` — the single model with the best full-period net Sharpe (chosen
  with the future: **not investable**);
* ``momentum`` — 12−1 month momentum from the prices (not neutralized to momentum);
* ``placebo_<seed>`` — random scores; ``oracle`` — the next period's realized returns
  (look-ahead on purpose: a sanity bound, never investable).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd

from crowdalpha.fund.backtest import Constructor, Strategy, StrategyRun
from crowdalpha.fund.metrics import sharpe_ratio
from crowdalpha.fund.trading import Target, trade

__all__ = ["benchmark_strategies", "best_point_in_time", "momentum_scores", "placebo_scores"]

Float = npt.NDArray[np.float64]
_MIN_TRAILING = 8  # rebalances of history before the point-in-time choice starts


def momentum_scores(constructor: Constructor) -> list[Float]:
    """12−1 month momentum of each universe name, as of each rebalance's as-of close."""
    panel, schedule = constructor.panel, constructor.schedule
    out = []
    for j, snap in enumerate(schedule.snaps):
        k = snap.asof
        names = schedule.names(j)
        if k < 252:
            out.append(np.full(names.size, np.nan))
            continue
        with np.errstate(invalid="ignore", divide="ignore"):
            out.append(np.log(panel.close[k - 21, names] / panel.close[k - 252, names]))
    return out


def placebo_scores(constructor: Constructor, seed: int) -> list[Float]:
    """Random scores (a placebo signal) on each universe."""
    rng = np.random.default_rng([seed, 0x9E3779B9])
    schedule = constructor.schedule
    return [rng.standard_normal(schedule.names(j).size) for j in range(len(schedule.snaps))]


def benchmark_strategies(
    constructor: Constructor, *, placebo_seeds: int, momentum: bool, oracle: bool
) -> list[Strategy]:
    """Momentum, placebos and the oracle on the constructor's schedule."""
    out = []
    if momentum:
        out.append(
            Strategy(
                "momentum",
                scores=momentum_scores(constructor),
                kind="momentum",
                exclude=("momentum",),
            )
        )
    for seed in range(placebo_seeds):
        out.append(
            Strategy(f"placebo_{seed}", scores=placebo_scores(constructor, seed), kind="placebo")
        )
    if oracle:
        out.append(
            Strategy(
                "oracle",
                scores=[f.copy() for f in constructor.schedule.forward],
                kind="oracle",
                investable=False,
                look_ahead=True,
            )
        )
    return out


def best_point_in_time(
    constructor: Constructor,
    runs: Sequence[StrategyRun],
    *,
    window: int,
) -> tuple[StrategyRun, pd.Series]:
    """Trade, at each rebalance, the target of the model whose own net Sharpe over the
    trailing ``window`` rebalances (sessions strictly before the fill) was best."""
    panel, schedule = constructor.panel, constructor.schedule
    by_j: list[dict[int, Target]] = []
    for run in runs:
        js = run.diagnostics["j"].to_numpy() if len(run.diagnostics) else np.zeros(0)
        by_j.append({int(j): t for j, t in zip(js, run.targets, strict=True)})
    nets = [run.ledger.daily["net"] for run in runs]
    chosen: list[Target] = []
    picks: dict[pd.Timestamp, str] = {}
    for j in range(_MIN_TRAILING, len(schedule.snaps)):
        fill = int(schedule.fills[j])
        start = int(schedule.fills[max(0, j - window)])
        lo, hi = panel.sessions[start], panel.sessions[fill]
        best, best_sharpe = -1, -math.inf
        for m, net in enumerate(nets):
            past = net[(net.index >= lo) & (net.index < hi)]
            s = sharpe_ratio(past.to_numpy(), 252.0) if len(past) > 2 else math.nan
            if j in by_j[m] and math.isfinite(s) and s > best_sharpe:
                best, best_sharpe = m, s
        if best >= 0:
            chosen.append(by_j[best][j])
            picks[schedule.signal_dates[j]] = runs[best].strategy.name
    cfg = constructor.config
    ledger = trade(panel, chosen, cfg.costs, aum=cfg.aum)
    rows = pd.DataFrame(
        {"j": [j for j in range(len(schedule.snaps)) if schedule.signal_dates[j] in picks]}
    )
    strategy = Strategy("best_point_in_time", kind="best_point_in_time")
    scores = [np.full(schedule.names(j).size, np.nan) for j in range(len(schedule.snaps))]
    return StrategyRun(strategy, scores, chosen, rows, ledger), pd.Series(picks, name="model")

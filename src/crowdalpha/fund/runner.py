"""The whole fund in one call: :func:`run_backtest` → :class:`FundResult` (metrics and frames).

Steps: validate the inputs and apply the timing guard; build the meta models; set the
schedule from the stake-weighted meta model; construct and trade it (the fund) and, on the
same schedule and universe, every comparison; measure capacity and cost sensitivity by
re-running the fund at other sizes and cost levels; compute each model's contribution
(MPC per rebalance; the exact stake gradient "TC" when the optimizer builds the book).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import numpy as np
import pandas as pd
from threadpoolctl import ThreadpoolController

from crowdalpha.errors import FundInputError
from crowdalpha.fund.analysis import (
    DECAY_LAGS,
    decile_spread,
    ic_series,
    ic_summary,
    market_returns,
    realized_exposures,
)
from crowdalpha.fund.backtest import (
    Constructor,
    Strategy,
    StrategyRun,
    build_schedule,
    run_strategy,
    scores_on,
)
from crowdalpha.fund.comparisons import benchmark_strategies, best_point_in_time
from crowdalpha.fund.config import FundConfig
from crowdalpha.fund.contribution import mpc_arrays, stake_gradient
from crowdalpha.fund.market import MarketPanel
from crowdalpha.fund.metrics import performance, sharpe_difference, to_weekly
from crowdalpha.fund.optimize import Optimizer
from crowdalpha.fund.signals import (
    check_available,
    gauss_rank,
    meta_signal,
    validate_signals,
    validate_stakes,
)
from crowdalpha.fund.trading import trade

__all__ = ["BacktestOptions", "FundResult", "run_backtest"]

_DAILY = 252.0
_WEEKLY = 52.0


@dataclass(frozen=True)
class BacktestOptions:
    """What to run besides the fund itself."""

    placebo_seeds: int = 20
    momentum: bool = True
    oracle: bool = True
    #: Trailing rebalances the point-in-time best model is chosen on.
    best_window: int = 52
    capacity_aums: tuple[float, ...] = (1e7, 1e8, 1e9)
    cost_multipliers: tuple[float, ...] = (0.0, 1.0, 2.0)
    contributions: bool = True
    bootstrap_samples: int = 2000
    seed: int = 0
    keep_stock_pnl: bool = False
    keep_trades: bool = False


@dataclass(frozen=True, eq=False)
class FundResult:
    """Everything a run measured; :attr:`metrics` is what ``metrics.json`` holds."""

    config: FundConfig
    metrics: dict[str, Any]
    runs: dict[str, StrategyRun]
    constructor: Constructor
    #: One row per (signal date, model): ``mpc`` and, with the optimizer, ``tc``.
    contributions: pd.DataFrame
    #: Series for the report's charts.
    series: dict[str, Any] = field(default_factory=dict)

    @property
    def fund(self) -> StrategyRun:
        """The fund's own run (the stake-weighted meta model)."""
        return self.runs["meta"]


def _progress(report: Callable[[str], None] | None, text: str) -> None:
    if report is not None:
        report(text)


@cache
def _blas() -> ThreadpoolController:
    return ThreadpoolController()


def run_backtest(
    prices: pd.DataFrame | MarketPanel,
    signals: pd.DataFrame,
    *,
    stakes: pd.DataFrame | None = None,
    config: FundConfig | None = None,
    options: BacktestOptions | None = None,
    delistings: pd.DataFrame | None = None,
    exposures: pd.DataFrame | None = None,
    truth: Mapping[str, float] | None = None,
    progress: Callable[[str], None] | None = None,
) -> FundResult:
    """Backtest the fund and its comparisons.

    ``signals`` is a signal frame: with a ``model`` column it holds each model's predictions
    (the fund trades their stake-weighted meta model, equal weights without ``stakes``);
    without one it is the meta model itself. ``truth`` (model → known skill, from a
    simulation) is copied into the contribution leaderboard.
    """
    # The linear algebra here is many small products (n × ~20): BLAS threads only add
    # hand-offs, which a busy machine turns into long stalls. One thread each.
    with _blas().limit(limits=1, user_api="blas"):
        return _run(
            prices, signals, stakes, config, options, delistings, exposures, truth, progress
        )


def _run(
    prices: pd.DataFrame | MarketPanel,
    signals: pd.DataFrame,
    stakes: pd.DataFrame | None,
    config: FundConfig | None,
    options: BacktestOptions | None,
    delistings: pd.DataFrame | None,
    exposures: pd.DataFrame | None,
    truth: Mapping[str, float] | None,
    progress: Callable[[str], None] | None,
) -> FundResult:
    cfg = config or FundConfig()
    opts = options or BacktestOptions()
    started = time.perf_counter()
    panel = (
        prices
        if isinstance(prices, MarketPanel)
        else MarketPanel.from_prices(prices, delistings=delistings)
    )
    preds = validate_signals(signals)
    check_available(preds, session_close=cfg.session_close)
    has_models = "model" in preds
    if stakes is not None and not has_models:
        raise FundInputError(
            "stakes weigh models, but the signals have no model column: give each model's "
            "predictions with a model column, or leave the stakes out to trade the signal"
        )
    if has_models:
        meta = meta_signal(preds, stakes, name="meta")
        if len(meta) == 0:
            raise FundInputError("no model has a stake: the stake-weighted meta model is empty")
    else:
        meta = preds
    _progress(progress, "point-in-time market data")
    schedule = build_schedule(panel, meta, cfg, extra_exposures=exposures)
    constructor = Constructor(panel, schedule, cfg)
    runs: dict[str, StrategyRun] = {}

    _progress(progress, "the fund: stake-weighted meta model")
    runs["meta"] = run_strategy(
        constructor,
        Strategy("meta", signals=meta, kind="meta"),
        keep_stock_pnl=opts.keep_stock_pnl,
        keep_trades=opts.keep_trades,
    )
    model_runs: list[StrategyRun] = []
    if has_models:
        if stakes is not None:
            equal = meta_signal(preds, None, name="equal_weight")
            runs["equal_weight"] = run_strategy(
                constructor, Strategy("equal_weight", signals=equal, kind="equal_weight")
            )
        models = sorted(preds["model"].unique())
        for name in models:
            _progress(progress, f"model {name}")
            own = preds[preds["model"] == name].drop(columns="model")
            model_runs.append(
                run_strategy(constructor, Strategy(str(name), signals=own, kind="model"))
            )
        if len(model_runs) > 1:
            run, _picks = best_point_in_time(constructor, model_runs, window=opts.best_window)
            runs["best_point_in_time"] = run
            best = max(model_runs, key=lambda r: _sharpe(r.ledger.daily["net"]))
            runs["best_hindsight"] = StrategyRun(
                Strategy("best_hindsight", kind="best_hindsight", investable=False),
                best.scores,
                best.targets,
                best.diagnostics,
                best.ledger,
            )
    for strategy in benchmark_strategies(
        constructor,
        placebo_seeds=opts.placebo_seeds,
        momentum=opts.momentum,
        oracle=opts.oracle,
    ):
        _progress(progress, strategy.name)
        runs[strategy.name] = run_strategy(constructor, strategy)

    _progress(progress, "capacity and cost sensitivity")
    capacity = _capacity(constructor, runs["meta"], opts)
    sensitivity = _sensitivity(constructor, runs["meta"], opts)

    contributions = pd.DataFrame(columns=["signal_date", "model", "mpc"])
    if has_models and opts.contributions:
        _progress(progress, "contributions")
        contributions = _contributions(constructor, preds, stakes, runs["meta"])

    _progress(progress, "metrics")
    metrics, series = _metrics(
        constructor, runs, model_runs, capacity, sensitivity, contributions, truth, opts
    )
    metrics["run"]["seconds"] = time.perf_counter() - started
    return FundResult(cfg, metrics, runs, constructor, contributions, series)


def _sharpe(net: pd.Series) -> float:
    x = net.to_numpy()
    sd = float(x.std(ddof=1)) if x.size > 1 else 0.0
    return float(x.mean() / sd * math.sqrt(_DAILY)) if sd > 0 else -math.inf


def _capacity(
    constructor: Constructor, fund: StrategyRun, opts: BacktestOptions
) -> list[dict[str, Any]]:
    cfg = constructor.config
    out = []
    for aum in opts.capacity_aums:
        targets, _ = constructor.build(fund.scores, aum=aum, label=f"the fund at ${aum:,.0f}")
        ledger = trade(constructor.panel, targets, cfg.costs, aum=aum)
        net = ledger.daily["net"]
        out.append(
            {
                "aum": aum,
                "net_sharpe": _sharpe(net),
                "net_annual_return": float(net.mean() * _DAILY),
                "cost_bps_per_year": float(ledger.daily["cost"].mean() * _DAILY * 1e4),
                "mean_gross_exposure": float(ledger.daily["gross_exposure"].mean()),
                "max_participation": float(ledger.rebalances["max_participation"].max()),
            }
        )
    return out


def _sensitivity(
    constructor: Constructor, fund: StrategyRun, opts: BacktestOptions
) -> list[dict[str, Any]]:
    cfg = constructor.config
    out = []
    for factor in opts.cost_multipliers:
        ledger = trade(constructor.panel, fund.targets, cfg.costs.scaled(factor), aum=cfg.aum)
        net = ledger.daily["net"]
        out.append(
            {
                "cost_multiplier": factor,
                "net_sharpe": _sharpe(net),
                "net_annual_return": float(net.mean() * _DAILY),
            }
        )
    return out


def _contributions(
    constructor: Constructor,
    preds: pd.DataFrame,
    stakes: pd.DataFrame | None,
    fund: StrategyRun,
) -> pd.DataFrame:
    """MPC of every model at every rebalance (and TC with the optimizer)."""
    panel, schedule = constructor.panel, constructor.schedule
    models = sorted(preds["model"].unique())
    per_model = [
        scores_on(panel, schedule, preds[preds["model"] == m].drop(columns="model")) for m in models
    ]
    st = validate_stakes(stakes) if stakes is not None else None
    # The gradient needs the optimizer's active set exactly: solve at tight tolerances.
    optimizer = (
        Optimizer(constructor.config, tight=True)
        if constructor.config.method == "optimizer"
        else None
    )
    # The book before each rebalance, for the optimizer's turnover penalty.
    previous: dict[int, pd.Series] = {}
    last: pd.Series | None = None
    for j, target in zip(fund.diagnostics["j"], fund.targets, strict=True):
        if last is not None:
            previous[int(j)] = last
        last = pd.Series(target.weights, index=target.names)
    rows = []
    for j, date in enumerate(schedule.signal_dates):
        if st is None:
            stake = np.ones(len(models))
        else:
            got = st[st["signal_date"] == date].set_index("model")["stake"]
            stake = np.array([float(got.get(m, 0)) for m in models])
        p = np.column_stack([s[j] for s in per_model])
        r = schedule.forward[j]
        ok = np.isfinite(p).all(axis=1) & np.isfinite(r)
        live = stake > 0
        if ok.sum() < 10 or not live.any():
            continue
        fr = constructor.frame(j)
        q, _ = np.linalg.qr(fr.q[ok])
        mpc = np.full(len(models), np.nan)
        mpc[live] = mpc_arrays(p[ok][:, live], stake[live], q, np.ones(int(ok.sum())), r[ok])
        tc = np.full(len(models), np.nan)
        if optimizer is not None:
            g = np.zeros(p.shape)
            for k in range(len(models)):
                have = np.isfinite(p[:, k])
                g[have, k] = gauss_rank(p[have, k])
            names = schedule.names(j)
            before = previous.get(j)
            prev_w = (
                np.zeros(names.size)
                if before is None
                else before.reindex(names).fillna(0.0).to_numpy()
            )
            grad, _ = stake_gradient(
                optimizer,
                g[:, live],
                stake[live],
                var=constructor.variance(j),
                prev=prev_w,
                q=fr.q,
                x=fr.x,
                lim=constructor.limits(j),
                forward=r,
            )
            tc[live] = grad
        for k, m in enumerate(models):
            row = {"signal_date": date, "model": m, "stake": stake[k], "mpc": mpc[k]}
            if optimizer is not None:
                row["tc"] = tc[k]
            rows.append(row)
    return pd.DataFrame(rows)


def _summary(run: StrategyRun, market: pd.Series, opts: BacktestOptions) -> dict[str, Any]:
    daily = run.ledger.daily
    net = daily["net"]
    weekly = to_weekly(daily["gross"])
    years = len(daily) / _DAILY
    return {
        "name": run.strategy.name,
        "kind": run.strategy.kind,
        "investable": run.strategy.investable,
        "look_ahead": run.strategy.look_ahead,
        "net_sharpe": _sharpe(net),
        "gross_sharpe": _sharpe(daily["gross"]),
        "net_annual_return": float(net.mean() * _DAILY),
        "annual_volatility": float(net.std(ddof=1) * math.sqrt(_DAILY)),
        "max_drawdown": float(performance(net, _DAILY, samples=10)["max_drawdown"]),
        "turnover_per_year": float(run.ledger.rebalances["turnover"].sum() / years)
        if years
        else math.nan,
        "gross_weekly_t_stat": float(weekly.mean() / weekly.std(ddof=1) * math.sqrt(len(weekly)))
        if len(weekly) > 2
        else math.nan,
    }


def _metrics(
    constructor: Constructor,
    runs: dict[str, StrategyRun],
    model_runs: list[StrategyRun],
    capacity: list[dict[str, Any]],
    sensitivity: list[dict[str, Any]],
    contributions: pd.DataFrame,
    truth: Mapping[str, float] | None,
    opts: BacktestOptions,
) -> tuple[dict[str, Any], dict[str, Any]]:
    cfg = constructor.config
    panel, schedule = constructor.panel, constructor.schedule
    fund = runs["meta"]
    daily = fund.ledger.daily
    first = int(schedule.fills[0]) if len(daily) else 1
    market = market_returns(panel, first)
    rpy = schedule.rebalances_per_year
    years = len(daily) / _DAILY
    ic = ic_series(panel, schedule, fund.scores)
    decay = {
        lag: ic_summary(ic_series(panel, schedule, fund.scores, lag=lag), rpy)["mean"]
        for lag in DECAY_LAGS
    }
    spread = decile_spread(schedule, fund.scores)
    exposures = realized_exposures(constructor, fund.ledger, fund.diagnostics["j"])
    reb = fund.ledger.rebalances
    gross_annual = float(daily["gross"].mean() * _DAILY)
    borrow_annual = float(daily["borrow"].mean() * _DAILY)
    traded_annual = float(reb["traded"].sum() / years) if years else math.nan
    diag = fund.diagnostics
    fund_metrics: dict[str, Any] = {
        "net_daily": performance(
            daily["net"], _DAILY, benchmark=market, seed=opts.seed, samples=opts.bootstrap_samples
        ),
        "gross_daily": performance(
            daily["gross"], _DAILY, seed=opts.seed, samples=opts.bootstrap_samples
        ),
        "net_weekly": performance(
            to_weekly(daily["net"]), _WEEKLY, seed=opts.seed, samples=opts.bootstrap_samples
        ),
        "long_leg": performance(daily["long"], _DAILY, samples=10),
        "short_leg": performance(daily["short"], _DAILY, samples=10),
        "turnover_per_year": float(reb["turnover"].sum() / years) if years else math.nan,
        "traded_per_year": traded_annual,
        "cost_bps_per_year": float(daily["cost"].mean() * _DAILY * 1e4),
        "borrow_bps_per_year": borrow_annual * 1e4,
        "break_even_cost_bps": (gross_annual - borrow_annual) / traded_annual * 1e4
        if traded_annual
        else math.nan,
        "mean_gross_exposure": float(daily["gross_exposure"].mean()),
        "mean_net_exposure": float(daily["net_exposure"].mean()),
        "mean_abs_beta_exposure": float(daily["beta_exposure"].abs().mean()),
        "realized_exposure_mean_abs": {
            c: float(exposures[c].abs().mean()) for c in exposures.columns
        },
        "ic": ic_summary(ic, rpy),
        "ic_decay": {str(k): v for k, v in decay.items()},
        "decile_spread": {
            "mean": float(spread.mean()),
            "t_stat": float(spread.mean() / spread.std(ddof=1) * math.sqrt(spread.count()))
            if spread.count() > 2
            else math.nan,
        },
        "capacity": capacity,
        "cost_sensitivity": sensitivity,
        "rebalances": {
            "count": len(diag),
            "solvers": {str(k): int(v) for k, v in diag["solver"].value_counts().items()},
            "fallbacks": int((diag["status"] == "fallback").sum()),
            "max_abs_exposure": float(diag["max_abs_exposure"].max()),
            "max_cap_ratio": float(diag["max_cap_ratio"].max()),
            "max_gross": float(diag["gross"].max()),
            "max_abs_net": float(diag["net"].abs().max()),
            "cancelled_names": int(reb["cancelled"].sum()),
            "seconds": float(diag["seconds"].sum()),
        },
    }
    summaries = {name: _summary(run, market, opts) for name, run in runs.items()}
    base = daily["net"]
    for name, run in runs.items():
        other = run.ledger.daily["net"]
        common = base.index.intersection(other.index)
        if name == "meta" or len(common) < 10:
            continue
        summaries[name]["net_sharpe_vs_meta"] = sharpe_difference(
            other.loc[common].to_numpy(),
            base.loc[common].to_numpy(),
            _DAILY,
            samples=opts.bootstrap_samples,
            seed=opts.seed,
        )
    placebo = [s for s in summaries.values() if s["kind"] == "placebo"]
    leaderboard = _leaderboard(contributions, model_runs, truth)
    warnings = [
        f"{s['name']}: net Sharpe {s['net_sharpe']:.2f} is implausibly high for an "
        "investable strategy — check the inputs for look-ahead"
        for s in summaries.values()
        if s["investable"] and s["net_sharpe"] > 4.0
    ]
    metrics: dict[str, Any] = {
        "run": {
            "method": cfg.method,
            "aum": cfg.aum,
            "gross": cfg.gross,
            "lag_sessions": cfg.lag,
            "sessions": len(daily),
            "first_session": f"{daily.index[0]:%Y-%m-%d}" if len(daily) else None,
            "last_session": f"{daily.index[-1]:%Y-%m-%d}" if len(daily) else None,
            "rebalances": len(schedule.fills),
            "rebalances_per_year": rpy,
            "periods_per_year": {"daily": _DAILY, "weekly": _WEEKLY, "rebalance": rpy},
            "mean_universe": float(np.mean([u.size for u in schedule.universe])),
            "tickers": len(panel.tickers),
            "fills_at": "open" if panel.has_open else "close (the prices have no opens)",
            "costs": {
                "half_spread_bps": cfg.costs.half_spread_bps,
                "commission_bps": cfg.costs.commission_bps,
                "impact": cfg.costs.impact,
                "borrow_bps": cfg.costs.borrow_bps,
                "delisting_return": cfg.costs.delisting_return,
            },
        },
        "fund": fund_metrics,
        "comparisons": summaries,
        "placebo": {
            "seeds": len(placebo),
            "significant": sum(1 for s in placebo if abs(s["gross_weekly_t_stat"]) >= 2),
        },
        "contributions": leaderboard,
        "warnings": warnings,
    }
    series = {
        "market": market,
        "ic": ic,
        "decile_spread": spread,
        "exposures": exposures,
        "decay": decay,
    }
    return _clean(metrics), series


def _leaderboard(
    contributions: pd.DataFrame,
    model_runs: list[StrategyRun],
    truth: Mapping[str, float] | None,
) -> list[dict[str, Any]]:
    if contributions.empty:
        return []
    out = []
    for model, g in contributions.groupby("model", sort=True):
        mpc = g["mpc"].dropna()
        row: dict[str, Any] = {
            "model": str(model),
            "rounds": int(mpc.size),
            "mpc_mean": float(mpc.mean()) if mpc.size else math.nan,
            "mpc_t_stat": float(mpc.mean() / mpc.std(ddof=1) * math.sqrt(mpc.size))
            if mpc.size > 2 and mpc.std(ddof=1) > 0
            else math.nan,
        }
        if "tc" in g:
            row["tc_mean"] = float(g["tc"].dropna().mean())
        own = next((r for r in model_runs if r.strategy.name == model), None)
        if own is not None:
            row["own_net_sharpe"] = _sharpe(own.ledger.daily["net"])
        if truth is not None and model in truth:
            row["true_skill"] = float(truth[str(model)])
        out.append(row)
    return sorted(out, key=lambda r: -(r["mpc_mean"] if math.isfinite(r["mpc_mean"]) else -1e9))


def _clean(value: Any) -> Any:
    """JSON-ready: numpy scalars to Python, non-finite floats to None."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value

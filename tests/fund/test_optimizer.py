"""The optional optimizer: constraints hold on every rebalance, statuses are logged, and
the fallbacks (OSQP, then the closed form) take over when a solver fails."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from crowdalpha.fund import FundConfig, OptimizerConfig
from crowdalpha.fund.backtest import Constructor, Strategy, build_schedule, run_strategy
from crowdalpha.fund.market import MarketPanel
from crowdalpha.fund.signals import meta_signal
from crowdalpha.market import SimulatedMarket

pytest.importorskip("cvxpy")


def _constructor(
    market: SimulatedMarket, bots: tuple[pd.DataFrame, pd.DataFrame], cfg: FundConfig
) -> tuple[Constructor, pd.DataFrame]:
    preds, stakes = bots
    meta = meta_signal(preds, stakes)
    # A quarter of the rounds keeps this quick; the optimizer re-solves each one.
    dates = sorted(meta["signal_date"].unique())[-16:]
    meta = meta[meta["signal_date"].isin(dates)]
    panel = MarketPanel.from_prices(market.prices)
    return Constructor(panel, build_schedule(panel, meta, cfg), cfg), meta


def test_optimizer_books_meet_every_constraint(market: SimulatedMarket, bots: Any) -> None:
    cfg = FundConfig(method="optimizer", aum=5e6, max_weight=0.02)
    constructor, meta = _constructor(market, bots, cfg)
    run = run_strategy(constructor, Strategy("meta", signals=meta))
    diag = run.diagnostics
    assert (diag["solver"] == "CLARABEL").all() and (diag["status"] == "optimal").all()
    assert diag["attempts"].str.startswith("CLARABEL: optimal").all()
    assert diag["max_abs_exposure"].max() <= 1e-5
    assert diag["max_cap_ratio"].max() <= 1 + 1e-4
    assert diag["gross"].max() <= 1 + 1e-4
    # Compiled once per padded size, then only re-solved.
    assert constructor.optimizer is not None and len(constructor.optimizer._cache) <= 2
    # The turnover penalty makes it trade less than the closed form on the same scores.
    closed = Constructor(
        constructor.panel, constructor.schedule, FundConfig(aum=5e6, max_weight=0.02)
    )
    cf = run_strategy(closed, Strategy("meta", signals=meta))
    assert (
        run.ledger.rebalances["turnover"].iloc[1:].mean()
        < cf.ledger.rebalances["turnover"].iloc[1:].mean()
    )


def test_osqp_then_the_closed_form_take_over(
    market: SimulatedMarket, bots: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import cvxpy

    cfg = FundConfig(method="optimizer", aum=5e6, max_weight=0.02)
    constructor, meta = _constructor(market, bots, cfg)
    real = cvxpy.Problem.solve

    def clarabel_breaks(self: Any, *args: Any, **kwargs: Any) -> Any:
        if kwargs.get("solver") == "CLARABEL":
            raise cvxpy.error.SolverError("simulated failure")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(cvxpy.Problem, "solve", clarabel_breaks)
    run = run_strategy(constructor, Strategy("meta", signals=meta))
    diag = run.diagnostics
    assert (diag["solver"] == "OSQP").all(), diag["attempts"].tolist()[:2]
    assert diag["attempts"].str.contains("CLARABEL: error").all()
    assert diag["max_abs_exposure"].max() <= 1e-5

    def nothing_works(self: Any, *args: Any, **kwargs: Any) -> Any:
        raise cvxpy.error.SolverError("simulated failure")

    monkeypatch.setattr(cvxpy.Problem, "solve", nothing_works)
    run = run_strategy(constructor, Strategy("meta", signals=meta))
    assert (run.diagnostics["solver"] == "closed_form").all()
    assert (run.diagnostics["status"] == "fallback").all()
    assert run.diagnostics["max_abs_exposure"].max() <= 1e-6


def test_solver_order_is_configurable() -> None:
    assert OptimizerConfig(solvers=("OSQP",)).solvers == ("OSQP",)
    with pytest.raises(ValueError, match="CLARABEL and OSQP"):
        OptimizerConfig(solvers=("HIGHS",))
    assert np.isfinite(OptimizerConfig().risk_aversion)

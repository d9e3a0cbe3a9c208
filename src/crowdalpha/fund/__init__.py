"""The fund: the meta model trades a portfolio, backtested honestly, with what each model
contributed.

Beside the tournament core (never imported by it), on numpy, pandas and scipy; the
optional optimizer needs the ``fund`` extra (cvxpy with CLARABEL and OSQP). The stages:

1. :mod:`~crowdalpha.fund.signals` — signals with a time (``signal_date``, ``ticker``,
   ``score``, ``available_at``) and the timing guard;
2. :mod:`~crowdalpha.fund.market` — point-in-time universe, liquidity, risk exposures and
   delistings from the operator's prices;
3. :mod:`~crowdalpha.fund.construct` / :mod:`~crowdalpha.fund.optimize` — target books,
   checked at every rebalance;
4. :mod:`~crowdalpha.fund.trading` — fills, costs, borrow, delistings, the daily ledger;
5. :mod:`~crowdalpha.fund.metrics`, :mod:`~crowdalpha.fund.analysis` and
   :mod:`~crowdalpha.fund.report` — metrics, metrics.json and the HTML report.

:func:`run_backtest` runs them all, with the comparisons and the contributions.
"""

from crowdalpha.fund.backtest import Schedule, Strategy, StrategyRun
from crowdalpha.fund.config import (
    DEFAULT_EXPOSURES,
    METHODS,
    CostModel,
    FundConfig,
    OptimizerConfig,
)
from crowdalpha.fund.contribution import meta_portfolio_contribution, stake_gradient
from crowdalpha.fund.market import MarketPanel
from crowdalpha.fund.optimize import Optimizer, book_gradient, optimizer_available
from crowdalpha.fund.report import render_html, write_report
from crowdalpha.fund.runner import BacktestOptions, FundResult, run_backtest
from crowdalpha.fund.signals import (
    SIGNAL_COLUMNS,
    STAKE_COLUMNS,
    load_signals,
    load_stakes,
    meta_signal,
    validate_signals,
    validate_stakes,
)
from crowdalpha.fund.simulated import DEFAULT_BOTS, Bot, bot_predictions
from crowdalpha.fund.trading import Ledger

__all__ = [
    "DEFAULT_BOTS",
    "DEFAULT_EXPOSURES",
    "METHODS",
    "SIGNAL_COLUMNS",
    "STAKE_COLUMNS",
    "BacktestOptions",
    "Bot",
    "CostModel",
    "FundConfig",
    "FundResult",
    "Ledger",
    "MarketPanel",
    "Optimizer",
    "OptimizerConfig",
    "Schedule",
    "Strategy",
    "StrategyRun",
    "book_gradient",
    "bot_predictions",
    "load_signals",
    "load_stakes",
    "meta_portfolio_contribution",
    "meta_signal",
    "optimizer_available",
    "render_html",
    "run_backtest",
    "stake_gradient",
    "validate_signals",
    "validate_stakes",
    "write_report",
]

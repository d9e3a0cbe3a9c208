"""Stage 4 — trading: fills, costs, borrow, delistings, and the daily ledger.

Dollars, one session at a time (``D`` the dollar holdings, ``NAV`` the capital):

* a delisted holding (its ticker's last row was the previous session) earns its delisting
  return and goes to cash;
* on a fill session the holdings first earn the overnight return (previous close → open),
  then trade at the open to ``w·NAV_open`` — names not listed that session cannot trade —
  paying ``|Δ$|·(half-spread + commission) + Y·σ·|Δ$|·√(|Δ$|/ADV)``, then earn the open →
  close return; other sessions earn close → close;
* shorts pay borrow on their value at the previous close, ``borrow_bps/252`` a session.

Each session's returns are fractions of the previous ``NAV``: ``gross = Σᵢ pnlᵢ`` (the sum
of the per-stock P&L), ``net = gross − cost − borrow`` and ``NAV ← NAV·(1 + net)``. Costs
and borrow come out of cash; cash earns nothing (returns are excess returns).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from crowdalpha.errors import LookAheadError
from crowdalpha.fund.config import CostModel
from crowdalpha.fund.market import MarketPanel

__all__ = ["Ledger", "Target", "trade"]

Float = npt.NDArray[np.float64]
Int = npt.NDArray[np.int64]
_SESSIONS_PER_YEAR = 252


@dataclass(frozen=True, eq=False)
class Target:
    """One rebalance's target book, with what its costs need (all as of the close before
    ``fill``)."""

    fill: int
    asof: int
    names: Int
    weights: Float
    vol: Float
    adv: Float
    beta: Float


@dataclass(frozen=True, eq=False)
class Ledger:
    """What trading produced."""

    #: One row per session from the first fill: ``gross``, ``cost``, ``borrow``, ``net``,
    #: ``long``, ``short`` (returns, fractions of the previous NAV), ``gross_exposure``,
    #: ``net_exposure``, ``beta_exposure`` (end of session), ``traded`` (Σ|Δ$|/NAV at the
    #: open) and ``nav``.
    daily: pd.DataFrame
    #: One row per rebalance: ``date``, ``traded``, ``turnover`` (one-way, ½Σ|Δw|),
    #: ``cost_spread``, ``cost_impact``, ``commission`` (fractions of NAV),
    #: ``max_participation`` (largest trade / ADV), ``cancelled`` (names that could not
    #: trade: not listed that session).
    rebalances: pd.DataFrame
    #: Per-stock P&L (sessions × tickers, fractions of the previous NAV) when kept.
    stock_pnl: Float | None
    #: Per-ticker P&L summed over the run (fractions of each session's NAV).
    stock_total: Float
    #: Trade list (``date``, ``ticker``, ``w_pre``, ``w_post``, ``notional``, ``cost``) when kept.
    trades: pd.DataFrame | None
    #: Per rebalance, the drifted book on the target's names just before trading (weights
    #: of the NAV at the open): what the fund actually held going into the rebalance.
    pre_trade: list[Float]


def trade(
    panel: MarketPanel,
    targets: Sequence[Target],
    costs: CostModel,
    *,
    aum: float,
    keep_stock_pnl: bool = False,
    keep_trades: bool = False,
) -> Ledger:
    """Trade the targets through the panel's sessions (see the module docstring)."""
    n_t, n = panel.shape
    by_fill = {t.fill: t for t in targets}
    if len(by_fill) != len(targets):
        raise ValueError("two targets share a fill session")  # a bug upstream, not input
    for planned in targets:
        if planned.asof >= planned.fill:
            raise LookAheadError("a target uses data from its own fill session")
    start = min(by_fill) if by_fill else n_t
    days = n_t - start
    dead_by_day: dict[int, Int] = {}
    gone = np.flatnonzero(panel.last < n_t - 1)
    for day in np.unique(panel.last[gone] + 1):
        dead_by_day[int(day)] = gone[panel.last[gone] + 1 == day]
    delist_ret = np.where(
        np.isfinite(panel.delisting_return), panel.delisting_return, costs.delisting_return
    )
    borrow_rate = costs.borrow_bps / 1e4 / _SESSIONS_PER_YEAR

    holdings = np.zeros(n)
    vol_all = np.full(n, np.nan)
    adv_all = np.full(n, np.nan)
    beta_all = np.zeros(n)
    nav = aum
    cols = {
        k: np.zeros(days)
        for k in (
            "gross",
            "cost",
            "borrow",
            "net",
            "long",
            "short",
            "gross_exposure",
            "net_exposure",
            "beta_exposure",
            "traded",
            "nav",
        )
    }
    stock_pnl = np.zeros((days, n)) if keep_stock_pnl else None
    stock_total = np.zeros(n)
    reb_rows: list[dict[str, float | int | pd.Timestamp]] = []
    trade_parts: list[pd.DataFrame] = []
    pre_trade: list[Float] = []

    for i, t in enumerate(range(start, n_t)):
        pnl = np.zeros(n)
        long_pnl = short_pnl = 0.0
        borrow = borrow_rate * float(-holdings[holdings < 0].sum())
        dead = dead_by_day.get(t)
        if dead is not None:
            piece = holdings[dead] * delist_ret[dead]
            pnl[dead] += piece
            long_pnl += float(piece[holdings[dead] > 0].sum())
            short_pnl += float(piece[holdings[dead] < 0].sum())
            holdings[dead] = 0.0
        target = by_fill.get(t)
        cost = 0.0
        if target is None:
            move = _ret(panel.close[t], panel.close[t - 1])
            piece = holdings * move
        else:
            overnight = _ret(panel.open[t], panel.close[t - 1])
            piece = holdings * overnight
            pnl += piece
            long_pnl += float(piece[holdings > 0].sum())
            short_pnl += float(piece[holdings < 0].sum())
            holdings *= 1.0 + overnight
            nav_open = nav + float(pnl.sum())
            pre_trade.append(holdings[target.names] / nav_open)
            vol_all[target.names] = target.vol
            adv_all[target.names] = target.adv
            beta_all[target.names] = target.beta
            desired = np.zeros(n)
            desired[target.names] = target.weights * nav_open
            tradable = np.isfinite(panel.close[t])
            cancelled = int((~tradable[target.names] & (target.weights != 0)).sum())
            delta = np.where(tradable, desired - holdings, 0.0)
            size = np.abs(delta)
            traded = np.flatnonzero(size > 0)
            vol = np.nan_to_num(vol_all[traded], nan=np.nanmedian(vol_all))
            adv = adv_all[traded]
            adv = np.where(np.isfinite(adv) & (adv > 0), adv, np.nanmedian(adv_all))
            s = size[traded]
            c_spread = s * (costs.half_spread_bps / 1e4)
            c_comm = s * (costs.commission_bps / 1e4)
            c_impact = costs.impact * vol * s * np.sqrt(s / adv)
            per_name = c_spread + c_comm + c_impact
            cost = float(per_name.sum())
            if keep_trades and traded.size:
                trade_parts.append(
                    pd.DataFrame(
                        {
                            "date": panel.sessions[t],
                            "ticker": panel.tickers[traded],
                            "w_pre": holdings[traded] / nav_open,
                            "w_post": desired[traded] / nav_open,
                            "notional": delta[traded],
                            "cost": per_name,
                        }
                    )
                )
            holdings += delta
            cols["traded"][i] = float(s.sum()) / nav
            reb_rows.append(
                {
                    "date": panel.sessions[t],
                    "traded": float(s.sum()) / nav_open,
                    "turnover": 0.5 * float(s.sum()) / nav_open,
                    "cost_spread": float(c_spread.sum()) / nav,
                    "cost_impact": float(c_impact.sum()) / nav,
                    "commission": float(c_comm.sum()) / nav,
                    "max_participation": float((s / adv).max()) if s.size else 0.0,
                    "cancelled": cancelled,
                }
            )
            move = _ret(panel.close[t], panel.open[t])
            piece = holdings * move
        pnl += piece
        long_pnl += float(piece[holdings > 0].sum())
        short_pnl += float(piece[holdings < 0].sum())
        holdings *= 1.0 + move
        contrib = pnl / nav
        gross = float(contrib.sum())
        cols["gross"][i] = gross
        cols["cost"][i] = cost / nav
        cols["borrow"][i] = borrow / nav
        net = gross - cost / nav - borrow / nav
        cols["net"][i] = net
        cols["long"][i] = long_pnl / nav
        cols["short"][i] = short_pnl / nav
        stock_total += contrib
        if stock_pnl is not None:
            stock_pnl[i] = contrib
        nav = nav * (1.0 + net)
        cols["nav"][i] = nav
        cols["gross_exposure"][i] = float(np.abs(holdings).sum()) / nav
        cols["net_exposure"][i] = float(holdings.sum()) / nav
        cols["beta_exposure"][i] = float(holdings @ beta_all) / nav
    daily = pd.DataFrame(cols, index=pd.DatetimeIndex(panel.sessions[start:], name="date"))
    rebalances = pd.DataFrame(
        reb_rows,
        columns=[
            "date",
            "traded",
            "turnover",
            "cost_spread",
            "cost_impact",
            "commission",
            "max_participation",
            "cancelled",
        ],
    )
    trades = pd.concat(trade_parts, ignore_index=True) if keep_trades and trade_parts else None
    return Ledger(
        daily=daily,
        rebalances=rebalances,
        stock_pnl=stock_pnl,
        stock_total=stock_total,
        trades=trades,
        pre_trade=pre_trade,
    )


def _ret(now: Float, before: Float) -> Float:
    with np.errstate(invalid="ignore", divide="ignore"):
        r = now / before - 1.0
    return np.where(np.isfinite(r), r, 0.0)

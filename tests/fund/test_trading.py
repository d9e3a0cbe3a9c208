"""Stage 4: the ledger, against a hand computation and its own accounting identities."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from crowdalpha.fund import CostModel, FundResult, MarketPanel
from crowdalpha.fund.trading import Target, trade

DAYS = pd.bdate_range("2024-01-01", periods=6)
OPEN = {
    "A": [10, 10.5, 11.0, 11.2, 10.8, 11.5],
    "B": [20, 19, 19.5, 20.5, 21, 20],
    "C": [5, 5.2, 5.1, 4.8],
}
CLOSE = {
    "A": [10.2, 10.8, 11.1, 11.0, 11.3, 11.4],
    "B": [19.8, 19.2, 20.1, 20.4, 20.7, 20.2],
    "C": [5.1, 5.0, 4.9, 4.5],
}
COSTS = CostModel(half_spread_bps=10, commission_bps=1, impact=0.5, borrow_bps=100)
AUM = 1e6
VOL, ADV = 0.02, 1e7


def _prices() -> pd.DataFrame:
    rows = []
    for ticker in ("A", "B", "C"):
        for k, (o, c) in enumerate(zip(OPEN[ticker], CLOSE[ticker], strict=False)):
            rows.append((DAYS[k], ticker, o, c, 1e6))
    frame = pd.DataFrame(rows, columns=["date", "ticker", "open", "close", "volume"])
    return frame.sort_values(["date", "ticker"], ignore_index=True)


def _target(weights: list[float]) -> Target:
    return Target(
        fill=2,
        asof=1,
        names=np.array([0, 1, 2]),
        weights=np.array(weights),
        vol=np.full(3, VOL),
        adv=np.full(3, ADV),
        beta=np.ones(3),
    )


def _by_hand(weights: list[float], delisting: float) -> pd.DataFrame:
    """The ledger, session by session, written out with plain arithmetic."""
    o = {t: np.array(v, dtype=float) for t, v in OPEN.items()}
    c = {t: np.array(v, dtype=float) for t, v in CLOSE.items()}
    nav = AUM
    hold = dict.fromkeys("ABC", 0.0)
    rows = []
    for day in range(2, 6):
        pnl, cost = 0.0, 0.0
        borrow = 0.01 / 252 * sum(-h for h in hold.values() if h < 0)
        if day == 2:
            for t, w in zip("ABC", weights, strict=True):
                size = abs(w * nav)
                cost += size * 11e-4 + 0.5 * VOL * size * math.sqrt(size / ADV)
                hold[t] = w * nav
                pnl += hold[t] * (c[t][2] / o[t][2] - 1)
                hold[t] *= c[t][2] / o[t][2]
        else:
            for t in "ABC":
                if t == "C" and day == 4:
                    pnl += hold[t] * delisting
                    hold[t] = 0.0
                elif t == "C" and day > 4:
                    continue
                else:
                    pnl += hold[t] * (c[t][day] / c[t][day - 1] - 1)
                    hold[t] *= c[t][day] / c[t][day - 1]
        net = (pnl - cost - borrow) / nav
        rows.append({"gross": pnl / nav, "cost": cost / nav, "borrow": borrow / nav, "net": net})
        nav *= 1 + net
        rows[-1]["nav"] = nav
    return pd.DataFrame(rows, index=DAYS[2:])


@pytest.mark.parametrize("weights", [[-0.5, 0.2, 0.3], [0.4, -0.1, -0.3]])
def test_the_ledger_matches_a_hand_computation(weights: list[float]) -> None:
    delistings = pd.DataFrame({"ticker": ["C"], "delisting_return": [-1.0]})
    panel = MarketPanel.from_prices(_prices(), delistings=delistings)
    ledger = trade(panel, [_target(weights)], COSTS, aum=AUM, keep_stock_pnl=True)
    expected = _by_hand(weights, -1.0)
    got = ledger.daily[["gross", "cost", "borrow", "net", "nav"]]
    assert np.allclose(got.to_numpy(), expected.to_numpy(), rtol=1e-12, atol=1e-15)
    # A −100 % delisting costs the stock's whole weight at the previous close (long) or
    # pays it (short): its P&L that session is minus its holding.
    stock = ledger.stock_pnl
    assert stock is not None
    held_c = weights[2] * CLOSE["C"][2] / OPEN["C"][2] * CLOSE["C"][3] / CLOSE["C"][2]
    nav_before = expected["nav"].iloc[1]
    assert stock[2, 2] == pytest.approx(-held_c * AUM / nav_before, rel=1e-12)
    assert stock[3, 2] == 0.0  # then it is cash


def test_an_unknown_delisting_return_is_imputed() -> None:
    panel = MarketPanel.from_prices(_prices())
    ledger = trade(panel, [_target([-0.5, 0.2, 0.3])], COSTS, aum=AUM)
    expected = _by_hand([-0.5, 0.2, 0.3], COSTS.delisting_return)
    assert np.allclose(ledger.daily["gross"], expected["gross"], rtol=1e-12, atol=1e-15)


def test_a_fill_in_a_name_no_longer_listed_is_cancelled() -> None:
    panel = MarketPanel.from_prices(_prices())
    late = Target(
        fill=4,
        asof=3,
        names=np.array([0, 1, 2]),
        weights=np.array([0.3, -0.6, 0.3]),
        vol=np.full(3, VOL),
        adv=np.full(3, ADV),
        beta=np.ones(3),
    )
    ledger = trade(panel, [late], COSTS, aum=AUM)
    assert ledger.rebalances["cancelled"].tolist() == [1]
    assert ledger.daily["gross_exposure"].iloc[0] == pytest.approx(0.9, rel=0.1)


def test_per_stock_pnl_sums_to_the_fund_and_net_is_gross_less_costs(result: FundResult) -> None:
    ledger = result.fund.ledger
    daily = ledger.daily
    assert ledger.stock_pnl is not None
    assert np.abs(ledger.stock_pnl.sum(axis=1) - daily["gross"].to_numpy()).max() <= 1e-10
    assert (daily["net"] == daily["gross"] - daily["cost"] - daily["borrow"]).all()
    assert np.allclose(daily["long"] + daily["short"], daily["gross"], rtol=0, atol=1e-12)
    nav = result.config.aum * np.cumprod(1.0 + daily["net"].to_numpy())
    assert np.allclose(nav, daily["nav"].to_numpy(), rtol=1e-10)
    # Costs are booked only on fill sessions; borrow is never negative.
    fills = set(ledger.rebalances["date"])
    assert (daily.loc[~daily.index.isin(fills), "cost"] == 0).all()
    assert (daily["borrow"] >= 0).all() and (daily["cost"] >= 0).all()
    # The trade list adds up to the rebalances' costs.
    assert ledger.trades is not None
    per_fill = ledger.trades.groupby("date")["cost"].sum()
    booked = (
        daily.loc[per_fill.index, "cost"]
        * daily["nav"].shift(1).fillna(result.config.aum).loc[per_fill.index]
    )
    assert np.allclose(per_fill.to_numpy(), booked.to_numpy(), rtol=1e-9)

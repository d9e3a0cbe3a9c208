"""Shared Signals fixtures: one small simulated market and one round built from it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from crowdalpha.dataset.obfuscate import Vault
from crowdalpha.dataset.signals import SignalsBuildReport, SignalsConfig, build_signals_round
from crowdalpha.market import MarketConfig, SimulatedMarket, simulate_market

#: A fixed key, so that ids and files are reproducible across runs.
KEY = bytes(range(32))
#: A stronger hidden signal than the default, so a few dozen eras show it.
MARKET = MarketConfig(n_stocks=250, n_days=700, seed=7, alpha_strength=0.04)
CONFIG = SignalsConfig(validation_eras=20)


@dataclass(frozen=True)
class Built:
    report: SignalsBuildReport
    root: Path
    public: Path
    operator: Path
    live_position: int


@pytest.fixture(scope="session")
def market() -> SimulatedMarket:
    return simulate_market(MARKET)


@pytest.fixture(scope="session")
def prices(market: SimulatedMarket) -> pd.DataFrame:
    return market.prices


@pytest.fixture(scope="session")
def vault() -> Vault:
    return Vault(KEY)


@pytest.fixture(scope="session")
def days(prices: pd.DataFrame) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(prices["date"].unique())


@pytest.fixture(scope="session")
def built(
    prices: pd.DataFrame,
    days: pd.DatetimeIndex,
    vault: Vault,
    tmp_path_factory: pytest.TempPathFactory,
) -> Built:
    """A round whose live date leaves 62 trading days of future in the prices (for the
    outcome tests); the build must ignore them."""
    root = tmp_path_factory.mktemp("signals")
    position = len(days) - 1 - 62
    report = build_signals_round(
        prices,
        live_date=days[position],
        out_dir=root / "public",
        operator_dir=root / "operator",
        vault=vault,
        config=CONFIG,
    )
    return Built(report, root, root / "public", root / "operator", position)

"""The composition root runs Signals beside Classic where there is a market."""

from __future__ import annotations

from pathlib import Path

import pytest

from crowdalpha.errors import InvalidParameterError
from crowdalpha.market import MarketConfig, simulate_market
from crowdalpha.runtime import open_tournament
from crowdalpha.settings import Settings
from crowdalpha.tournament.signals import SignalsGate, SignalsRules, signals_scorer
from crowdalpha.tournament.signals_source import SignalsRoundData


def _settings(tmp_path: Path, **values: object) -> Settings:
    return Settings(home=tmp_path / "home", **values)  # type: ignore[arg-type]


def test_signals_is_on_with_a_market_and_off_without_one(tmp_path: Path) -> None:
    default = _settings(tmp_path)  # the simulated market: Signals only when asked for
    assert default.data_source == "simulated" and default.signals_enabled is False
    with open_tournament(default) as t:
        assert [c.slug for c in t.competitions] == ["classic"]
    with open_tournament(_settings(tmp_path, signals=True)) as t:
        assert [c.slug for c in t.competitions] == ["classic", "signals"]
        source = t.using("signals").competition.source
        assert isinstance(source, SignalsRoundData)
        assert source._market is t.data  # its pipeline, once round 1 fixes the market
    with pytest.raises(InvalidParameterError, match="Signals needs a market"):
        open_tournament(_settings(tmp_path, data_source="synthetic", signals=True))

    prices = tmp_path / "prices.parquet"
    simulate_market(MarketConfig(n_stocks=20, n_days=60, seed=3)).prices.to_parquet(prices)
    market = _settings(tmp_path, data_source="prices", prices_path=prices)
    assert market.signals_enabled is True
    with open_tournament(market) as t:
        assert [c.slug for c in t.competitions] == ["classic", "signals"]
        signals = t.using("signals").competition
        assert signals.runnable and signals.schedule == t.competition.schedule
        assert isinstance(signals.source, SignalsRoundData)
        assert signals.source.market is t.data  # one market for both competitions
        assert isinstance(signals.rules, SignalsRules) and isinstance(signals.gate, SignalsGate)
        assert signals.scorer is signals_scorer
        assert signals.source.workdir == market.home / "signals"
    off = _settings(tmp_path, data_source="prices", prices_path=prices, signals=False)
    with open_tournament(off) as t:
        assert [c.slug for c in t.competitions] == ["classic"]

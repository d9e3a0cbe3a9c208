"""The simulated market's plan carries its alpha strength (the demo's calibration): saved
with the plan, so every process simulates the same market; plans saved before it existed
keep the simulated source's default."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from crowdalpha.tournament.simulated import (
    MARKET_FILE,
    SIMULATED_MARKET,
    SimulatedRoundData,
    plan_market,
)

OPENS = datetime(2026, 11, 28, 18, tzinfo=UTC)


def test_the_plan_overrides_only_the_alpha_strength() -> None:
    default = plan_market(OPENS, stocks=50, seed=1).market_config()
    assert default.alpha_strength == SIMULATED_MARKET["alpha_strength"]
    stronger = plan_market(OPENS, stocks=50, seed=1, alpha_strength=0.1).market_config()
    assert stronger.alpha_strength == 0.1 != default.alpha_strength
    assert stronger.alpha_volume_leak == default.alpha_volume_leak == 0.3
    assert stronger.n_stocks == 50 and stronger.start == default.start


def test_the_alpha_strength_is_saved_with_the_plan(tmp_path: Path) -> None:
    source = SimulatedRoundData(tmp_path, stocks=50, seed=1, alpha_strength=0.1)
    plan = source.fix_market(OPENS)
    assert json.loads((tmp_path / MARKET_FILE).read_text())["alpha_strength"] == 0.1
    # another process, whatever it was given, simulates the saved market
    again = SimulatedRoundData(tmp_path, stocks=999, seed=7)
    assert again.plan == plan and again.fix_market(OPENS).market_config().alpha_strength == 0.1


def test_a_plan_saved_before_the_field_keeps_the_default(tmp_path: Path) -> None:
    plan = plan_market(OPENS, stocks=50, seed=1)
    saved = {k: v for k, v in plan.__dict__.items() if k != "alpha_strength"}
    (tmp_path / MARKET_FILE).write_text(json.dumps(saved))
    loaded = SimulatedRoundData(tmp_path).plan
    assert loaded is not None
    assert loaded.market_config().alpha_strength == SIMULATED_MARKET["alpha_strength"]

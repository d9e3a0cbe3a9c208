"""Skill shows in the demo (issue 18): on the demo's defaults — not on a seed picked to pass —
the example model's validation CORR is clearly positive, the leaderboard orders the bot kinds
by their skill, and the open round is the one the real clock is in (numerapi's
``check_round_open()`` compares with it)."""

from __future__ import annotations

import dataclasses
import json
import statistics
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from crowdalpha import scoring
from crowdalpha.demo import DemoConfig, DemoTournament, set_up_demo

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoTournament:
    """The demo on its defaults (market, rounds, bots, seed), set up once for these tests —
    without the fund's trading at the end, which reads the rounds and changes none of what
    these tests look at (the leaderboard, the calendar, the published files)."""
    config = dataclasses.replace(DemoConfig(), fund=False)
    return set_up_demo(tmp_path_factory.mktemp("demo-skill"), config)


def _kind(model_name: str) -> str:
    return model_name.split("_", 1)[0]


def test_the_leaderboard_orders_the_bot_kinds_by_skill(demo: DemoTournament) -> None:
    rows = [r for r in demo.tournament.leaderboard() if r.reputation is not None]
    assert len(rows) >= 40 and min(r.rounds for r in rows) >= 4  # resolved rounds count
    by_kind: dict[str, list[float]] = {}
    for row in rows:
        by_kind.setdefault(_kind(row.model_name), []).append(float(row.reputation or 0.0))
    median = {kind: statistics.median(values) for kind, values in by_kind.items()}
    assert median["good"] > median["mediocre"] > median["random"] > median["anti"], median
    top_quarter = rows[: len(rows) // 4]
    assert not [r.model_name for r in top_quarter if _kind(r.model_name) == "anti"]


def test_the_open_round_is_the_one_the_real_clock_is_in(demo: DemoTournament) -> None:
    current = demo.tournament.current_round()
    assert current is not None
    now = datetime.now(UTC)
    # what check_round_open() compares; the set-up ran moments ago
    assert current.opens_at < now < current.closes_at
    assert abs(demo.clock.now() - now) < timedelta(hours=1)
    # the market's live era lies just before the round opened, as on Numerai
    live = demo.source.pipeline.live_date(current.number)
    assert live is not None
    assert timedelta(0) < current.opens_at.replace(tzinfo=None) - live < timedelta(days=8)


def test_the_example_model_has_clearly_positive_validation_corr(demo: DemoTournament) -> None:
    """examples/example_model.py, with its default settings, on the open round's files."""
    sys.path.insert(0, str(EXAMPLES))
    try:
        import example_model
    finally:
        sys.path.remove(str(EXAMPLES))
    current = demo.tournament.current_round()
    assert current is not None
    data = demo.source.pipeline.public_dir(current.number)
    assert json.loads((data / "features.json").read_text())["feature_sets"]["medium"]
    model = example_model.train(data, "medium", era_stride=4, n_estimators=2000)
    validation = example_model.predict(model, data / "validation.parquet")
    validation = validation.dropna(subset=["target"])
    per_era = scoring.numerai_corr_by_era(
        validation[["prediction"]], validation["target"], validation["era"]
    )
    summary = scoring.summarize(per_era)["prediction"]
    # Measured on round 11 of the demo's market (DemoConfig's alpha_strength 0.1, 300
    # stocks, 20 validation eras): seed 0 mean 0.140, per-era Sharpe 3.0; seed 1 0.170 and
    # 2.8; seed 2 0.146 and 2.3. At the simulated source's default alpha (0.05) seed 0 gave
    # 0.015 and 0.23. The thresholds (mean 0.01, Sharpe 0.5) hold with a wide margin
    # on every seed tried; a Sharpe over 20 eras has a standard error of about 0.5 here.
    assert summary["mean"] >= 0.01 and summary["sharpe"] >= 0.5, summary

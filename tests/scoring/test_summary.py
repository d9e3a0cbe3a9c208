"""Per-era summaries, checked on numbers worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from crowdalpha.errors import InvalidInputError
from crowdalpha.scoring import SUMMARY_STATS, summarize


def test_summary_of_a_hand_made_series() -> None:
    per_era = pd.Series([0.02, -0.01, 0.03, -0.04, 0.01], name="m")
    s = summarize(per_era)["m"]
    assert list(s.index) == list(SUMMARY_STATS)
    assert s["mean"] == pytest.approx(0.002)
    std = math.sqrt(sum((v - 0.002) ** 2 for v in per_era) / 5)
    assert s["std"] == pytest.approx(std)
    assert s["sharpe"] == pytest.approx(0.002 / std)
    # cumulative: .02 .01 .04 .00 .01 -> peak .04, then down to .00
    assert s["max_drawdown"] == pytest.approx(0.04)
    assert s["positive_share"] == pytest.approx(0.6)


def test_nan_eras_are_skipped_per_column() -> None:
    per_era = pd.DataFrame({"a": [0.01, np.nan, 0.03], "b": [0.02, 0.02, 0.02]})
    s = summarize(per_era)
    assert s.at["mean", "a"] == pytest.approx(0.02)
    assert s.at["positive_share", "a"] == pytest.approx(1.0)
    assert s.at["max_drawdown", "a"] == 0.0
    assert s.at["std", "b"] == 0.0
    assert np.isnan(s.at["sharpe", "b"])


def test_rising_scores_have_no_drawdown_and_falling_ones_lose_everything() -> None:
    s = summarize(pd.DataFrame({"up": [0.1, 0.2, 0.3], "down": [-0.1, -0.2, -0.3]}))
    assert s.at["max_drawdown", "up"] == 0.0
    # the running peak starts at the first cumulative value (-0.1), as expanding().max() does
    assert s.at["max_drawdown", "down"] == pytest.approx(0.5)


def test_non_numeric_scores_are_refused() -> None:
    with pytest.raises(InvalidInputError):
        summarize(pd.DataFrame({"a": ["x", "y"]}))

"""Consistency of one model's scores over rounds: the cumulative score, its drawdown, and
the summary Numerai's diagnostics show (mean, std, Sharpe, max drawdown, share positive).

``per_round`` has one row per round (in time order) and one column per metric; a NaN
(a score that could not be computed) adds nothing to the cumulative score.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from crowdalpha.scoring.summary import summarize

__all__ = ["Consistency", "consistency"]


@dataclass(frozen=True)
class Consistency:
    """``summary``: stats × metrics (:func:`~crowdalpha.scoring.summarize`);
    ``cumulative``: rounds × metrics, the running sum; ``drawdown``: rounds × metrics,
    how far the running sum is below its peak so far (≥ 0)."""

    summary: pd.DataFrame
    cumulative: pd.DataFrame
    drawdown: pd.DataFrame


def consistency(per_round: pd.DataFrame) -> Consistency:
    """The consistency of ``per_round`` scores (see the module docstring)."""
    frame = per_round.astype("float64")
    cumulative = frame.fillna(0.0).cumsum()
    drawdown = cumulative.cummax().clip(lower=0.0) - cumulative
    return Consistency(summarize(frame), cumulative, drawdown.clip(lower=0.0))

"""Summaries of per-era scores: mean, std, Sharpe, max drawdown, share of positive eras."""

from __future__ import annotations

import numpy as np
import pandas as pd

from crowdalpha.errors import InvalidInputError

__all__ = ["SUMMARY_STATS", "summarize"]

#: The rows :func:`summarize` returns, in order.
SUMMARY_STATS = ("mean", "std", "sharpe", "max_drawdown", "positive_share")


def summarize(per_era: pd.DataFrame | pd.Series) -> pd.DataFrame:
    """Summarise per-era scores (eras × columns, eras in time order) column by column.

    - ``mean`` and ``std`` (ddof=0, as Numerai's diagnostics) of the per-era scores;
    - ``sharpe`` = mean / std (NaN when std is 0);
    - ``max_drawdown``: the largest fall of the cumulative score from its running peak (≥ 0);
    - ``positive_share``: the share of eras with a score above zero.

    Eras where a column is NaN are skipped for that column.
    """
    frame = per_era.to_frame() if isinstance(per_era, pd.Series) else per_era
    if not isinstance(frame, pd.DataFrame):
        raise InvalidInputError("per_era must be a pandas DataFrame or Series")
    try:
        x = frame.to_numpy(dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"per-era scores must be numeric: {exc}") from None
    valid = ~np.isnan(x)
    count = valid.sum(axis=0)
    filled = np.where(valid, x, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = filled.sum(axis=0) / count
        std = np.sqrt(np.where(valid, (x - mean) ** 2, 0.0).sum(axis=0) / count)
        sharpe = np.where(std > 0, mean / std, np.nan)
        positive = (filled > 0).sum(axis=0) / count
    # NaN eras add nothing to the cumulative score, which leaves every drawdown unchanged.
    cumulative = np.cumsum(filled, axis=0)
    drawdown = np.maximum.accumulate(cumulative, axis=0) - cumulative
    max_dd = np.where(count > 0, drawdown.max(axis=0, initial=0.0), np.nan)
    return pd.DataFrame(
        [mean, std, sharpe, max_dd, positive],
        index=pd.Index(SUMMARY_STATS, name="stat"),
        columns=frame.columns,
    )

"""The operator's fund page reads the fund's report folder (``CROWDALPHA_FUND_DIR``).

``crowdalpha fund backtest --tournament`` (and the demo) write it: ``metrics.json``,
``daily.csv`` (the daily ledger: NAV, gross, costs, net), ``book.csv`` (the latest target
book) and ``report.html``. Nothing here recomputes anything: the page shows those files.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

__all__ = ["FundFolder", "read_fund_folder"]

#: Points drawn per line at most (a long daily history is thinned evenly, ends kept).
_MAX_POINTS = 400


@dataclass(frozen=True)
class FundFolder:
    """What the fund page shows: the metrics, the equity curves, the latest book."""

    folder: Path
    metrics: dict[str, Any]
    #: Daily ``date``, ``nav`` (net, from 1) and ``gross_nav`` (before costs and borrow).
    equity: pd.DataFrame
    book: pd.DataFrame
    has_report: bool
    written_at: float

    @property
    def longs(self) -> pd.DataFrame:
        return self.book[self.book["weight"] > 0]

    @property
    def shorts(self) -> pd.DataFrame:
        return self.book[self.book["weight"] < 0]


def read_fund_folder(folder: Path) -> FundFolder | None:
    """The report folder's contents; None while no backtest has written ``metrics.json``."""
    metrics_path = folder / "metrics.json"
    if not metrics_path.is_file():
        return None
    metrics: dict[str, Any] = json.loads(metrics_path.read_text(encoding="utf-8"))
    daily = pd.read_csv(folder / "daily.csv", parse_dates=["date"])
    nav0 = float(daily["nav"].iloc[0] / (1 + daily["net"].iloc[0])) if len(daily) else 1.0
    equity = pd.DataFrame(
        {
            "date": daily["date"],
            "nav": daily["nav"] / nav0,
            "gross_nav": (1 + daily["gross"]).cumprod(),
        }
    )
    if len(equity) > _MAX_POINTS:
        step = -(-len(equity) // _MAX_POINTS)
        keep = list(range(0, len(equity), step))
        if keep[-1] != len(equity) - 1:
            keep.append(len(equity) - 1)
        equity = equity.iloc[keep]
    book_path = folder / "book.csv"
    book = (
        pd.read_csv(book_path, parse_dates=["fill_date"], dtype={"ticker": str})
        if book_path.is_file()
        else pd.DataFrame({"fill_date": [], "ticker": [], "weight": []})
    )
    return FundFolder(
        folder=folder,
        metrics=metrics,
        equity=equity.reset_index(drop=True),
        book=book,
        has_report=(folder / "report.html").is_file(),
        written_at=metrics_path.stat().st_mtime,
    )

"""``crowdalpha demo``: the scoring engine on generated data, until the tournament exists."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table

from crowdalpha import scoring
from crowdalpha.scoring import SUMMARY_STATS

_TARGET_BINS = np.array([0.0, 0.25, 0.5, 0.75, 1.0])
_TARGET_SHARES = np.array([0.05, 0.20, 0.50, 0.20, 0.05])
_SHOWN = ("mean", "sharpe", "max_drawdown", "positive_share")


def generate(
    *, eras: int, rows: int, n_features: int, seed: int
) -> tuple[pd.DataFrame, list[str], pd.DataFrame, pd.Series]:
    """Generated rows with weak signal: (data, feature names, predictions, stakes).

    Targets depend weakly on a few features; models see that signal with more or less
    noise, one is pure noise and one is a copy of another, so CORR and MMC tell them apart.
    """
    rng = np.random.default_rng(seed)
    n = eras * rows
    feats = rng.integers(0, 5, size=(n, n_features), dtype=np.int8)
    names = [f"feature_{i:04d}" for i in range(n_features)]
    weights = np.zeros(n_features)
    informative = rng.choice(n_features, size=max(2, n_features // 10), replace=False)
    weights[informative] = rng.normal(size=informative.size)
    signal = (feats - 2.0) @ weights / np.sqrt(informative.size)
    latent = 0.08 * signal + rng.normal(size=n)
    era = np.repeat(np.arange(1, eras + 1), rows)
    # Per era, bin the latent return into the five target values with 5/20/50/20/5 %.
    ranks = pd.Series(latent).groupby(era).rank(pct=True).to_numpy()
    target = _TARGET_BINS[np.searchsorted(np.cumsum(_TARGET_SHARES), ranks, side="left")]
    ids = [f"n{v:015x}" for v in rng.choice(16**15, size=n, replace=False)]
    index = pd.Index(ids, name="id")
    data = pd.DataFrame(feats, index=index, columns=names)
    data["era"] = [f"{e:04d}" for e in era]
    data["target"] = target

    def noisy(level: float) -> np.ndarray:
        return np.asarray(signal + level * rng.normal(size=n) * signal.std())

    preds = pd.DataFrame(
        {
            "sharp": noisy(1.0),
            "steady": noisy(3.0),
            "contrarian": -noisy(2.0),
            "random": rng.normal(size=n),
        },
        index=index,
    )
    preds["copycat"] = preds["sharp"] + 0.01 * rng.normal(size=n)
    # Predictions are submitted as ranks in [0, 1], as participants do.
    preds = preds.groupby(data["era"]).rank(pct=True)
    stakes = pd.Series(
        {"sharp": 900, "steady": 400, "contrarian": 100, "random": 250, "copycat": 600},
        dtype=np.float64,
    )
    return data, names, preds, stakes


def run_demo(console: Console, *, eras: int, rows: int, n_features: int, seed: int) -> None:
    with console.status("Generating data…"):
        data, names, preds, stakes = generate(
            eras=eras, rows=rows, n_features=n_features, seed=seed
        )
    console.print(
        f"Generated {eras} eras × {rows} rows, {n_features} int8 features, {preds.shape[1]} models."
    )
    meta = scoring.stake_weight(preds, stakes)
    started = time.perf_counter()
    with console.status("Scoring every model in every era…"):
        per_era = scoring.score_by_era(
            preds, data["target"], data["era"], meta_model=meta, features=data[names]
        )
        corr, mmc, fnc = per_era["corr"], per_era["mmc"], per_era["fnc"]
    elapsed = time.perf_counter() - started

    corr_s, mmc_s, fnc_s = (scoring.summarize(df) for df in (corr, mmc, fnc))
    table = Table(title=f"Per-era scores over {eras} eras (mean; Sharpe and max drawdown of CORR)")
    table.add_column("model", no_wrap=True)
    for column in ("stake", "CORR", "Sharpe", "MMC", "FNC", "max DD", "eras>0"):
        table.add_column(column, justify="right", no_wrap=True)
    for j, model in enumerate(map(str, preds.columns)):
        c, m, f = (s.to_numpy(dtype=np.float64)[:, j] for s in (corr_s, mmc_s, fnc_s))
        mean, sharpe, drawdown, positive = (SUMMARY_STATS.index(k) for k in _SHOWN)
        table.add_row(
            model,
            f"{float(stakes.iloc[j]):,.0f}",
            f"{c[mean]:+.4f}",
            f"{c[sharpe]:+.2f}",
            f"{m[mean]:+.4f}",
            f"{f[mean]:+.4f}",
            f"{c[drawdown]:.3f}",
            f"{c[positive]:.0%}",
        )
    console.print(table)
    console.print(
        f"Scored {preds.shape[1]} models × {eras} eras (CORR, MMC, FNC against "
        f"{n_features} features) in {elapsed:.2f} s."
    )

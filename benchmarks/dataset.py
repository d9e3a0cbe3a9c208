"""Benchmark: building a round's dataset from prices — time, throughput and peak memory.

Simulates a market (or reads a price file), then builds the obfuscated round (features,
targets, bins, keyed ids, v5 files) era by era, and reports each phase's wall time, rows
per second and peak RSS growth. The issue's full scale is 5,000 stocks, 20 years of weekly
eras and 1,000 features (``--stocks 5000 --days 5040 --features large``); figures and the
commands that produced them are in ``benchmarks/README.md``.

``--incremental`` also times the next round the way an operator builds it: the round of a
week earlier (the prices less their last five days) is built with an era cache, then the
full prices' round from that cache — against the full build above.
"""

from __future__ import annotations

import argparse
import platform
import shutil
import sys
import tempfile
from pathlib import Path

import pandas as pd

from _common import fmt_mib, fmt_seconds, format_table, measure, peak_method
from crowdalpha.dataset.build import BuildConfig, BuildReport, build_round
from crowdalpha.dataset.features import FeatureConfig
from crowdalpha.dataset.obfuscate import Vault
from crowdalpha.market import MarketConfig, load_prices, simulate_market


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stocks", type=int, default=3000, help="simulated stocks (3000)")
    parser.add_argument("--days", type=int, default=2520, help="simulated trading days (2520)")
    parser.add_argument("--prices", type=Path, help="a price file instead of simulating")
    parser.add_argument(
        "--features", choices=("default", "large"), default="default", help="feature config"
    )
    parser.add_argument("--validation-eras", type=int, default=52)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", type=Path, help="write the round here instead of a temp dir")
    parser.add_argument("--block-days", type=int, default=750, help="days per cell (750)")
    parser.add_argument(
        "--incremental", action="store_true", help="also time the next round from a cache"
    )
    args = parser.parse_args(argv)

    print(f"python {platform.python_version()}, pandas {pd.__version__}, {platform.machine()}")
    print(f"memory: {peak_method()}")
    rows: list[list[str]] = []
    if args.prices is not None:
        loaded = measure(lambda: load_prices(args.prices))
        prices = loaded.result
        rows.append(["load prices", fmt_seconds(loaded.best), "", fmt_mib(loaded.peak_growth)])
    else:
        config = MarketConfig(n_stocks=args.stocks, n_days=args.days, seed=args.seed)
        sim = measure(lambda: simulate_market(config))
        prices = sim.result.prices
        rate = len(prices) / sim.best
        rows.append(
            ["simulate", fmt_seconds(sim.best), f"{rate:,.0f} rows/s", fmt_mib(sim.peak_growth)]
        )
    print(
        f"prices: {len(prices):,} rows, {prices['ticker'].nunique():,} tickers, "
        f"{prices['date'].nunique():,} days"
    )
    features = FeatureConfig.large() if args.features == "large" else FeatureConfig()
    out = args.keep or Path(tempfile.mkdtemp(prefix="crowdalpha-bench-"))
    config = BuildConfig(
        features=features, validation_eras=args.validation_eras, block_days=args.block_days
    )
    try:
        built = measure(
            lambda: build_round(
                prices,
                out_dir=out / "public",
                operator_dir=out / "operator",
                vault=Vault.create(),
                round_number=1,
                config=config,
            )
        )
        report: BuildReport = built.result
        written = sum(report.rows.values())
        size = sum(f.stat().st_size for f in (out / "public").iterdir())
        rows.append(
            [
                "build round",
                fmt_seconds(built.best),
                f"{written / built.best:,.0f} rows/s",
                fmt_mib(built.peak_growth),
            ]
        )
        if args.incremental:
            rows += _incremental(prices, out, config)
    finally:
        if args.keep is None:
            shutil.rmtree(out, ignore_errors=True)
    print(format_table(["phase", "time [s]", "throughput", "peak RSS growth [MiB]"], rows))
    eras = {k: len(v) for k, v in report.eras.items()}
    print(
        f"round: {written:,} rows in {sum(eras.values())} eras {eras}, {report.features} "
        f"features, {len(report.targets)} targets, {fmt_mib(size)} MiB of parquet"
    )
    return 0


def _incremental(prices: pd.DataFrame, out: Path, config: BuildConfig) -> list[list[str]]:
    """Build last week's round into a cache, then this week's from it; one row each."""
    days = pd.DatetimeIndex(prices["date"].unique())
    earlier = prices[prices["date"] < days[-5]].reset_index(drop=True)
    vault, cache = Vault.create(), out / "cache"
    rows = []
    for name, frame, number in (
        ("round a week earlier, filling the cache", earlier, 1),
        ("next round from the cache", prices, 2),
    ):
        built = measure(
            lambda frame=frame, number=number: build_round(
                frame,
                out_dir=out / f"inc{number}" / "public",
                operator_dir=out / f"inc{number}" / "operator",
                vault=vault,
                round_number=number,
                config=config,
                cache_dir=cache,
            )
        )
        report: BuildReport = built.result
        written = sum(report.rows.values())
        rows.append(
            [
                f"{name} ({len(report.computed)} eras computed, {len(report.reused)} reused)",
                fmt_seconds(built.best),
                f"{written / built.best:,.0f} rows/s",
                fmt_mib(built.peak_growth),
            ]
        )
    size = sum(f.stat().st_size for f in cache.rglob("*.npz"))
    print(f"era cache: {fmt_mib(size)} MiB on disk")
    return rows


if __name__ == "__main__":
    sys.exit(main())

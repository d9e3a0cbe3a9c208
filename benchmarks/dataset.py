"""Benchmark: building a round's dataset from prices — time, throughput and peak memory.

Simulates a market (or reads a price file), then builds the obfuscated round (features,
targets, bins, keyed ids, v5 files) era by era, and reports each phase's wall time, rows
per second and peak RSS growth. The issue's full scale is 5,000 stocks, 20 years of weekly
eras and 1,000 features (``--stocks 5000 --days 5040 --features large``); figures and the
commands that produced them are in ``benchmarks/README.md``.
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
    try:
        built = measure(
            lambda: build_round(
                prices,
                out_dir=out / "public",
                operator_dir=out / "operator",
                vault=Vault.create(),
                round_number=1,
                config=BuildConfig(features=features, validation_eras=args.validation_eras),
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


if __name__ == "__main__":
    sys.exit(main())

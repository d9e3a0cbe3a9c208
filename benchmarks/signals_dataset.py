"""Benchmark: a Numerai Signals round's data from prices — time, throughput, peak memory.

Simulates a market (or reads a price file), then builds the Signals round whose live date
leaves the longest target horizon of future in the prices: universe and ids, public
features, factor-neutral targets, N and v of every history row, the v2.0/v2.1/v1.0 files
and the example model. Then the operator's side: the live universe with N and v
(``signals_live``) and the realized targets once known (``signals_outcome``). Reports
each phase's wall time, rows per second and peak RSS growth, and checks the neutralizers
against numerai-tools 0.7.2 (its ``generate_neutralized_weights`` must give weights with
no exposure to N's span; exit status 1 otherwise). Figures and commands are in
``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import platform
import resource
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from _common import CpuContention, fmt_mib, fmt_seconds, format_table, measure, peak_method
from crowdalpha.dataset.obfuscate import Vault
from crowdalpha.dataset.signals import (
    SignalsBuildReport,
    SignalsConfig,
    build_signals_round,
    signals_live,
    signals_outcome,
)
from crowdalpha.market import MarketConfig, load_prices, simulate_market


def _cpu() -> float:
    """CPU seconds this process has used (user + system): on a shared machine a phase's
    own cost, which its wall time is not."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _neutrality(n: pd.DataFrame, v: pd.Series) -> float:
    """The largest exposure to N's columns of numerai-tools' neutral weights, relative to
    the weights' total size (0 for a perfectly orthonormal N)."""
    from numerai_tools.scoring import generate_neutralized_weights

    rng = np.random.default_rng(0)
    predictions = pd.DataFrame({"p": rng.random(len(n))}, index=n.index)
    weights = generate_neutralized_weights(predictions, n, v)["p"].to_numpy()
    exposure = np.abs(n.to_numpy().T @ weights).max()
    return float(exposure / np.abs(weights).sum())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stocks", type=int, default=5000, help="simulated stocks (5000)")
    parser.add_argument("--days", type=int, default=2520, help="simulated trading days (2520)")
    parser.add_argument("--prices", type=Path, help="a price file instead of simulating")
    parser.add_argument("--validation-eras", type=int, default=52)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--no-neutralizer-files", action="store_true", help="skip the v2.1 N and v files"
    )
    parser.add_argument("--keep", type=Path, help="write the round here instead of a temp dir")
    args = parser.parse_args(argv)

    print(f"python {platform.python_version()}, pandas {pd.__version__}, {platform.machine()}")
    print(f"memory: {peak_method()}")
    rows: list[list[str]] = []
    if args.prices is not None:
        cpu = _cpu()
        loaded = measure(lambda: load_prices(args.prices))
        prices = loaded.result
        rows.append(
            [
                "load prices",
                fmt_seconds(loaded.best),
                fmt_seconds(_cpu() - cpu),
                "",
                fmt_mib(loaded.peak_growth),
            ]
        )
    else:
        market = MarketConfig(n_stocks=args.stocks, n_days=args.days, seed=args.seed)
        cpu = _cpu()
        sim = measure(lambda: simulate_market(market).prices)
        prices = sim.result
        rate = len(prices) / sim.best
        rows.append(
            [
                "simulate",
                fmt_seconds(sim.best),
                fmt_seconds(_cpu() - cpu),
                f"{rate:,.0f} rows/s",
                fmt_mib(sim.peak_growth),
            ]
        )
    days = pd.DatetimeIndex(prices["date"].unique())
    print(
        f"prices: {len(prices):,} rows, {prices['ticker'].nunique():,} tickers, {len(days):,} days"
    )
    config = SignalsConfig(
        validation_eras=args.validation_eras, neutralizer_files=not args.no_neutralizer_files
    )
    live = days[-(config.lag + max(config.horizons) + 1)]
    vault = Vault.create()
    out = args.keep or Path(tempfile.mkdtemp(prefix="crowdalpha-signals-bench-"))
    try:
        cpu = _cpu()
        with CpuContention("build"):
            built = measure(
                lambda: build_signals_round(
                    prices,
                    live_date=live,
                    out_dir=out / "public",
                    operator_dir=out / "operator",
                    vault=vault,
                    config=config,
                )
            )
        report: SignalsBuildReport = built.result
        written = report.rows["train"] + report.rows["validation"] + report.rows["live"]
        eras = {k: len(v) for k, v in report.eras.items()}
        rows.append(
            [
                f"build round ({sum(eras.values())} eras)",
                fmt_seconds(built.best),
                fmt_seconds(_cpu() - cpu),
                f"{written / built.best:,.0f} rows/s",
                fmt_mib(built.peak_growth),
            ]
        )
        cpu = _cpu()
        at_live = measure(lambda: signals_live(prices, live, vault=vault, config=config))
        rows.append(
            [
                "live universe, N and v",
                fmt_seconds(at_live.best),
                fmt_seconds(_cpu() - cpu),
                f"{report.rows['live']:,} tickers",
                fmt_mib(at_live.peak_growth),
            ]
        )
        cpu = _cpu()
        outcome = measure(lambda: signals_outcome(prices, live, vault=vault, config=config))
        outcome_cpu = _cpu() - cpu
        result = outcome.result
        if result is None or not result.final:
            print("the outcome is not final: the prices do not reach the horizon")
            return 1
        rows.append(
            [
                "outcome (targets, N, v)",
                fmt_seconds(outcome.best),
                fmt_seconds(outcome_cpu),
                f"{len(result.universe):,} tickers",
                fmt_mib(outcome.peak_growth),
            ]
        )
        sizes = {
            str(p.relative_to(out / "public")): p.stat().st_size
            for p in sorted((out / "public").rglob("*"))
            if p.is_file()
        }
    finally:
        if args.keep is None:
            shutil.rmtree(out, ignore_errors=True)
    headers = ["phase", "wall [s]", "CPU [s]", "throughput", "peak RSS growth [MiB]"]
    print(format_table(headers, rows))
    print(
        f"round: {written:,} rows in eras {eras}, {len(report.features)} features, "
        f"{len(report.targets)} targets, {len(report.neutralizers)} neutralizer columns"
    )
    print(format_table(["file", "MiB"], [[name, fmt_mib(size)] for name, size in sizes.items()]))
    print(f"total: {fmt_mib(sum(sizes.values()))} MiB of files")
    exposure = _neutrality(result.neutralizers, result.sample_weights)
    print(f"numerai-tools neutral weights: largest exposure to N = {exposure:.1e} of Σ|w|")
    return 0 if exposure < 1e-9 else 1


if __name__ == "__main__":
    sys.exit(main())

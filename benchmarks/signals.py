"""Benchmark the Signals round scorer and churn engine against numerai-tools, side by side.

Workload 1, round resolution: M models' cleaned signals over N tickers (each model ranks a
random 40-100% of the universe, the rest filled with 0.5), three targets (some unknown),
200 neutralizer factors orthonormal under the sample weights, 23 public features, random
stakes. Ours: ``score_signals_round`` with CORR, MMC (against the stake-weighted meta model
it builds), FNC, Alpha and MPC — the Signals payout set — on all M models. Reference:
numerai-tools 0.7.2 on a subset of S models, (a) called once per model for CORR, MMC, FNC
and Alpha (timed on a few, extrapolated to M), (b) given the S models as one DataFrame
(extrapolated linearly to M). MPC depends on every model's stake, so the numbers are
checked on the subset: ours on the S models against the reference on the same S models.

Workload 2, the stake gate: the same M models against each model's 5 previous weeks (the
universe drifting by a few tickers a week): ``churn_and_turnover`` and
``mean_neutral_churn``. Reference: ``calculate_max_churn_and_turnover`` and
``calculate_mean_neutral_churn`` once per model, timed on a few and extrapolated; the
numbers are checked on those models.

Usage:
    .venv/bin/python benchmarks/signals.py                 # both workloads, 10,000 x 5,000
    .venv/bin/python benchmarks/signals.py --quick         # a smoke run, seconds
    .venv/bin/python benchmarks/signals.py --workload 1 --models 2000
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from importlib import metadata

import numerai_tools.scoring as nt
import numerai_tools.signals as nts
import numpy as np
import pandas as pd
from scipy import special

import crowdalpha.scoring as ca
from _common import (
    CpuContention,
    fmt_diff,
    fmt_mib,
    fmt_ratio,
    fmt_seconds,
    format_table,
    measure,
    peak_method,
    release_memory,
)

PAYOUT_METRICS = {
    "corr": "target",
    "mmc": "target_factor_neutral_20",
    "fnc": "target",
    "alpha": "target_chili_60",
    "mpc": "target_chili_60",
}
TOLERANCE = {"corr": 1e-9, "mmc": 1e-9, "fnc": 1e-7, "alpha": 1e-9, "mpc": 1e-9}
GOAL_SECONDS = 30.0
TARGET_VALUES = np.array([0.0, 0.25, 0.5, 0.75, 1.0])
TARGET_SHARES = np.array([0.05, 0.20, 0.50, 0.20, 0.05])


# --------------------------------------------------------------------------- data


def _tickers(n: int, offset: int = 0) -> pd.Index:
    return pd.Index([f"T{i + offset:05d} US" for i in range(n)], name="numerai_ticker")


def _neutralizers(
    rng: np.random.Generator, ids: pd.Index, factors: int
) -> tuple[pd.DataFrame, pd.Series]:
    v = pd.Series(rng.lognormal(0.0, 0.7, len(ids)), index=ids, name="sample_weights")
    v *= len(ids) / v.sum()
    root = np.sqrt(v.to_numpy())[:, None]
    q, _ = np.linalg.qr(rng.standard_normal((len(ids), factors)) * root)
    n = pd.DataFrame(q / root, index=ids).add_prefix("neutralizer_")
    return n, v


def _signals(
    rng: np.random.Generator,
    ids: pd.Index,
    models: int,
    base: np.ndarray | None = None,
    keep_raw: int = 0,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Cleaned signals: each model ranks 40-100% of the universe, the rest is 0.5; and the
    first ``keep_raw`` models' raw submissions (NaN where not submitted)."""
    n = len(ids)
    skill = rng.uniform(0.0, 0.3, models)
    values = rng.standard_normal((models, n))
    if base is not None:  # next week's signals: the same views, a little news
        values = base + 0.3 * values
    else:
        values += skill[:, None] * rng.standard_normal(n)[None, :]
    values = special.ndtr(values)  # into (0, 1), as a submission must be
    submitted = rng.random((models, n)) < rng.uniform(0.4, 1.0, models)[:, None]
    values[~submitted] = np.nan
    names = [f"model_{m:05d}" for m in range(models)]
    raw = pd.DataFrame(values[:keep_raw].T, index=ids, columns=names[:keep_raw])
    cleaned = ca.clean_signals(pd.DataFrame(values.T, index=ids), ids)
    cleaned.columns = names
    return cleaned, raw


def round_data(models: int, tickers: int, factors: int, seed: int) -> dict[str, object]:
    rng = np.random.default_rng(seed)
    ids = _tickers(tickers)
    targets = pd.DataFrame(
        {
            name: rng.choice(TARGET_VALUES, size=tickers, p=TARGET_SHARES)
            for name in ("target", "target_factor_neutral_20", "target_chili_60")
        },
        index=ids,
    )
    targets.iloc[rng.choice(tickers, tickers // 100, replace=False), 0] = np.nan
    n, v = _neutralizers(rng, ids, factors)
    features = pd.DataFrame(rng.standard_normal((tickers, 23)), index=ids).add_prefix("feature_")
    stakes = pd.Series(rng.integers(0, 5_000, models).astype(float))
    return {
        "signals": _signals(rng, ids, models)[0],
        "targets": targets,
        "n": n,
        "v": v,
        "features": features,
        "stakes": stakes,
    }


def _stakes(d: dict[str, object]) -> pd.Series:
    signals: pd.DataFrame = d["signals"]  # type: ignore[assignment]
    raw: pd.Series = d["stakes"]  # type: ignore[assignment]
    return pd.Series(raw.to_numpy()[: signals.shape[1]], index=signals.columns)


def subset(d: dict[str, object], models: int) -> dict[str, object]:
    out = dict(d)
    out["signals"] = d["signals"].iloc[:, :models]  # type: ignore[attr-defined]
    return out


# --------------------------------------------------------------------------- workload 1


def ours_round(d: dict[str, object]) -> ca.SignalsRoundScores:
    return ca.score_signals_round(
        d["signals"],  # type: ignore[arg-type]
        d["targets"],  # type: ignore[arg-type]
        metrics=PAYOUT_METRICS,
        stakes=_stakes(d),
        features=d["features"],  # type: ignore[arg-type]
        neutralizers=d["n"],  # type: ignore[arg-type]
        sample_weights=d["v"],  # type: ignore[arg-type]
    )


def reference_metric(d: dict[str, object], meta: pd.Series, metric: str) -> pd.Series:
    signals: pd.DataFrame = d["signals"]  # type: ignore[assignment]
    t: pd.Series = d["targets"][PAYOUT_METRICS[metric]]  # type: ignore[index]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        match metric:
            case "corr":
                return nt.numerai_corr(signals, t)
            case "mmc":
                return nt.correlation_contribution(signals, meta, t)
            case "fnc":
                return nt.feature_neutral_corr(signals, d["features"], t)
            case "alpha":
                return nt.alpha(signals, d["n"], d["v"], t)
            case "mpc":
                return nt.meta_portfolio_contribution(signals, _stakes(d), d["n"], d["v"], t)
    raise ValueError(metric)


def workload_1(args: argparse.Namespace) -> bool:
    print(
        f"\n== Workload 1: {args.models:,} models x {args.tickers:,} tickers, "
        f"{args.factors} neutralizers, 23 features =="
    )
    d = round_data(args.models, args.tickers, args.factors, args.seed)
    with CpuContention("ours"):
        cpu = time.process_time()
        ours = measure(lambda: ours_round(d), args.repeats)
        cpu = (time.process_time() - cpu) / args.repeats
    print(
        f"ours, score_signals_round (CORR, MMC, FNC, Alpha, MPC): best {fmt_seconds(ours.best)} s "
        f"of {args.repeats} (CPU {fmt_seconds(cpu)} s a run, all threads), "
        f"peak {fmt_mib(ours.peak_growth)} MiB"
    )
    if args.skip_reference:
        return True
    small = subset(d, args.subset)
    ours_small = ours_round(small)
    meta = ours_small.meta_model
    assert meta is not None
    rows, ok = [], True
    with CpuContention("reference"):
        for metric in PAYOUT_METRICS:
            release_memory()
            start = time.perf_counter()
            ref = reference_metric(small, meta, metric)
            all_columns = time.perf_counter() - start
            per_model = None
            if metric != "mpc":  # MPC of one model alone is not defined by itself
                one = subset(d, 1)
                picks = range(min(args.per_model_sample, args.subset))
                start = time.perf_counter()
                for j in picks:
                    one["signals"] = small["signals"].iloc[:, [j]]  # type: ignore[attr-defined]
                    reference_metric(one, meta, metric)
                per_model = (time.perf_counter() - start) / len(picks) * args.models
            diff = float(np.nanmax(np.abs(ours_small.scores[metric].to_numpy() - ref.to_numpy())))
            ok &= diff <= TOLERANCE[metric]
            scale = args.models / args.subset
            rows.append(
                [
                    metric.upper(),
                    fmt_seconds(per_model) if per_model is not None else "-",
                    fmt_seconds(all_columns * scale),
                    fmt_diff(diff),
                ]
            )
    print(format_table(["metric", "(a) per model*", "(b) all columns*", "max |diff|"], rows))
    total_b = sum(float(r[2]) for r in rows)
    print(
        f"* extrapolated to {args.models:,} models from {args.subset} (b) and "
        f"{args.per_model_sample} (a) models"
    )
    print(
        f"ours {fmt_seconds(ours.best)} s vs (b) {fmt_seconds(total_b)} s: "
        f"{fmt_ratio(total_b / ours.best)}; goal under {GOAL_SECONDS:.0f} s: "
        f"{'met' if ours.best < GOAL_SECONDS else 'NOT met'}"
    )
    print(f"numbers agree within tolerance: {ok}")
    return ok


# --------------------------------------------------------------------------- workload 2


Week = tuple[ca.SignalsEra, pd.DataFrame]


def weeks(args: argparse.Namespace) -> tuple[Week, dict[str, Week]]:
    """This week and the 5 before; the universe drifts by 10 tickers a week (the ticker at
    position j of week -w is the one at position j + 10w of this week's)."""
    rng = np.random.default_rng(args.seed + 1)
    base = rng.standard_normal((args.models, args.tickers))
    previous = {}
    for w in range(5, 0, -1):
        ids = _tickers(args.tickers, offset=-10 * w)
        shifted = np.roll(base, 10 * w, axis=1)
        n, v = _neutralizers(rng, ids, args.factors)
        cleaned, raw = _signals(rng, ids, args.models, shifted, args.per_model_sample)
        previous[f"week-{w}"] = (ca.SignalsEra(cleaned, n, v), raw)
    ids = _tickers(args.tickers)
    n, v = _neutralizers(rng, ids, args.factors)
    cleaned, raw = _signals(rng, ids, args.models, base, args.per_model_sample)
    return (ca.SignalsEra(cleaned, n, v), raw), previous


def _raw_submission(raw: pd.DataFrame, model: str) -> pd.Series:
    return raw[model].dropna().rename("signal")


def workload_2(args: argparse.Namespace) -> bool:
    print(
        f"\n== Workload 2: {args.models:,} models x {args.tickers:,} tickers, "
        "each against its 5 previous weeks =="
    )
    (current, current_raw), earlier = weeks(args)
    previous = {k: era for k, (era, _) in earlier.items()}
    with CpuContention("ours"):
        cpu = time.process_time()
        gate = measure(lambda: ca.churn_and_turnover(current, previous), args.repeats)
        cpu_gate = (time.process_time() - cpu) / args.repeats
        cpu = time.process_time()
        neutral = measure(lambda: ca.mean_neutral_churn(current, previous), args.repeats)
        cpu_neutral = (time.process_time() - cpu) / args.repeats
    if args.skip_reference:
        print(
            f"ours: max churn and turnover {fmt_seconds(gate.best)} s (CPU "
            f"{fmt_seconds(cpu_gate)} s), mean neutral churn {fmt_seconds(neutral.best)} s "
            f"(CPU {fmt_seconds(cpu_neutral)} s)"
        )
        return True
    picks = list(current.signals.columns[: args.per_model_sample])
    ref_gate: dict[str, tuple[float, float]] = {}
    ref_neutral: dict[str, float] = {}
    with CpuContention("reference"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t_gate = t_neutral = 0.0
        for model in picks:
            call = (
                _raw_submission(current_raw, model),
                current.neutralizers,
                current.sample_weights,
                {k: _raw_submission(raw, model) for k, (_, raw) in earlier.items()},
                {k: e.neutralizers for k, e in previous.items()},
                {k: e.sample_weights for k, e in previous.items()},
            )
            start = time.perf_counter()
            ref_gate[model] = nts.calculate_max_churn_and_turnover(*call)
            t_gate += time.perf_counter() - start
            start = time.perf_counter()
            ref_neutral[model] = nts.calculate_mean_neutral_churn(*call)
            t_neutral += time.perf_counter() - start
    scale = args.models / len(picks)
    result, mean = gate.result, neutral.result.mean
    diff_gate = max(
        max(abs(result.max_churn[m] - c), abs(result.max_turnover[m] - t))
        for m, (c, t) in ref_gate.items()
    )
    diff_neutral = max(abs(mean[m] - ref_neutral[m]) for m in picks)
    rows = [
        [
            "max churn and turnover",
            fmt_seconds(gate.best),
            fmt_seconds(cpu_gate),
            fmt_seconds(t_gate * scale),
            fmt_ratio(t_gate * scale / gate.best),
            fmt_diff(diff_gate),
            fmt_mib(gate.peak_growth),
        ],
        [
            "mean neutral churn",
            fmt_seconds(neutral.best),
            fmt_seconds(cpu_neutral),
            fmt_seconds(t_neutral * scale),
            fmt_ratio(t_neutral * scale / neutral.best),
            fmt_diff(diff_neutral),
            fmt_mib(neutral.peak_growth),
        ],
    ]
    print(
        format_table(
            ["function", "ours", "ours CPU", "per model*", "ratio", "max |diff|", "peak MiB"], rows
        )
    )
    print(f"* numerai-tools once per model, timed on {len(picks)}, extrapolated to {args.models:,}")
    ok = diff_gate <= 1e-9 and diff_neutral <= 1e-7
    print(f"numbers agree within tolerance: {ok}")
    return ok


# --------------------------------------------------------------------------- main


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workload", choices=("1", "2", "all"), default="all")
    parser.add_argument("--models", type=int, default=10_000)
    parser.add_argument("--tickers", type=int, default=5_000)
    parser.add_argument("--factors", type=int, default=200, help="neutralizer columns")
    parser.add_argument("--subset", type=int, default=100, help="models the reference scores")
    parser.add_argument("--per-model-sample", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--skip-reference", action="store_true", help="time ours only (no numerai-tools)"
    )
    parser.add_argument("--quick", action="store_true", help="200 models x 500 tickers")
    args = parser.parse_args(argv)
    if args.quick:
        args.models, args.tickers, args.factors, args.subset = 200, 500, 20, 20
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    versions = ", ".join(
        f"{p} {metadata.version(p)}" for p in ("numpy", "pandas", "scipy", "numerai-tools")
    )
    print(f"Python {platform.python_version()}, {versions}; {peak_method()}")
    runs: list[Callable[[argparse.Namespace], bool]] = []
    if args.workload in ("1", "all"):
        runs.append(workload_1)
    if args.workload in ("2", "all"):
        runs.append(workload_2)
    results = [run(args) for run in runs]  # every workload runs, even after a failure
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())

"""Find the near-identical submissions of one round: 10,000 models × 5,000 rows.

The workload of issue 18 (duplicates and sybils): every pair of a round's submissions
whose rank correlation is at least 0.99, grouped into clusters, with
``crowdalpha.scoring.find_duplicates`` (one blocked float32 matrix product over centred
ranks). Goal: under 10 s on 2 cores.

The generated round looks like a crowd: every model is a shared market signal plus its
own noise, in families of similar strategies (rank correlation about 0.97 within a
family: near, but not duplicates), and planted duplicate clusters spread over accounts —
exact copies, copies with a little noise (about 0.995), rank-preserving transforms
(``exp``, a cube, a re-ranking). The run checks that exactly the planted clusters are
found.

The reference, side by side: ``scipy.stats.spearmanr`` on a subset of the models (its
full float64 correlation matrix, thresholded) must link exactly the pairs ours links on
that subset; its time is extrapolated to all models (the work grows with models²).

    python benchmarks/duplicates.py                        # 10,000 × 5,000, best of 3
    python benchmarks/duplicates.py --models 2000 --repeats 1 --reference-models 1000
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import resource
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import pandas as pd
import scipy
from scipy import stats

from _common import CpuContention, Measurement, fmt_mib, fmt_seconds, format_table, measure
from crowdalpha.scoring.duplicates import (
    DEFAULT_DUPLICATE_THRESHOLD,
    find_duplicates,
    rank_correlation_links,
    standardized_ranks,
)

T = TypeVar("T")


@dataclass(frozen=True)
class Round:
    predictions: pd.DataFrame
    owners: dict[str, str]
    planted: list[frozenset[str]]


def generate(models: int, rows: int, seed: int) -> Round:
    """A crowd of ``models`` with planted duplicate clusters (about 7 % of the models)."""
    rng = np.random.default_rng(seed)
    market = rng.normal(size=rows)
    families = max(1, models // 20)
    strategy = 0.6 * market + rng.normal(size=(families, rows))  # each family's idea
    columns: dict[str, np.ndarray] = {}
    owners: dict[str, str] = {}
    planted: list[frozenset[str]] = []
    n_planted = models // 40  # clusters of 2-4 models: about 7 % of all models
    originals = models - sum(1 + (c % 3) for c in range(n_planted))
    for m in range(originals):
        # within a family: rank correlation about 0.97, never 0.99
        values = strategy[m % families] + 0.17 * rng.normal(size=rows)
        columns[f"model_{m:05d}"] = values
        owners[f"model_{m:05d}"] = f"account_{m:05d}"
    sources = rng.choice(originals, size=n_planted, replace=False)
    for c in range(n_planted):
        source = f"model_{sources[c]:05d}"
        base = columns[source]
        members = [source]
        for copy in range(1 + (c % 3)):
            name = f"copy_{c:04d}_{copy}"
            kind = (c + copy) % 4
            if kind == 0:
                values = base.copy()  # an exact copy
            elif kind == 1:
                values = base + 0.1 * base.std() * rng.normal(size=rows)  # about 0.995
            elif kind == 2:
                values = np.exp(base / base.std())  # rank-preserving
            else:
                values = pd.Series(base).rank().to_numpy() ** 3  # a re-ranking, cubed
            columns[name] = values
            owners[name] = f"sybil_{c:04d}_{copy}"  # each copy on an account of its own
            members.append(name)
        planted.append(frozenset(members))
    frame = pd.DataFrame(columns, index=pd.Index([f"id{i:05d}" for i in range(rows)]))
    return Round(frame, owners, planted)


def reference_pairs(predictions: pd.DataFrame, threshold: float) -> set[tuple[int, int]]:
    """Pairs (i < j) of columns whose Spearman correlation is at least ``threshold``,
    from scipy's full correlation matrix."""
    rho = stats.spearmanr(predictions.to_numpy()).statistic
    i, j = np.nonzero(np.triu(rho >= threshold, k=1))
    return set(zip(i.tolist(), j.tolist(), strict=True))


def cpu_seconds() -> float:
    """CPU time of this process, all threads (user + system)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def timed(fn: Callable[[], T], repeats: int = 1) -> tuple[Measurement[T], float]:
    """:func:`measure` and the CPU seconds of its best run (the least contended one)."""
    cpu: list[float] = []

    def run() -> T:
        before = cpu_seconds()
        result = fn()
        cpu.append(cpu_seconds() - before)
        return result

    measured = measure(run, repeats)
    return measured, cpu[measured.times.index(measured.best)]


def steps(
    frame: pd.DataFrame, threshold: float
) -> tuple[tuple[Measurement[Any], float], tuple[Measurement[Any], float]]:
    """The two steps of ``find_duplicates`` timed apart: ranking, then the product."""
    values = frame.to_numpy(dtype=np.float64).T
    ranked = timed(lambda: standardized_ranks(values))
    z, constant = ranked[0].result
    linked = timed(lambda: rank_correlation_links(z, threshold, skip=constant))
    return ranked, linked


def blas_info() -> str:
    try:
        from threadpoolctl import threadpool_info
    except ImportError:  # pragma: no cover
        return "unknown"
    return ", ".join(
        f"{i['internal_api']} {i.get('version')} ({i['num_threads']} threads)"
        for i in threadpool_info()
        if i["user_api"] == "blas"
    )


def blas_thread_count() -> int:
    """Threads the BLAS library runs the product on (the ranking uses as many cores)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:  # pragma: no cover
        return os.cpu_count() or 1
    counts = [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]
    return max(counts, default=os.cpu_count() or 1)


def blas_threads(limit: int | None) -> contextlib.AbstractContextManager[object]:
    if limit is None:
        return contextlib.nullcontext()
    from threadpoolctl import threadpool_limits

    limiter: contextlib.AbstractContextManager[object] = threadpool_limits(
        limits=limit, user_api="blas"
    )
    return limiter


def run(args: argparse.Namespace) -> int:
    threshold = args.threshold
    threads = blas_thread_count()
    started = time.perf_counter()
    data = generate(args.models, args.rows, args.seed)
    frame = data.predictions
    print(
        f"{frame.shape[1]:,} models × {frame.shape[0]:,} rows, {len(data.planted)} planted "
        f"clusters ({sum(map(len, data.planted)):,} models), generated in "
        f"{time.perf_counter() - started:.1f} s; threshold {threshold}"
    )
    (ranked, ranked_cpu), (linked, linked_cpu) = steps(frame, threshold)
    whole, whole_cpu = timed(
        lambda: find_duplicates(frame, owners=data.owners, threshold=threshold), args.repeats
    )
    report = whole.result
    found = {frozenset(str(m) for m in c.models) for c in report.clusters}
    ok = found == set(data.planted) and all(c.across_accounts for c in report.clusters)

    # the reference's subset: every planted cluster that fits, then other models
    planted = [m for cluster in data.planted for m in sorted(cluster)]
    others = [m for m in frame.columns if m not in set(planted)]
    sub = frame[(planted + others)[: min(args.reference_models, frame.shape[1])]]
    ours_sub, ours_sub_cpu = timed(lambda: find_duplicates(sub, threshold=threshold))
    first, second, _ = rank_correlation_links(
        standardized_ranks(sub.to_numpy(dtype=np.float64).T)[0], threshold
    )
    ours_pairs = set(zip(first.tolist(), second.tolist(), strict=True))
    ref, ref_cpu = timed(lambda: reference_pairs(sub, threshold))
    agree = ref.result == ours_pairs
    scale = (frame.shape[1] / sub.shape[1]) ** 2

    cpu = f"CPU s ({threads} threads)"
    rows = [
        ["rank: standardized_ranks", fmt_seconds(ranked.best), fmt_seconds(ranked_cpu),
         fmt_mib(ranked.peak_growth), ""],
        ["product: rank_correlation_links", fmt_seconds(linked.best), fmt_seconds(linked_cpu),
         fmt_mib(linked.peak_growth), ""],
        [f"find_duplicates (best of {args.repeats})", fmt_seconds(whole.best),
         fmt_seconds(whole_cpu), fmt_mib(whole.peak_growth),
         f"{len(report.clusters)} clusters, {report.links} links"],
        [f"ours on {sub.shape[1]:,} models", fmt_seconds(ours_sub.best),
         fmt_seconds(ours_sub_cpu), fmt_mib(ours_sub.peak_growth), f"{len(ours_pairs)} links"],
        [f"scipy spearmanr on {sub.shape[1]:,} models", fmt_seconds(ref.best),
         fmt_seconds(ref_cpu), fmt_mib(ref.peak_growth),
         f"{len(ref.result)} links; same pairs: {'yes' if agree else 'NO'}"],
        [f"scipy spearmanr, extrapolated ×{scale:.0f}", fmt_seconds(ref.best * scale),
         fmt_seconds(ref_cpu * scale), "", f"{ref_cpu * scale / whole_cpu:.1f}× ours (CPU)"],
    ]  # fmt: skip
    print(format_table(["step", "wall s", cpu, "peak MiB", "result"], rows))
    idle = whole_cpu / threads
    print(
        f"planted clusters found exactly: {'yes' if ok else 'NO'}; goal < 10 s on 2 cores: "
        f"{fmt_seconds(whole.best)} s wall here, {fmt_seconds(idle)} s on {threads} idle cores "
        f"(CPU seconds / {threads}): {'met' if min(idle, whole.best) < 10 else 'NOT met'}"
    )
    return 0 if ok and agree else 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", type=int, default=10_000, help="default 10,000")
    parser.add_argument("--rows", type=int, default=5_000, help="default 5,000")
    parser.add_argument("--repeats", type=int, default=3, help="runs of ours (best kept)")
    parser.add_argument(
        "--reference-models",
        type=int,
        default=2_000,
        help="models scipy's spearmanr is run on (default 2,000), extrapolated to all",
    )
    parser.add_argument("--threshold", type=float, default=DEFAULT_DUPLICATE_THRESHOLD)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--blas-threads", type=int, help="limit BLAS threads (threadpoolctl)")
    args = parser.parse_args(argv)
    print(
        f"Python {platform.python_version()}, numpy {np.__version__}, pandas {pd.__version__}, "
        f"scipy {scipy.__version__}; BLAS: {blas_info()}; {os.cpu_count()} CPUs"
    )
    with blas_threads(args.blas_threads), CpuContention("duplicates"):
        return run(args)


if __name__ == "__main__":
    sys.exit(main())

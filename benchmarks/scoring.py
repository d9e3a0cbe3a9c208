"""Benchmark crowdalpha.scoring against numerai-tools, side by side on the same data.

Both implementations run in this one process on the same generated data. The script checks
that they agree (max |diff| <= 1e-9 for CORR and MMC, <= 1e-7 for FNC; exit status 1
otherwise), then prints the speed ratios and the peak memory of each phase.

Workload 1, round resolution: N submissions on one live era (ids "n" + 15 hex chars), targets
in {0, .25, .5, .75, 1} with 5/20/50/20/5% shares, int8 features in {0..4}. CORR, MMC against
the stake-weighted meta model (numerai-tools' stake_weight with random stakes) and FNC.
  (a) numerai-tools once per submission, a single-column DataFrame per call, the way a
      server scoring submissions one by one calls it; timed on a sample of submissions and
      extrapolated to all of them.
  (b) numerai-tools given all submissions as the columns of one DataFrame.
  ours: crowdalpha.scoring's numerai_corr, correlation_contribution and feature_neutral_corr
      on all columns.

Workload 2, validation diagnostics: one model over many eras; per-era CORR, MMC (against a
meta-model column) and FNC. The baseline is the usual ``df.groupby("era")`` loop over
numerai-tools (optionally on a sample of eras, extrapolated); ours is the three *_by_era
functions.

Usage:
    .venv/bin/python benchmarks/scoring.py --quick          # smoke test, seconds
    .venv/bin/python benchmarks/scoring.py                  # both workloads, full size
    .venv/bin/python benchmarks/scoring.py --workload 2 --eras-baseline 600
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from importlib import metadata
from pathlib import Path
from types import ModuleType

import numpy as np
import pandas as pd
from scipy.special import expit

from _common import (
    CpuContention,
    Measurement,
    current_rss,
    fmt_diff,
    fmt_mib,
    fmt_ratio,
    fmt_seconds,
    format_table,
    measure,
    peak_method,
    release_memory,
)

METRICS = ("CORR", "MMC", "FNC")
TOLERANCE = {"CORR": 1e-9, "MMC": 1e-9, "FNC": 1e-7, "stake_weight": 1e-9}
GOAL_VS_PER_SUBMISSION = 50.0
GOAL_VS_ALL_COLUMNS = 10.0
GOAL_VS_GROUPBY = 10.0

TARGET_VALUES = np.array([0.0, 0.25, 0.5, 0.75, 1.0])
TARGET_SHARES = np.array([0.05, 0.20, 0.50, 0.20, 0.05])
N_INFORMATIVE = 20  # features that drive the synthetic target
N_EXPOSED = 50  # features the synthetic predictions are exposed to
BLAS_THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


# --------------------------------------------------------------------------- configuration


@dataclass(frozen=True)
class Config:
    workload: str
    submissions: int
    rows: int
    features: int
    eras: int
    baseline_sample: int
    eras_baseline: int
    repeats: int
    seed: int
    unsorted: bool
    quick: bool
    impl: str
    blas_threads: int | None


FULL_DEFAULTS: dict[str, int] = {
    "submissions": 1000,
    "rows": 5000,
    "features": 500,
    "eras": 600,
    "baseline_sample": 30,
    "eras_baseline": 60,
    "repeats": 3,
}
QUICK_DEFAULTS: dict[str, int] = {
    "submissions": 12,
    "rows": 400,
    "features": 20,
    "eras": 8,
    "baseline_sample": 4,
    "eras_baseline": 4,
    "repeats": 2,
}


def parse_args(argv: Sequence[str] | None = None) -> Config:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    full = FULL_DEFAULTS
    parser.add_argument("--workload", choices=("1", "2", "all"), default="all", help="default all")
    parser.add_argument(
        "--submissions", type=int, help=f"workload 1: submissions (default {full['submissions']})"
    )
    parser.add_argument("--rows", type=int, help=f"rows per era (default {full['rows']})")
    parser.add_argument("--features", type=int, help=f"int8 features (default {full['features']})")
    parser.add_argument("--eras", type=int, help=f"workload 2: eras (default {full['eras']})")
    parser.add_argument(
        "--baseline-sample",
        type=int,
        help="workload 1: submissions timed for baseline (a), extrapolated to all "
        f"(default {full['baseline_sample']})",
    )
    parser.add_argument(
        "--eras-baseline",
        type=int,
        help="workload 2: eras the groupby baseline computes, extrapolated to all eras "
        f"(default {full['eras_baseline']}; pass the number of eras for the full baseline)",
    )
    parser.add_argument(
        "--repeats", type=int, help=f"runs of ours; the best counts (default {full['repeats']})"
    )
    parser.add_argument("--seed", type=int, default=0, help="data seed (default 0)")
    parser.add_argument(
        "--unsorted",
        action="store_true",
        help="workload 1: rows in random id order instead of sorted by id (FNC still gets "
        "sorted inputs on both sides, as numerai-tools' FNC requires a sorted index)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="a tiny configuration that finishes in seconds"
    )
    parser.add_argument(
        "--impl",
        default="crowdalpha.scoring",
        help="module benchmarked against numerai-tools (default crowdalpha.scoring)",
    )
    parser.add_argument(
        "--blas-threads",
        type=int,
        help="limit BLAS threads (through threadpoolctl) for both sides; default: unchanged",
    )
    ns = parser.parse_args(argv)
    if ns.blas_threads is not None and ns.blas_threads < 1:
        parser.error("--blas-threads must be >= 1")
    defaults = QUICK_DEFAULTS if ns.quick else FULL_DEFAULTS
    sizes = {
        key: getattr(ns, key) if getattr(ns, key) is not None else defaults[key] for key in defaults
    }
    for key, value in sizes.items():
        if value < 1:
            parser.error(f"--{key.replace('_', '-')} must be >= 1")
    return Config(
        workload=ns.workload,
        seed=ns.seed,
        unsorted=ns.unsorted,
        quick=ns.quick,
        impl=ns.impl,
        blas_threads=ns.blas_threads,
        **sizes,
    )


# --------------------------------------------------------------------------- data generation


def make_ids(rng: np.random.Generator, n: int) -> pd.Index:
    """``n`` distinct ids "n" + 15 hex chars, sorted."""
    values = np.unique(rng.integers(0, 16**15, size=n, dtype=np.int64))
    while len(values) < n:
        extra = rng.integers(0, 16**15, size=n - len(values), dtype=np.int64)
        values = np.unique(np.concatenate([values, extra]))
    return pd.Index([f"n{v:015x}" for v in values.tolist()], name="id")


def make_features(rng: np.random.Generator, n_rows: int, n_features: int) -> np.ndarray:
    """int8 features in {0..4}, generated as int8 (never a float64 copy of the whole block)."""
    return rng.integers(0, 5, size=(n_rows, n_features), dtype=np.int8)


def feature_combination(features: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """``(features[:, :k] - 2) @ weights``, one column at a time so that no float copy of the
    feature block is ever made."""
    out = np.zeros(features.shape[0])
    for j, weight in enumerate(weights.tolist()):
        out += weight * (features[:, j] - 2)
    return out


def standardize(x: np.ndarray) -> np.ndarray:
    sd = x.std()
    return (x - x.mean()) / (sd if sd > 0 else 1.0)


def bucketize(latent: np.ndarray) -> np.ndarray:
    """Targets in {0, .25, .5, .75, 1} with exact 5/20/50/20/5% shares within each row of the
    2-d ``latent`` (one row per era)."""
    n = latent.shape[1]
    ranks = np.argsort(np.argsort(latent, axis=1, kind="stable"), axis=1, kind="stable")
    edges = np.round(np.cumsum(TARGET_SHARES)[:-1] * n)
    return TARGET_VALUES[np.searchsorted(edges, ranks, side="right")]


def feature_frame(block: np.ndarray, index: pd.Index) -> pd.DataFrame:
    columns = [f"feature_{j:04d}" for j in range(block.shape[1])]
    return pd.DataFrame(block, index=index, columns=columns, copy=False)


@dataclass
class RoundData:
    predictions: pd.DataFrame  # rows x submissions
    targets: pd.Series
    features: pd.DataFrame  # int8
    stakes: pd.Series
    meta_model: pd.Series  # numerai-tools' stake_weight of predictions and stakes
    # FNC inputs: the same data sorted by id (the same objects when already sorted)
    fnc_predictions: pd.DataFrame
    fnc_features: pd.DataFrame
    fnc_targets: pd.Series


def make_round_data(
    rng: np.random.Generator,
    nt: ModuleType,
    n_rows: int,
    n_subs: int,
    n_features: int,
    unsorted: bool,
) -> RoundData:
    ids = make_ids(rng, n_rows)
    block = make_features(rng, n_rows, n_features)
    k = min(N_INFORMATIVE, n_features)
    signal = standardize(feature_combination(block, rng.normal(size=k)))
    targets = bucketize((signal + 2.0 * rng.standard_normal(n_rows))[None, :])[0]

    # submissions: some skill, a shared "crowd" component, feature exposures and noise
    preds = rng.standard_normal((n_rows, n_subs))
    preds += signal[:, None] * rng.uniform(0.0, 0.5, n_subs)
    preds += rng.standard_normal(n_rows)[:, None] * rng.uniform(0.0, 1.0, n_subs)
    n_exposed = min(N_EXPOSED, n_features)
    exposed = (block[:, :n_exposed] - 2).astype(np.float64)
    preds += exposed @ rng.normal(scale=0.1, size=(n_exposed, n_subs))
    preds = expit(preds / preds.std(axis=0))
    tied = rng.random(n_subs) < 0.1  # ~10% of submissions round to 2 decimals: many ties
    preds[:, tied] = np.round(preds[:, tied], 2)

    columns = pd.Index([f"model_{i:04d}" for i in range(n_subs)], name="model")
    predictions = pd.DataFrame(preds, index=ids, columns=columns, copy=False)
    target_s = pd.Series(targets, index=ids, name="target")
    features = feature_frame(block, ids)
    if unsorted:
        order = rng.permutation(n_rows)
        predictions = predictions.iloc[order]
        target_s = target_s.iloc[order]
        features = features.iloc[order]
    stakes = pd.Series(rng.lognormal(3.0, 1.5, n_subs), index=columns, name="stake")
    meta_model = nt.stake_weight(predictions, stakes).rename("meta_model")
    if unsorted:
        fnc = (predictions.sort_index(), features.sort_index(), target_s.sort_index())
    else:
        fnc = (predictions, features, target_s)
    return RoundData(predictions, target_s, features, stakes, meta_model, *fnc)


@dataclass
class ValidationData:
    predictions: pd.DataFrame  # one column, "prediction"
    targets: pd.Series
    meta_model: pd.Series
    eras: pd.Series
    features: pd.DataFrame  # int8
    era_labels: list[str]


def make_validation_data(
    rng: np.random.Generator, n_eras: int, rows_per_era: int, n_features: int
) -> ValidationData:
    n = n_eras * rows_per_era
    ids = make_ids(rng, n)  # sorted, so every era's block of rows is sorted by id too
    block = make_features(rng, n, n_features)
    k = min(N_INFORMATIVE, n_features)
    signal = standardize(feature_combination(block, rng.normal(size=k)))
    latent = signal + 2.0 * rng.standard_normal(n)
    targets = bucketize(latent.reshape(n_eras, rows_per_era)).ravel()
    del latent

    n_exposed = min(N_EXPOSED, n_features)
    pred = 0.4 * signal + rng.standard_normal(n)
    pred += feature_combination(block, rng.normal(scale=0.15, size=n_exposed))
    pred = standardize(pred)
    meta = 0.5 * signal + 0.5 * pred + rng.standard_normal(n)
    meta += feature_combination(block, rng.normal(scale=0.15, size=n_exposed))
    pred = expit(pred)
    meta = expit(standardize(meta))
    del signal

    labels = [f"{i + 1:04d}" for i in range(n_eras)]
    eras = pd.Series(np.repeat(np.array(labels, dtype=object), rows_per_era), index=ids, name="era")
    return ValidationData(
        predictions=pd.DataFrame({"prediction": pred}, index=ids),
        targets=pd.Series(targets, index=ids, name="target"),
        meta_model=pd.Series(meta, index=ids, name="meta_model"),
        eras=eras,
        features=feature_frame(block, ids),
        era_labels=labels,
    )


# --------------------------------------------------------------------------- comparison


def max_abs_diff(ours: pd.Series, ref: pd.Series) -> float:
    """Max |ours - ref| over ref's labels; inf when a label is missing or only one is NaN."""
    if not ref.index.isin(ours.index).all():
        return float("inf")
    a = ours.reindex(ref.index).to_numpy(dtype=np.float64)
    b = ref.to_numpy(dtype=np.float64)
    nan_a, nan_b = np.isnan(a), np.isnan(b)
    if (nan_a ^ nan_b).any():
        return float("inf")
    keep = ~(nan_a & nan_b)
    return float(np.abs(a[keep] - b[keep]).max()) if keep.any() else 0.0


def verdict(diff: float, metric: str) -> str:
    return "ok" if diff <= TOLERANCE[metric] else "FAIL"


def goal_line(label: str, ratio: float, goal: float) -> str:
    met = "met" if ratio >= goal else "NOT MET"
    return f"  {label}: {fmt_ratio(ratio)}   (goal >= {goal:.0f}x: {met})"


# --------------------------------------------------------------------------- workload 1


def ours_round_calls(ours: ModuleType, d: RoundData) -> dict[str, Callable[[], pd.Series]]:
    return {
        "CORR": partial(ours.numerai_corr, d.predictions, d.targets),
        "MMC": partial(ours.correlation_contribution, d.predictions, d.meta_model, d.targets),
        "FNC": partial(ours.feature_neutral_corr, d.fnc_predictions, d.fnc_features, d.fnc_targets),
    }


def per_submission(
    fn: Callable[[pd.DataFrame], pd.Series], frames: list[pd.DataFrame]
) -> pd.Series:
    return pd.concat([fn(frame) for frame in frames])


def run_round(cfg: Config, ours: ModuleType, nt: ModuleType) -> bool:
    rng = np.random.default_rng([cfg.seed, 1])
    start = time.perf_counter()
    d = make_round_data(rng, nt, cfg.rows, cfg.submissions, cfg.features, cfg.unsorted)
    gen_s = time.perf_counter() - start
    n_subs = cfg.submissions
    k = min(cfg.baseline_sample, n_subs)
    sample = np.unique(np.linspace(0, n_subs - 1, k).round().astype(int))
    k = len(sample)
    scale = n_subs / k
    cols = d.predictions.columns[sample]
    order = "sorted by id" if not cfg.unsorted else "in random id order (FNC inputs sorted)"

    print("=" * 100)
    print("Workload 1: round resolution")
    print(
        f"  data: {n_subs} submissions x {cfg.rows} rows (one live era), {cfg.features} int8 "
        f"features, rows {order}; generated in {gen_s:.1f} s; RSS now {fmt_mib(current_rss())} MiB"
    )
    print("  meta model: numerai-tools stake_weight of all submissions with random stakes")
    extrap = (
        f"timed on {k} of {n_subs} submissions and EXTRAPOLATED x{scale:.1f} to all {n_subs}"
        if k < n_subs
        else f"all {n_subs} submissions timed"
    )
    print(f"  (a) numerai-tools once per submission (single-column DataFrame per call): {extrap}")
    print(f"  (b) numerai-tools on all {n_subs} columns in one DataFrame, 1 run")
    print(f"  ours: {cfg.impl} on all {n_subs} columns, best of {cfg.repeats}")
    sys.stdout.flush()

    # per-submission frames are built up front: (a) times numerai-tools' calls only
    frames = [d.predictions[[c]] for c in cols]
    fnc_frames = [d.fnc_predictions[[c]] for c in cols]
    ref_a: dict[str, Callable[[], pd.Series]] = {
        "CORR": partial(per_submission, partial(nt.numerai_corr, targets=d.targets), frames),
        "MMC": partial(
            per_submission,
            lambda p: nt.correlation_contribution(p, d.meta_model, d.targets),
            frames,
        ),
        "FNC": partial(
            per_submission,
            lambda p: nt.feature_neutral_corr(p, d.fnc_features, d.fnc_targets),
            fnc_frames,
        ),
    }
    ref_b: dict[str, Callable[[], pd.Series]] = {
        "CORR": partial(nt.numerai_corr, d.predictions, d.targets),
        "MMC": partial(nt.correlation_contribution, d.predictions, d.meta_model, d.targets),
        "FNC": partial(nt.feature_neutral_corr, d.fnc_predictions, d.fnc_features, d.fnc_targets),
    }
    m_a: dict[str, Measurement[pd.Series]] = {}
    m_b: dict[str, Measurement[pd.Series]] = {}
    m_ours: dict[str, Measurement[pd.Series]] = {}
    for metric in METRICS:
        m_a[metric] = measure(ref_a[metric], 1)
    for metric in METRICS:
        m_b[metric] = measure(ref_b[metric], 1)
    for metric, call in ours_round_calls(ours, d).items():
        m_ours[metric] = measure(call, cfg.repeats)

    ok = True
    rows: list[list[str]] = []
    for metric in METRICS:
        t_ours = m_ours[metric].best
        t_a = m_a[metric].total * scale
        t_b = m_b[metric].total
        diff_a = max_abs_diff(m_ours[metric].result, m_a[metric].result)
        diff_b = max_abs_diff(m_ours[metric].result, m_b[metric].result)
        status = "ok" if max(diff_a, diff_b) <= TOLERANCE[metric] else "FAIL"
        ok = ok and status == "ok"
        rows.append(
            [
                metric,
                fmt_seconds(t_ours),
                fmt_seconds(t_a),
                fmt_seconds(t_b),
                fmt_ratio(t_a / t_ours),
                fmt_ratio(t_b / t_ours),
                fmt_diff(diff_a),
                fmt_diff(diff_b),
                f"{TOLERANCE[metric]:.0e}",
                status,
            ]
        )
    tot_ours = sum(m_ours[m].best for m in METRICS)
    tot_a = sum(m_a[m].total for m in METRICS) * scale
    tot_b = sum(m_b[m].total for m in METRICS)
    rows.append(
        [
            "total",
            fmt_seconds(tot_ours),
            fmt_seconds(tot_a),
            fmt_seconds(tot_b),
            fmt_ratio(tot_a / tot_ours),
            fmt_ratio(tot_b / tot_ours),
            "",
            "",
            "",
            "",
        ]
    )
    a_head = "(a)* [s]" if k < n_subs else "(a) [s]"
    print()
    print(
        format_table(
            [
                "metric",
                "ours [s]",
                a_head,
                "(b) [s]",
                "(a)/ours",
                "(b)/ours",
                "max|diff| vs (a)",
                "max|diff| vs (b)",
                "tol",
                "check",
            ],
            rows,
        )
    )
    if k < n_subs:
        print(
            f"  * (a) extrapolated: measured {fmt_seconds(tot_a / scale)} s on {k} submissions "
            f"({1000 * tot_a / n_subs:.1f} ms per submission), x{scale:.1f}"
        )
    print(f"  max|diff| vs (a) covers the {k} sampled submissions, vs (b) all {n_subs}")
    one: Measurement[pd.DataFrame] | None = None
    if hasattr(ours, "score_submissions"):
        # What a server resolving a round calls: the three metrics, ranking shared.
        one = measure(
            partial(
                ours.score_submissions,
                d.fnc_predictions,
                d.fnc_targets,
                meta_model=d.meta_model,
                features=d.fnc_features,
            ),
            cfg.repeats,
        )
        for metric, column in (("CORR", "corr"), ("MMC", "mmc"), ("FNC", "fnc")):
            diff = max_abs_diff(one.result[column], m_b[metric].result)
            status = verdict(diff, metric)
            ok = ok and status == "ok"
            print(f"  score_submissions {metric}: max|diff| vs (b) {fmt_diff(diff)} {status}")
        print(
            f"  score_submissions (CORR+MMC+FNC in one call): {fmt_seconds(one.best)} s, "
            f"{fmt_ratio(tot_a / one.best)} vs (a), {fmt_ratio(tot_b / one.best)} vs (b)"
        )
    print("goals:")
    print(goal_line("ours total vs (a) per-submission", tot_a / tot_ours, GOAL_VS_PER_SUBMISSION))
    print(goal_line("ours total vs (b) all columns   ", tot_b / tot_ours, GOAL_VS_ALL_COLUMNS))
    if one is not None:
        print(
            goal_line("score_submissions vs (a)        ", tot_a / one.best, GOAL_VS_PER_SUBMISSION)
        )
        print(goal_line("score_submissions vs (b)        ", tot_b / one.best, GOAL_VS_ALL_COLUMNS))

    # stake_weight: agreement and speed (not part of the totals above)
    if hasattr(ours, "stake_weight"):
        sw_ours = measure(partial(ours.stake_weight, d.predictions, d.stakes), cfg.repeats)
        sw_ref = measure(partial(nt.stake_weight, d.predictions, d.stakes), 1)
        diff = max_abs_diff(sw_ours.result, sw_ref.result)
        ok = ok and diff <= TOLERANCE["stake_weight"]
        print(
            f"stake_weight (meta model; not in the totals): ours {fmt_seconds(sw_ours.best)} s, "
            f"numerai-tools {fmt_seconds(sw_ref.best)} s, max|diff| {fmt_diff(diff)} "
            f"(tol {TOLERANCE['stake_weight']:.0e}) {verdict(diff, 'stake_weight')}"
        )

    print()
    print("peak memory [MiB]:")
    mem_rows = [
        [
            metric,
            fmt_mib(m_ours[metric].peak_growth),
            fmt_mib(m_a[metric].peak_growth),
            fmt_mib(m_b[metric].peak_growth),
        ]
        for metric in METRICS
    ]
    mem_rows.append(
        [
            "max",
            fmt_mib(max(m.peak_growth for m in m_ours.values())),
            fmt_mib(max(m.peak_growth for m in m_a.values())),
            fmt_mib(max(m.peak_growth for m in m_b.values())),
        ]
    )
    print(format_table(["metric", "ours", f"(a) ({k} subs)", "(b)"], mem_rows))
    print()
    return ok


# --------------------------------------------------------------------------- workload 2


def baseline_frame(v: ValidationData) -> pd.DataFrame:
    """The validation frame a user would hold: prediction, meta model, target and era columns
    (the features stay in their own int8 frame on the same index, to avoid a copy)."""
    return pd.concat([v.predictions, v.meta_model, v.targets, v.eras], axis=1)


def groupby_baseline(
    nt: ModuleType, df: pd.DataFrame, features: pd.DataFrame, eras: Sequence[str]
) -> tuple[dict[str, pd.Series], dict[str, float]]:
    """The usual per-era loop over a DataFrame grouped by era, numerai-tools on each group.

    Returns per-metric Series indexed by era and the time spent: in each metric's calls, in
    grouping (once) and in slicing the groups (the rest)."""
    t0 = time.perf_counter()
    positions = df.groupby("era", sort=True).indices  # era -> row positions
    spent = dict.fromkeys(METRICS, 0.0)
    spent["groupby"] = time.perf_counter() - t0
    out: dict[str, dict[str, float]] = {metric: {} for metric in METRICS}
    for era in eras:
        pos = positions[era]
        group = df.iloc[pos]
        group_features = features.iloc[pos]
        preds = group[["prediction"]]
        t0 = time.perf_counter()
        corr = nt.numerai_corr(preds, group["target"])
        t1 = time.perf_counter()
        mmc = nt.correlation_contribution(preds, group["meta_model"], group["target"])
        t2 = time.perf_counter()
        fnc = nt.feature_neutral_corr(preds, group_features, group["target"])
        t3 = time.perf_counter()
        spent["CORR"] += t1 - t0
        spent["MMC"] += t2 - t1
        spent["FNC"] += t3 - t2
        out["CORR"][era] = float(corr["prediction"])
        out["MMC"][era] = float(mmc["prediction"])
        out["FNC"][era] = float(fnc["prediction"])
    return {metric: pd.Series(values, dtype=np.float64) for metric, values in out.items()}, spent


def run_validation(cfg: Config, ours: ModuleType, nt: ModuleType) -> bool:
    rng = np.random.default_rng([cfg.seed, 2])
    rss0 = current_rss()
    start = time.perf_counter()
    v = make_validation_data(rng, cfg.eras, cfg.rows, cfg.features)
    gen_s = time.perf_counter() - start
    n_rows = cfg.eras * cfg.rows
    k = min(cfg.eras_baseline, cfg.eras)
    picks = np.unique(np.linspace(0, cfg.eras - 1, k).round().astype(int))
    sample = [v.era_labels[i] for i in picks]
    k = len(sample)
    scale = cfg.eras / k
    feat_mib = fmt_mib(v.features.memory_usage(index=False, deep=False).sum())

    print("=" * 100)
    print("Workload 2: validation diagnostics (per-era CORR, MMC, FNC of one model)")
    print(
        f"  data: {cfg.eras} eras x {cfg.rows} rows = {n_rows:,} rows, {cfg.features} int8 "
        f"features ({feat_mib} MiB); generated in {gen_s:.1f} s; "
        f"RSS +{fmt_mib(current_rss() - rss0)} MiB -> {fmt_mib(current_rss())} MiB"
    )
    extrap = (
        f"computed on {k} of {cfg.eras} eras (evenly spaced) and EXTRAPOLATED x{scale:.1f}"
        if k < cfg.eras
        else f"all {cfg.eras} eras"
    )
    print(f"  baseline: numerai-tools in a df.groupby('era') loop, 1 run, {extrap}")
    print(f"  ours: {cfg.impl} *_by_era on all {cfg.eras} eras, best of {cfg.repeats}")
    sys.stdout.flush()

    df = baseline_frame(v)
    base = measure(partial(groupby_baseline, nt, df, v.features, sample), 1)
    ref, spent = base.result
    slicing = base.total - sum(spent.values())  # per-era iloc of the frame and the features
    # the grouping is done once whatever the number of eras; everything else scales with it
    tot_ref = spent["groupby"] + (base.total - spent["groupby"]) * scale
    calls: dict[str, Callable[[], pd.DataFrame]] = {
        "CORR": partial(ours.numerai_corr_by_era, v.predictions, v.targets, v.eras),
        "MMC": partial(
            ours.correlation_contribution_by_era, v.predictions, v.meta_model, v.targets, v.eras
        ),
        "FNC": partial(
            ours.feature_neutral_corr_by_era, v.predictions, v.features, v.targets, v.eras
        ),
    }
    m_ours: dict[str, Measurement[pd.DataFrame]] = {}
    for metric, call in calls.items():
        m_ours[metric] = measure(call, cfg.repeats)

    ok = True
    rows: list[list[str]] = []
    for metric in METRICS:
        result = m_ours[metric].result
        if "prediction" not in result.columns:
            print(f"  {metric}: ours returned columns {list(result.columns)!r}, no 'prediction'")
            ok = False
            continue
        ours_col = result["prediction"]
        missing = set(v.era_labels) - set(map(str, result.index))
        if missing:
            print(f"  {metric}: ours is missing {len(missing)} of {cfg.eras} eras")
            ok = False
        diff = max_abs_diff(ours_col, ref[metric])
        status = verdict(diff, metric)
        ok = ok and status == "ok"
        t_ours = m_ours[metric].best
        t_ref = spent[metric] * scale
        rows.append(
            [
                metric,
                fmt_seconds(t_ours),
                fmt_seconds(t_ref),
                fmt_ratio(t_ref / t_ours),
                fmt_diff(diff),
                f"{TOLERANCE[metric]:.0e}",
                status,
            ]
        )
    tot_ours = sum(m.best for m in m_ours.values())
    rows.append(["df.groupby (once)", "", fmt_seconds(spent["groupby"]), "", "", "", ""])
    rows.append(["per-era slicing", "", fmt_seconds(slicing * scale), "", "", "", ""])
    total_row = ["total", fmt_seconds(tot_ours), fmt_seconds(tot_ref)]
    rows.append([*total_row, fmt_ratio(tot_ref / tot_ours), "", "", ""])
    b_head = "groupby* [s]" if k < cfg.eras else "groupby [s]"
    print()
    print(
        format_table(
            ["metric", "ours [s]", b_head, "groupby/ours", "max|diff|", "tol", "check"], rows
        )
    )
    if k < cfg.eras:
        print(
            f"  * extrapolated: measured {fmt_seconds(base.total)} s on {k} eras "
            f"({1000 * (base.total - spent['groupby']) / k:.1f} ms per era), x{scale:.1f} "
            "(the one-off groupby not scaled)"
        )
    print(f"  max|diff| covers the {k} eras both sides computed")
    one: Measurement[dict[str, pd.DataFrame]] | None = None
    if hasattr(ours, "score_by_era"):
        # What validation diagnostics call: the three metrics, grouping and ranking shared.
        one = measure(
            partial(
                ours.score_by_era,
                v.predictions,
                v.targets,
                v.eras,
                meta_model=v.meta_model,
                features=v.features,
            ),
            cfg.repeats,
        )
        for metric, key in (("CORR", "corr"), ("MMC", "mmc"), ("FNC", "fnc")):
            diff = max_abs_diff(one.result[key]["prediction"], ref[metric])
            status = verdict(diff, metric)
            ok = ok and status == "ok"
            print(f"  score_by_era {metric}: max|diff| {fmt_diff(diff)} {status}")
        print(
            f"  score_by_era (CORR+MMC+FNC in one call): {fmt_seconds(one.best)} s, "
            f"{fmt_ratio(tot_ref / one.best)} vs the groupby baseline, "
            f"peak memory +{fmt_mib(one.peak_growth)} MiB"
        )
    print("goals:")
    print(goal_line("ours total vs groupby baseline", tot_ref / tot_ours, GOAL_VS_GROUPBY))
    if one is not None:
        print(goal_line("score_by_era vs groupby baseline", tot_ref / one.best, GOAL_VS_GROUPBY))
    print()
    print("peak memory [MiB]:")
    mem_rows = [[metric, fmt_mib(m_ours[metric].peak_growth)] for metric in METRICS]
    mem_rows.append(["max", fmt_mib(max(m.peak_growth for m in m_ours.values()))])
    print(format_table(["metric", "ours"], mem_rows))
    print(f"  groupby baseline ({k} eras, all metrics): {fmt_mib(base.peak_growth)} MiB")
    print()
    return ok


# --------------------------------------------------------------------------- driver


def warm_up(ours: ModuleType, nt: ModuleType) -> None:
    """One tiny call of every function timed, so imports and first-call costs are excluded."""
    rng = np.random.default_rng(12345)
    d = make_round_data(rng, nt, 64, 3, 5, unsorted=False)
    for call in ours_round_calls(ours, d).values():
        call()
    nt.numerai_corr(d.predictions, d.targets)
    nt.correlation_contribution(d.predictions, d.meta_model, d.targets)
    nt.feature_neutral_corr(d.predictions, d.features, d.targets)
    if hasattr(ours, "stake_weight"):
        ours.stake_weight(d.predictions, d.stakes)
    v = make_validation_data(rng, 3, 64, 5)
    ours.numerai_corr_by_era(v.predictions, v.targets, v.eras)
    ours.correlation_contribution_by_era(v.predictions, v.meta_model, v.targets, v.eras)
    ours.feature_neutral_corr_by_era(v.predictions, v.features, v.targets, v.eras)
    groupby_baseline(nt, baseline_frame(v), v.features, v.era_labels[:1])


def import_impl(name: str) -> ModuleType:
    src = Path(__file__).resolve().parents[1] / "src"
    if src.is_dir() and str(src) not in sys.path:
        sys.path.insert(0, str(src))
    return importlib.import_module(name)


def version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "?"


def blas_note() -> str:
    """The BLAS libraries loaded (numpy's and scipy's) and their thread counts."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "unknown (threadpoolctl is not installed)"
    libs = [
        f"{info.get('internal_api')} {info.get('version')} ({info.get('architecture')}), "
        f"threads={info.get('num_threads')}"
        for info in threadpool_info()
        if info.get("user_api") == "blas"
    ]
    return "; ".join(libs) or "none loaded"


def blas_limit(threads: int | None) -> contextlib.AbstractContextManager[object]:
    if threads is None:
        return contextlib.nullcontext()
    try:
        from threadpoolctl import threadpool_limits
    except ImportError as exc:
        raise SystemExit("--blas-threads needs threadpoolctl (pip install threadpoolctl)") from exc
    limiter: contextlib.AbstractContextManager[object] = threadpool_limits(
        limits=threads, user_api="blas"
    )
    return limiter


def describe_environment(cfg: Config, ours: ModuleType) -> None:
    where = getattr(ours, "__file__", "?")
    print(
        f"python {platform.python_version()}, numpy {np.__version__}, pandas {pd.__version__}, "
        f"numerai-tools {version('numerai-tools')}, {os.cpu_count()} CPUs, {platform.machine()}"
    )
    threads = [f"{var}={os.environ[var]}" for var in BLAS_THREAD_VARS if var in os.environ]
    print(f"BLAS: {blas_note()}" + (f" ({' '.join(threads)})" if threads else ""))
    print(f"ours: {cfg.impl} ({where})")
    print(f"memory: {peak_method()}")
    print(
        f"config: workload={cfg.workload} seed={cfg.seed} repeats={cfg.repeats}"
        + (" (quick)" if cfg.quick else "")
    )
    print()


def main(argv: Sequence[str] | None = None) -> int:
    cfg = parse_args(argv)
    import numerai_tools.scoring as nt

    try:
        ours = import_impl(cfg.impl)
    except ImportError as exc:
        print(f"cannot import {cfg.impl}: {exc}", file=sys.stderr)
        return 2
    ok = True
    with blas_limit(cfg.blas_threads):
        describe_environment(cfg, ours)
        warm_up(ours, nt)
        if cfg.workload in ("1", "all"):
            with CpuContention("workload 1"):
                ok = run_round(cfg, ours, nt) and ok
            release_memory()
        if cfg.workload in ("2", "all"):
            with CpuContention("workload 2"):
                ok = run_validation(cfg, ours, nt) and ok
    if not ok:
        print("FAILED: ours and numerai-tools disagree beyond tolerance (see 'check' columns)")
        return 1
    print("all checks passed: ours agrees with numerai-tools within tolerance")
    return 0


if __name__ == "__main__":
    sys.exit(main())

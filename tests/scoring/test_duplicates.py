"""Near-identical submissions are clustered — exact copies, copies with a little noise and
rank-preserving transforms, across accounts — while near-but-different models stay apart.
Correlations agree with pandas' Spearman correlation (the reference) on data without
missing values, for every block size; the simulator's copy bots are caught.

Spreads the margins rely on: with 2,000 rows, a sample rank correlation near 0.99 varies
by about (1 − ρ²)/√n ≈ 0.0005 between seeds, so the planted pairs sit at 0.995 and 0.98,
ten spreads from the 0.99 threshold on either side. Our correlations are float32 dot
products, off from pandas' float64 ones by about √n × 6e-8 ≈ 3e-6: compared to 1e-5.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import pandas as pd
import pytest
from scipy import special

from crowdalpha.errors import (
    DegenerateDataError,
    DuplicateIdsError,
    InvalidInputError,
    InvalidParameterError,
    ScoringInputError,
)
from crowdalpha.scoring.duplicates import (
    DEFAULT_DUPLICATE_THRESHOLD,
    DuplicateReport,
    find_duplicates,
    rank_correlation_links,
    standardized_ranks,
)
from crowdalpha.simulation.bots import RoundView, make_bots, parse_roster
from crowdalpha.tournament import SyntheticRoundData

ROWS = 2_000
ATOL = 1e-5


def frame(columns: dict[str, np.ndarray]) -> pd.DataFrame:
    n = len(next(iter(columns.values())))
    return pd.DataFrame(columns, index=pd.Index([f"n{i:06x}" for i in range(n)], name="id"))


def noisy(base: np.ndarray, level: float, rng: np.random.Generator) -> np.ndarray:
    """``base`` plus Gaussian noise of ``level`` × its spread."""
    return base + level * base.std() * rng.normal(size=base.size)


def spearman(df: pd.DataFrame, a: str, b: str) -> float:
    return float(df[[a, b]].corr(method="spearman").iloc[0, 1])


def clusters(report: DuplicateReport) -> set[frozenset[str]]:
    return {frozenset(str(m) for m in c.models) for c in report.clusters}


def test_exact_copies_across_accounts_form_one_cluster() -> None:
    rng = np.random.default_rng(1)
    base = rng.random(ROWS)
    df = frame({"alpha": base, "beta": rng.random(ROWS), "gamma": base.copy(), "delta": base})
    owners = {"alpha": "alice", "beta": "bob", "gamma": "carol", "delta": "alice"}
    report = find_duplicates(df, owners=owners)
    assert report.threshold == DEFAULT_DUPLICATE_THRESHOLD == 0.99
    assert report.models == 4 and report.links == 3
    (cluster,) = report.clusters
    assert cluster.models == ("alpha", "gamma", "delta")  # in column order
    assert cluster.accounts == ("alice", "carol") and cluster.across_accounts
    assert cluster.min_correlation == cluster.max_correlation == 1.0
    assert report.across_accounts == (cluster,)
    assert report.cluster_of("gamma") is cluster and report.cluster_of("beta") is None


def test_small_noise_is_a_copy_and_a_near_model_is_not() -> None:
    rng = np.random.default_rng(2)
    base = rng.normal(size=ROWS)
    df = frame(
        {
            "original": base,
            "copy_with_noise": noisy(base, 0.1, rng),  # ρ ≈ 0.995
            "near": noisy(base, 0.2, rng),  # ρ ≈ 0.98: a similar model, not a copy
            "other": rng.normal(size=ROWS),
        }
    )
    assert 0.993 < spearman(df, "original", "copy_with_noise") < 0.997
    assert 0.975 < spearman(df, "original", "near") < 0.985
    report = find_duplicates(df, owners=dict.fromkeys(df.columns, "x") | {"near": "y"})
    assert clusters(report) == {frozenset({"original", "copy_with_noise"})}
    (cluster,) = report.clusters
    assert cluster.min_correlation == pytest.approx(
        spearman(df, "original", "copy_with_noise"), abs=ATOL
    )
    assert not cluster.across_accounts  # both on account "x": one participant's two models
    assert report.across_accounts == ()
    # a lower threshold takes the near model in too
    looser = find_duplicates(df, threshold=0.97)
    assert clusters(looser) == {frozenset({"original", "copy_with_noise", "near"})}


def test_rank_preserving_transforms_are_copies_and_a_mirror_image_is_not() -> None:
    rng = np.random.default_rng(3)
    base = rng.normal(size=ROWS)
    ranks = (pd.Series(base).rank().to_numpy() - 0.5) / ROWS
    df = frame(
        {
            "raw": base,
            "ranked": ranks,  # what participants usually submit
            "gaussianized": special.ndtri(ranks),
            "exp": np.exp(base),
            "cubed": base**3,
            "affine": 3 * base + 7,
            "mirror": 1 - ranks,  # a hedge against "raw", not a second stake on it
        }
    )
    report = find_duplicates(df, threshold=1.0)  # even at 1.0: the ranks are identical
    (cluster,) = report.clusters
    assert set(cluster.models) == set(df.columns) - {"mirror"}
    assert cluster.min_correlation == 1.0
    assert report.links == 15  # every pair of the six


def test_a_chain_of_copies_is_one_cluster_and_reports_its_weakest_link() -> None:
    rng = np.random.default_rng(4)
    first = rng.normal(size=ROWS)
    second = noisy(first, 0.1, rng)
    third = noisy(second, 0.1, rng)
    df = frame({"first": first, "second": second, "third": third})
    assert spearman(df, "first", "third") < 0.99 < spearman(df, "second", "third")
    report = find_duplicates(df, block=1)  # one model per block: the blocks' edges too
    (cluster,) = report.clusters
    assert cluster.models == ("first", "second", "third")
    assert report.links == 2  # first–third is not a link
    links = [spearman(df, "first", "second"), spearman(df, "second", "third")]
    assert cluster.min_correlation == pytest.approx(min(links), abs=ATOL)
    assert cluster.max_correlation == pytest.approx(max(links), abs=ATOL)


@cache
def crowd() -> tuple[pd.DataFrame, np.ndarray]:
    """Families of similar models (ρ ≈ 0.97 within one), plus planted copies of each kind;
    and pandas' Spearman correlation matrix of them (the reference)."""
    rng = np.random.default_rng(5)
    market = rng.normal(size=ROWS)
    ideas = [0.6 * market + rng.normal(size=ROWS) for _ in range(6)]
    columns = {f"m{m:02d}": noisy(ideas[m % 6], 0.14, rng) for m in range(60)}
    columns["copy_exact"] = columns["m03"].copy()
    columns["copy_noisy"] = noisy(columns["m07"], 0.1, rng)
    columns["copy_exp"] = np.exp(columns["m11"] / columns["m11"].std())
    columns["copy_of_copy"] = noisy(columns["copy_noisy"], 0.05, rng)
    df = frame(columns)
    return df, df.corr(method="spearman").to_numpy()


@pytest.mark.parametrize("block", [1, 7, 1024])
def test_the_links_are_pandas_spearman_pairs_at_the_threshold(block: int) -> None:
    df, reference = crowd()
    # the crowd is a fair test: families are near (0.95–0.99), only planted pairs reach 0.99
    family = reference[:60, :60][~np.eye(60, dtype=bool)]
    assert 0.95 < np.median(family[family > 0.9]) < 0.99 and family.max() < 0.99
    z, constant = standardized_ranks(df.to_numpy().T)
    assert not constant.any()
    np.testing.assert_allclose(z.astype(np.float64) @ z.T.astype(np.float64), reference, atol=ATOL)
    upper = np.triu(np.ones_like(reference, dtype=bool), k=1)
    for threshold in (0.9, 0.97, 0.99, 1.0):
        rows, cols = np.nonzero(upper & (reference >= threshold))
        want = set(zip(rows.tolist(), cols.tolist(), strict=True))
        first, second, rho = rank_correlation_links(z, threshold, block=block)
        assert set(zip(first.tolist(), second.tolist(), strict=True)) == want, threshold
        np.testing.assert_allclose(rho, reference[first, second], atol=ATOL)
        report = find_duplicates(df, threshold=threshold, block=block)
        assert report.links == len(want)
    assert clusters(find_duplicates(df, block=block)) == {
        frozenset({"m03", "copy_exact"}),
        frozenset({"m07", "copy_noisy", "copy_of_copy"}),
        frozenset({"m11", "copy_exp"}),
    }


def test_ties_gaps_and_constant_predictions() -> None:
    rng = np.random.default_rng(6)
    base = rng.normal(size=ROWS)
    binned = np.digitize(base, [-1.0, -0.3, 0.3, 1.0]) / 4  # five levels, many ties
    gappy = base.copy()
    gappy[::10] = np.nan  # a model that skipped every tenth id
    df = frame(
        {
            "binned": binned,
            "binned_copy": binned.copy(),
            "gappy": gappy,
            "gappy_copy": np.exp(gappy),
            "flat": np.full(ROWS, 0.5),
            "flat_too": np.full(ROWS, 0.25),
            "empty": np.full(ROWS, np.nan),
            "other": rng.normal(size=ROWS),
        }
    )
    assert spearman(df, "binned", "binned_copy") == 1.0
    report = find_duplicates(df)
    assert clusters(report) == {
        frozenset({"binned", "binned_copy"}),
        frozenset({"gappy", "gappy_copy"}),
        frozenset({"flat", "flat_too", "empty"}),
    }
    flat = report.cluster_of("flat")
    assert flat is not None and flat.constant and flat.min_correlation == 1.0
    gappy_cluster = report.cluster_of("gappy")
    assert gappy_cluster is not None and gappy_cluster.min_correlation == 1.0
    # a lone constant submission has no peer
    assert find_duplicates(df[["flat", "other", "binned"]]).clusters == ()


def test_the_simulators_copy_bots_are_caught() -> None:
    data = SyntheticRoundData(seed=11, rows=1_000)
    view = RoundView(number=3, features=data.features(3), signal=data.skill_signal(3))
    roster = "good=3,mediocre=3,random=2,anti=2,overfit=2,diversified=2,copy=3"
    bots = make_bots(parse_roster(roster), seed=7)
    made: dict[str, pd.Series] = {}
    for bot in bots:
        bot.predict(view, made)
    owners = {model: bot.name for bot in bots for model, _ in bot.models}
    copiers = [model for bot in bots if bot.kind == "copy" for model, _ in bot.models]
    sources = {getattr(p, "source", None) for bot in bots for _, p in bot.models} - {None}
    assert len(copiers) == 3 and len(sources) == 1
    report = find_duplicates(pd.DataFrame(made), owners=owners)
    (cluster,) = report.clusters
    assert set(cluster.models) == sources | set(copiers)
    assert cluster.across_accounts and len(cluster.accounts) == 4
    # the diversified accounts' three models share a signal but are not copies
    assert all(report.cluster_of(m) is None for m in made if m not in cluster.models)


def test_bad_input_is_refused_with_a_clear_error() -> None:
    df = frame({"a": np.arange(10.0), "b": np.arange(10.0)[::-1]})
    for threshold in (0, -0.5, 1.01, float("nan"), True, "0.99"):
        with pytest.raises(InvalidParameterError, match="threshold"):
            find_duplicates(df, threshold=threshold)  # type: ignore[arg-type]
    for block in (0, -1, 2.5, True):
        with pytest.raises(InvalidParameterError, match="block"):
            find_duplicates(df, block=block)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="DataFrame"):
        find_duplicates(df.to_numpy())  # type: ignore[arg-type]
    with pytest.raises(ScoringInputError, match="more than once"):
        find_duplicates(df.rename(columns={"b": "a"}))
    with pytest.raises(DuplicateIdsError, match="duplicated ids"):
        find_duplicates(df.set_axis(["x"] * 10))
    with pytest.raises(DegenerateDataError, match="two ids"):
        find_duplicates(df.iloc[:1])
    with pytest.raises(ScoringInputError, match="numbers"):
        find_duplicates(df.assign(c=["x"] * 10))
    with pytest.raises(ScoringInputError, match="infinity"):
        find_duplicates(df.assign(c=np.inf))
    with pytest.raises(InvalidParameterError, match="owners lacks"):
        find_duplicates(df, owners={"a": "alice"})
    with pytest.raises(InvalidInputError, match="matrix"):
        standardized_ranks(np.arange(5.0))

"""Parity of the Signals functions with numerai-tools 0.7.2 (``signals.py`` and cleaning).

Single-series functions against the reference on named cases; the vectorised engine
(:func:`crowdalpha.scoring.churn_and_turnover`, :func:`mean_neutral_churn`,
:func:`clean_signals`) against the reference applied model by model; golden values on
hand-made inputs.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numerai_tools.signals as nts
import numerai_tools.submissions as ntsub
import numpy as np
import pandas as pd
import pytest

import crowdalpha.scoring as ca
from crowdalpha.errors import (
    DegenerateDataError,
    DuplicateIdsError,
    InvalidParameterError,
    MissingValuesError,
    NotEnoughOverlapError,
    SubmissionHeadersError,
    SubmissionIdsError,
)

from .conftest import ATOL_CORR, ATOL_NEUTRAL, assert_parity

TICKERS = pd.Index([f"T{i:04d} {'US' if i % 3 else 'JP'}" for i in range(900)])


@dataclass
class Week:
    """One week's raw submission, neutralizers and sample weights (the reference's inputs)."""

    sub: pd.Series
    n: pd.DataFrame
    v: pd.Series


def make_week(
    rng: np.random.Generator,
    universe: pd.Index,
    *,
    n_factors: int = 8,
    submitted: float = 0.9,
    base: pd.Series | None = None,
    noise: float = 0.3,
    unknown: int = 2,
) -> Week:
    """A week over ``universe``: the model submits ``submitted`` of it (plus a few unknown
    tickers); its signal is ``base`` plus noise when given (a model that changes little)."""
    tickers = pd.Index(universe, name="numerai_ticker").sort_values()
    v = pd.Series(rng.lognormal(0, 0.5, len(tickers)), index=tickers, name="sample_weights")
    raw = rng.standard_normal((len(tickers), n_factors))
    q, _ = np.linalg.qr(raw * np.sqrt(v.to_numpy())[:, None])
    n = pd.DataFrame(q / np.sqrt(v.to_numpy())[:, None], index=tickers).add_prefix("neutralizer_")
    values = rng.random(len(tickers))
    if base is not None:
        values = (base.reindex(tickers).fillna(0.5).to_numpy() + noise * values) / (1 + noise)
    chosen = np.sort(rng.choice(len(tickers), round(submitted * len(tickers)), replace=False))
    sub = pd.Series(values[chosen], index=tickers[chosen], name="signal")
    extra = pd.Series(
        rng.random(unknown),
        index=pd.Index([f"ZZ{i} XX" for i in range(unknown)], name="numerai_ticker"),
        name="signal",
    )
    return Week(pd.concat([sub, extra]).iloc[rng.permutation(len(sub) + unknown)], n, v)


def history(
    rng: np.random.Generator, n_prev: int = 3, universe_size: int = 300, drift: int = 10
) -> tuple[Week, dict[str, Week]]:
    """A current week and ``n_prev`` earlier ones whose universes drift by ``drift`` tickers."""
    current = make_week(rng, TICKERS[:universe_size])
    earlier = {}
    for i in range(n_prev):
        lo = (i + 1) * drift
        universe = TICKERS[lo : lo + universe_size]
        earlier[f"2024-01-{i + 1:02d}"] = make_week(rng, universe, base=current.sub)
    return current, earlier


def reference_args(current: Week, earlier: dict[str, Week]) -> tuple[Any, ...]:
    return (
        current.sub,
        current.n,
        current.v,
        {k: w.sub for k, w in earlier.items()},
        {k: w.n for k, w in earlier.items()},
        {k: w.v for k, w in earlier.items()},
    )


def quiet(fn: Callable[[], Any]) -> Callable[[], Any]:
    def call() -> Any:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return fn()

    return call


# ============================================================================================
# churn, turnover, neutral churn
# ============================================================================================


def _series_pair(rng: np.random.Generator, n: int = 300) -> tuple[pd.Series, pd.Series]:
    ids = TICKERS[rng.permutation(n)]
    a = pd.Series(rng.random(n), index=ids, name="a")
    b = pd.Series(0.6 * a.to_numpy() + 0.4 * rng.random(n), index=ids[rng.permutation(n)], name="b")
    return a, b


CHURN_CASES: dict[str, Callable[[np.random.Generator], tuple[tuple[Any, ...], bool, type]]] = {
    "plain": lambda rng: ((*_series_pair(rng),), False, Exception),
    "ties": lambda rng: (
        tuple(s.round(1) for s in _series_pair(rng)),
        False,
        Exception,
    ),
    "partial_overlap": lambda rng: (
        (_series_pair(rng)[0].iloc[:280], _series_pair(rng)[1]),
        False,
        Exception,
    ),
    "too_little_overlap": lambda rng: (
        (_series_pair(rng)[0].iloc[:200], _series_pair(rng)[1]),
        True,
        NotEnoughOverlapError,
    ),
    "constant": lambda rng: (
        (_series_pair(rng)[0] * 0 + 0.5, _series_pair(rng)[1]),
        True,
        DegenerateDataError,
    ),
    "top_bottom": lambda rng: ((*_series_pair(rng), 40), False, Exception),
    "top_bottom_ties_other_ids": lambda rng: (
        (_series_pair(rng)[0].round(1), _series_pair(rng, 250)[1].round(2), 25),
        False,
        Exception,
    ),
    "top_bottom_larger_than_series": lambda rng: ((*_series_pair(rng, 30), 20), False, Exception),
}


@pytest.mark.parametrize("name", sorted(CHURN_CASES))
def test_churn_parity(name: str) -> None:
    args, refuse, error = CHURN_CASES[name](np.random.default_rng(sorted(CHURN_CASES).index(name)))
    assert_parity(
        lambda: ca.churn(*args),
        quiet(lambda: nts.churn(*args)),
        atol=ATOL_CORR,
        expect_refusal=refuse,
        error=error if refuse else DegenerateDataError,
    )


def test_churn_golden() -> None:
    ids = pd.Index(list("abcde"))
    s = pd.Series([0.1, 0.2, 0.3, 0.4, 0.5], index=ids)
    assert ca.churn(s, s) == pytest.approx(0.0, abs=1e-15)
    assert ca.churn(s, s[::-1].set_axis(ids)) == pytest.approx(2.0, abs=1e-15)
    # one swap of neighbours: Spearman 1 − 6·2/(5·24) = 0.9
    swapped = pd.Series([0.2, 0.1, 0.3, 0.4, 0.5], index=ids)
    assert ca.churn(s, swapped) == pytest.approx(0.1, abs=1e-15)
    # top/bottom 2: tops {d, e} vs {d, e}, bottoms {a, b} vs {b, a}: nothing changed
    assert ca.churn(s, swapped, top_bottom=2) == 0.0
    moved = pd.Series([0.1, 0.2, 0.5, 0.4, 0.3], index=ids)  # c enters the top, e leaves
    assert ca.churn(s, moved, top_bottom=2) == pytest.approx(0.25)


def test_turnover_parity_and_golden() -> None:
    rng = np.random.default_rng(4)
    a, b = _series_pair(rng)
    assert_parity(lambda: ca.turnover(a, b), lambda: nts.turnover(a, b), atol=ATOL_CORR)
    assert_parity(
        lambda: ca.turnover(a.iloc[:100], b),
        lambda: nts.turnover(a.iloc[:100], b),
        atol=0,
        expect_refusal=True,
        error=NotEnoughOverlapError,
    )
    w1 = pd.Series([0.5, -0.5, 0.0], index=["x", "y", "z"])
    w2 = pd.Series([0.0, -0.5, 0.5], index=["x", "y", "z"])
    assert ca.turnover(w1, w2) == 0.5


def test_neutral_churn_parity() -> None:
    rng = np.random.default_rng(8)
    current, earlier = history(rng, n_prev=1)
    prev = next(iter(earlier.values()))
    for s1, s2 in ((current.sub, prev.sub), (current.sub.round(1), prev.sub.round(2))):
        assert_parity(
            lambda s1=s1, s2=s2: ca.neutral_churn(s1, s2, current.n, prev.n),
            lambda s1=s1, s2=s2: nts.neutral_churn(s1, s2, current.n, prev.n),
            atol=ATOL_NEUTRAL,
            expect_refusal=False,
        )
    constant = current.sub * 0 + 0.5
    assert_parity(
        lambda: ca.neutral_churn(constant, prev.sub, current.n, prev.n),
        lambda: nts.neutral_churn(constant, prev.sub, current.n, prev.n),
        atol=0,
        expect_refusal=True,
        error=DegenerateDataError,
    )


@pytest.mark.parametrize("churn", [0.0, 0.05, 0.1, 0.1000001, 0.15, 0.2, 0.3, 0.5, 1.0, 2.0])
@pytest.mark.parametrize(("threshold", "scale"), [(0.1, 10.0), (0.0, 3.0), (0.25, 1e6)])
def test_neutral_churn_penalty_parity(churn: float, threshold: float, scale: float) -> None:
    ours = ca.neutral_churn_penalty(churn, threshold, scale)
    assert ours == pytest.approx(nts.neutral_churn_penalty(churn, threshold, scale), abs=1e-15)
    assert isinstance(ours, float)


def test_neutral_churn_penalty_values_and_refusals() -> None:
    # the research notes' checked values (threshold 0.1, scale 10)
    churns = pd.Series([0.15, 0.2, 0.3, 0.5], index=list("abcd"))
    kept = ca.neutral_churn_penalty(churns)
    np.testing.assert_allclose(kept, [0.755, 0.538, 0.238, 0.036], atol=5e-4)
    assert list(kept.index) == list("abcd")
    for bad in (-0.1, 2.5, float("nan"), float("inf")):
        with pytest.raises(InvalidParameterError):
            ca.neutral_churn_penalty(bad)
        with pytest.raises(AssertionError):
            nts.neutral_churn_penalty(bad)
    with pytest.raises(InvalidParameterError):
        ca.neutral_churn_penalty(0.3, threshold=3)
    with pytest.raises(InvalidParameterError):
        ca.neutral_churn_penalty(0.3, scaling_factor=0)


# ============================================================================================
# cleaning
# ============================================================================================


def _universe(n: int = 400) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "numerai_ticker": TICKERS[:n],
            "composite_figi": [f"BBG{i:09d}" for i in range(n)],
            "bloomberg_ticker": [
                t.replace(" JP", " JT").replace(" US", " UN") for t in TICKERS[:n]
            ],
        }
    ).iloc[np.random.default_rng(0).permutation(n)]


CLEAN_CASES = {
    "same_ids": ("numerai_ticker", None, None, False),
    "same_ids_rank_and_fill": ("numerai_ticker", None, "prediction", True),
    "figi_to_numerai_ticker": ("composite_figi", "numerai_ticker", None, True),
    "bloomberg_to_figi": ("bloomberg_ticker", "composite_figi", "signal", False),
}


@pytest.mark.parametrize("name", sorted(CLEAN_CASES))
def test_clean_submission_parity(name: str) -> None:
    src, dst, dst_signal, rank_and_fill = CLEAN_CASES[name]
    rng = np.random.default_rng(sorted(CLEAN_CASES).index(name))
    universe = _universe()
    rows = universe.sample(250, random_state=1)
    sub = pd.DataFrame({src: rows[src].to_numpy(), "signal": rng.random(250).round(2)})
    sub = pd.concat([sub, pd.DataFrame({src: ["nobody"], "signal": [0.7]})])
    args = (universe, sub, src, "signal", dst, dst_signal, rank_and_fill)
    ours = ca.clean_submission(*args)
    ref = ntsub.clean_submission(*args)
    pd.testing.assert_series_equal(ours, ref, check_exact=False, atol=ATOL_CORR, rtol=0)


def test_clean_submission_golden_and_refusals() -> None:
    universe = pd.DataFrame({"numerai_ticker": ["C US", "A US", "B US", "D US"]})
    sub = pd.DataFrame({"numerai_ticker": ["B US", "A US", "X XX"], "signal": [0.9, 0.1, 0.5]})
    cleaned = ca.clean_submission(universe, sub, "numerai_ticker", "signal", rank_and_fill=True)
    # ranks over the two submitted: A 0.25, B 0.75; C and D filled with 0.5
    assert cleaned.to_dict() == {"A US": 0.25, "B US": 0.75, "C US": 0.5, "D US": 0.5}
    assert cleaned.index.name == "numerai_ticker" and cleaned.name == "signal"
    with pytest.raises(DuplicateIdsError):
        ca.clean_submission(universe, pd.concat([sub, sub.iloc[:1]]), "numerai_ticker", "signal")
    with pytest.raises(InvalidParameterError):
        ca.clean_submission(universe.iloc[:0], sub, "numerai_ticker", "signal")
    with pytest.raises(InvalidParameterError, match="composite_figi"):
        ca.clean_submission(universe, sub, "numerai_ticker", "signal", "composite_figi")


def test_clean_signals_equals_clean_submission_column_by_column() -> None:
    rng = np.random.default_rng(12)
    universe = _universe(300)
    frames = {}
    for m in range(4):
        rows = universe.sample(200 + 20 * m, random_state=m)
        values = rng.random(len(rows)).round(1 + m % 2)
        frames[f"model_{m}"] = pd.Series(values, index=rows["numerai_ticker"].to_numpy())
    frames["model_9"] = pd.Series([0.2, 0.8], index=["nobody", TICKERS[0]])
    signals = pd.DataFrame(frames)
    cleaned = ca.clean_signals(signals, pd.Index(universe["numerai_ticker"]))
    assert list(cleaned.columns) == list(signals.columns)
    for model, values in frames.items():
        sub = pd.DataFrame({"numerai_ticker": values.index, "signal": values.to_numpy()})
        expected = ntsub.clean_submission(
            universe, sub, "numerai_ticker", "signal", None, None, True
        )
        np.testing.assert_allclose(cleaned[model], expected.to_numpy(), rtol=0, atol=1e-15)
        assert cleaned.index.equals(pd.Index(expected.index))


@pytest.mark.parametrize("block", [1, 7, 1000])
def test_clean_signals_in_blocks_equals_the_reference_to_the_last_bit(
    block: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fast path (models ranked in blocks, blocks on threads) gives, model by model,
    exactly the numbers of the reference's ``clean_submission`` with ``rank_and_fill``."""
    from crowdalpha.scoring import signals as ca_signals

    monkeypatch.setattr(ca_signals, "_CLEAN_BLOCK", block)
    monkeypatch.setattr(ca_signals.kernels, "_cpu_count", lambda: 2)
    rng = np.random.default_rng(21)
    universe = _universe(250)
    frames = {}
    for m in range(23):
        rows = universe.sample(int(rng.integers(100, 250)), random_state=m)
        values = rng.random(len(rows)).round(int(rng.integers(1, 4)))  # ties
        frames[f"m{m:02d}"] = pd.Series(values, index=rows["numerai_ticker"].to_numpy())
    signals = pd.DataFrame(frames)
    cleaned = ca.clean_signals(signals, pd.Index(universe["numerai_ticker"]))
    for model, values in frames.items():
        sub = pd.DataFrame({"numerai_ticker": values.index, "signal": values.to_numpy()})
        expected = ntsub.clean_submission(
            universe, sub, "numerai_ticker", "signal", None, None, True
        )
        np.testing.assert_array_equal(cleaned[model].to_numpy(), expected.to_numpy())
        assert cleaned.index.equals(pd.Index(expected.index))


# ============================================================================================
# calculate_max_churn_and_turnover and calculate_mean_neutral_churn
# ============================================================================================


def _scenario(name: str) -> tuple[Week, dict[str, Week], bool, type[Exception]]:
    rng = np.random.default_rng(SCENARIOS.index(name) + 300)
    current, earlier = history(rng)
    match name:
        case "three_weeks":
            return current, earlier, False, Exception
        case "no_earlier_weeks":
            return current, {}, False, Exception
        case "a_week_sharing_too_few_tickers":
            far = make_week(rng, TICKERS[200:500], base=current.sub)
            return current, {**earlier, "2023-12-01": far}, False, Exception
        case "only_far_weeks":
            return current, {"2023-12-01": make_week(rng, TICKERS[250:550])}, False, Exception
        case "signal_named_prediction":
            current.sub = current.sub.rename("prediction")
            return current, earlier, False, Exception
        case "ties":
            current.sub = current.sub.round(1)
            return current, earlier, False, Exception
        case "too_few_tickers":
            current.sub = current.sub.iloc[:99]
            return current, earlier, True, SubmissionIdsError
        case "index_not_a_ticker_column":
            current.sub = current.sub.rename_axis("id")
            return current, earlier, True, SubmissionHeadersError
        case "neutralizers_missing_tickers":
            current.n = current.n.iloc[:200]
            return current, earlier, True, NotEnoughOverlapError
        case "nan_in_sample_weights":
            current.v = current.v.copy()
            current.v.iloc[3] = np.nan
            return current, earlier, True, MissingValuesError
    raise AssertionError(name)


SCENARIOS = [
    "three_weeks",
    "no_earlier_weeks",
    "a_week_sharing_too_few_tickers",
    "only_far_weeks",
    "signal_named_prediction",
    "ties",
    "too_few_tickers",
    "index_not_a_ticker_column",
    "neutralizers_missing_tickers",
    "nan_in_sample_weights",
]


@pytest.mark.parametrize("name", SCENARIOS)
def test_calculate_max_churn_and_turnover_parity(name: str) -> None:
    current, earlier, refuse, error = _scenario(name)
    args = reference_args(current, earlier)
    result = assert_parity(
        lambda: ca.calculate_max_churn_and_turnover(*args),
        quiet(lambda: nts.calculate_max_churn_and_turnover(*args)),
        atol=ATOL_CORR,
        expect_refusal=refuse,
        error=error if refuse else DegenerateDataError,
    )
    if name in ("no_earlier_weeks", "only_far_weeks"):
        assert result == (1.0, 1.0)


@pytest.mark.parametrize("name", SCENARIOS)
def test_calculate_mean_neutral_churn_parity(name: str) -> None:
    current, earlier, refuse, error = _scenario(name)
    refuse = refuse and name != "nan_in_sample_weights"  # only their ids are used here
    args = reference_args(current, earlier)
    assert_parity(
        lambda: ca.calculate_mean_neutral_churn(*args),
        quiet(lambda: nts.calculate_mean_neutral_churn(*args)),
        atol=ATOL_NEUTRAL,
        expect_refusal=refuse,
        error=error if refuse else DegenerateDataError,
    )


# ============================================================================================
# the vectorised engine, model by model against the reference
# ============================================================================================


def test_churn_and_turnover_of_many_models_equals_the_reference_per_model() -> None:
    rng = np.random.default_rng(31)
    models = [f"model_{m}" for m in range(4)]
    universes = {
        "now": TICKERS[:300],
        "w1": TICKERS[10:310],
        "w2": TICKERS[30:330],
        "w3": TICKERS[200:500],  # shares too few tickers: skipped for every model
    }
    weeks: dict[str, dict[str, Week]] = {k: {} for k in universes}
    for m in models:
        now = make_week(rng, universes["now"], submitted=rng.uniform(0.4, 1.0))
        weeks["now"][m] = now
        for k in ("w1", "w2", "w3"):
            if m == "model_2" and k == "w1":
                continue  # no submission that week
            weeks[k][m] = make_week(rng, universes[k], base=now.sub, noise=rng.uniform(0.1, 2))
    # every model shares the week's neutralizers and sample weights
    shared = {k: next(iter(weeks[k].values())) for k in universes}

    def era(k: str) -> ca.SignalsEra:
        universe = pd.DataFrame({"numerai_ticker": shared[k].v.index})
        cleaned = {}
        for m, w in weeks[k].items():
            frame = w.sub.reset_index()
            frame = frame[frame["numerai_ticker"].isin(universe["numerai_ticker"])]
            cleaned[m] = ca.clean_submission(
                universe, frame, "numerai_ticker", "signal", rank_and_fill=True
            )
        return ca.SignalsEra(pd.DataFrame(cleaned), shared[k].n, shared[k].v)

    current = era("now")
    previous = {k: era(k) for k in ("w1", "w2", "w3")}
    result = ca.churn_and_turnover(current, previous)
    neutral = ca.mean_neutral_churn(current, previous)
    assert result.skipped == ("w3",)
    assert np.isnan(result.churn.loc["model_2", "w1"])
    for m in models:
        earlier = {k: weeks[k][m] for k in ("w1", "w2", "w3") if m in weeks[k]}
        for k in earlier:
            earlier[k] = Week(earlier[k].sub, shared[k].n, shared[k].v)
        now = Week(weeks["now"][m].sub, shared["now"].n, shared["now"].v)
        args = reference_args(now, earlier)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref_churn, ref_turnover = nts.calculate_max_churn_and_turnover(*args)
            ref_neutral = nts.calculate_mean_neutral_churn(*args)
        assert result.max_churn[m] == pytest.approx(ref_churn, abs=ATOL_CORR)
        assert result.max_turnover[m] == pytest.approx(ref_turnover, abs=ATOL_CORR)
        assert neutral.mean[m] == pytest.approx(ref_neutral, abs=ATOL_NEUTRAL)
        for k in earlier:
            if k == "w3":
                continue
            single = {k: earlier[k]}
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                one = nts.calculate_max_churn_and_turnover(*reference_args(now, single))
            assert result.churn.loc[m, k] == pytest.approx(one[0], abs=ATOL_CORR)
            assert result.turnover.loc[m, k] == pytest.approx(one[1], abs=ATOL_CORR)


def test_engine_refusals() -> None:
    rng = np.random.default_rng(2)
    week = make_week(rng, TICKERS[:300])
    signals = pd.DataFrame({"m": ca.clean_signals(week.sub.to_frame("m"), week.v.index)["m"]})
    ok = ca.SignalsEra(signals, week.n, week.v)
    with pytest.raises(MissingValuesError, match="clean them first"):
        ca.churn_and_turnover(ca.SignalsEra(signals.where(signals > 0.1), week.n, week.v), {})
    with pytest.raises(MissingValuesError, match="sample weights"):
        ca.churn_and_turnover(ca.SignalsEra(signals, week.n), {"w": ok})
    with pytest.raises(NotEnoughOverlapError):
        ca.churn_and_turnover(ok, {"w": ca.SignalsEra(signals, week.n.iloc[:100], week.v)})
    empty = ca.churn_and_turnover(ok, {})
    assert empty.max_churn["m"] == 1.0 and empty.max_turnover["m"] == 1.0
    assert ca.mean_neutral_churn(ok, {}).mean["m"] == 1.0

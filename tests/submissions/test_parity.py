"""Parity with numerai-tools 0.7.2's submission validation on random frames.

numerai-tools refuses with ``AssertionError("invalid_submission_<kind>: …")``; ours raises
the :class:`~crowdalpha.errors.SubmissionError` whose ``code`` is that prefix. For every
generated frame both must accept, or both refuse with the same code; when both accept, the
live predictions and the count of unknown ids must agree. Each case records which path it
took (hypothesis ``event``), and a fixed set of cases pins that every path is reached.
"""

from __future__ import annotations

import warnings
from typing import Any

import numerai_tools.submissions as nt
import numpy as np
import pandas as pd
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from crowdalpha import errors
from crowdalpha.submissions import SIGNALS_ID_COLUMNS, validate_submission

SMALL_MIN_TICKERS = 3  # numerai-tools' 100, patched down so random frames can pass

VALUES = st.one_of(
    st.floats(0.0, 1.0),
    st.floats(0.0, 1.0),
    st.floats(0.0, 1.0),
    st.sampled_from(
        [0.0, 1.0, 0.5, -5e-9, -2e-8, 1 + 5e-6, 1 + 2e-5, -0.1, 1.5, np.nan, np.inf, -np.inf]
    ),
)
CLASSIC_HEADERS = [
    ("id", "prediction"),
    ("id", "probability"),
    ("prediction", "id"),
    ("id", "signal"),
    ("ID", "prediction"),
    ("ticker", "prediction"),
]
SIGNALS_HEADERS = [
    ("ticker", "signal"),
    ("sedol", "prediction"),
    ("numerai_ticker", "signal"),
    ("composite_figi", "prediction"),
    ("bloomberg_ticker", "signal"),
    ("signal", "ticker"),
    ("id", "prediction"),
]


@st.composite
def cases(draw: st.DrawFn, tournament: str) -> tuple[pd.DataFrame, list[str]]:
    n_live = draw(st.integers(1, 8))
    live = [f"n{i}" for i in range(n_live)]
    ids: list[Any] = draw(st.permutations(live))
    ids = ids[: draw(st.integers(max(0, n_live - 2), n_live))]  # maybe drop a few
    extra = st.sampled_from([*live, "u0", "u1", "u1", "u0", None])
    ids += draw(st.lists(extra, max_size=draw(st.sampled_from([0, 0, 3]))))
    ids = draw(st.permutations(ids))
    if draw(st.integers(0, 4)) == 0:
        constant = draw(VALUES)
        values = [constant] * len(ids)
    else:
        values = draw(st.lists(VALUES, min_size=len(ids), max_size=len(ids)))
    headers = CLASSIC_HEADERS if tournament == "classic" else SIGNALS_HEADERS
    # a valid header two times in three, so that the id and value rules are reached
    id_col, pred_col = draw(st.sampled_from(headers[:2] * 4 + headers))
    frame = pd.DataFrame({id_col: pd.Series(ids, dtype=object), pred_col: values})
    frame[pred_col] = frame[pred_col].astype("float64")
    if tournament == "signals":
        if draw(st.booleans()):
            frame.insert(
                draw(st.integers(0, 2)), draw(st.sampled_from(["date", "friday_date"])), "d"
            )
        if draw(st.booleans()):
            frame["data_type"] = "live"
    elif draw(st.integers(0, 9)) == 0:
        frame["extra"] = 1
    return frame, live


def reference(frame: pd.DataFrame, live: list[str], tournament: str) -> tuple[str, Any]:
    try:
        with warnings.catch_warnings():
            # numerai-tools' own DataFrame.drop(inplace=True), deprecated by pandas 3
            warnings.filterwarnings("ignore", message="The inplace keyword")
            if tournament == "classic":
                _, pred_col, filtered, invalid = nt.validate_submission_numerai(
                    pd.Series(live), frame.copy()
                )
                id_col = "id"
            else:
                universe = pd.DataFrame(dict.fromkeys(SIGNALS_ID_COLUMNS, live))
                id_col, pred_col, _, filtered, invalid = nt.validate_submission_signals(
                    universe, frame.copy()
                )
    except AssertionError as exc:
        return str(exc).split(":", 1)[0], None
    return "ok", (dict(zip(filtered[id_col], filtered[pred_col], strict=True)), len(invalid))


def ours(frame: pd.DataFrame, live: list[str], tournament: str) -> tuple[str, Any]:
    try:
        if tournament == "classic":
            result = validate_submission(frame, live)
        else:
            universe = pd.DataFrame(dict.fromkeys(SIGNALS_ID_COLUMNS, live))
            result = validate_submission(
                frame, universe, tournament="signals", min_tickers=SMALL_MIN_TICKERS
            )
    except errors.SubmissionError as exc:
        return exc.code, None
    return "ok", (result.predictions.to_dict(), result.unknown_ids)


def assert_same(frame: pd.DataFrame, live: list[str], tournament: str) -> str:
    before = frame.copy()
    expected, expected_out = reference(frame, live, tournament)
    got, got_out = ours(frame, live, tournament)
    pd.testing.assert_frame_equal(frame, before)
    assert got == expected, (frame, live)
    if got == "ok":
        assert got_out == expected_out
    return got


@pytest.fixture(autouse=True)
def _small_signals_universe(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(nt, "SIGNALS_MIN_TICKERS", SMALL_MIN_TICKERS)


@settings(max_examples=400, deadline=None)
@given(case=cases("classic"))
def test_classic_parity(case: tuple[pd.DataFrame, list[str]]) -> None:
    event(assert_same(*case, "classic"))


@settings(max_examples=400, deadline=None)
@given(case=cases("signals"))
def test_signals_parity(case: tuple[pd.DataFrame, list[str]]) -> None:
    event(assert_same(*case, "signals"))


LIVE = ["n0", "n1", "n2", "n3"]


@pytest.mark.parametrize(
    ("ids", "values", "columns", "expected"),
    [
        (LIVE, [0.1, 0.2, 0.3, 0.4], ("id", "prediction"), "ok"),
        ([*LIVE, "u0"], [0.1, 0.2, 0.3, 0.4, 9.0], ("id", "probability"), "ok"),
        (LIVE, [-5e-9, 0.2, 0.3, 1 + 5e-6], ("id", "prediction"), "ok"),
        (LIVE, [0.1, 0.2, 0.3, 0.4], ("prediction", "id"), "invalid_submission_headers"),
        (LIVE[:3], [0.1, 0.2, 0.3], ("id", "prediction"), "invalid_submission_ids"),
        ([*LIVE, "n0"], [0.1, 0.2, 0.3, 0.4, 0.5], ("id", "prediction"), "invalid_submission_ids"),
        ([*LIVE[:3], None], [0.1, 0.2, 0.3, 0.4], ("id", "prediction"), "invalid_submission_ids"),
        (LIVE, [0.1, np.nan, 0.3, 0.4], ("id", "prediction"), "invalid_submission_values"),
        (LIVE, [0.1, 0.2, 0.3, 1 + 2e-5], ("id", "prediction"), "invalid_submission_values"),
        (LIVE, [-2e-8, 0.2, 0.3, 0.4], ("id", "prediction"), "invalid_submission_values"),
        (LIVE, [0.3, 0.3, 0.3, 0.3], ("id", "prediction"), "invalid_submission_values"),
    ],
)
def test_every_path_is_reached(
    ids: list[str | None], values: list[float], columns: tuple[str, str], expected: str
) -> None:
    frame = pd.DataFrame({columns[0]: pd.Series(ids, dtype=object), columns[1]: values})
    if columns[0] == "prediction":
        frame[columns[0]] = values
        frame[columns[1]] = pd.Series(ids, dtype=object)
    assert assert_same(frame, LIVE, "classic") == expected

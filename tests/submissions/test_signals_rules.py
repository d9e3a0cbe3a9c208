"""Signals' submission rules: one test per refusal, the id mapping, dates, diagnostics, and
parity with numerai-tools 0.7.2's ``validate_submission_signals`` on accepted files."""

from __future__ import annotations

import io
import warnings

import numerai_tools.submissions as nt
import numpy as np
import pandas as pd
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from crowdalpha import errors
from crowdalpha.submissions import (
    CLASSIC_RULES,
    SIGNALS_RULES,
    load_and_validate,
    read_submission,
    rules_for,
    validate_classic,
    validate_signals,
    validate_submission,
)

N_STOCKS = 300


def universe(n: int = N_STOCKS) -> pd.DataFrame:
    """A universe frame with every id type: different values per type, as in real data."""
    i = np.arange(n)
    return pd.DataFrame(
        {
            "numerai_ticker": [f"T{k:03d} {'US' if k % 4 else 'JP'}" for k in i],
            "composite_figi": [f"BBG{k:09d}" for k in i],
            "bloomberg_ticker": [f"T{k:03d} {'UN' if k % 4 else 'JT'}" for k in i],
            "sedol": [f"S{k:06d}" for k in i],
            "ticker": [f"T{k:03d}" for k in i],
        }
    )


UNIVERSE = universe()


def signals(
    n: int = 150, id_col: str = "numerai_ticker", pred_col: str = "signal", start: int = 0
) -> pd.DataFrame:
    rows = UNIVERSE.iloc[start : start + n]
    return pd.DataFrame({id_col: rows[id_col].to_numpy(), pred_col: np.linspace(0.0, 1.0, n)})


def refused(frame: pd.DataFrame, error: type[errors.SubmissionError], **kw: object) -> dict:
    with pytest.raises(error) as info:
        validate_signals(frame, UNIVERSE, **kw)  # type: ignore[arg-type]
    return info.value.details


# --- the refusals of issue 12 ------------------------------------------------------------------


def test_a_classic_file_sent_to_signals_and_the_reverse() -> None:
    classic = pd.DataFrame({"id": [f"n{k:015x}" for k in range(150)], "prediction": 0.5})
    classic["prediction"] = np.linspace(0, 1, 150)
    with pytest.raises(errors.SubmissionHeadersError, match="looks like a Classic submission"):
        validate_signals(classic, UNIVERSE)
    with pytest.raises(errors.SubmissionHeadersError, match="looks like a Signals submission"):
        validate_classic(signals(), list(classic["id"]))
    # Classic ids under a ticker header: none is in the universe, and the file says so
    disguised = classic.rename(columns={"id": "ticker"})
    details = refused(disguised, errors.SubmissionIdsError)
    assert details["reason"] == "not_enough_tickers" and details["unknown_ids"] == 150


@pytest.mark.parametrize("column", ["cusip", "isin", "Ticker", "symbol"])
def test_a_ticker_column_not_in_the_allowed_list(column: str) -> None:
    frame = signals().rename(columns={"numerai_ticker": column})
    with pytest.raises(errors.SubmissionHeadersError) as info:
        validate_signals(frame, UNIVERSE)
    assert info.value.code == "invalid_submission_headers"
    buffer = io.BytesIO()
    frame.to_csv(buffer, index=False)
    with pytest.raises(errors.SubmissionHeadersError):  # refused before a row is read
        read_submission(buffer.getvalue(), filename="s.csv")


def test_99_valid_tickers_are_not_enough() -> None:
    frame = pd.concat([signals(99), pd.DataFrame({"numerai_ticker": ["ZZZ XX"], "signal": [0.3]})])
    details = refused(frame, errors.SubmissionIdsError)
    assert details == {
        "reason": "not_enough_tickers",
        "count": 99,
        "required": 100,
        "unknown_ids": 1,
        "unknown_examples": ["ZZZ XX"],
    }
    assert validate_signals(signals(100), UNIVERSE).live_rows == 100


def test_duplicated_tickers_after_mapping_are_refused() -> None:
    # a share class change: two sedols of one stock, both in the universe
    two_sedols = pd.concat(
        [UNIVERSE, UNIVERSE.iloc[[7]].assign(sedol="S999999", composite_figi="BBG999999999")]
    )
    frame = signals(150, "sedol")
    frame.loc[len(frame)] = ["S999999", 0.42]
    with pytest.raises(errors.SubmissionIdsError, match="'S000007', 'S999999' are all") as info:
        validate_signals(frame, two_sedols)
    assert info.value.details["reason"] == "duplicate_after_mapping"
    assert info.value.details["stock"] == UNIVERSE["numerai_ticker"][7]
    # one of the two alone is fine, and keyed by the stock's numerai_ticker
    result = validate_signals(frame[frame["sedol"] != "S000007"], two_sedols)
    assert UNIVERSE["numerai_ticker"][7] in result.predictions.index


def test_a_date_column_with_several_dates_is_refused() -> None:
    frame = signals().assign(date=["2026-11-20"] * 100 + ["2026-11-27"] * 50)
    details = refused(frame, errors.SubmissionDatesError)
    assert details["reason"] == "several_dates" and details["count"] == 2
    frame["date"] = "2026-11-27"
    result = validate_signals(frame, UNIVERSE)
    assert (result.date, result.date_column) == ("2026-11-27", "date")
    frame.loc[3, "date"] = None
    assert refused(frame, errors.SubmissionDatesError)["reason"] == "missing_dates"


def test_a_universe_ticker_sent_twice_under_two_id_types() -> None:
    frame = signals(150)
    again = UNIVERSE.loc[12, "composite_figi"]  # stock 12, already sent as its numerai_ticker
    frame.loc[len(frame)] = [again, 0.9]
    with pytest.raises(errors.SubmissionIdsError, match="was sent twice") as info:
        validate_signals(frame, UNIVERSE)
    assert info.value.details["reason"] == "ticker_sent_twice"
    assert info.value.details["examples"] == [UNIVERSE.loc[12, "numerai_ticker"], again]
    assert info.value.details["other_column"] == "composite_figi"
    # a stock sent only under the wrong type is merely unknown (numerai-tools' behaviour)
    only_once = signals(150, start=20)
    only_once.loc[len(only_once)] = [again, 0.9]
    result = validate_signals(only_once, UNIVERSE)
    assert result.unknown_id_values == (again,)


# --- accepted files: mapping, unknown tickers, order -------------------------------------------


@pytest.mark.parametrize("id_col", ["ticker", "sedol", "bloomberg_ticker", "composite_figi"])
def test_ids_are_mapped_to_numerai_ticker(id_col: str) -> None:
    frame = signals(150, id_col, start=40).iloc[::-1]
    frame.loc[len(frame)] = ["nobody", 0.5]
    frame.loc[len(frame)] = ["nobody else", 0.5]
    result = validate_signals(frame, UNIVERSE)
    assert result.id_column == id_col
    assert result.predictions.index.name == "numerai_ticker"
    assert list(result.predictions.index) == list(UNIVERSE["numerai_ticker"][40:190])
    np.testing.assert_array_equal(result.predictions.to_numpy(), np.linspace(0, 1, 150))
    assert result.unknown_id_values == ("nobody", "nobody else")
    assert result.unknown_ids == 2


def test_without_numerai_ticker_in_the_universe_ids_stay_as_sent() -> None:
    result = validate_signals(signals(120, "sedol"), UNIVERSE.drop(columns="numerai_ticker"))
    assert result.predictions.index.name == "sedol"
    assert list(result.predictions.index) == list(UNIVERSE["sedol"][:120])


def test_data_type_is_set_aside_and_files_of_each_format_are_read() -> None:
    frame = signals(150, "composite_figi", "prediction").assign(
        data_type="live", friday_date="20261127"
    )
    for kind in ("csv", "csv.gz", "parquet"):
        buffer = io.BytesIO()
        if kind == "parquet":
            frame.to_parquet(buffer, index=False)
        else:
            frame.to_csv(buffer, index=False, compression="gzip" if kind == "csv.gz" else None)
        result = load_and_validate(
            buffer.getvalue(), UNIVERSE, tournament="signals", filename=f"s.{kind}"
        )
        assert result.live_rows == 150 and result.date == "20261127"
        assert result.predictions.index[0] == UNIVERSE["numerai_ticker"][0]
        assert result.sha256 is not None


# --- diagnostics uploads ---------------------------------------------------------------------


def diagnostics_frame() -> pd.DataFrame:
    parts = [
        signals(120, start=s).assign(date=d) for s, d in ((0, "2026-01-02"), (30, "2026-01-09"))
    ]
    return pd.concat(parts, ignore_index=True)


def test_diagnostics_take_many_dates_date_by_date() -> None:
    frame = diagnostics_frame()
    result = validate_signals(frame, UNIVERSE, diagnostics=True)
    assert result.dates == ("2026-01-02", "2026-01-09")
    assert result.predictions.index.names == ["date", "numerai_ticker"]
    assert result.live_rows == 240
    first = result.predictions.loc["2026-01-09"]
    assert list(first.index) == list(UNIVERSE["numerai_ticker"][30:150])
    with pytest.raises(errors.SubmissionHeadersError, match="must contain a date column"):
        validate_signals(frame.drop(columns="date"), UNIVERSE, diagnostics=True)


def test_diagnostics_refusals_are_per_date() -> None:
    frame = diagnostics_frame()
    twice = pd.concat([frame, frame.iloc[[0]]], ignore_index=True)
    with pytest.raises(errors.SubmissionIdsError, match="more than once on one date"):
        validate_signals(twice, UNIVERSE, diagnostics=True)
    short = frame.drop(index=range(150, 175))
    with pytest.raises(errors.SubmissionIdsError, match="for 2026-01-09"):
        validate_signals(short, UNIVERSE, diagnostics=True)
    flat = frame.copy()
    flat.loc[flat["date"] == "2026-01-02", "signal"] = 0.5
    with pytest.raises(errors.SubmissionValuesError, match="on 2026-01-02"):
        validate_signals(flat, UNIVERSE, diagnostics=True)
    with pytest.raises(errors.InvalidParameterError, match="no diagnostics mode"):
        validate_submission(signals(), UNIVERSE, tournament="classic", diagnostics=True)


# --- the rules as data ------------------------------------------------------------------------


def test_rules_are_records_and_the_siblings_are_their_configurations() -> None:
    assert rules_for("signals") is SIGNALS_RULES and rules_for(CLASSIC_RULES) is CLASSIC_RULES
    assert SIGNALS_RULES.min_ids == 100 and CLASSIC_RULES.every_live_id
    assert SIGNALS_RULES.id_columns == tuple(nt.SIGNALS_ALLOWED_ID_COLS)
    assert SIGNALS_RULES.prediction_columns == tuple(nt.SIGNALS_ALLOWED_PRED_COLS)
    assert SIGNALS_RULES.date_columns == tuple(nt.SIGNALS_ALLOWED_DATE_COLS)
    assert CLASSIC_RULES.prediction_columns == tuple(nt.NUMERAI_ALLOWED_PRED_COLS)
    by_name = validate_submission(signals(), UNIVERSE, tournament="signals")
    by_rules = validate_submission(signals(), UNIVERSE, tournament=SIGNALS_RULES)
    pd.testing.assert_series_equal(by_name.predictions, by_rules.predictions)


# --- parity with numerai-tools on accepted files ----------------------------------------------


@st.composite
def accepted_files(draw: st.DrawFn) -> pd.DataFrame:
    id_col = draw(st.sampled_from(list(SIGNALS_RULES.id_columns)))
    pred_col = draw(st.sampled_from(list(SIGNALS_RULES.prediction_columns)))
    n = draw(st.integers(100, N_STOCKS))
    rows = draw(st.permutations(range(N_STOCKS)))[:n]
    values = draw(
        st.lists(st.floats(0.0, 1.0), min_size=n, max_size=n).filter(
            lambda v: not np.isclose(np.std(v, ddof=1), 0)
        )
    )
    frame = pd.DataFrame({id_col: UNIVERSE[id_col].to_numpy()[rows], pred_col: values})
    unknown = draw(st.lists(st.sampled_from(["ZZ1", "ZZ2", "n0001", "BBG77"]), max_size=3))
    if unknown:
        extra = pd.DataFrame({id_col: unknown, pred_col: [0.5] * len(unknown)})
        frame = pd.concat([frame, extra], ignore_index=True)
    if draw(st.booleans()):
        date_col = draw(st.sampled_from(["date", "friday_date"]))
        frame.insert(draw(st.integers(0, 2)), date_col, "2026-11-27")
    if draw(st.booleans()):
        frame["data_type"] = "live"
    return frame


@settings(max_examples=60, deadline=None)
@given(frame=accepted_files())
def test_accepted_files_match_validate_submission_signals(frame: pd.DataFrame) -> None:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The inplace keyword")
        id_col, pred_col, date_col, filtered, invalid = nt.validate_submission_signals(
            UNIVERSE, frame.copy()
        )
    ours = validate_signals(frame, UNIVERSE)
    event(f"id column {id_col}")
    assert (ours.id_column, ours.prediction_column, ours.date_column) == (
        id_col,
        pred_col,
        date_col,
    )
    to_stock = dict(zip(UNIVERSE[id_col], UNIVERSE["numerai_ticker"], strict=True))
    expected = {to_stock[i]: v for i, v in zip(filtered[id_col], filtered[pred_col], strict=True)}
    assert ours.predictions.to_dict() == expected
    assert set(ours.unknown_id_values) == set(invalid)

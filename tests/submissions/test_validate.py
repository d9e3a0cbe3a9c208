"""The submission rules, one test per rule and per error code (Classic and Signals)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from crowdalpha import errors
from crowdalpha.submissions import (
    SIGNALS_MIN_TICKERS,
    ValidatedSubmission,
    read_submission,
    validate_submission,
)

LIVE = [f"n{i:04d}" for i in range(50)]


def classic(ids: list[str] | None = None, values: object = None, **columns: object) -> pd.DataFrame:
    ids = LIVE if ids is None else ids
    if values is None:
        values = np.linspace(0.0, 1.0, len(ids))
    return pd.DataFrame({"id": ids, "prediction": values, **columns})


def signals(n: int = 150, id_col: str = "ticker", pred_col: str = "signal") -> pd.DataFrame:
    return pd.DataFrame({id_col: TICKERS[:n], pred_col: np.linspace(0.0, 1.0, n)})


TICKERS = [f"T{i:03d} US" for i in range(300)]


# --- a valid submission --------------------------------------------------------------------


def test_valid_classic_submission_in_live_order() -> None:
    values = np.linspace(0.0, 1.0, len(LIVE))
    frame = classic(LIVE[::-1], values[::-1])
    result = validate_submission(frame, LIVE)
    assert isinstance(result, ValidatedSubmission)
    assert list(result.predictions.index) == LIVE
    assert result.predictions.dtype == np.float64
    np.testing.assert_array_equal(result.predictions.to_numpy(), values)
    assert (result.rows, result.live_rows, result.unknown_ids) == (50, 50, 0)
    assert (result.id_column, result.prediction_column) == ("id", "prediction")
    assert result.tournament == "classic" and result.sha256 is None


def test_order_of_rows_does_not_matter() -> None:
    frame = classic()
    shuffled = frame.sample(frac=1.0, random_state=7)
    a = validate_submission(frame, LIVE).predictions
    b = validate_submission(shuffled, LIVE).predictions
    pd.testing.assert_series_equal(a, b)


def test_probability_column_is_accepted() -> None:
    frame = classic().rename(columns={"prediction": "probability"})
    assert validate_submission(frame, LIVE).prediction_column == "probability"


def test_unknown_ids_are_ignored_and_reported() -> None:
    frame = pd.concat([classic(), classic(["x1", "x2", "x2"], [0.1, 2.0, np.nan])])
    result = validate_submission(frame, LIVE)
    assert result.unknown_ids == 2  # distinct ids, and their values are not checked
    assert result.unknown_id_examples == ("x1", "x2")
    assert result.rows == 53 and result.live_rows == 50
    assert list(result.predictions.index) == LIVE


def test_ids_are_compared_as_strings() -> None:
    frame = pd.DataFrame({"id": [1, 2, 3], "prediction": [0.1, 0.5, 0.9]})
    result = validate_submission(frame, ["3", "2", "1"])
    assert list(result.predictions.index) == ["3", "2", "1"]
    assert result.predictions.tolist() == [0.9, 0.5, 0.1]


def test_input_frame_is_not_modified() -> None:
    frame = pd.DataFrame({"ticker": TICKERS[:150], "date": "2024-01-05", "signal": 0.5})
    frame["signal"] = np.linspace(0, 1, 150)
    before = frame.copy()
    validate_submission(frame, TICKERS, tournament="signals")
    pd.testing.assert_frame_equal(frame, before)


# --- headers -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "columns",
    [
        ["id"],
        ["id", "prediction", "extra"],
        ["prediction", "id"],  # the id column comes first, as in numerai-tools
        ["ID", "prediction"],
        ["id", "signal"],  # a Signals prediction name in Classic
        ["ticker", "prediction"],
    ],
)
def test_headers_other_than_id_then_prediction_are_refused(columns: list[str]) -> None:
    frame = pd.DataFrame({c: np.linspace(0, 1, 50) for c in columns})
    if "id" in frame:
        frame["id"] = LIVE
    with pytest.raises(errors.SubmissionHeadersError) as info:
        validate_submission(frame, LIVE)
    assert info.value.code == "invalid_submission_headers"
    assert str(info.value).startswith("invalid_submission_headers: headers must be exactly 'id'")
    assert info.value.details["columns"] == columns


def test_header_messages_say_what_to_fix() -> None:
    with pytest.raises(errors.SubmissionHeadersError, match="put the id column first"):
        validate_submission(classic()[["prediction", "id"]], LIVE)
    with pytest.raises(errors.SubmissionHeadersError, match="reset_index"):
        validate_submission(classic().set_index("id"), LIVE)
    with pytest.raises(errors.SubmissionHeadersError, match="case-sensitive"):
        validate_submission(classic().rename(columns={"id": "ID"}), LIVE)
    with pytest.raises(errors.SubmissionHeadersError, match="looks like a Signals submission"):
        validate_submission(signals(), LIVE)


# --- ids -----------------------------------------------------------------------------------


def test_missing_id_values_are_refused() -> None:
    ids: list[str | None] = list(LIVE)
    ids[3] = None
    ids[9] = None
    with pytest.raises(errors.SubmissionIdsError, match=r"2 row\(s\) have no id") as info:
        validate_submission(classic(ids), LIVE)  # type: ignore[arg-type]
    assert info.value.details == {"reason": "missing_id_values", "count": 2, "rows": [4, 10]}


def test_duplicated_live_ids_are_refused() -> None:
    frame = pd.concat([classic(), classic(LIVE[:3], [0.2, 0.3, 0.4])])
    with pytest.raises(errors.SubmissionIdsError, match="appear more than once") as info:
        validate_submission(frame, LIVE)
    assert info.value.details["reason"] == "duplicate_ids"
    assert info.value.details["count"] == 3
    assert info.value.details["examples"] == LIVE[:3]


def test_duplicated_unknown_ids_are_allowed() -> None:
    frame = pd.concat([classic(), classic(["zz", "zz"], [0.5, 0.5])])
    assert validate_submission(frame, LIVE).unknown_ids == 1


def test_every_live_id_must_be_covered() -> None:
    frame = pd.concat([classic(LIVE[3:], np.linspace(0, 1, 47)), classic(["x9"], [0.5])])
    with pytest.raises(errors.SubmissionIdsError) as info:
        validate_submission(frame, LIVE)
    err = info.value
    assert err.code == "invalid_submission_ids"
    assert err.message.startswith(
        "3 live id(s) are missing from the submission, e.g. n0000, n0001, n0002: "
        "predict every row of live.parquet"
    )
    assert "1 submitted id(s) are not live this round, e.g. x9" in err.message
    assert err.details["reason"] == "missing_live_ids"
    assert err.details["count"] == 3
    assert err.details["examples"] == LIVE[:3]
    assert err.details["unknown_ids"] == 1


def test_examples_are_capped() -> None:
    with pytest.raises(errors.SubmissionIdsError) as info:
        validate_submission(classic(LIVE[:2], [0.0, 1.0]), LIVE)
    assert info.value.details["count"] == 48
    assert len(info.value.details["examples"]) == 5


# --- values --------------------------------------------------------------------------------


def test_nan_predictions_are_refused() -> None:
    values = np.linspace(0, 1, 50)
    values[[5, 7]] = np.nan
    with pytest.raises(errors.SubmissionValuesError, match="are NaN") as info:
        validate_submission(classic(values=values), LIVE)
    assert info.value.code == "invalid_submission_values"
    assert info.value.details == {
        "reason": "nan_predictions",
        "count": 2,
        "examples": ["n0005", "n0007"],
    }


@pytest.mark.parametrize("bad", [-0.01, 1.01, np.inf, -np.inf, -2e-8, 1 + 2e-5])
def test_values_outside_zero_one_are_refused(bad: float) -> None:
    values = np.linspace(0.1, 0.9, 50)
    values[10] = bad
    with pytest.raises(errors.SubmissionValuesError, match=r"outside \[0, 1\]") as info:
        validate_submission(classic(values=values), LIVE)
    assert info.value.details["reason"] == "out_of_range"
    assert info.value.details["count"] == 1
    assert info.value.details["examples"] == ["n0010"]


@pytest.mark.parametrize("edge", [0.0, 1.0, -5e-9, 1 + 5e-6])
def test_values_at_or_within_tolerance_of_the_bounds_pass(edge: float) -> None:
    values = np.linspace(0.1, 0.9, 50)
    values[10] = edge
    result = validate_submission(classic(values=values), LIVE)
    assert result.predictions.iloc[10] == edge  # kept as submitted, not clipped


@pytest.mark.parametrize("spread", [0.0, 1e-9])
def test_constant_predictions_are_refused(spread: float) -> None:
    values = 0.5 + spread * np.arange(50) / 50
    with pytest.raises(errors.SubmissionValuesError, match="constant") as info:
        validate_submission(classic(values=values), LIVE)
    assert info.value.details["reason"] == "zero_std"


def test_small_but_real_spread_passes() -> None:
    values = 0.5 + 1e-6 * np.arange(50)
    validate_submission(classic(values=values), LIVE)


def test_non_numeric_predictions_are_refused() -> None:
    with pytest.raises(errors.SubmissionValuesError, match="must be numeric"):
        validate_submission(classic(values=[str(v) for v in np.linspace(0, 1, 50)]), LIVE)


def test_rules_apply_in_order_headers_ids_values() -> None:
    # bad ids and bad values: the ids are reported first, as numerai-tools does
    frame = classic(LIVE[:10], [np.nan] * 10)
    with pytest.raises(errors.SubmissionIdsError):
        validate_submission(frame, LIVE)
    with pytest.raises(errors.SubmissionHeadersError):
        validate_submission(frame.rename(columns={"prediction": "pred"}), LIVE)


# --- Signals -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "id_col", ["ticker", "sedol", "bloomberg_ticker", "composite_figi", "numerai_ticker"]
)
@pytest.mark.parametrize("pred_col", ["prediction", "signal"])
def test_signals_headers(id_col: str, pred_col: str) -> None:
    result = validate_submission(
        signals(id_col=id_col, pred_col=pred_col), TICKERS, tournament="signals"
    )
    assert (result.id_column, result.prediction_column) == (id_col, pred_col)
    assert result.live_rows == 150
    assert list(result.predictions.index) == TICKERS[:150]


@pytest.mark.parametrize("date_col", ["date", "friday_date"])
@pytest.mark.parametrize("position", [0, 1, 2])
def test_signals_date_and_data_type_columns_are_set_aside(date_col: str, position: int) -> None:
    frame = signals()
    frame.insert(position, date_col, "2024-01-05")
    frame["data_type"] = "live"
    result = validate_submission(frame, TICKERS, tournament="signals")
    assert result.date_column == date_col


def test_signals_refuses_two_date_columns_and_classic_refuses_any() -> None:
    frame = signals()
    frame["date"] = "2024-01-05"
    frame["friday_date"] = "2024-01-05"
    with pytest.raises(errors.SubmissionHeadersError):
        validate_submission(frame, TICKERS, tournament="signals")
    with pytest.raises(errors.SubmissionHeadersError):
        validate_submission(classic(date="2024-01-05"), LIVE)


def test_signals_needs_enough_live_tickers() -> None:
    frame = pd.concat([signals(SIGNALS_MIN_TICKERS - 1), signals(1).assign(ticker="ZZZ")])
    with pytest.raises(errors.SubmissionIdsError, match="at least 100") as info:
        validate_submission(frame, TICKERS, tournament="signals")
    assert info.value.details["reason"] == "not_enough_tickers"
    assert info.value.details["count"] == 99
    assert info.value.details["unknown_ids"] == 1
    assert validate_submission(signals(100), TICKERS, tournament="signals").live_rows == 100
    small = validate_submission(signals(10), TICKERS, tournament="signals", min_tickers=10)
    assert small.live_rows == 10


def test_signals_universe_frame_picks_the_id_column() -> None:
    universe = pd.DataFrame({"ticker": TICKERS, "sedol": [f"S{i}" for i in range(300)]})
    universe.loc[5, "sedol"] = None  # a stock without a sedol
    frame = pd.DataFrame({"sedol": [f"S{i}" for i in range(150)], "signal": np.linspace(0, 1, 150)})
    result = validate_submission(frame, universe, tournament="signals")
    assert result.live_rows == 149 and result.unknown_ids == 1  # S5 is not live as a sedol
    frame = signals(id_col="composite_figi")
    with pytest.raises(errors.SubmissionHeadersError, match="no 'composite_figi' ids"):
        validate_submission(frame, universe, tournament="signals")


# --- the caller's own mistakes ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("live", "match"),
    [([], "empty"), (["a", "a"], "repeat"), (["a", None], "missing"), ("abc", "one string")],
)
def test_bad_live_ids_are_the_callers_error(live: object, match: str) -> None:
    with pytest.raises(errors.InvalidParameterError, match=match):
        validate_submission(classic(), live)  # type: ignore[arg-type]


def test_bad_arguments_are_the_callers_error() -> None:
    with pytest.raises(errors.InvalidParameterError, match="unknown tournament"):
        validate_submission(classic(), LIVE, tournament="crypto")  # type: ignore[arg-type]
    with pytest.raises(errors.InvalidParameterError, match="DataFrame"):
        validate_submission(classic()["prediction"], LIVE)  # type: ignore[arg-type]
    with pytest.raises(errors.InvalidParameterError, match="Signals only"):
        validate_submission(classic(), LIVE, min_tickers=5)


def test_every_refusal_is_a_submission_error_with_a_wire_form() -> None:
    with pytest.raises(errors.SubmissionError) as info:
        validate_submission(classic(LIVE[:10], np.linspace(0, 1, 10)), LIVE)
    wire = info.value.to_dict()
    assert wire["code"] == "invalid_submission_ids"
    assert isinstance(info.value, ValueError)
    assert wire["details"]["count"] == 40


def test_a_non_numeric_value_on_a_line_with_extra_fields_is_a_clear_refusal() -> None:
    # pandas once took the id column for the index here, and the error helper crashed
    with pytest.raises(errors.SubmissionValuesError, match="data row 1 holds 'abc'"):
        read_submission(b"id,prediction\nn0,abc,x\nn1,0.5\n", filename="p.csv")


def test_validation_leaves_the_callers_live_ids_unchanged() -> None:
    live = pd.Index(["a", "b", "c"], name="live")
    frame = pd.DataFrame({"id": ["c", "a", "b"], "prediction": [0.1, 0.5, 0.9]})
    validated = validate_submission(frame, live)
    assert live.name == "live"
    assert validated.predictions.index.name == "id"
    assert validated.predictions.tolist() == [0.5, 0.9, 0.1]

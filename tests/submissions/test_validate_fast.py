"""The fast paths give exactly what the general ones give.

Reading: a well-formed CSV is read with pyarrow, anything irregular with pandas; the two
must agree on every file, accepted or refused. Validation: ids equal to the live ids in
their order skip the general id checks; the outcome must not change.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from unittest import mock

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from crowdalpha import errors
from crowdalpha.submissions import checks as checks_module
from crowdalpha.submissions import load_and_validate, read_submission, validate_submission
from crowdalpha.submissions import read as read_module
from crowdalpha.submissions import validate as validate_module

pytestmark = pytest.mark.skipif(
    not read_module._FAST_CSV, reason="the pyarrow fast path needs pandas >= 3"
)

LIVE = [f"n{i:012x}" for i in range(0, 40 * 977, 977)]


@contextmanager
def general_paths() -> Iterator[None]:
    """Turn both fast paths off."""
    with (
        mock.patch.object(read_module, "_read_csv_fast", return_value=None),
        mock.patch.object(validate_module, "_in_live_order", return_value=False),
    ):
        yield


def outcome(call: Callable[[], Any]) -> tuple[str, Any]:
    try:
        return "ok", call()
    except errors.SubmissionError as exc:
        return "error", (type(exc), exc.code, exc.message, exc.details)
    except Exception as exc:  # whatever escapes must escape from both paths alike
        return "error", (type(exc), None, str(exc), None)


def assert_same_frame(fast: pd.DataFrame, slow: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(fast, slow, check_exact=True)
    assert list(fast.columns) == list(slow.columns)
    assert fast.columns.dtype == slow.columns.dtype
    assert list(fast.dtypes) == list(slow.dtypes)
    for col in fast.columns:
        if fast[col].dtype == np.float64:  # bit for bit: -0.0 is not 0.0
            np.testing.assert_array_equal(
                fast[col].to_numpy().view(np.int64), slow[col].to_numpy().view(np.int64)
            )
        else:
            assert fast[col].tolist() == slow[col].tolist()


def assert_same_series(fast: pd.Series, slow: pd.Series) -> None:
    pd.testing.assert_series_equal(fast, slow, check_exact=True, check_index_type=True)
    assert fast.index.name == slow.index.name and fast.name == slow.name
    np.testing.assert_array_equal(fast.to_numpy().view(np.int64), slow.to_numpy().view(np.int64))


def assert_same_outcome(fast: tuple[str, Any], slow: tuple[str, Any]) -> None:
    assert fast[0] == slow[0], (fast, slow)
    if fast[0] == "error":
        assert fast[1] == slow[1]
    elif isinstance(fast[1], pd.DataFrame):
        assert_same_frame(fast[1], slow[1])
    else:
        a, b = fast[1], slow[1]
        assert_same_series(a.predictions, b.predictions)
        for field in (
            "tournament",
            "id_column",
            "prediction_column",
            "rows",
            "unknown_ids",
            "unknown_id_examples",
            "date_column",
            "sha256",
        ):
            assert getattr(a, field) == getattr(b, field), field


def csv(rows: list[tuple[str, str]], header: str = "id,prediction") -> bytes:
    return "".join(f"{line}\n" for line in [header, *(f"{i},{v}" for i, v in rows)]).encode()


def typical(n: int = 40, ids: list[str] | None = None) -> bytes:
    values = np.random.default_rng(3).random(n)
    return csv([(i, f"{v:.6f}") for i, v in zip(ids or LIVE[:n], values, strict=True)])


# --- strategies ------------------------------------------------------------------------------

NA_SPELLINGS = ["NA", "nan", "NaN", "NAN", "null", "NULL", "None", "N/A", "n/a", "#N/A", "<NA>"]
INFINITIES = ["inf", "-inf", "+inf", "Inf", "INF", "infinity", "-Infinity", "+nan", "-nan"]
ODD_NUMBERS = ["1e-3", "1E-3", ".5", "5.", "+1", "-0", "-0.0", "+.5", "00.5", "1e-400"]
ODD_NUMBERS += ["1e400", "4.9e-324", "1e", "1.2.3", "0x10", "1_0", "1d5", "abc", "", " 0.5"]
ODD_NUMBERS += ["0.5 ", "0.5\t", '"0.5"', "'0.5'", "é", "0.1" + "3" * 40, "9" * 320]


@st.composite
def numbers(draw: st.DrawFn) -> str:
    value = draw(st.floats(min_value=-0.5, max_value=1.5, allow_nan=False))
    style = draw(st.sampled_from(["%.6f", "repr", "%.3e", "%.17g", "%.25f", "%g", "odd", "na"]))
    if style == "odd":
        return draw(st.sampled_from(ODD_NUMBERS + INFINITIES))
    if style == "na":
        return draw(st.sampled_from(NA_SPELLINGS))
    return repr(value) if style == "repr" else style % value


ODD_IDS = ["", "NA", "nan", "null", "None", " n1", "n1 ", "n 1", '"n1"', '"n,1"', 'n"1', "n'1"]
ODD_IDS += ["é", "n\u00a0", "\ufeffn1", "#n1", "n\\1", "n\t1", "-inf", "0.5", "1e5", "n\x01"]

ID_CHARS = st.characters(codec="utf-8", exclude_characters="\n\r,\"'\x00")


@st.composite
def ids(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["live", "live", "live", "text", "odd"]))
    if kind == "live":
        return draw(st.sampled_from(LIVE))
    if kind == "text":
        return draw(st.text(ID_CHARS, min_size=1, max_size=12))
    return draw(st.sampled_from(ODD_IDS))


HEADERS = [
    "id,prediction",
    "id,probability",
    "ticker,signal",
    "ticker,date,signal",
    "id,prediction,",
    " id,prediction",
    "id ,prediction",
    "ID,prediction",
    '"id","prediction"',
    "id;prediction",
    "prediction,id",
    "id,id",
    "id",
    "id,prediction,extra",
    "\ufeffid,prediction",
    "id,prediction.1",
    "",
]


@st.composite
def csv_files(draw: st.DrawFn) -> bytes:
    header = draw(st.sampled_from(HEADERS[:2]) | st.sampled_from(HEADERS))
    width = len(header.split(","))
    regular = draw(st.booleans())
    lines = [header]
    for _ in range(draw(st.integers(0, 12))):
        fields = [draw(ids())] + [draw(numbers()) for _ in range(width - 1)]
        if "date" in header:
            fields[1] = "2024-01-05"
        if not regular:
            shape = draw(st.sampled_from(["ok", "ok", "extra", "fewer", "trailing", "blank"]))
            if shape == "extra":
                fields.append("x")
            elif shape == "fewer":
                fields = fields[:-1]
            elif shape == "trailing":
                fields.append("")
            elif shape == "blank":
                lines.append(draw(st.sampled_from(["", " ", "\t", ","])))
        lines.append(",".join(fields))
    if regular:
        ending = draw(st.sampled_from(["\n", "\r\n"]))
    else:
        ending = draw(st.sampled_from(["\n", "\r\n", "\r", "mixed"]))
    if ending == "mixed":
        text = "".join(line + draw(st.sampled_from(["\n", "\r\n", "\r"])) for line in lines)
    else:
        text = ending.join(lines) + (ending if draw(st.booleans()) else "")
    raw = text.encode()
    if not regular:
        prefix = draw(st.sampled_from([b"", b"", b"\xef\xbb\xbf", b"\xef\xbb\xbf\xef\xbb\xbf"]))
        raw = prefix + raw
        if draw(st.integers(0, 9)) == 0:  # a byte that is not UTF-8
            at = draw(st.integers(0, len(raw)))
            raw = (
                raw[:at]
                + draw(st.sampled_from([b"\xff", b"\xc3", b"\x00", b"\xed\xa0\x80"]))
                + raw[at:]
            )
    return raw


# --- reading ---------------------------------------------------------------------------------


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw=csv_files())
# one column and a line of only whitespace: pandas skips the line, pyarrow read it as an id
@example(raw=b"id\nn000000000000\n \nn000000000000\n")
@example(raw=b"id\r\nn000000000000\r\n\t\r\nn000000000000\r\n")
def test_fast_csv_reading_matches_pandas(raw: bytes) -> None:
    fast = outcome(lambda: read_submission(raw, filename="p.csv"))
    with general_paths():
        slow = outcome(lambda: read_submission(raw, filename="p.csv"))
    assert_same_outcome(fast, slow)


@settings(max_examples=300, deadline=None)
@given(raw=csv_files())
def test_fast_load_and_validate_matches_the_general_paths(raw: bytes) -> None:
    live = pd.Index(LIVE, name="id").astype(str)
    fast = outcome(lambda: load_and_validate(raw, live, filename="p.csv"))
    with general_paths():
        slow = outcome(lambda: load_and_validate(raw, live, filename="p.csv"))
    assert_same_outcome(fast, slow)


@settings(max_examples=300, deadline=None)
@given(values=st.lists(st.floats(allow_nan=False, allow_infinity=False), min_size=1))
def test_float_text_parses_bit_for_bit(values: list[float]) -> None:
    rows = [(f"n{i}", text) for i, v in enumerate(values) for text in (repr(v), f"{v:.6f}")]
    raw = csv(rows)
    fast = read_module._read_csv_fast(raw)
    assert fast is not None
    assert_same_frame(fast, read_module._read_csv_pandas(raw, "p.csv"))


def test_a_typical_file_takes_the_fast_path() -> None:
    for raw in (typical(), typical().replace(b"\n", b"\r\n"), b"\xef\xbb\xbf" + typical()):
        assert read_module._read_csv(raw, "p.csv") is not None
        body = raw.removeprefix(b"\xef\xbb\xbf")
        fast = read_module._read_csv_fast(body)
        assert fast is not None
        assert_same_frame(fast, read_module._read_csv_pandas(body, "p.csv"))


def test_a_file_larger_than_one_pyarrow_block_reads_the_same() -> None:
    rng = np.random.default_rng(5)
    rows = [(f"n{i:015x}", repr(float(v))) for i, v in enumerate(rng.random(60_000))]
    raw = csv(rows)
    assert len(raw) > 2 << 20
    fast = read_module._read_csv_fast(raw)
    assert fast is not None
    assert fast["id"].array.__arrow_array__().num_chunks > 1
    assert_same_frame(fast, read_module._read_csv_pandas(raw, "p.csv"))


@pytest.mark.parametrize(
    "raw",
    [
        b"id,prediction\nn1,NA\nn2,0.5\n",  # pandas' NA spelling
        b"id,prediction\nn1,NAN\nn2,0.5\n",  # a NaN to pyarrow, not a number to pandas
        b"id,prediction\nn1,inf\nn2,0.5\n",
        b"id,prediction\n,0.1\nn2,0.5\n",  # an empty id
        b'id,prediction\n"n1",0.1\nn2,0.5\n',  # quotes
        b"id,prediction\nn1,0.1,\nn2,0.5\n",  # an extra field
        b"id,prediction\nn1\nn2,0.5\n",  # a missing field
        b"id,prediction\rn1,0.1\rn2,0.5\r",  # classic Mac line ends
        b"id,prediction\n",  # no rows
        b" id,prediction\nn1,0.1\n",  # a header pandas cleans
        b"id,prediction\nn1,abc\n",
    ],
)
def test_irregular_files_are_left_to_pandas(raw: bytes) -> None:
    assert read_module._read_csv_fast(raw) is None
    fast = outcome(lambda: read_submission(raw, filename="p.csv"))
    with general_paths():
        slow = outcome(lambda: read_submission(raw, filename="p.csv"))
    assert_same_outcome(fast, slow)


# --- validation ------------------------------------------------------------------------------


def frame_for(order: list[str], values: np.ndarray[Any, Any] | None = None) -> pd.DataFrame:
    if values is None:
        values = np.linspace(0.0, 1.0, len(order))
    return read_module._read_csv_pandas(
        csv([(i, repr(float(v))) for i, v in zip(order, values, strict=True)]), "p.csv"
    )


def both(frame: pd.DataFrame, live: object, **kwargs: Any) -> tuple[Any, Any]:
    fast = outcome(lambda: validate_submission(frame, live, **kwargs))  # type: ignore[arg-type]
    with general_paths():
        slow = outcome(lambda: validate_submission(frame, live, **kwargs))  # type: ignore[arg-type]
    assert_same_outcome(fast, slow)
    return fast


LIVE_INDEX = pd.Index(LIVE, name="id").astype(str)


@pytest.mark.parametrize("live", [LIVE, LIVE_INDEX, pd.Series(LIVE)])
def test_ids_in_live_order_take_the_fast_path(live: object) -> None:
    frame = frame_for(LIVE)
    live_index = checks_module.live_index(live, "id")  # type: ignore[arg-type]
    assert checks_module.in_live_order(frame["id"], live_index)
    kind, result = both(frame, live)
    assert kind == "ok" and result.unknown_ids == 0 and result.rows == len(LIVE)
    assert list(result.predictions.index) == LIVE
    assert result.predictions.index.name == "id" and result.predictions.name == "prediction"
    np.testing.assert_array_equal(result.predictions.to_numpy(), frame["prediction"].to_numpy())


def test_the_fast_path_neither_aliases_nor_renames_its_inputs() -> None:
    live = pd.Index(LIVE, name="live").astype(str)
    frame = frame_for(LIVE)
    result = validate_submission(frame, live)
    assert live.name == "live" and result.predictions.index.name == "id"
    assert not np.shares_memory(result.predictions.to_numpy(), frame["prediction"].to_numpy())


@pytest.mark.parametrize(
    "order",
    [
        LIVE[::-1],  # out of order
        LIVE[:-1],  # one missing
        [*LIVE[:-1], "zzz"],  # one unknown instead of a live id
        [*LIVE, "zzz"],  # an unknown one more
        [*LIVE[:-1], LIVE[0]],  # a duplicate, same length
        LIVE[1:] + LIVE[:1],  # rotated
    ],
)
def test_other_id_orders_agree_with_the_general_path(order: list[str]) -> None:
    frame = frame_for(order)
    assert not checks_module.in_live_order(frame["id"], LIVE_INDEX)
    both(frame, LIVE_INDEX)


def test_in_order_values_are_checked_as_before() -> None:
    values = np.linspace(0.0, 1.0, len(LIVE))
    for bad in (np.nan, 1.5, -0.5):
        broken = values.copy()
        broken[[3, 7]] = bad
        kind, (kind_of_error, *_rest) = both(frame_for(LIVE, broken), LIVE_INDEX)
        assert kind == "error" and kind_of_error is errors.SubmissionValuesError
    kind, err = both(frame_for(LIVE, np.full(len(LIVE), 0.5)), LIVE_INDEX)
    assert err[3]["reason"] == "zero_std"
    non_numeric = frame_for(LIVE).assign(prediction=lambda f: f["prediction"].astype(str))
    kind, err = both(non_numeric, LIVE_INDEX)
    assert err[3]["reason"] == "non_numeric"


def test_in_order_signals_still_need_enough_tickers() -> None:
    tickers = [f"T{i:03d} US" for i in range(30)]
    frame = read_module._read_csv_pandas(
        csv([(t, f"{i / 30:.6f}") for i, t in enumerate(tickers)], "ticker,signal"), "s.csv"
    )
    assert checks_module.in_live_order(frame["ticker"], checks_module.live_index(tickers, "ticker"))
    kind, err = both(frame, tickers, tournament="signals")
    assert kind == "error" and err[3]["reason"] == "not_enough_tickers"
    kind, result = both(frame, tickers, tournament="signals", min_tickers=30)
    assert kind == "ok" and result.live_rows == 30


@settings(max_examples=200, deadline=None)
@given(
    order=st.lists(
        st.sampled_from([*LIVE, "x1", "x2"]), min_size=len(LIVE) - 2, max_size=len(LIVE) + 2
    )
    | st.permutations(LIVE)
    | st.just(LIVE),
    tournament=st.sampled_from(["classic", "signals"]),
)
def test_any_id_order_agrees_with_the_general_path(order: list[str], tournament: str) -> None:
    frame = frame_for(order)
    if tournament == "signals":
        frame = frame.rename(columns={"id": "ticker"})
        both(frame, LIVE, tournament="signals", min_tickers=10)
    else:
        both(frame, LIVE_INDEX)

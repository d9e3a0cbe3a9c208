"""The real-data loader: real S&P 500 prices in, and every kind of bad file refused clearly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from crowdalpha import errors
from crowdalpha.market import (
    COLUMNS,
    append_prices,
    from_wide,
    load_prices,
    validate_prices,
)

SP500 = Path(__file__).parent.parent / "data" / "skfolio" / "sp500_dataset.csv.gz"


@pytest.fixture(scope="module")
def sp500() -> pd.DataFrame:
    """skfolio's 20 S&P 500 stocks, 1990–2022, turned into our long format."""
    wide = pd.read_csv(SP500, parse_dates=["Date"], index_col="Date")
    return from_wide(wide)


def test_real_prices_load_in_long_format(sp500: pd.DataFrame) -> None:
    assert list(sp500.columns) == ["date", "ticker", "close"]
    assert sp500["ticker"].nunique() == 20
    assert sp500["date"].min() == pd.Timestamp("1990-01-02")
    assert sp500["date"].max() == pd.Timestamp("2022-12-28")
    # one row per stock and trading day, sorted by date then ticker
    assert not sp500.duplicated(["date", "ticker"]).any()
    assert sp500["date"].is_monotonic_increasing
    first_day = sp500[sp500["date"] == sp500["date"].min()]
    assert first_day["ticker"].tolist() == sorted(first_day["ticker"])
    assert (sp500["close"] > 0).all()
    # the market closed 2001-09-11..14: the longest gap, still within the default allowance
    days = np.unique(sp500["date"].to_numpy())
    assert (np.diff(days) / np.timedelta64(1, "D")).max() == 7


@pytest.mark.parametrize("suffix", [".csv", ".csv.gz", ".parquet"])
def test_files_round_trip(sp500: pd.DataFrame, tmp_path: Path, suffix: str) -> None:
    sample = sp500[sp500["date"] < "1991-01-01"].assign(volume=1000.0, sector="tech")
    path = tmp_path / f"prices{suffix}"
    if suffix == ".parquet":
        sample.to_parquet(path)
    else:
        sample.to_csv(path, index=False)
    loaded = load_prices(path)
    pd.testing.assert_frame_equal(loaded, validate_prices(sample))
    assert list(loaded.columns) == [c for c in COLUMNS if c in sample.columns]


def test_column_names_are_matched_case_insensitively() -> None:
    frame = pd.DataFrame(
        {"Date": ["2024-01-02", "2024-01-03"], "TICKER": ["A", "A"], " Close ": [10.0, 11.0]}
    )
    assert list(validate_prices(frame).columns) == ["date", "ticker", "close"]


def _prices(**changes: list[object]) -> pd.DataFrame:
    base: dict[str, list[object]] = {
        "date": ["2024-01-02", "2024-01-02", "2024-01-03", "2024-01-03"],
        "ticker": ["AAA", "BBB", "AAA", "BBB"],
        "open": [10.0, 20.0, 10.5, 19.0],
        "high": [11.0, 21.0, 11.0, 20.0],
        "low": [9.5, 19.5, 10.0, 18.5],
        "close": [10.5, 20.5, 10.8, 19.5],
        "volume": [1e5, 2e5, 1.5e5, 2.5e5],
    }
    base.update(changes)
    return pd.DataFrame(base)


def test_a_good_frame_passes() -> None:
    out = validate_prices(_prices())
    assert out["date"].dtype == "datetime64[ns]"
    assert out["close"].dtype == np.float64
    assert len(out) == 4


@pytest.mark.parametrize(
    ("frame", "error", "words"),
    [
        (_prices().drop(columns="close"), errors.MissingColumnsError, "close"),
        (_prices().drop(columns=["ticker"]), errors.MissingColumnsError, "ticker"),
        (
            _prices(ticker=["AAA", "AAA", "AAA", "BBB"]),
            errors.DuplicateRowsError,
            "2024-01-02 AAA",
        ),
        (_prices(close=[10.5, 0.0, 10.8, 19.5]), errors.NonPositivePriceError, "2024-01-02 BBB"),
        (_prices(open=[10.0, -1.0, 10.5, 19.0]), errors.NonPositivePriceError, "open"),
        (_prices(close=[10.5, np.nan, 10.8, 19.5]), errors.NonPositivePriceError, "close"),
        (_prices(close=[10.5, "n/a", 10.8, 19.5]), errors.MarketDataError, "n/a"),
        (
            _prices(date=["2024-01-03", "2024-01-03", "2024-01-02", "2024-01-02"]),
            errors.UnsortedDatesError,
            "sort=True",
        ),
        (
            _prices(date=["2024-01-02", "2024-01-02", "2024-02-01", "2024-02-01"]),
            errors.DateGapError,
            "2024-01-02 and 2024-02-01",
        ),
        (
            _prices(date=["2024-01-02", "soon", "2024-01-03", "2024-01-03"]),
            errors.MarketDataError,
            "date",
        ),
        (_prices(ticker=["AAA", " ", "AAA", "BBB"]), errors.MarketDataError, "ticker"),
        (_prices(volume=[1e5, -5.0, 1e5, 1e5]), errors.MarketDataError, "volume"),
        (_prices(high=[9.0, 21.0, 11.0, 20.0]), errors.MarketDataError, "high below the low"),
        (_prices(country=["US", "USA", "US", "J"]), errors.MarketDataError, "['USA', 'J']"),
    ],
)
def test_bad_prices_are_refused_with_a_clear_error(
    frame: pd.DataFrame, error: type[errors.MarketDataError], words: str
) -> None:
    with pytest.raises(error) as info:
        validate_prices(frame)
    assert words in info.value.message
    assert isinstance(info.value, errors.InvalidInputError)


def test_a_country_column_is_kept_as_upper_case_codes() -> None:
    out = validate_prices(_prices(country=[" us", None, "US", "jp"]))
    assert list(out.columns)[-1] == "country"
    assert out["country"].tolist() == ["US", "", "US", "JP"]


def test_unsorted_rows_are_accepted_when_asked() -> None:
    frame = _prices(date=["2024-01-03", "2024-01-03", "2024-01-02", "2024-01-02"])
    out = validate_prices(frame, sort=True)
    assert out["date"].is_monotonic_increasing


def test_a_longer_gap_can_be_allowed() -> None:
    frame = _prices(date=["2024-01-02", "2024-01-02", "2024-02-01", "2024-02-01"])
    assert len(validate_prices(frame, max_gap_days=31)) == 4


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(errors.MarketDataError, match="no price file"):
        load_prices(tmp_path / "missing.csv")
    odd = tmp_path / "prices.xlsx"
    odd.write_text("x")
    with pytest.raises(errors.MarketDataError, match="unknown price file type"):
        load_prices(odd)
    broken = tmp_path / "prices.parquet"
    broken.write_bytes(b"not parquet")
    with pytest.raises(errors.MarketDataError, match="could not be read"):
        load_prices(broken)


def test_appending_adds_only_later_days(sp500: pd.DataFrame) -> None:
    early = sp500[sp500["date"] < "2022-07-01"].reset_index(drop=True)
    late = sp500[sp500["date"] >= "2022-07-01"].reset_index(drop=True)
    combined = append_prices(early, late)
    pd.testing.assert_frame_equal(combined, sp500)
    with pytest.raises(errors.UnsortedDatesError, match="not after the last day"):
        append_prices(sp500, late)
    with pytest.raises(errors.DateGapError):
        append_prices(sp500[sp500["date"] < "2022-01-01"].reset_index(drop=True), late)

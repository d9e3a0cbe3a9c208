"""Daily prices in long format: the one frame every later stage reads.

A *price frame* has one row per (date, ticker) — ``date``, ``ticker``, ``close`` always;
``open``, ``high``, ``low``, ``volume``, ``sector``, ``market_cap`` and ``country`` (an ISO
3166 alpha-2 code, "" where unknown) when known — sorted by
date then ticker, with positive prices and no duplicated (date, ticker). It is checked once,
on the way in (:func:`validate_prices`, :func:`load_prices`, :func:`append_prices`), so the
stages after it never check again. Operators' files and the simulator both produce it.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from crowdalpha.errors import (
    DateGapError,
    DuplicateRowsError,
    MarketDataError,
    MissingColumnsError,
    NonPositivePriceError,
    UnsortedDatesError,
)

__all__ = [
    "COLUMNS",
    "DEFAULT_MAX_GAP_DAYS",
    "OPTIONAL_COLUMNS",
    "PRICE_COLUMNS",
    "REQUIRED_COLUMNS",
    "append_prices",
    "from_wide",
    "load_prices",
    "validate_prices",
]

REQUIRED_COLUMNS = ("date", "ticker", "close")
OPTIONAL_COLUMNS = ("open", "high", "low", "volume", "sector", "market_cap", "country")
#: Every column a price frame may hold, in the order it holds them.
COLUMNS = (
    "date",
    "ticker",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "sector",
    "market_cap",
    "country",
)
PRICE_COLUMNS = ("open", "high", "low", "close")
#: Calendar days allowed between two consecutive trading days (long weekends, holidays).
DEFAULT_MAX_GAP_DAYS = 7


def _examples(values: Iterable[object], limit: int = 5) -> list[str]:
    out = []
    for v in values:
        out.append(str(v))
        if len(out) == limit:
            break
    return out


def validate_prices(
    frame: pd.DataFrame,
    *,
    sort: bool = False,
    max_gap_days: int = DEFAULT_MAX_GAP_DAYS,
) -> pd.DataFrame:
    """Check a long-format price frame and return it in canonical form.

    Column names are matched case-insensitively. Returns a new frame with the known columns
    in canonical order and types (``date`` as datetime64, ``ticker`` as str, prices, volume
    and market cap as float64, ``sector`` as str, ``country`` as an upper-case two-letter
    code or "" where empty), sorted by (date, ticker), on a fresh RangeIndex; other columns
    are dropped.

    Raises a :class:`~crowdalpha.errors.MarketDataError` subclass, naming the rows at fault,
    for: a missing required column; a date that cannot be parsed; an empty ticker; a price
    that is not a positive number; a negative volume or market cap; a high below the low;
    a country that is not two letters; a (date, ticker) that appears twice; rows not in
    date order (unless ``sort=True``); or
    two consecutive trading days more than ``max_gap_days`` calendar days apart.
    """
    if not isinstance(frame, pd.DataFrame):
        raise MarketDataError(f"prices must be a pandas DataFrame, not {type(frame)!r}")
    renamed = {c: str(c).strip().lower() for c in frame.columns}
    df = frame.rename(columns=renamed)
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    if missing:
        raise MissingColumnsError(
            f"prices lack the column(s) {missing}; found {list(map(str, frame.columns))}. "
            "Long format needs at least date, ticker and close",
            details={"missing": missing, "found": [str(c) for c in frame.columns]},
        )
    if df.columns.duplicated().any():
        raise MarketDataError("prices have two columns with the same name (ignoring case)")
    present = [c for c in COLUMNS if c in df.columns]
    out = pd.DataFrame(index=pd.RangeIndex(len(df)))
    out["date"] = _dates(df["date"])
    out["ticker"] = _tickers(df["ticker"])
    for col in present:
        if col in PRICE_COLUMNS:
            out[col] = _positive(df[col], col, out)
        elif col in ("volume", "market_cap"):
            out[col] = _non_negative(df[col], col, out)
        elif col == "sector":
            out[col] = df[col].astype("string").fillna("unknown").astype(str).to_numpy()
        elif col == "country":
            out[col] = _countries(df[col])
    if "high" in out and "low" in out:
        bad = out["high"] < out["low"]
        if bad.any():
            raise MarketDataError(
                f"{int(bad.sum())} row(s) have a high below the low, e.g. {_row_names(out, bad)}",
                details={"rows": int(bad.sum())},
            )
    out = out[[c for c in COLUMNS if c in out.columns]]
    dates = out["date"].to_numpy()
    if not sort and len(dates) > 1 and (dates[1:] < dates[:-1]).any():
        first = int(np.flatnonzero(dates[1:] < dates[:-1])[0]) + 1
        raise UnsortedDatesError(
            f"rows are not in date order: row {first} ({_day(dates[first])}) comes after "
            f"a row dated {_day(dates[first - 1])}; sort the file or pass sort=True",
            details={"row": first},
        )
    out = out.sort_values(["date", "ticker"], kind="stable", ignore_index=True)
    dup = out.duplicated(["date", "ticker"], keep=False)
    if dup.any():
        raise DuplicateRowsError(
            f"{int(dup.sum())} rows repeat a (date, ticker), e.g. {_row_names(out, dup)}; "
            "each stock may have one row per day",
            details={"rows": int(dup.sum()), "examples": _row_names(out, dup)},
        )
    _check_gaps(out["date"], max_gap_days)
    return out


def _dates(col: pd.Series) -> np.ndarray:
    try:
        parsed = pd.to_datetime(col, errors="raise")
    except (ValueError, TypeError) as exc:
        raise MarketDataError(f"the date column has a value that is not a date: {exc}") from None
    if parsed.isna().any():
        rows = _examples(np.flatnonzero(parsed.isna().to_numpy()))
        raise MarketDataError(f"the date column is empty on row(s) {rows}")
    if getattr(parsed.dt, "tz", None) is not None:
        parsed = parsed.dt.tz_convert(None)
    return np.asarray(parsed.dt.normalize().to_numpy(dtype="datetime64[ns]"))


def _tickers(col: pd.Series) -> np.ndarray:
    as_str = col.astype("string").str.strip()
    empty = as_str.isna() | (as_str == "")
    if empty.any():
        rows = _examples(np.flatnonzero(empty.to_numpy()))
        raise MarketDataError(f"the ticker column is empty on row(s) {rows}")
    return np.asarray(as_str.astype(str).to_numpy(), dtype=object)


def _countries(col: pd.Series) -> np.ndarray:
    codes = col.astype("string").str.strip().str.upper().fillna("")
    bad = (codes != "") & ~codes.str.fullmatch(r"[A-Z]{2}").fillna(False)
    if bad.any():
        raise MarketDataError(
            f"the country column holds values that are not two-letter ISO 3166 codes "
            f"(such as US, JP, GB), e.g. {_examples(col[bad.to_numpy()].unique())}",
            details={"column": "country", "rows": int(bad.sum())},
        )
    return np.asarray(codes.astype(str).to_numpy(), dtype=object)


def _numeric(col: pd.Series, name: str) -> np.ndarray:
    values = pd.to_numeric(col, errors="coerce")
    unparsed = values.isna() & col.notna()
    if unparsed.any():
        raise MarketDataError(
            f"the {name} column holds values that are not numbers, e.g. "
            f"{_examples(col[unparsed].unique())}"
        )
    return np.asarray(values.to_numpy(dtype=np.float64))


def _positive(col: pd.Series, name: str, rows: pd.DataFrame) -> np.ndarray:
    values = _numeric(col, name)
    bad = ~(np.isfinite(values) & (values > 0))
    if bad.any():
        raise NonPositivePriceError(
            f"{int(bad.sum())} {name} price(s) are not positive numbers, e.g. "
            f"{_row_names(rows, bad)}",
            details={"column": name, "rows": int(bad.sum())},
        )
    return values


def _non_negative(col: pd.Series, name: str, rows: pd.DataFrame) -> np.ndarray:
    values = _numeric(col, name)
    bad = values < 0  # NaN (unknown) is allowed
    if bad.any():
        raise MarketDataError(
            f"{int(bad.sum())} {name} value(s) are negative, e.g. {_row_names(rows, bad)}",
            details={"column": name, "rows": int(bad.sum())},
        )
    return values


def _day(value: np.datetime64 | pd.Timestamp) -> str:
    return f"{pd.Timestamp(value):%Y-%m-%d}"


def _row_names(rows: pd.DataFrame, mask: pd.Series | np.ndarray) -> list[str]:
    picked = rows.loc[np.asarray(mask)].head(5)
    return [f"{_day(d)} {t}" for d, t in zip(picked["date"], picked["ticker"], strict=True)]


def _check_gaps(dates: pd.Series, max_gap_days: int) -> None:
    days = np.unique(dates.to_numpy())
    if len(days) < 2:
        return
    gaps = np.diff(days) / np.timedelta64(1, "D")
    worst = int(np.argmax(gaps))
    if gaps[worst] > max_gap_days:
        raise DateGapError(
            f"no prices between {_day(days[worst])} and {_day(days[worst + 1])} "
            f"({int(gaps[worst])} days, at most {max_gap_days} allowed); "
            "fill the gap or raise max_gap_days",
            details={"from": _day(days[worst]), "to": _day(days[worst + 1])},
        )


def load_prices(
    path: str | Path,
    *,
    sort: bool = False,
    max_gap_days: int = DEFAULT_MAX_GAP_DAYS,
) -> pd.DataFrame:
    """Read a long-format price file (Parquet, or CSV, optionally gzipped) and validate it.

    Only the known columns are read from Parquet files. See :func:`validate_prices` for the
    checks and the form of the result.
    """
    p = Path(path)
    if not p.is_file():
        raise MarketDataError(f"no price file at {p}", details={"path": str(p)})
    suffixes = [s.lower() for s in p.suffixes]
    try:
        if suffixes and suffixes[-1] in (".parquet", ".pq"):
            import pyarrow.parquet as pq

            available = {name.lower(): name for name in pq.read_schema(p).names}
            wanted = [available[c] for c in COLUMNS if c in available]
            raw = pd.read_parquet(p, columns=wanted or None)
        elif ".csv" in suffixes:
            raw = pd.read_csv(p, low_memory=False)
        else:
            raise MarketDataError(
                f"{p.name}: unknown price file type; use .parquet, .csv or .csv.gz",
                details={"path": str(p)},
            )
    except MarketDataError:
        raise
    except (OSError, ValueError) as exc:
        raise MarketDataError(f"{p.name} could not be read: {exc}") from None
    return validate_prices(raw, sort=sort, max_gap_days=max_gap_days)


def append_prices(
    existing: pd.DataFrame,
    new: pd.DataFrame,
    *,
    max_gap_days: int = DEFAULT_MAX_GAP_DAYS,
) -> pd.DataFrame:
    """Extend a validated price frame with later days.

    ``new`` must start after the last day of ``existing`` (appending never rewrites
    history), without a gap longer than ``max_gap_days``.
    """
    extra = validate_prices(new, max_gap_days=max_gap_days)
    if len(existing) and len(extra):
        last, first = existing["date"].iloc[-1], extra["date"].iloc[0]
        if first <= last:
            raise UnsortedDatesError(
                f"the new prices start on {first:%Y-%m-%d}, not after the last day already "
                f"held ({last:%Y-%m-%d}); appending only adds later days",
                details={"first_new": f"{first:%Y-%m-%d}", "last_held": f"{last:%Y-%m-%d}"},
            )
    columns = [c for c in COLUMNS if c in existing.columns or c in extra.columns]
    combined = pd.concat([existing, extra], ignore_index=True)[columns]
    _check_gaps(combined["date"], max_gap_days)
    return combined


def from_wide(closes: pd.DataFrame, *, date_column: str | None = None) -> pd.DataFrame:
    """Turn a wide table of closes (one column per ticker, one row per day) into long format.

    Days are taken from ``date_column`` if given, else from the index. Missing closes (a
    stock not yet listed, or delisted) are left out. The result is validated.
    """
    wide = closes.set_index(date_column) if date_column is not None else closes
    stacked = wide.rename_axis(index="date", columns="ticker").stack(future_stack=True)
    long = pd.Series(stacked, name="close").dropna().reset_index()
    return validate_prices(long, sort=True)

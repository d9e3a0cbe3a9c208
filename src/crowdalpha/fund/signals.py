"""Stage 1 — signals with a time, and the timing guard.

A *signal frame* is long: one row per (signal date, ticker[, model]) with the columns

=================  ===========================================================================
``signal_date``    the date of the data the score was made from (a round's data date)
``ticker``         the stock, as in the price file
``score``          any real number; only its rank within a date matters to the fund
``available_at``   when the score could first be acted on (a timestamp in the price file's
                   local time, no time zone: the round's close, when the meta model was built)
``model``          optional: whose score it is (a frame of several models' predictions)
=================  ===========================================================================

A *stake frame* (``signal_date``, ``model``, ``stake``) gives each model's stake in a round,
in NMR base units (integers, 1 NMR = 10¹⁸): the weights of the stake-weighted meta model.

The timing contract: a score dated ``d`` is made from data up to ``d``'s close, so it is
refused (:class:`~crowdalpha.errors.LookAheadError`) when its ``available_at`` is before that
close; and it is traded at the open of the ``lag``-th session opening at or after its
``available_at`` — never earlier, which :func:`fill_sessions` checks once more.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy.special import ndtri

from crowdalpha.errors import FundInputError, LookAheadError

__all__ = [
    "SIGNAL_COLUMNS",
    "STAKE_COLUMNS",
    "average_rank",
    "check_available",
    "fill_sessions",
    "gauss_rank",
    "load_signals",
    "load_stakes",
    "meta_signal",
    "validate_signals",
    "validate_stakes",
]

SIGNAL_COLUMNS = ("signal_date", "ticker", "score", "available_at")
STAKE_COLUMNS = ("signal_date", "model", "stake")


def _read(path: str | Path, what: str) -> pd.DataFrame:
    p = Path(path)
    if not p.is_file():
        raise FundInputError(f"no {what} file at {p}", details={"path": str(p)})
    suffixes = [s.lower() for s in p.suffixes]
    try:
        if suffixes and suffixes[-1] in (".parquet", ".pq"):
            return pd.read_parquet(p)
        if ".csv" in suffixes:
            return pd.read_csv(p, low_memory=False)
    except (OSError, ValueError) as exc:
        raise FundInputError(f"{p.name}: cannot read the {what} file: {exc}") from None
    raise FundInputError(
        f"{p.name}: unknown {what} file type; use .parquet, .csv or .csv.gz",
        details={"path": str(p)},
    )


def _columns(frame: pd.DataFrame, required: tuple[str, ...], what: str) -> pd.DataFrame:
    if not isinstance(frame, pd.DataFrame):
        raise FundInputError(f"{what} must be a pandas DataFrame, not {type(frame)!r}")
    df = frame.rename(columns={c: str(c).strip().lower() for c in frame.columns})
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise FundInputError(
            f"{what} lack the column(s) {missing}; found {[str(c) for c in frame.columns]}",
            details={"missing": missing},
        )
    return df


def _timestamps(values: pd.Series, name: str) -> pd.Series:
    try:
        out = pd.to_datetime(values, format="mixed")
    except (ValueError, TypeError) as exc:
        raise FundInputError(f"{name} has values that are not dates: {exc}") from None
    if isinstance(out.dtype, pd.DatetimeTZDtype):
        raise FundInputError(
            f"{name} must be in the price file's local time, without a time zone "
            "(convert with .dt.tz_convert(zone).dt.tz_localize(None))",
            details={"column": name},
        )
    if out.isna().any():
        raise FundInputError(
            f"{int(out.isna().sum())} row(s) have no {name}", details={"column": name}
        )
    return out.astype("datetime64[ns]")


def validate_signals(frame: pd.DataFrame) -> pd.DataFrame:
    """Check a signal frame and return it in canonical form, sorted by (date, [model,] ticker).

    ``signal_date`` is cut to the day; ``available_at`` must carry its time of day (a bare
    date means midnight, before that day's open). Raises
    :class:`~crowdalpha.errors.FundInputError` for missing columns, unparseable dates, empty
    tickers, non-finite scores and repeated keys.
    """
    df = _columns(frame, SIGNAL_COLUMNS, "signals")
    out = pd.DataFrame(index=pd.RangeIndex(len(df)))
    out["signal_date"] = _timestamps(df["signal_date"], "signal_date").dt.normalize().to_numpy()
    out["available_at"] = _timestamps(df["available_at"], "available_at").to_numpy()
    if "model" in df.columns:
        out["model"] = df["model"].astype("string").fillna("").astype(str).to_numpy()
        if (out["model"] == "").any():
            raise FundInputError("some rows have an empty model name", details={"column": "model"})
    out["ticker"] = df["ticker"].astype("string").fillna("").str.strip().astype(str).to_numpy()
    if (out["ticker"] == "").any():
        raise FundInputError("some rows have an empty ticker", details={"column": "ticker"})
    scores = pd.to_numeric(df["score"], errors="coerce").astype(np.float64).to_numpy()
    bad = ~np.isfinite(scores)
    if bad.any():
        raise FundInputError(
            f"{int(bad.sum())} score(s) are missing or not finite numbers",
            details={"column": "score", "rows": int(bad.sum())},
        )
    out["score"] = scores
    keys = ["signal_date", *(["model"] if "model" in out else []), "ticker"]
    dup = out.duplicated(keys, keep=False)
    if dup.any():
        first = out.loc[dup, keys].iloc[0].tolist()
        raise FundInputError(
            f"{int(dup.sum())} rows repeat a ({', '.join(keys)}), e.g. {first}",
            details={"rows": int(dup.sum())},
        )
    return out.sort_values(keys, kind="stable", ignore_index=True)


def load_signals(path: str | Path) -> pd.DataFrame:
    """Read a signal file (Parquet or CSV) and :func:`validate_signals` it."""
    return validate_signals(_read(path, "signals"))


def validate_stakes(frame: pd.DataFrame) -> pd.DataFrame:
    """Check a stake frame: whole, non-negative NMR base units per (signal date, model)."""
    df = _columns(frame, STAKE_COLUMNS, "stakes")
    out = pd.DataFrame(index=pd.RangeIndex(len(df)))
    out["signal_date"] = _timestamps(df["signal_date"], "signal_date").dt.normalize().to_numpy()
    out["model"] = df["model"].astype("string").fillna("").astype(str).to_numpy()
    try:
        stakes = [_whole(v) for v in df["stake"]]
    except (TypeError, ValueError):
        raise FundInputError(
            "stake must be a whole number of NMR base units (1 NMR = 10^18)",
            details={"column": "stake"},
        ) from None
    if any(s < 0 for s in stakes):
        raise FundInputError("stakes cannot be negative", details={"column": "stake"})
    out["stake"] = pd.Series(stakes, dtype=object).to_numpy()
    if out.duplicated(["signal_date", "model"]).any():
        raise FundInputError("a (signal_date, model) has two stakes")
    return out.sort_values(["signal_date", "model"], kind="stable", ignore_index=True)


def _whole(value: object) -> int:
    """A whole number from an int, an integral float or a decimal string (no fractions)."""
    if isinstance(value, bool):
        raise TypeError("a boolean is not a stake")
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        if not float(value).is_integer():
            raise ValueError("a fraction of a base unit")
        return int(value)
    return int(str(value).strip())


def load_stakes(path: str | Path) -> pd.DataFrame:
    """Read a stake file (Parquet or CSV; CSV stakes are read as text, so amounts above
    2^63 base units stay exact) and :func:`validate_stakes` it."""
    p = Path(path)
    if p.is_file() and ".csv" in [s.lower() for s in p.suffixes]:
        try:
            return validate_stakes(pd.read_csv(p, dtype={"stake": "string"}))
        except (OSError, ValueError) as exc:
            if isinstance(exc, FundInputError):
                raise
            raise FundInputError(f"{p.name}: cannot read the stakes file: {exc}") from None
    return validate_stakes(_read(path, "stakes"))


def average_rank(x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Ranks ``1 … n`` of finite values, ties sharing their mean rank — what
    ``scipy.stats.rankdata(x, method="average")`` returns (the tests compare), without its
    checks for NaN, which cost more than the ranking on the fund's small arrays."""
    n = x.size
    order = np.argsort(x, kind="mergesort")
    ordered = x[order]
    new = np.empty(n, dtype=bool)
    new[:1] = True
    np.not_equal(ordered[1:], ordered[:-1], out=new[1:])
    starts = np.flatnonzero(new)
    stops = np.append(starts[1:], n)
    ranks = np.empty(n)
    # A tie spanning sorted positions start … stop − 1 holds ranks start + 1 … stop.
    ranks[order] = np.repeat(0.5 * (starts + stops + 1), stops - starts)
    return ranks


def gauss_rank(x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Tie-kept percentile ranks, ``(rank − ½)/n``, through the normal quantile function."""
    ranks = average_rank(x)
    return np.asarray(ndtri((ranks - 0.5) / x.size), dtype=np.float64)


def meta_signal(
    predictions: pd.DataFrame, stakes: pd.DataFrame | None = None, *, name: str = "meta"
) -> pd.DataFrame:
    """The meta model of several models' predictions, as a one-signal frame.

    Each model's scores are gaussianized ranks within the date; the meta model is their
    stake-weighted mean (equal weights without ``stakes``; a model without a stake row in a
    round, or staking 0, counts for nothing there), over the models that scored each ticker.
    It is available once its last member is (the latest ``available_at`` of the date).
    """
    preds = validate_signals(predictions)
    if "model" not in preds:
        raise FundInputError("a meta model needs predictions with a model column")
    by_round = preds.groupby(["signal_date", "model"], sort=False)["score"]
    ranks = by_round.rank(method="average").to_numpy()
    counts = by_round.transform("size").to_numpy()
    preds["g"] = ndtri((ranks - 0.5) / counts)
    if stakes is None:
        preds["w"] = 1.0
    else:
        st = validate_stakes(stakes)
        st["w"] = [float(s) for s in st["stake"]]
        preds = preds.merge(st[["signal_date", "model", "w"]], how="left", validate="m:1")
        preds["w"] = preds["w"].fillna(0.0)
    preds["wg"] = preds["w"] * preds["g"]
    grouped = preds.groupby(["signal_date", "ticker"], sort=True)
    out = grouped[["wg", "w"]].sum()
    out = out[out["w"] > 0]
    frame = pd.DataFrame(
        {
            "signal_date": out.index.get_level_values(0),
            "ticker": out.index.get_level_values(1),
            "score": (out["wg"] / out["w"]).to_numpy(),
        }
    )
    available = preds.groupby("signal_date")["available_at"].max()
    frame["available_at"] = available.reindex(frame["signal_date"]).to_numpy()
    frame["model"] = name
    return frame[["signal_date", "model", "ticker", "score", "available_at"]]


def _at(dates: pd.DatetimeIndex | pd.Series, clock: str) -> npt.NDArray[np.datetime64]:
    hours, minutes = (int(p) for p in clock.split(":"))
    offset = np.timedelta64(hours * 60 + minutes, "m")
    return np.asarray(pd.DatetimeIndex(dates).normalize().to_numpy() + offset)


def check_available(signals: pd.DataFrame, *, session_close: str) -> None:
    """The first half of the timing guard: nothing is available before its date's close.

    Raises :class:`~crowdalpha.errors.LookAheadError` naming the first offending rows when
    an ``available_at`` precedes the close of its ``signal_date`` — a score claimed to be
    known before the data it is made from (a shifted date, a mislabelled file).
    """
    close = _at(signals["signal_date"], session_close)
    early = signals["available_at"].to_numpy() < close
    if early.any():
        bad = signals.loc[early]
        first = bad.iloc[0]
        raise LookAheadError(
            f"{int(early.sum())} score(s) are available before the close of their signal "
            f"date, e.g. {first['ticker']} dated {first['signal_date']:%Y-%m-%d} available "
            f"at {first['available_at']:%Y-%m-%d %H:%M} (the close is {session_close}); a "
            "signal dated d uses data up to d's close and cannot be traded before it",
            details={"rows": int(early.sum())},
        )


def fill_sessions(
    available_at: npt.NDArray[np.datetime64],
    sessions: pd.DatetimeIndex,
    *,
    session_open: str,
    lag: int,
) -> npt.NDArray[np.int64]:
    """The session index each availability time is filled at (−1: after the last session).

    The fill is the open of the ``lag``-th session opening at or after ``available_at``.
    The guard's second half: a fill opening before its availability raises
    :class:`~crowdalpha.errors.LookAheadError` (it cannot, by construction; the check keeps
    it so through any later change).
    """
    opens = _at(sessions, session_open)
    first = np.searchsorted(opens, available_at, side="left")
    fill = first + (lag - 1)
    out = np.where(fill < len(sessions), fill, -1).astype(np.int64)
    valid = out >= 0
    if (opens[out[valid]] < available_at[valid]).any():
        raise LookAheadError("a fill was scheduled before its signal was available")
    return out

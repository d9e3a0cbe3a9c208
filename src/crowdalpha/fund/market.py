"""Stage 2 — point-in-time market data from the operator's prices.

:class:`MarketPanel` holds a validated price frame as dense (session × ticker) arrays, dead
tickers included: a ticker is *listed* from its first to its last row (gaps inside are
carried forward), and a ticker whose last row comes before the file's last session was
delisted after that close — its *delisting return* (given, or imputed by the cost model)
is booked on the next session.

:func:`snapshots` computes, for each rebalance, what was known at the close before its fill
(the *as-of* session) and nothing later: the tradable universe with its average daily
dollar volume (ADV) and volatility, and the standardized risk exposures — market beta,
size, 12−1 momentum, 21-day reversal, volatility, liquidity, sector, and any columns of an
operator's exposures frame taken as of that date. Every window ends at the as-of session.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from crowdalpha.errors import FundInputError, LookAheadError
from crowdalpha.fund.config import FundConfig
from crowdalpha.market.prices import validate_prices

__all__ = ["MarketPanel", "Snapshot", "forward_returns", "snapshots"]

Float = npt.NDArray[np.float64]
Int = npt.NDArray[np.int64]

_MOMENTUM = (252, 21)
_REVERSAL = 21
_MIN_OBS = 20


@dataclass(frozen=True, eq=False)
class MarketPanel:
    """Daily prices as (session × ticker) arrays; NaN where a ticker is not listed."""

    sessions: pd.DatetimeIndex
    tickers: pd.Index
    close: Float
    #: The open; the close where the file has no opens (fills then happen at the close of
    #: the fill session, never earlier).
    open: Float
    volume: Float
    market_cap: Float | None
    #: Sector code per (session, ticker), −1 where unknown; names in ``sector_names``.
    sector: npt.NDArray[np.int32]
    sector_names: tuple[str, ...]
    first: Int
    last: Int
    #: Return booked on the session after a delisted ticker's last one (NaN: impute).
    delisting_return: Float
    has_open: bool

    @property
    def shape(self) -> tuple[int, int]:
        return (self.close.shape[0], self.close.shape[1])

    @property
    def delisted(self) -> npt.NDArray[np.bool_]:
        """Tickers whose last row comes before the last session."""
        return self.last < len(self.sessions) - 1

    @classmethod
    def from_prices(
        cls, prices: pd.DataFrame, *, delistings: pd.DataFrame | None = None
    ) -> MarketPanel:
        """Build the panel from a price frame (checked by
        :func:`crowdalpha.market.prices.validate_prices`); ``volume`` is required (costs
        and liquidity caps need it). ``delistings`` (``ticker``, ``delisting_return``) gives
        known delisting returns; other dead tickers get the cost model's imputation."""
        df = validate_prices(prices)
        if "volume" not in df:
            raise FundInputError(
                "the fund needs a volume column in the prices: trading costs and the "
                "liquidity caps are set by each stock's average daily dollar volume"
            )
        sessions = pd.DatetimeIndex(pd.unique(df["date"]), name="date")
        codes, uniques = pd.factorize(df["ticker"], sort=True)
        tickers = pd.Index(uniques, name="ticker")
        rows = sessions.get_indexer(pd.DatetimeIndex(df["date"]))
        shape = (len(sessions), len(tickers))

        def dense(col: str) -> Float:
            out = np.full(shape, np.nan)
            out[rows, codes] = df[col].to_numpy(dtype=np.float64)
            return out

        first = np.full(len(tickers), len(sessions), dtype=np.int64)
        last = np.full(len(tickers), -1, dtype=np.int64)
        np.minimum.at(first, codes, rows)
        np.maximum.at(last, codes, rows)
        listed = _listed(first, last, len(sessions))
        close = _carry(dense("close"), listed)
        has_open = "open" in df
        opened = dense("open") if has_open else np.full(shape, np.nan)
        # A missing open (or a carried-forward day) fills at that day's close.
        opened = np.where(np.isfinite(opened), opened, close)
        volume = np.nan_to_num(dense("volume"), nan=0.0)
        cap = _carry(dense("market_cap"), listed) if "market_cap" in df else None
        if "sector" in df:
            sec_codes, sec_names = pd.factorize(df["sector"], sort=True)
            sector = np.full(shape, -1, dtype=np.int32)
            sector[rows, codes] = sec_codes
            sector = _carry_int(sector, listed)
            names = tuple(str(s) for s in sec_names)
        else:
            sector, names = np.full(shape, -1, dtype=np.int32), ()
        ret = np.full(len(tickers), np.nan)
        if delistings is not None:
            ret = _delisting_returns(delistings, tickers, last, len(sessions))
        return cls(
            sessions=sessions,
            tickers=tickers,
            close=close,
            open=opened,
            volume=volume,
            market_cap=cap,
            sector=sector,
            sector_names=names,
            first=first,
            last=last,
            delisting_return=ret,
            has_open=has_open,
        )


def _listed(first: Int, last: Int, n: int) -> npt.NDArray[np.bool_]:
    t = np.arange(n)[:, None]
    return (t >= first[None, :]) & (t <= last[None, :])


def _last_seen(finite: npt.NDArray[np.bool_]) -> Int:
    """Per (row, column): the latest row at or before it where the column is finite (0 when
    none is: row 0 then holds the column's first value or its gap)."""
    rows = np.where(finite, np.arange(finite.shape[0])[:, None], 0)
    # Row by row: a running maximum over contiguous rows (an accumulate along axis 0 walks
    # the array column by column, across the cache).
    for t in range(1, rows.shape[0]):
        np.maximum(rows[t - 1], rows[t], out=rows[t])
    return rows


def _carry(values: Float, listed: npt.NDArray[np.bool_]) -> Float:
    """Carry the last value forward over gaps inside each ticker's listing."""
    seen = _last_seen(np.isfinite(values))
    out = np.take_along_axis(values, seen, axis=0)
    out[~listed] = np.nan
    return out


def _carry_int(
    values: npt.NDArray[np.int32], listed: npt.NDArray[np.bool_]
) -> npt.NDArray[np.int32]:
    seen = _last_seen(values >= 0)
    out = np.take_along_axis(values, seen, axis=0)
    return np.where(listed, out, -1).astype(np.int32)


def _delisting_returns(frame: pd.DataFrame, tickers: pd.Index, last: Int, n: int) -> Float:
    df = frame.rename(columns={c: str(c).strip().lower() for c in frame.columns})
    if not {"ticker", "delisting_return"} <= set(df.columns):
        raise FundInputError("delistings need the columns ticker and delisting_return")
    values = pd.to_numeric(df["delisting_return"], errors="coerce").to_numpy(dtype=np.float64)
    if not np.isfinite(values).all() or (values < -1.0).any():
        raise FundInputError("delisting returns must be numbers of at least −1 (−100 %)")
    idx = tickers.get_indexer(pd.Index(df["ticker"].astype(str)))
    unknown = idx < 0
    if unknown.any():
        raise FundInputError(
            f"delistings name ticker(s) not in the prices: "
            f"{df['ticker'][unknown].astype(str).head(5).tolist()}"
        )
    alive = last[idx] >= n - 1
    if alive.any():
        raise FundInputError(
            "delistings name ticker(s) still listed on the last session: "
            f"{df['ticker'][alive].astype(str).head(5).tolist()}"
        )
    out = np.full(len(tickers), np.nan)
    out[idx] = values
    return out


@dataclass(frozen=True, eq=False)
class Snapshot:
    """What the fund knew at one rebalance: as of the close of session ``asof``, traded at
    the open of session ``fill`` (``asof < fill``, checked)."""

    asof: int
    fill: int
    #: Column indices (into the panel's tickers) of the tradable universe.
    names: Int
    #: Standardized exposures of those names (columns named in ``exposure_names``).
    exposures: Float
    exposure_names: tuple[str, ...]
    #: Sector code of each name (−1: unknown).
    sector: npt.NDArray[np.int32]
    adv: Float
    vol: Float
    beta: Float


def _window(x: Float, ends: Int, width: int) -> Float:
    """Sums of ``x`` (NaN as 0) over the rows ``(end − width, end]`` for each end.

    The difference of two prefix sums (rows ``0 … end`` less rows ``0 … end − width``),
    each accumulated row by row in order; only the prefixes asked for are kept.
    """
    hi = ends + 1
    lo = np.maximum(hi - width, 0)
    marks = np.unique(np.concatenate([lo, hi]))
    prefix = np.zeros((marks.size, x.shape[1]))
    total = np.zeros(x.shape[1])
    row = 0
    block = 256
    for m, mark in enumerate(marks):
        while row < mark:
            stop = min(mark, row + block)
            chunk = np.nan_to_num(x[row:stop], nan=0.0)
            for values in chunk:
                total += values
            row = stop
        prefix[m] = total
    at = np.searchsorted(marks, hi)
    return prefix[at] - prefix[np.searchsorted(marks, lo)]


def _zscore(x: Float, ok: npt.NDArray[np.bool_]) -> Float:
    v = np.where(ok & np.isfinite(x), x, np.nan)
    if np.isfinite(v).sum() < 2:
        return np.zeros_like(v)
    mean = np.nanmean(v)
    sd = np.nanstd(v)
    z = (v - mean) / sd if sd > 0 else np.zeros_like(v)
    return np.asarray(np.nan_to_num(np.clip(z, -3.0, 3.0), nan=0.0), dtype=np.float64)


def snapshots(
    panel: MarketPanel,
    fills: Sequence[int],
    config: FundConfig,
    *,
    extra: pd.DataFrame | None = None,
) -> list[Snapshot]:
    """One :class:`Snapshot` per fill session, each as of the close before it."""
    fill = np.asarray(fills, dtype=np.int64)
    if fill.size and (fill < 1).any():
        raise FundInputError("a fill on the first session has no history before it")
    ends = fill - 1
    close = panel.close
    with np.errstate(invalid="ignore", divide="ignore"):
        ret = close[1:] / close[:-1] - 1.0
    ret = np.vstack([np.full((1, close.shape[1]), np.nan), ret])
    valid = np.isfinite(ret).astype(np.float64)
    count = valid.sum(axis=1, keepdims=True)
    market = np.where(count > 0, np.nansum(ret, axis=1, keepdims=True) / np.maximum(count, 1), 0.0)

    n_v = _window(valid, ends, config.vol_window)
    s1 = _window(ret, ends, config.vol_window)
    s2 = _window(ret**2, ends, config.vol_window)
    with np.errstate(invalid="ignore", divide="ignore"):
        vol = np.sqrt(np.maximum(s2 - s1**2 / n_v, 0.0) / (n_v - 1))
    vol[n_v < _MIN_OBS] = np.nan

    n_b = _window(valid, ends, config.beta_window)
    sx = _window(ret, ends, config.beta_window)
    sxy = _window(ret * market, ends, config.beta_window)
    sy = _window(valid * market, ends, config.beta_window)
    syy = _window(valid * market**2, ends, config.beta_window)
    with np.errstate(invalid="ignore", divide="ignore"):
        beta = (sxy - sx * sy / n_b) / (syy - sy**2 / n_b)
    beta[n_b < _MIN_OBS] = np.nan
    del ret, valid, s1, s2, sx, sxy, sy, syy

    dollar = np.where(np.isfinite(close), close * panel.volume, np.nan)
    listed_f = np.isfinite(close).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        adv = _window(dollar, ends, config.adv_window) / _window(listed_f, ends, config.adv_window)
    del dollar, listed_f

    logc = np.log(close)
    out: list[Snapshot] = []
    extra_values = _extra_exposures(panel, ends, extra, config.extra_exposures)
    for j, k in enumerate(ends):
        if k >= fill[j]:
            raise LookAheadError("a snapshot would use data from its own fill session")
        px = close[k]
        age = k - panel.first + 1
        ok = (
            np.isfinite(px)
            & (age >= config.min_history)
            & (px >= config.min_price)
            & (adv[j] >= config.min_adv)
            & np.isfinite(vol[j])
            & (vol[j] > 0)
        )
        names = np.flatnonzero(ok)
        cols: list[Float] = []
        labels: list[str] = []
        for name in config.price_exposures:
            if name == "sector":
                continue
            raw = _raw_exposure(name, k, logc, panel, beta[j], vol[j], adv[j])
            cols.append(_zscore(raw[names], np.ones(names.size, dtype=bool)))
            labels.append(name)
        for name in config.extra_exposures:
            cols.append(_zscore(extra_values[name][j][names], np.ones(names.size, dtype=bool)))
            labels.append(name)
        exposures = np.column_stack(cols) if cols else np.zeros((names.size, 0))
        b = beta[j][names]
        out.append(
            Snapshot(
                asof=int(k),
                fill=int(fill[j]),
                names=names,
                exposures=exposures,
                exposure_names=tuple(labels),
                sector=panel.sector[k, names],
                adv=adv[j][names],
                vol=vol[j][names],
                beta=np.where(np.isfinite(b), b, np.nanmedian(b) if b.size else 1.0),
            )
        )
    return out


def _raw_exposure(
    name: str, k: int, logc: Float, panel: MarketPanel, beta: Float, vol: Float, adv: Float
) -> Float:
    return np.asarray(_raw(name, k, logc, panel, beta, vol, adv), dtype=np.float64)


def _raw(
    name: str, k: int, logc: Float, panel: MarketPanel, beta: Float, vol: Float, adv: Float
) -> object:
    with np.errstate(invalid="ignore", divide="ignore"):
        if name == "beta":
            return beta
        if name == "size":
            if panel.market_cap is not None:
                return np.log(panel.market_cap[k])
            return np.log(adv)
        if name == "momentum":
            far, near = _MOMENTUM
            if k - far < 0:
                return np.full(logc.shape[1], np.nan)
            return logc[k - near] - logc[k - far]
        if name == "reversal":
            if k - _REVERSAL < 0:
                return np.full(logc.shape[1], np.nan)
            return logc[k] - logc[k - _REVERSAL]
        if name == "volatility":
            return np.log(vol)
        if name == "liquidity":
            return np.log(adv)
    raise FundInputError(f"unknown exposure {name!r}")  # pragma: no cover - config checks


def _extra_exposures(
    panel: MarketPanel, ends: Int, extra: pd.DataFrame | None, names: tuple[str, ...]
) -> dict[str, list[Float]]:
    if not names:
        return {}
    if extra is None:
        raise FundInputError(
            f"exposures {list(names)} are not computed from prices; pass an exposures "
            "frame (date, ticker and those columns)"
        )
    df = extra.rename(columns={c: str(c).strip().lower() for c in extra.columns})
    missing = [c for c in ("date", "ticker", *names) if c not in df.columns]
    if missing:
        raise FundInputError(f"the exposures frame lacks the column(s) {missing}")
    df = df.assign(date=pd.to_datetime(df["date"]).dt.normalize(), ticker=df["ticker"].astype(str))
    df = df.sort_values("date", kind="stable")
    out: dict[str, list[Float]] = {n: [] for n in names}
    n_t = len(panel.tickers)
    for k in ends:
        # As of the close of session k: the latest row of each ticker dated on or before it.
        known = df[df["date"] <= panel.sessions[k]].drop_duplicates("ticker", keep="last")
        idx = panel.tickers.get_indexer(known["ticker"])
        keep = idx >= 0
        for name in names:
            values = np.full(n_t, np.nan)
            values[idx[keep]] = pd.to_numeric(known[name], errors="coerce").to_numpy()[keep]
            out[name].append(values)
    return out


def forward_returns(
    panel: MarketPanel, start: int, end: int, names: Int, *, imputed_delisting: float
) -> Float:
    """Each name's return from the open of session ``start`` to the open of ``end`` (to the
    last close when ``end`` is past the data), a delisting return included (``imputed``
    where unknown); NaN where the name was not listed at ``start``."""
    n = len(panel.sessions)
    p0 = panel.open[start, names]
    last = panel.last[names]
    if end < n:
        p1 = panel.open[end, names]
        dead = last < end
    else:
        p1 = panel.close[n - 1, names]
        dead = last < n - 1
    out = p1 / p0 - 1.0
    if dead.any():
        at = last[dead]
        value = panel.close[at, names[dead]] / p0[dead]
        ret = panel.delisting_return[names[dead]]
        out[dead] = value * (1.0 + np.where(np.isfinite(ret), ret, imputed_delisting)) - 1.0
        before = np.zeros(names.size, dtype=bool)
        before[dead] = at < start
        out[before] = np.nan
    return np.asarray(out, dtype=np.float64)

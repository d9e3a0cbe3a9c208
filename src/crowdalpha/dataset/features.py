"""Features computed from a price frame, one era (one week) at a time.

:class:`FeatureEngine` pivots a validated long-format price frame (see
:mod:`crowdalpha.market.prices`) once into wide day × ticker arrays and precomputes cumulative
sums (and, for drawdowns, rolling maxima), so that one era's features cost
O(tickers × features) however long the windows are. Nothing holds all eras × all features at
once: callers ask for one era at a time with :meth:`FeatureEngine.era`.

Conventions (``r`` is the daily log return ``log(close_t / close_{t-1})``, ``w`` a window in
trading days, ``t`` the era's day; every window ends on ``t`` inclusive):

* ``mom_{w}`` — ``log(close_t / close_{t-w})``; ``momskip_{w}_{s}`` —
  ``log(close_{t-s} / close_{t-w})`` (``momskip_252_21`` is the classic 12-1 momentum).
* ``rev_{w}`` — ``log close_t`` minus the mean of ``log close`` over the window (price above
  its moving average; short windows capture short-term reversal).
* ``vol_{w}`` — sample standard deviation of ``r`` (``ddof=1``); ``dvol_{w}`` — downside
  semi-deviation ``sqrt(mean(min(r, 0)²))``; ``skew_{w}`` — moment skewness of ``r``
  (biased, ``m3 / m2^1.5``).
* ``volume_{w}`` — ``log`` of mean volume; ``voltrend_{a}_{b}`` — ``log(mean vol_a / mean
  vol_b)``; ``dollarvol_{w}`` — ``log`` of mean ``close × volume``; ``turnover_{w}`` — mean
  ``volume × close / market_cap``; ``amihud_{w}`` — ``log1p(10⁶ × mean(|r| / (close ×
  volume)))`` over days with traded volume.
* ``dd_{w}`` — ``log close_t`` minus the maximum ``log close`` over the window (≤ 0).
* ``beta_{w}``, ``ivol_{w}`` — OLS beta of ``r`` on the equal-weighted market return (the
  mean ``r`` of every stock with a return that day) and the residual standard deviation
  (``n − 2`` degrees of freedom), over the stock's days with a return in the window.
* ``range_{w}`` — mean ``log(high / low)``; ``intraday_{w}`` — mean ``log(close / open)``.
* ``size`` — ``log market_cap_t``; ``price`` — ``log close_t``.

A window statistic needs at least ``ceil(min_coverage × w)`` observations in its window (and
at least 2, 3 for skewness, beta and idiosyncratic volatility), else it is NaN; momentum and
the price-level features need the closes they name. Features whose column is absent
(volume, high/low, open, market_cap) are NaN. Each base feature also comes in a
sector-relative version ``{name}_secrel`` — the value minus the mean of that feature over the
stocks of the same sector listed that day (NaN when the frame has no ``sector`` column) — and
every feature (base and sector-relative) in lagged copies ``{name}_lag{k}``: its value on the
era ``k`` eras earlier (lag 0 carries no suffix). Values are float32.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from crowdalpha.errors import InvalidParameterError, MissingColumnsError

__all__ = [
    "FAMILIES",
    "FeatureConfig",
    "FeatureEngine",
    "FeatureSpec",
    "era_dates",
]

F64 = npt.NDArray[np.float64]
F32 = npt.NDArray[np.float32]
I64 = npt.NDArray[np.int64]

#: The feature families, in the order features are listed; each is a group of the spec.
FAMILIES = (
    "momentum",
    "reversal",
    "volatility",
    "skewness",
    "volume",
    "liquidity",
    "drawdown",
    "beta",
    "range",
    "size",
)


def era_dates(prices: pd.DataFrame, *, weekday: int = 4) -> pd.DatetimeIndex:
    """The era dates of a price frame: the last trading day of each ISO calendar week.

    ``weekday`` (0 = Monday … 4 = Friday) is informational — the week's usual last trading
    day; a week whose Friday is a holiday ends on its last trading day. The final week in the
    data counts even if it is not over yet (it is the live era). No week is skipped for lack
    of history: callers decide (see :attr:`FeatureEngine.min_history`).
    """
    if not 0 <= weekday <= 6:
        raise InvalidParameterError(f"weekday must be 0 (Monday) to 6 (Sunday), not {weekday}")
    if "date" not in prices.columns:
        raise MissingColumnsError("prices lack the column 'date'", details={"missing": ["date"]})
    days = pd.DatetimeIndex(np.unique(prices["date"].to_numpy(dtype="datetime64[ns]")))
    if len(days) == 0:
        return pd.DatetimeIndex([], name="date")
    iso = days.isocalendar()
    key = iso["year"].to_numpy(dtype=np.int64) * 100 + iso["week"].to_numpy(dtype=np.int64)
    last = np.ones(len(days), dtype=bool)
    last[:-1] = key[1:] != key[:-1]
    return pd.DatetimeIndex(days[last], name="date")


def _windows(value: Any, name: str, *, minimum: int = 1) -> tuple[int, ...]:
    if not isinstance(value, tuple):
        raise InvalidParameterError(f"{name} must be a tuple of ints, not {type(value).__name__}")
    for w in value:
        if isinstance(w, bool) or not isinstance(w, int) or w < minimum:
            raise InvalidParameterError(
                f"{name} must hold ints ≥ {minimum}; got {w!r}", details={"field": name}
            )
    if len(set(value)) != len(value):
        raise InvalidParameterError(f"{name} repeats a window: {value}", details={"field": name})
    return value


def _pairs(value: Any, name: str) -> tuple[tuple[int, int], ...]:
    if not isinstance(value, tuple):
        raise InvalidParameterError(f"{name} must be a tuple of (int, int) pairs")
    for pair in value:
        if not (isinstance(pair, tuple) and len(pair) == 2):
            raise InvalidParameterError(f"{name} must hold (int, int) pairs; got {pair!r}")
        _windows(pair, name)
    if len(set(value)) != len(value):
        raise InvalidParameterError(f"{name} repeats a pair: {value}", details={"field": name})
    return value


@dataclass(frozen=True)
class FeatureConfig:
    """Which features to compute: windows in trading days, lags in eras.

    The defaults give 58 base features × 2 (raw and sector-relative) × 4 lags = 464
    features; :meth:`large` gives 83 × 2 × 7 = 1,162.
    """

    momentum_windows: tuple[int, ...] = (5, 10, 20, 40, 60, 120, 250)
    #: (window, skip) pairs: ``log(close_{t-skip} / close_{t-window})``, skip < window.
    skip_momentum: tuple[tuple[int, int], ...] = ((252, 21), (126, 21))
    reversal_windows: tuple[int, ...] = (5, 10, 20)
    volatility_windows: tuple[int, ...] = (5, 10, 20, 60, 120, 250)
    downside_windows: tuple[int, ...] = (20, 60, 250)
    skew_windows: tuple[int, ...] = (20, 60, 250)
    volume_windows: tuple[int, ...] = (5, 20, 60, 250)
    #: (short, long) pairs of volume windows, short < long.
    volume_trends: tuple[tuple[int, int], ...] = ((5, 60), (20, 120), (20, 250))
    turnover_windows: tuple[int, ...] = (5, 20, 60)
    dollar_volume_windows: tuple[int, ...] = (5, 20, 60)
    amihud_windows: tuple[int, ...] = (20, 60, 250)
    drawdown_windows: tuple[int, ...] = (20, 60, 120, 250)
    beta_windows: tuple[int, ...] = (60, 120, 250)
    range_windows: tuple[int, ...] = (5, 20, 60)
    intraday_windows: tuple[int, ...] = (5, 20, 60)
    size: bool = True
    price_level: bool = True
    sector_relative: bool = True
    #: Lagged copies, in eras; 0 is the current era.
    lags: tuple[int, ...] = (0, 1, 2, 4)
    #: Share of a window's observations a window statistic needs (0 < x ≤ 1).
    min_coverage: float = 0.8
    #: Size of the "small" feature set.
    small_set_size: int = 40

    def __post_init__(self) -> None:
        for name in (
            "momentum_windows",
            "reversal_windows",
            "volume_windows",
            "turnover_windows",
            "dollar_volume_windows",
            "amihud_windows",
            "range_windows",
            "intraday_windows",
        ):
            _windows(getattr(self, name), name)
        for name in ("volatility_windows", "downside_windows", "drawdown_windows"):
            _windows(getattr(self, name), name, minimum=2)
        for name in ("skew_windows", "beta_windows"):
            _windows(getattr(self, name), name, minimum=3)
        for w, s in _pairs(self.skip_momentum, "skip_momentum"):
            if s >= w:
                raise InvalidParameterError(
                    f"skip_momentum pair ({w}, {s}): the skip must be shorter than the window"
                )
        for a, b in _pairs(self.volume_trends, "volume_trends"):
            if a >= b:
                raise InvalidParameterError(
                    f"volume_trends pair ({a}, {b}): the short window must come first"
                )
        lags = _windows(self.lags, "lags", minimum=0)
        if not lags:
            raise InvalidParameterError("lags must hold at least one lag (0 is the current era)")
        for flag in ("size", "price_level", "sector_relative"):
            if not isinstance(getattr(self, flag), bool):
                raise InvalidParameterError(f"{flag} must be True or False")
        cov = self.min_coverage
        if isinstance(cov, bool) or not isinstance(cov, int | float) or not 0 < cov <= 1:
            raise InvalidParameterError(f"min_coverage must be in (0, 1], not {cov!r}")
        n = self.small_set_size
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise InvalidParameterError(f"small_set_size must be a positive int, not {n!r}")

    @classmethod
    def large(cls) -> FeatureConfig:
        """A configuration with more windows and lags: well over a thousand features."""
        return cls(
            momentum_windows=(1, 2, 3, 5, 10, 15, 20, 30, 40, 60, 90, 120, 180, 250),
            skip_momentum=((252, 21), (126, 21), (252, 63), (63, 5)),
            reversal_windows=(3, 5, 10, 20, 40),
            volatility_windows=(5, 10, 20, 40, 60, 120, 250),
            downside_windows=(10, 20, 60, 120, 250),
            skew_windows=(20, 60, 120, 250),
            volume_windows=(5, 10, 20, 60, 120, 250),
            volume_trends=((5, 20), (5, 60), (20, 60), (20, 120), (20, 250), (60, 250)),
            turnover_windows=(5, 20, 60, 120),
            dollar_volume_windows=(5, 20, 60, 120),
            amihud_windows=(20, 60, 120, 250),
            drawdown_windows=(10, 20, 60, 120, 250),
            beta_windows=(60, 120, 250),
            range_windows=(5, 10, 20, 60),
            intraday_windows=(5, 20, 60),
            lags=(0, 1, 2, 3, 4, 6, 8),
        )

    def longest_window(self) -> int:
        """The longest look-back of any base feature, in trading days."""
        spans = [
            *self.momentum_windows,
            *(w for w, _ in self.skip_momentum),
            *self.reversal_windows,
            *self.volatility_windows,
            *self.downside_windows,
            *self.skew_windows,
            *self.volume_windows,
            *(b for _, b in self.volume_trends),
            *self.turnover_windows,
            *self.dollar_volume_windows,
            *self.amihud_windows,
            *self.drawdown_windows,
            *self.beta_windows,
            *self.range_windows,
            *self.intraday_windows,
            1,
        ]
        return max(spans)


@dataclass(frozen=True)
class FeatureSpec:
    """Feature names, named groups and the small / medium / all feature sets."""

    names: tuple[str, ...]
    groups: dict[str, tuple[str, ...]] = field(default_factory=dict)
    sets: dict[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class _Base:
    name: str
    family: str
    kind: str
    a: int = 0
    b: int = 0


def _bases(cfg: FeatureConfig) -> list[_Base]:
    out: list[_Base] = []
    out += [_Base(f"mom_{w}", "momentum", "mom", w) for w in cfg.momentum_windows]
    out += [_Base(f"momskip_{w}_{s}", "momentum", "momskip", w, s) for w, s in cfg.skip_momentum]
    out += [_Base(f"rev_{w}", "reversal", "rev", w) for w in cfg.reversal_windows]
    out += [_Base(f"vol_{w}", "volatility", "vol", w) for w in cfg.volatility_windows]
    out += [_Base(f"dvol_{w}", "volatility", "dvol", w) for w in cfg.downside_windows]
    out += [_Base(f"skew_{w}", "skewness", "skew", w) for w in cfg.skew_windows]
    out += [_Base(f"volume_{w}", "volume", "volume", w) for w in cfg.volume_windows]
    out += [_Base(f"voltrend_{a}_{b}", "volume", "voltrend", a, b) for a, b in cfg.volume_trends]
    out += [_Base(f"turnover_{w}", "liquidity", "turnover", w) for w in cfg.turnover_windows]
    out += [_Base(f"dollarvol_{w}", "liquidity", "dollarvol", w) for w in cfg.dollar_volume_windows]
    out += [_Base(f"amihud_{w}", "liquidity", "amihud", w) for w in cfg.amihud_windows]
    out += [_Base(f"dd_{w}", "drawdown", "dd", w) for w in cfg.drawdown_windows]
    out += [_Base(f"beta_{w}", "beta", "beta", w) for w in cfg.beta_windows]
    out += [_Base(f"ivol_{w}", "beta", "ivol", w) for w in cfg.beta_windows]
    out += [_Base(f"range_{w}", "range", "range", w) for w in cfg.range_windows]
    out += [_Base(f"intraday_{w}", "range", "intraday", w) for w in cfg.intraday_windows]
    if cfg.size:
        out.append(_Base("size", "size", "size"))
    if cfg.price_level:
        out.append(_Base("price", "size", "price"))
    return out


def _round_robin(bases: Sequence[_Base], suffix: str) -> list[str]:
    """Base names interleaved across families, so any prefix spreads over the groups."""
    by_family: dict[str, list[str]] = {}
    for b in bases:
        by_family.setdefault(b.family, []).append(b.name + suffix)
    out: list[str] = []
    queues = list(by_family.values())
    depth = max((len(q) for q in queues), default=0)
    for i in range(depth):
        out += [q[i] for q in queues if i < len(q)]
    return out


def _lag_suffix(k: int) -> str:
    return "" if k == 0 else f"_lag{k}"


def _build_spec(cfg: FeatureConfig, bases: Sequence[_Base]) -> FeatureSpec:
    variants = ["", "_secrel"] if cfg.sector_relative else [""]
    names: list[str] = []
    groups: dict[str, list[str]] = {f: [] for f in FAMILIES}
    if cfg.sector_relative:
        groups["sector_relative"] = []
    for k in cfg.lags:
        groups[f"lag{k}"] = []
    for k in cfg.lags:
        for v in variants:
            for b in bases:
                name = b.name + v + _lag_suffix(k)
                names.append(name)
                groups[b.family].append(name)
                groups[f"lag{k}"].append(name)
                if v:
                    groups["sector_relative"].append(name)
    # Priority order for the nested sets: current values first, raw before sector-relative,
    # interleaved across families; then the lags, nearest first.
    priority: list[str] = []
    for k in sorted(cfg.lags):
        for v in variants:
            priority += _round_robin(bases, v + _lag_suffix(k))
    small = tuple(priority[: min(cfg.small_set_size, len(priority))])
    medium = tuple(priority[: max(len(small), round(len(priority) / 3))])
    return FeatureSpec(
        names=tuple(names),
        groups={g: tuple(v) for g, v in groups.items() if v},
        sets={"small": small, "medium": medium, "all": tuple(names)},
    )


class _Cum:
    """Cumulative sums of a day × ticker array (NaN counted as missing), with a zero first row."""

    __slots__ = ("count", "total")

    def __init__(self, values: F64) -> None:
        ok = np.isfinite(values)
        d, n = values.shape
        self.total = np.zeros((d + 1, n), dtype=np.float64)
        np.cumsum(np.where(ok, values, 0.0), axis=0, out=self.total[1:])
        self.count = np.zeros((d + 1, n), dtype=np.float32)
        np.cumsum(ok, axis=0, dtype=np.float32, out=self.count[1:])

    def window(self, t: int, w: int, rows: I64) -> tuple[F64, F64]:
        """Sum and number of observations over days ``t-w+1 … t`` (NaN before the data)."""
        if t + 1 - w < 0:
            nan = np.full(len(rows), np.nan)
            return nan, nan.copy()
        s = self.total[t + 1, rows] - self.total[t + 1 - w, rows]
        c = (self.count[t + 1, rows] - self.count[t + 1 - w, rows]).astype(np.float64)
        return s, c


class FeatureEngine:
    """Features of every stock listed on an era's day, computed from a price frame.

    ``prices`` is a validated long-format price frame (:func:`~crowdalpha.market.prices.
    validate_prices`). Memory is about 20 day × ticker float64 arrays (fewer when optional
    columns are absent); one era then costs O(tickers × features).
    """

    def __init__(self, prices: pd.DataFrame, config: FeatureConfig | None = None) -> None:
        self.config = config if config is not None else FeatureConfig()
        if not isinstance(self.config, FeatureConfig):
            raise InvalidParameterError("config must be a FeatureConfig")
        missing = [c for c in ("date", "ticker", "close") if c not in prices.columns]
        if missing:
            raise MissingColumnsError(
                f"prices lack the column(s) {missing}", details={"missing": missing}
            )
        self._bases = _bases(self.config)
        self.spec = _build_spec(self.config, self._bases)
        self.min_history = self.config.longest_window() + 1
        self.eras = era_dates(prices)

        date_col = prices["date"].to_numpy(dtype="datetime64[ns]")
        self.days = pd.DatetimeIndex(np.unique(date_col), name="date")
        ticker_codes, uniques = pd.factorize(prices["ticker"].astype(str), sort=True)
        self.tickers = pd.Index(np.asarray(uniques, dtype=object), name="ticker")
        self._di = self.days.searchsorted(date_col).astype(np.int64)
        self._ti = np.asarray(ticker_codes, dtype=np.int64)
        shape = (len(self.days), len(self.tickers))
        self._shape = shape
        self._day_pos = {d: i for i, d in enumerate(self.days)}

        close = self._wide(prices, "close")
        if close is None:  # pragma: no cover - checked above
            raise MissingColumnsError("prices lack the column 'close'")
        with np.errstate(divide="ignore", invalid="ignore"):
            self.log_close: F64 = np.log(close)
            ret = np.full(shape, np.nan)
            ret[1:] = self.log_close[1:] - self.log_close[:-1]
            self._listed = np.isfinite(close)
            valid = np.isfinite(ret)
            n_day = valid.sum(axis=1)
            # Exactly rounded, so the same whatever other (unlisted) tickers the frame holds:
            # a later listing changes no earlier era (see crowdalpha.dataset.cache).
            total = np.fromiter(
                (math.fsum(row.tolist()) for row in np.where(valid, ret, 0.0)),
                dtype=np.float64,
                count=len(ret),
            )
            mkt = np.where(n_day > 0, total / np.maximum(n_day, 1), np.nan)
            mkt_masked = np.where(valid, mkt[:, None], np.nan)
            self._c_ret = _Cum(ret)
            self._c_ret2 = _Cum(ret * ret)
            self._c_ret3 = _Cum(ret * ret * ret)
            self._c_down2 = _Cum(np.minimum(ret, 0.0) ** 2)
            self._c_logc = _Cum(self.log_close)
            self._c_m = _Cum(mkt_masked)
            self._c_mm = _Cum(mkt_masked * mkt_masked)
            self._c_rm = _Cum(ret * mkt_masked)
            del mkt_masked

            volume = self._wide(prices, "volume")
            mcap = self._wide(prices, "market_cap")
            self._log_mcap: F64 | None = None
            if mcap is not None:
                self._log_mcap = np.where(mcap > 0, np.log(mcap), np.nan)
            self._c_vol: _Cum | None = None
            self._c_dv: _Cum | None = None
            self._c_amihud: _Cum | None = None
            self._c_turn: _Cum | None = None
            if volume is not None:
                dv = close * volume
                self._c_vol = _Cum(volume)
                self._c_dv = _Cum(dv)
                self._c_amihud = _Cum(np.where(dv > 0, np.abs(ret) / dv, np.nan))
                if mcap is not None:
                    self._c_turn = _Cum(np.where(mcap > 0, dv / mcap, np.nan))
                del dv
            high, low = self._wide(prices, "high"), self._wide(prices, "low")
            self._c_range = (
                _Cum(np.log(high / low)) if high is not None and low is not None else None
            )
            opn = self._wide(prices, "open")
            self._c_intra = _Cum(np.log(close / opn)) if opn is not None else None
        del close, ret

        self._rollmax: dict[int, F64] = {}
        frame = pd.DataFrame(self.log_close)
        for w in self.config.drawdown_windows:
            need = self._need(w, 1)
            self._rollmax[w] = frame.rolling(w, min_periods=need).max().to_numpy(np.float64)

        self._sector: I64 | None = None
        if "sector" in prices.columns:
            codes, _ = pd.factorize(prices["sector"].astype(str), sort=True)
            sector = np.full(shape, -1, dtype=np.int64)
            sector[self._di, self._ti] = codes
            self._sector = sector
        self._cache: OrderedDict[int, F32] = OrderedDict()

    # -- construction helpers -------------------------------------------------------------

    def _wide(self, prices: pd.DataFrame, column: str) -> F64 | None:
        if column not in prices.columns:
            return None
        out = np.full(self._shape, np.nan)
        out[self._di, self._ti] = prices[column].to_numpy(dtype=np.float64, na_value=np.nan)
        return out

    def _need(self, w: int, floor: int) -> int:
        return max(floor, math.ceil(self.config.min_coverage * w - 1e-9))

    # -- lookup ---------------------------------------------------------------------------

    def day_index(self, date: pd.Timestamp | str) -> int:
        """Position of a trading day in :attr:`days`; raises for a day not in the data."""
        ts = pd.Timestamp(date)
        pos = self._day_pos.get(ts)
        if pos is None:
            raise InvalidParameterError(
                f"{ts:%Y-%m-%d} is not a trading day of the price frame",
                details={"date": f"{ts:%Y-%m-%d}"},
            )
        return pos

    def listed(self, date: pd.Timestamp | str) -> pd.Index:
        """Tickers with a close on that day, sorted."""
        out: pd.Index = self.tickers[self.listed_rows(date)]
        return out

    def listed_rows(self, date: pd.Timestamp | str) -> I64:
        """Positions in :attr:`tickers` of the stocks with a close on that day."""
        return np.flatnonzero(self._listed[self.day_index(date)]).astype(np.int64)

    def lag_day(self, date: pd.Timestamp | str, k: int) -> int | None:
        """Day index of the era ``k`` eras before ``date`` (``date`` itself for ``k = 0``).

        For an era date, lag ``k`` is the ``k``-th era before it; for any other day, lag 1 is
        the last era before it. ``None`` when the data do not reach back that far.
        """
        t = self.day_index(date)
        if k == 0:
            return t
        q = int(self.eras.searchsorted(self.days[t], side="left")) - 1
        j = q - k + 1
        if j < 0:
            return None
        return self.day_index(self.eras[j])

    # -- computation ----------------------------------------------------------------------

    def _compute(self, t: int, rows: I64, bases: Sequence[_Base]) -> F64:
        """Raw base features of ``rows`` (ticker positions) on day ``t``: rows × bases."""
        out = np.full((len(rows), len(bases)), np.nan)
        lc = self.log_close
        cache: dict[tuple[str, int], tuple[F64, F64]] = {}

        def win(name: str, c: _Cum, w: int) -> tuple[F64, F64]:
            key = (name, w)
            if key not in cache:
                cache[key] = c.window(t, w, rows)
            return cache[key]

        def mean(name: str, c: _Cum | None, w: int, floor: int = 1) -> F64:
            if c is None:
                return np.full(len(rows), np.nan)
            s, n = win(name, c, w)
            return np.where(n >= self._need(w, floor), s / np.maximum(n, 1), np.nan)

        def log_pos(x: F64) -> F64:
            return np.where(x > 0, np.log(np.where(x > 0, x, 1.0)), np.nan)

        for j, b in enumerate(bases):
            w = b.a
            k = b.kind
            if k == "mom":
                col = lc[t, rows] - lc[t - w, rows] if t - w >= 0 else None
            elif k == "momskip":
                col = lc[t - b.b, rows] - lc[t - w, rows] if t - w >= 0 else None
            elif k == "rev":
                col = lc[t, rows] - mean("logc", self._c_logc, w)
            elif k in ("vol", "skew"):
                s1, n = win("r", self._c_ret, w)
                s2, _ = win("r2", self._c_ret2, w)
                nn = np.maximum(n, 1)
                mu = s1 / nn
                if k == "vol":
                    var = np.maximum(s2 - s1 * mu, 0.0) / np.maximum(n - 1, 1)
                    col = np.where(n >= self._need(w, 2), np.sqrt(var), np.nan)
                else:
                    s3, _ = win("r3", self._c_ret3, w)
                    m2 = s2 / nn - mu * mu
                    m3 = s3 / nn - 3 * mu * s2 / nn + 2 * mu**3
                    ok = (n >= self._need(w, 3)) & (m2 > 1e-20)
                    col = np.where(ok, m3 / np.sqrt(np.where(ok, m2, 1.0)) ** 3, np.nan)
            elif k == "dvol":
                col = np.sqrt(mean("down2", self._c_down2, w, 2))
            elif k == "volume":
                col = log_pos(mean("vol", self._c_vol, w))
            elif k == "voltrend":
                col = log_pos(mean("vol", self._c_vol, w) / mean("vol", self._c_vol, b.b))
            elif k == "turnover":
                col = mean("turn", self._c_turn, w)
            elif k == "dollarvol":
                col = log_pos(mean("dv", self._c_dv, w))
            elif k == "amihud":
                col = np.log1p(1e6 * mean("amihud", self._c_amihud, w))
            elif k == "dd":
                col = lc[t, rows] - self._rollmax[w][t, rows]
            elif k in ("beta", "ivol"):
                sr, n = win("r", self._c_ret, w)
                srr, _ = win("r2", self._c_ret2, w)
                sm, _ = win("m", self._c_m, w)
                smm, _ = win("mm", self._c_mm, w)
                srm, _ = win("rm", self._c_rm, w)
                nn = np.maximum(n, 1)
                cov = srm - sr * sm / nn
                varm = smm - sm * sm / nn
                ok = (n >= self._need(w, 3)) & (varm > 1e-20)
                beta = np.where(ok, cov / np.where(ok, varm, 1.0), np.nan)
                if k == "beta":
                    col = beta
                else:
                    varr = srr - sr * sr / nn
                    resid = np.maximum(varr - beta * cov, 0.0)
                    col = np.sqrt(resid / np.maximum(n - 2, 1))
            elif k == "range":
                col = mean("range", self._c_range, w)
            elif k == "intraday":
                col = mean("intra", self._c_intra, w)
            elif k == "size":
                col = self._log_mcap[t, rows] if self._log_mcap is not None else None
            elif k == "price":
                col = lc[t, rows]
            else:  # pragma: no cover - _bases only makes the kinds above
                raise InvalidParameterError(f"unknown feature kind {k!r}")
            if col is not None:
                out[:, j] = col
        return out

    def _sector_relative(self, t: int, rows: I64, values: F64) -> F64:
        if self._sector is None:
            return np.full_like(values, np.nan)
        codes = self._sector[t, rows]
        n_sec = int(codes.max()) + 1 if len(codes) else 0
        ok = np.isfinite(values)
        sums = np.zeros((n_sec, values.shape[1]))
        counts = np.zeros((n_sec, values.shape[1]))
        np.add.at(sums, codes, np.where(ok, values, 0.0))
        np.add.at(counts, codes, ok.astype(np.float64))
        means: F64 = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
        out: F64 = values - means[codes]
        return out

    def _block(self, t: int) -> F32:
        """Base and sector-relative features of every ticker on day ``t`` (NaN if unlisted)."""
        hit = self._cache.get(t)
        if hit is not None:
            self._cache.move_to_end(t)
            return hit
        rows = np.flatnonzero(self._listed[t]).astype(np.int64)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            base = self._compute(t, rows, self._bases)
            parts = [base]
            if self.config.sector_relative:
                parts.append(self._sector_relative(t, rows, base))
        width = sum(p.shape[1] for p in parts)
        block = np.full((len(self.tickers), width), np.nan, dtype=np.float32)
        block[rows] = np.hstack(parts).astype(np.float32)
        self._cache[t] = block
        if len(self._cache) > 2 * len(self.config.lags) + 2:
            self._cache.popitem(last=False)
        return block

    def era(self, date: pd.Timestamp | str) -> pd.DataFrame:
        """Features of the stocks listed on ``date``: ticker index, :attr:`spec` names, float32.

        NaN where a feature lacks history or data. ``date`` must be a trading day of the
        frame (normally one of :attr:`eras`).
        """
        t = self.day_index(date)
        rows = np.flatnonzero(self._listed[t])
        width = len(self._bases) * (2 if self.config.sector_relative else 1)
        out = np.full((len(rows), len(self.spec.names)), np.nan, dtype=np.float32)
        for i, k in enumerate(self.config.lags):
            lt = self.lag_day(date, k)
            if lt is not None:
                out[:, i * width : (i + 1) * width] = self._block(lt)[rows]
        return pd.DataFrame(out, index=self.tickers[rows], columns=list(self.spec.names))

    def base(self, date: pd.Timestamp | str, names: Sequence[str] | None = None) -> pd.DataFrame:
        """Current (lag 0, not sector-relative) base features on ``date``, float64.

        ``names`` picks base features (default: all); an unknown name raises
        :class:`~crowdalpha.errors.InvalidParameterError`.
        """
        t = self.day_index(date)
        by_name = {b.name: b for b in self._bases}
        wanted = list(by_name) if names is None else list(names)
        unknown = [n for n in wanted if n not in by_name]
        if unknown:
            raise InvalidParameterError(
                f"unknown base feature(s) {unknown}; the configuration makes {list(by_name)}",
                details={"unknown": unknown},
            )
        rows = np.flatnonzero(self._listed[t]).astype(np.int64)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            values = self._compute(t, rows, [by_name[n] for n in wanted])
        return pd.DataFrame(values, index=self.tickers[rows], columns=wanted)

    @property
    def base_names(self) -> tuple[str, ...]:
        """Names of the base features (lag 0, not sector-relative), in order."""
        return tuple(b.name for b in self._bases)

    @property
    def sector_codes(self) -> I64 | None:
        """Day × ticker sector codes (−1 where unlisted), or ``None`` without sectors.

        A read-only view: the engine's own array must not change under it.
        """
        if self._sector is None:
            return None
        view = self._sector.view()
        view.flags.writeable = False
        return view

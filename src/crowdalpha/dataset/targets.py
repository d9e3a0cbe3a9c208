"""Targets: forward returns, residualized and binned per era.

For an era on trading day ``t`` (position in the frame's trading days) and a horizon ``h``,
the forward return of a stock is ``log(close_{t+lag+h} / close_{t+lag})`` — it starts
``lag`` trading days after the era (the time to submit and trade) and runs ``h`` trading
days. It is NaN when either close is missing (not listed, delisted) or lies beyond the data
(the last eras, which become the live era).

Each horizon gives these targets (all ranked per era into :data:`TARGET_BINS` with
:data:`TARGET_SHARES`):

* ``resid`` — residual of a cross-sectional OLS of the forward return on a constant, sector
  dummies and the style exposures (size, 12-1 momentum, 60-day volatility, beta by default)
  taken from the features on day ``t``, each z-scored across the era with missing exposures
  set to 0 (the mean); an exposure missing for the whole era is left out. The main
  ``target`` is the ``resid`` target of the main horizon; for other horizons it is
  ``target_{h}``.
* ``raw`` — the forward return itself (``target_raw_{h}``).
* ``sector`` — minus its sector's mean (``target_sector_{h}``).
* ``beta`` — the residual on a constant and beta only (``target_beta_{h}``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy.stats import rankdata

from crowdalpha.dataset.features import FeatureEngine
from crowdalpha.errors import InvalidParameterError

__all__ = [
    "TARGET_BINS",
    "TARGET_KINDS",
    "TARGET_SHARES",
    "TargetConfig",
    "TargetEngine",
    "bin_ranks",
]

F64 = npt.NDArray[np.float64]

TARGET_BINS = (0.0, 0.25, 0.5, 0.75, 1.0)
TARGET_SHARES = (0.05, 0.20, 0.50, 0.20, 0.05)
#: Kinds of target per horizon (see the module docstring).
TARGET_KINDS = ("resid", "raw", "sector", "beta")

_EDGES = np.cumsum(TARGET_SHARES)[:-1]  # 0.05, 0.25, 0.75, 0.95


def bin_ranks(values: npt.ArrayLike) -> F64:
    """Rank values into the five :data:`TARGET_BINS` with about :data:`TARGET_SHARES` each.

    Each finite value gets the mid-point quantile of its (average) rank, ``(rank − ½) / n``,
    and the bin whose cumulative share range holds it; tied values therefore share a bin.
    NaN stays NaN. Returns float64.
    """
    x = np.asarray(values, dtype=np.float64)
    if x.ndim != 1:
        raise InvalidParameterError(f"bin_ranks takes a 1-d array, not {x.ndim}-d")
    out = np.full(x.shape, np.nan)
    ok = np.isfinite(x)
    n = int(ok.sum())
    if n == 0:
        return out
    q = (rankdata(x[ok], method="average") - 0.5) / n
    idx = np.searchsorted(_EDGES, q, side="right")
    out[ok] = np.asarray(TARGET_BINS)[idx]
    return out


@dataclass(frozen=True)
class TargetConfig:
    """Target horizons (trading days), the lag before returns start, and the styles."""

    horizon: int = 20
    lag: int = 2
    aux_horizons: tuple[int, ...] = (60,)
    #: Kinds besides ``resid`` to make for every horizon.
    aux_kinds: tuple[str, ...] = ("raw", "sector", "beta")
    #: Base feature names used as style exposures in the ``resid`` targets.
    styles: tuple[str, ...] = ("size", "momskip_252_21", "vol_60", "beta_120")
    #: Base feature used by the ``beta`` targets.
    beta_style: str = "beta_120"

    def __post_init__(self) -> None:
        for name in ("horizon", "lag"):
            v = getattr(self, name)
            lo = 1 if name == "horizon" else 0
            if isinstance(v, bool) or not isinstance(v, int) or v < lo:
                raise InvalidParameterError(f"{name} must be an int ≥ {lo}, not {v!r}")
        if not isinstance(self.aux_horizons, tuple):
            raise InvalidParameterError("aux_horizons must be a tuple of ints")
        for h in self.aux_horizons:
            if isinstance(h, bool) or not isinstance(h, int) or h < 1 or h == self.horizon:
                raise InvalidParameterError(
                    f"aux_horizons must hold ints ≥ 1 other than the main horizon; got {h!r}"
                )
        if len(set(self.aux_horizons)) != len(self.aux_horizons):
            raise InvalidParameterError(f"aux_horizons repeats a horizon: {self.aux_horizons}")
        if not isinstance(self.aux_kinds, tuple) or any(
            k not in TARGET_KINDS[1:] for k in self.aux_kinds
        ):
            raise InvalidParameterError(
                f"aux_kinds must be a tuple drawn from {TARGET_KINDS[1:]}, not {self.aux_kinds!r}"
            )
        if len(set(self.aux_kinds)) != len(self.aux_kinds):
            raise InvalidParameterError(f"aux_kinds repeats a kind: {self.aux_kinds}")
        if not isinstance(self.styles, tuple) or not all(isinstance(s, str) for s in self.styles):
            raise InvalidParameterError("styles must be a tuple of base feature names")
        if not isinstance(self.beta_style, str):
            raise InvalidParameterError("beta_style must be a base feature name")

    def columns(self) -> tuple[tuple[str, str, int], ...]:
        """(name, kind, horizon) of every target, the main ``target`` first."""
        out: list[tuple[str, str, int]] = []
        for h in (self.horizon, *self.aux_horizons):
            main = "target" if h == self.horizon else f"target_{h}"
            out.append((main, "resid", h))
            out += [(f"target_{k}_{h}", k, h) for k in self.aux_kinds]
        return tuple(out)


def _zscore_columns(x: F64) -> F64:
    """Z-score each column over its finite values, NaN → 0; drop columns without spread."""
    keep: list[F64] = []
    for j in range(x.shape[1]):
        col = x[:, j]
        ok = np.isfinite(col)
        if ok.sum() < 2:
            continue
        mu = col[ok].mean()
        sd = col[ok].std()
        if not sd > 1e-12:
            continue
        keep.append(np.where(ok, (col - mu) / sd, 0.0))
    if not keep:
        return np.zeros((x.shape[0], 0))
    return np.column_stack(keep)


def _residual(y: F64, design: F64) -> F64:
    """Residual of an OLS of ``y`` on ``design`` over the rows where ``y`` is finite."""
    out = np.full(y.shape, np.nan)
    ok = np.isfinite(y)
    if ok.sum() == 0:
        return out
    x = design[ok]
    coef, *_ = np.linalg.lstsq(x, y[ok], rcond=None)
    out[ok] = y[ok] - x @ coef
    return out


class TargetEngine:
    """Targets of every stock listed on an era's day.

    ``features`` supplies the style exposures and the wide price arrays; without it a
    :class:`FeatureEngine` with the default configuration is built from ``prices`` (pass the
    one you already have to share the work).
    """

    def __init__(
        self,
        prices: pd.DataFrame,
        config: TargetConfig | None = None,
        *,
        features: FeatureEngine | None = None,
    ) -> None:
        self.config = config if config is not None else TargetConfig()
        if not isinstance(self.config, TargetConfig):
            raise InvalidParameterError("config must be a TargetConfig")
        self.features = features if features is not None else FeatureEngine(prices)
        known = set(self.features.base_names)
        wanted = [*self.config.styles]
        if "beta" in self.config.aux_kinds:
            wanted.append(self.config.beta_style)
        unknown = [s for s in wanted if s not in known]
        if unknown:
            raise InvalidParameterError(
                f"style feature(s) {unknown} are not made by the feature configuration",
                details={"unknown": unknown},
            )
        self._columns = self.config.columns()
        self.names: tuple[str, ...] = tuple(c[0] for c in self._columns)
        self._styles = list(dict.fromkeys(wanted))

    def known(self, date: pd.Timestamp | str) -> bool:
        """Whether the main target of the era on ``date`` lies within the data."""
        t = self.features.day_index(date)
        return t + self.config.lag + self.config.horizon < len(self.features.days)

    def forward_returns(self, date: pd.Timestamp | str, horizon: int) -> pd.Series:
        """``log(close_{t+lag+horizon} / close_{t+lag})`` of the stocks listed on ``date``."""
        fe = self.features
        t = fe.day_index(date)
        rows = fe.listed_rows(date)
        start, end = t + self.config.lag, t + self.config.lag + horizon
        if end < len(fe.days):
            y = fe.log_close[end, rows] - fe.log_close[start, rows]
        else:
            y = np.full(len(rows), np.nan)
        return pd.Series(y, index=fe.tickers[rows], name=f"fwd_{horizon}")

    def era(self, date: pd.Timestamp | str, *, binned: bool = True) -> pd.DataFrame:
        """Targets of the stocks listed on ``date``, one column per :attr:`names`.

        Binned into :data:`TARGET_BINS` (float32) by default; ``binned=False`` gives the
        float64 values before ranking (residuals, demeaned or raw returns).
        """
        fe = self.features
        t = fe.day_index(date)
        rows = fe.listed_rows(date)
        n = len(rows)
        exposures = fe.base(date, self._styles)
        styles = _zscore_columns(exposures[list(self.config.styles)].to_numpy(np.float64))
        beta = _zscore_columns(exposures[[self.config.beta_style]].to_numpy(np.float64))
        const = np.ones((n, 1))
        sector_codes = fe.sector_codes
        if sector_codes is not None:
            codes = sector_codes[t, rows]
            present = np.unique(codes)
            dummies = (codes[:, None] == present[None, 1:]).astype(np.float64)
        else:
            codes = np.zeros(n, dtype=np.int64)
            dummies = np.zeros((n, 0))
        designs = {
            "resid": np.hstack([const, dummies, styles]),
            "sector": np.hstack([const, dummies]),
            "beta": np.hstack([const, beta]),
        }
        values: dict[str, F64] = {}
        cache: dict[int, F64] = {}
        for name, kind, h in self._columns:
            if h not in cache:
                cache[h] = self.forward_returns(date, h).to_numpy(np.float64)
            y = cache[h]
            v = y.copy() if kind == "raw" else _residual(y, designs[kind])
            values[name] = bin_ranks(v) if binned else v
        frame = pd.DataFrame(values, index=fe.tickers[rows], columns=list(self.names))
        return frame.astype(np.float32) if binned else frame

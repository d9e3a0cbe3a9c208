"""The operator's risk model: factor exposures, the neutralizer matrix N and sample weights v.

**Risk factors** of a date's universe (all z-scored across it, a missing value set to the mean):

* market — the beta (``feature_beta_factor``);
* size — log market cap (``feature_market_cap_factor``; log dollar volume without caps);
* momentum — 12-1 month (``feature_momentum_52w_less_4w_factor``);
* volatility — ``feature_volatility_factor``;
* value — a price-only proxy, the long-term reversal ``−log(close_t / close_{t−504})``;
* any exposures the operator supplies (:class:`Exposures`, e.g. the simulator's true
  ``beta``, ``size``, ``value``, ``momentum``, ``low_volatility``), as of the date;
* country and sector, as dummies.

**Neutralizer matrix.** The columns ``constant``, the country and sector dummies, the
risk-only factors (value, the supplied exposures) and every public numeric feature are
orthonormalized in the inner product weighted by the sample weights v — Gram–Schmidt in
that column order, by a QR factorization of ``√v ∘ X``, a column that adds less than
``1e-6`` of its own norm being dropped (left all zero) — so that ``Nᵀ diag(v) N = I`` on
its non-zero columns. That is what numerai-tools' ``generate_neutralized_weights`` assumes
(it computes ``w = (s − N Nᵀ (v ∘ s)) ∘ v`` without a solve): its portfolio weights are then
exactly neutral, ``Xᵀ w = 0``, to every raw column — sum zero, no beta, no country or sector
bet, no exposure to any public feature.

**Sample weights.** ``v ∝ √(20-day dollar volume)`` (√ market cap without volume; equal
without either), scaled to mean 1 over the universe.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd

from crowdalpha.dataset.signals.features import NUMERIC_FEATURES, zscore
from crowdalpha.dataset.signals.panel import PricePanel
from crowdalpha.dataset.signals.universe import dollar_volume
from crowdalpha.errors import InvalidInputError, InvalidParameterError, MissingColumnsError

__all__ = [
    "DROP_TOLERANCE",
    "VALUE_DAYS",
    "Exposures",
    "as_exposures",
    "dummies",
    "fill_mean",
    "gram_schmidt",
    "neutralizer_columns",
    "orthonormalize",
    "sample_weights",
    "style_matrix",
    "value_proxy",
]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

#: Trading days of the value proxy's long-term reversal.
VALUE_DAYS = 504
#: A column whose part orthogonal to the columns before it is below this share of its norm
#: is dropped from N.
DROP_TOLERANCE = 1e-6
_STYLE_FEATURES = {
    "beta": "feature_beta_factor",
    "momentum": "feature_momentum_52w_less_4w_factor",
    "volatility": "feature_volatility_factor",
}


class Exposures:
    """Operator-supplied factor exposures, looked up as of a date (never after it).

    ``frame`` is long: ``date``, ``ticker`` (the price ticker) and one numeric column per
    factor (other columns are ignored). The exposures of date ``d`` are the rows of the
    latest exposure date on or before ``d``.
    """

    def __init__(self, frame: pd.DataFrame) -> None:
        missing = [c for c in ("date", "ticker") if c not in frame.columns]
        if missing:
            raise MissingColumnsError(
                f"exposures lack the column(s) {missing}", details={"missing": missing}
            )
        numeric = [
            str(c)
            for c in frame.columns
            if c not in ("date", "ticker") and pd.api.types.is_numeric_dtype(frame[c])
        ]
        if not numeric:
            raise InvalidInputError("exposures hold no numeric factor column")
        self.factors: tuple[str, ...] = tuple(numeric)
        dates = pd.to_datetime(frame["date"]).to_numpy(dtype="datetime64[ns]")
        self._dates = np.unique(dates)
        by_date = frame.assign(ticker=frame["ticker"].astype(str), date=dates)
        #: One block per date of :attr:`_dates`, in order: factor columns by ticker.
        self._blocks: list[pd.DataFrame] = [
            group.drop_duplicates("ticker", keep="last")
            .set_index("ticker")[list(numeric)]
            .astype(np.float64)
            for _, group in by_date.groupby("date", sort=True)
        ]

    def at(self, date: pd.Timestamp, tickers: Sequence[str]) -> F64:
        """``(len(tickers), factors)`` exposures as of ``date`` (NaN where unknown)."""
        pos = int(np.searchsorted(self._dates, np.datetime64(date, "ns"), side="right")) - 1
        if pos < 0:
            return np.full((len(tickers), len(self.factors)), np.nan)
        block = self._blocks[pos]
        out: F64 = block.reindex(list(tickers)).to_numpy(dtype=np.float64)
        return out


def as_exposures(exposures: pd.DataFrame | Exposures | None) -> Exposures | None:
    """``exposures`` as an :class:`Exposures` (a frame is wrapped; None stays None)."""
    if exposures is None or isinstance(exposures, Exposures):
        return exposures
    if not isinstance(exposures, pd.DataFrame):
        raise InvalidParameterError("exposures must be a DataFrame, an Exposures or None")
    return Exposures(exposures)


def value_proxy(panel: PricePanel, t: int, rows: I64) -> F64:
    """``−log(close_t / close_{t−504})``: long-term reversal, NaN without that history."""
    if t < VALUE_DAYS:
        return np.full(len(rows), np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        out: F64 = -(np.log(panel.close[t, rows]) - np.log(panel.close[t - VALUE_DAYS, rows]))
    return out


def fill_mean(x: F64) -> F64:
    """Missing values set to the mean of the others (0 when all are missing)."""
    ok = np.isfinite(x)
    out: F64 = np.where(ok, x, x[ok].mean() if ok.any() else 0.0)
    return out


def style_matrix(
    features: pd.DataFrame,
    value: F64,
    exposures: F64 | None,
    exposure_names: Sequence[str] = (),
) -> tuple[F64, list[str], F64, list[str]]:
    """The style factors of a universe: ``(styles, names, risk_only, risk_only_names)``.

    ``styles`` (rows × k) holds market, size, momentum, volatility, value and the supplied
    exposures, z-scored, missing values set to the mean (the factor-neutral targets'
    design);
    ``risk_only`` the columns among them that are not public features (value and the
    exposures), which N adds to the public features.
    """
    size = features["feature_market_cap_factor"].to_numpy(np.float64)
    if not np.isfinite(size).any():
        size = features["feature_adv_20d_factor"].to_numpy(np.float64)
    cols = [features[_STYLE_FEATURES["beta"]].to_numpy(np.float64), size]
    names = ["beta", "size"]
    cols += [features[_STYLE_FEATURES[k]].to_numpy(np.float64) for k in ("momentum", "volatility")]
    names += ["momentum", "volatility"]
    risk_only = [zscore(value)]
    risk_names = ["value"]
    if exposures is not None:
        for j, name in enumerate(exposure_names):
            risk_only.append(zscore(exposures[:, j]))
            risk_names.append(f"risk_{name}")
    styles = np.column_stack([fill_mean(c) for c in cols] + [fill_mean(c) for c in risk_only])
    return (
        styles,
        names + risk_names,
        np.column_stack([fill_mean(c) for c in risk_only]),
        risk_names,
    )


def dummies(codes: npt.NDArray[np.integer], n_codes: int) -> F64:
    """``(rows, n_codes)`` 0/1 indicators of each code."""
    out: F64 = (codes[:, None] == np.arange(n_codes)[None, :]).astype(np.float64)
    return out


def neutralizer_columns(
    country_names: Sequence[str], sector_names: Sequence[str], risk_names: Sequence[str]
) -> list[str]:
    """N's column names, in Gram–Schmidt order."""
    return [
        "neutralizer_constant",
        *(f"neutralizer_country_{c}" for c in country_names),
        *(f"neutralizer_sector_{s}" for s in sector_names),
        *(f"neutralizer_{r}" for r in risk_names),
        *(f"neutralizer_{f.removeprefix('feature_')}" for f in NUMERIC_FEATURES),
    ]


def gram_schmidt(x: F64, *, tolerance: float = DROP_TOLERANCE) -> F64:
    """Orthonormal columns by Gram–Schmidt in column order (twice, for accuracy).

    Column ``j`` of the result is the part of ``x_j`` orthogonal to the kept columns before
    it, scaled to unit norm; a column whose part is below ``tolerance`` of its own norm
    (it lies in the span before it) is dropped — left all zero. The kept columns span what
    ``x``'s columns span, and the first ``m`` kept columns are the basis of ``x[:, :m']``
    for the matching prefix.
    """
    n, k = x.shape
    out = np.zeros((n, k))
    basis = np.empty((n, k), order="F")
    m = 0
    for j in range(k):
        col = np.array(x[:, j], dtype=np.float64)
        norm0 = float(np.linalg.norm(col))
        if norm0 == 0:
            continue
        if m:
            b = basis[:, :m]
            col -= b @ (b.T @ col)
            col -= b @ (b.T @ col)
        norm = float(np.linalg.norm(col))
        if norm <= tolerance * norm0:
            continue
        col /= norm
        basis[:, m] = col
        out[:, j] = col
        m += 1
    return out


def orthonormalize(x: F64, v: F64, *, tolerance: float = DROP_TOLERANCE) -> F64:
    """Columns spanning what ``x``'s columns span, orthonormal in the ``v``-weighted inner
    product: :func:`gram_schmidt` of ``√v ∘ x``, divided by ``√v`` — so ``Nᵀ diag(v) N``
    is the identity on the kept columns; dropped columns are all zero."""
    root = np.sqrt(v)
    out: F64 = gram_schmidt(x * root[:, None], tolerance=tolerance) / root[:, None]
    return out


def sample_weights(panel: PricePanel, t: int, rows: I64, adv_days: int = 20) -> F64:
    """``√(dollar volume)`` (or ``√(market cap)``, or 1), scaled to mean 1 over ``rows``."""
    base = np.sqrt(dollar_volume(panel, t, rows, adv_days))
    if not np.isfinite(base).any() and panel.market_cap is not None:
        base = np.sqrt(panel.market_cap[t, rows])
    finite = np.isfinite(base) & (base > 0)
    if not finite.any():
        return np.ones(len(rows))
    base = np.where(finite, base, np.median(base[finite]))
    out: F64 = base / base.mean()
    return out

"""Signals targets: forward returns after a lag, made factor-neutral and binned per date.

For a date on trading day ``t``, a horizon ``h`` and the lag ``lag`` (2 days: the time to
submit and trade), a stock's forward return is ``log(P_{t+lag+h} / P_{t+lag})``, ``P`` its
close carried forward over days it has none — a stock delisted within the horizon keeps its
last price, so its return is what a holder got (no survivorship bias); one delisted before
``t + lag`` returns 0. The return is unknown (NaN for every stock) until the prices reach
``t + lag + h``.

Targets per horizon, each ranked across the date's universe into five bins — 5 % at 0,
20 % at 0.25, 50 % at 0.5, 20 % at 0.75, 5 % at 1
(:func:`crowdalpha.dataset.targets.bin_ranks`):

* ``target_raw_return_{h}`` — the forward return;
* ``target_factor_neutral_{h}`` — the residual of an OLS of the return on a constant, the
  country and sector dummies and the style factors (market beta, size, momentum,
  volatility, value and any operator exposures; :mod:`crowdalpha.dataset.signals.risk`);
* ``target_factor_feat_neutral_{h}`` — the same, with every public numeric feature added
  to the regression;
* ``target`` — the main target: ``target_factor_feat_neutral`` of the first horizon.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt

from crowdalpha.dataset.signals.panel import PricePanel
from crowdalpha.dataset.targets import bin_ranks

__all__ = ["MAIN_TARGET", "TARGET_KINDS", "era_targets", "forward_returns", "target_names"]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

#: Kinds of target per horizon, the main kind first.
TARGET_KINDS = ("factor_feat_neutral", "factor_neutral", "raw_return")
MAIN_TARGET = "target"


def target_names(horizons: Sequence[int]) -> tuple[str, ...]:
    """``target``, then ``target_{kind}_{h}`` for every horizon and kind."""
    return (MAIN_TARGET, *(f"target_{k}_{h}" for h in horizons for k in TARGET_KINDS))


def forward_returns(panel: PricePanel, t: int, rows: I64, lag: int, horizon: int) -> F64 | None:
    """``log(P_{t+lag+h} / P_{t+lag})`` of ``rows`` (see the module docstring); None while
    the panel does not reach ``t + lag + h``."""
    if t + lag + horizon >= len(panel):
        return None
    path = panel.ahead(panel.close, t, lag + horizon, rows)
    # Carry each stock's close forward (its close on day t exists: it is in the universe).
    ok = np.isfinite(path)
    last = np.where(ok, np.arange(path.shape[0])[:, None], 0)
    np.maximum.accumulate(last, axis=0, out=last)
    filled = np.take_along_axis(path, last, axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        out: F64 = np.log(filled[lag + horizon]) - np.log(filled[lag])
    return out


def _residual(y: F64, basis: F64) -> F64:
    """``y`` minus its projection on the span of ``basis`` (orthonormal columns)."""
    ok = np.isfinite(y)
    if ok.all():
        out: F64 = y - basis @ (basis.T @ y)
        return out
    out = np.full(y.shape, np.nan)
    if ok.any():  # rows without a return: regress on the basis over the others
        coef, *_ = np.linalg.lstsq(basis[ok], y[ok], rcond=None)
        out[ok] = y[ok] - basis[ok] @ coef
    return out


def era_targets(
    returns: Mapping[int, F64 | None],
    factor_basis: F64,
    feature_basis: F64,
    *,
    binned: bool = True,
) -> dict[str, F64]:
    """One date's targets from its forward returns (by horizon, None when unknown).

    ``factor_basis`` is an orthonormal basis of the factor-neutral regression's design
    (constant, dummies, styles), ``feature_basis`` of the same with the public features:
    a residual is the return minus its projection on the basis, the OLS residual. Each
    horizon is computed on its own, so a target does not depend on which other horizons
    are known. Binned by default; ``binned=False`` gives the returns and residuals before
    ranking.
    """
    n = factor_basis.shape[0]
    out: dict[str, F64] = {}
    for h, y in returns.items():
        if y is None:
            values = {k: np.full(n, np.nan) for k in TARGET_KINDS}
        else:
            values = {
                "factor_feat_neutral": _residual(y, feature_basis),
                "factor_neutral": _residual(y, factor_basis),
                "raw_return": y.copy(),
            }
        for kind in TARGET_KINDS:
            out[f"target_{kind}_{h}"] = bin_ranks(values[kind]) if binned else values[kind]
    first = next(iter(returns))
    ordered = {MAIN_TARGET: out[f"target_{TARGET_KINDS[0]}_{first}"].copy()}
    ordered.update(out)
    return ordered

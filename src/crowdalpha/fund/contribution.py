"""What each model contributed to the fund.

* :func:`meta_portfolio_contribution` — Numerai's closed-form *meta portfolio contribution*
  (MPC). It is :func:`crowdalpha.scoring.meta_portfolio_contribution` itself (numerai-tools
  0.7.2's function, matched number for number): the fund keeps no copy of the rule.
  :func:`mpc_arrays` runs the same kernels (:mod:`crowdalpha.scoring.portfolio_kernels`) on
  the aligned arrays of one rebalance: each model's predictions become neutralized weights
  (tie-kept rank → gaussian → power 1.5, then ``s' − N(Nᵀ(v∘s'))`` times the sample weights
  ``v``), centred; ``p = W s`` is the stake-weighted portfolio (stakes normalized to sum to
  1); MPC is the gradient of ``pᵀt/‖p‖`` with respect to the stakes, divided by 50.
* :func:`stake_gradient` — the optimizer fund's "TC": the exact derivative of one
  rebalance's realized return with respect to each model's stake share, through the
  optimizer (implicit differentiation of its KKT system, :func:`book_gradient`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from crowdalpha.errors import ScoringInputError
from crowdalpha.fund.construct import Limits
from crowdalpha.fund.optimize import Optimizer, book_gradient
from crowdalpha.scoring import kernels, portfolio_kernels
from crowdalpha.scoring.kernels import Segments
from crowdalpha.scoring.neutral import meta_portfolio_contribution
from crowdalpha.scoring.portfolio_kernels import MPC_SCALE

__all__ = [
    "MPC_SCALE",
    "meta_portfolio_contribution",
    "mpc_arrays",
    "neutral_weights",
    "stake_gradient",
]

Float = npt.NDArray[np.float64]


def neutral_weights(predictions: Float, neutralizers: Float, sample_weights: Float) -> Float:
    """``(s' − N(Nᵀ(v∘s')))∘v`` for each column ``s'`` of the transformed predictions
    (``(n, k)`` in and out; the scoring kernels work on the transpose)."""
    rows = np.ascontiguousarray(predictions.T, dtype=np.float64)
    s_prime = kernels.gaussian_pow15(kernels.tie_kept_rank(rows, Segments.single(rows.shape[1])))
    return np.asarray(portfolio_kernels.neutral_weights(s_prime, neutralizers, sample_weights).T)


def mpc_arrays(
    predictions: Float,
    stakes: Float,
    neutralizers: Float,
    sample_weights: Float,
    targets: Float,
) -> Float:
    """MPC on aligned arrays (rows: the same stocks in the same order; no NaN)."""
    total = float(np.abs(stakes).sum())
    if not total > 0:
        raise ScoringInputError("stakes must not all be zero")
    w = neutral_weights(predictions, neutralizers, sample_weights)
    return portfolio_kernels.meta_portfolio_contribution(
        np.ascontiguousarray(w.T), stakes / total, targets - targets.mean()
    )


def stake_gradient(
    optimizer: Optimizer,
    scores: Float,
    stakes: Float,
    *,
    var: Float,
    prev: Float,
    q: Float,
    x: Float,
    lim: Limits,
    forward: Float,
) -> tuple[Float, dict[str, Any]]:
    """Each model's TC at one rebalance: ``Σs·∂R/∂sⱼ`` with ``R = wᵀr`` the rebalance's
    realized return, ``w`` the optimizer's book for ``α = ic·σ·m``, ``m = Σ sⱼgⱼ/Σ sⱼ``
    the stake-weighted mean of the models' gaussianized ranks ``g`` (the columns of
    ``scores``, 0 where a model did not score a name) — the return gained per unit of stake
    share moved to the model from all models pro rata. Also returns the solve's log."""
    total = float(stakes.sum())
    m = scores @ stakes / total
    alpha = optimizer.alpha(m, var)
    w, info = optimizer.solve(alpha, var, prev, q, x, lim)
    r = np.nan_to_num(forward, nan=0.0)
    if info["solver"] == "closed_form":
        return np.full(stakes.size, np.nan), info
    grad = book_gradient(
        w,
        alpha_grad_target=r,
        var=var,
        prev=prev,
        q=q,
        lim=lim,
        risk_aversion=optimizer.config.optimizer.risk_aversion,
    )
    scale = optimizer.config.optimizer.ic * np.sqrt(var)
    dalpha = scale[:, None] * (scores - m[:, None])
    info["return"] = float(w @ r)
    return np.asarray(grad @ dalpha), info

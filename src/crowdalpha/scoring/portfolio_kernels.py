"""Numpy kernels of the portfolio-style metrics: neutral weights, Alpha, MPC, churn, turnover.

Same layout as :mod:`crowdalpha.scoring.kernels`: a matrix of shape ``(k, n)`` holds one
submission per row and one ticker per column (C-contiguous), vectors of length ``n`` hold
per-ticker data (targets, sample weights), and the neutralizer matrix ``N`` is ``(n, f)``.
Nothing here knows about pandas or ids; :mod:`crowdalpha.scoring.neutral` and
:mod:`crowdalpha.scoring.signals` align the inputs and call these once for every column.

The formulas are numerai-tools 0.7.2's (``scoring.generate_neutralized_weights``,
``alpha``, ``meta_portfolio_contribution``; ``signals.churn``, ``turnover``), written as
matrix products over all submissions at once instead of a loop over columns.
"""

from __future__ import annotations

import numpy as np

from crowdalpha.scoring.kernels import FloatArray, Segments, tie_kept_rank

__all__ = [
    "MPC_SCALE",
    "alpha",
    "center_and_normalize",
    "meta_portfolio_contribution",
    "neutral_weights",
    "spearman_rows",
    "top_bottom_overlap",
    "turnover",
]

#: numerai-tools 0.7.2 divides the meta-portfolio gradient by this (the L2-norm version).
MPC_SCALE = 50.0
#: Rows of ``(k, n)`` matrices processed at once where a product needs a ``(k, n)`` temporary.
_BLOCK_ROWS = 1024


def neutral_weights(s_prime: FloatArray, neutralizers: FloatArray, v: FloatArray) -> FloatArray:
    """``(s′ − N (Nᵀ (v ∘ s′))) ∘ v`` for every row ``s′`` of ``s_prime`` ``(k, n)``.

    ``N`` is ``(n, f)``, ``v`` the sample weights ``(n,)``. No least squares: ``N`` is taken
    to be orthonormal under the ``v``-weighted inner product, as Numerai's neutralizers are.
    Computed in blocks of rows so that the temporaries stay small.
    """
    k = s_prime.shape[0]
    out = np.empty_like(s_prime, dtype=np.float64)
    for lo in range(0, k, _BLOCK_ROWS):
        block = s_prime[lo : lo + _BLOCK_ROWS]
        exposures = (block * v) @ neutralizers  # (b, f): Nᵀ (v ∘ s′) of every row
        residual = block - exposures @ neutralizers.T
        np.multiply(residual, v, out=out[lo : lo + _BLOCK_ROWS])
    return out


def center_and_normalize(w: FloatArray) -> FloatArray:
    """Every row minus its mean, then divided by its absolute sum (numerai-tools'
    ``weight_normalize(center(w))``): a dollar-neutral portfolio of gross exposure 1."""
    centred = w - w.mean(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.asarray(centred / np.abs(centred).sum(axis=1, keepdims=True), dtype=np.float64)


def alpha(weights: FloatArray, t_centred: FloatArray) -> FloatArray:
    """``wᵀ t / n`` for every row of neutral weights ``(k, n)`` against centred targets."""
    return np.asarray((weights @ t_centred) / t_centred.shape[0], dtype=np.float64)


def meta_portfolio_contribution(
    weights: FloatArray, stakes: FloatArray, t_centred: FloatArray
) -> FloatArray:
    """MPC of every staked row: the gradient of the stake-weighted portfolio's return.

    ``weights`` ``(k, n)`` are the staked submissions' neutral weights, ``stakes`` ``(k,)``
    their stake shares (summing to 1), ``t_centred`` the centred targets. With ``W_c`` the
    weights centred over tickers and ``p = W_cᵀ s`` the meta portfolio (re-centred):
    ``MPC = (W_c t − (W_c p)(pᵀ t)/(pᵀ p)) / ‖p‖ / 50`` — numerai-tools'
    ``(R_p W_c)ᵀ t / ‖p‖ / 50`` with ``R_p`` the projection off ``p``, without forming it.
    """
    centred = weights - weights.mean(axis=1, keepdims=True)
    portfolio = stakes @ centred
    portfolio = portfolio - portfolio.mean()
    norm = float(np.sqrt(np.sum(portfolio**2)))
    with np.errstate(invalid="ignore", divide="ignore"):
        beta = (centred @ portfolio) / (portfolio @ portfolio)
        gradient = centred @ t_centred - beta * (portfolio @ t_centred)
        return np.asarray(gradient / norm / MPC_SCALE, dtype=np.float64)


def turnover(w1: FloatArray, w2: FloatArray) -> FloatArray:
    """``Σ |w1 − w2| / 2`` per row (rows of equal length, aligned)."""
    return np.asarray(np.abs(w1 - w2).sum(axis=1) / 2, dtype=np.float64)


def spearman_rows(a: FloatArray, b: FloatArray) -> FloatArray:
    """Spearman correlation of every row of ``a`` with the same row of ``b`` (both ``(k, n)``,
    NaN-free): the Pearson correlation of their average ranks, as pandas computes it.
    NaN where a row is constant."""
    seg = Segments.single(a.shape[1])
    ra = tie_kept_rank(a, seg)
    rb = tie_kept_rank(b, seg)
    ra -= ra.mean(axis=1, keepdims=True)
    rb -= rb.mean(axis=1, keepdims=True)
    num = np.einsum("ij,ij->i", ra, rb)
    den = np.sqrt(np.einsum("ij,ij->i", ra, ra) * np.einsum("ij,ij->i", rb, rb))
    with np.errstate(invalid="ignore", divide="ignore"):
        out = num / den
    out[den == 0] = np.nan
    return np.asarray(np.clip(out, -1.0, 1.0), dtype=np.float64)


def top_bottom_overlap(
    a: FloatArray,
    codes_a: np.ndarray,
    b: FloatArray,
    codes_b: np.ndarray,
    top_bottom: int,
    n_codes: int,
) -> FloatArray:
    """Per row, the mean share of the ``top_bottom`` highest and of the lowest entries that
    ``a`` ``(k, n_a)`` and ``b`` ``(k, n_b)`` have in common; numerai-tools' top/bottom
    churn is one minus this.

    The two need not share columns: ``codes_a`` and ``codes_b`` give each column's ticker
    as a number below ``n_codes``. Ties are broken by column order (a stable sort, NaN
    last), as ``np.argsort(kind="stable")`` does in the reference.
    """
    oa = np.argsort(a, axis=1, kind="stable")
    ob = np.argsort(b, axis=1, kind="stable")
    rows = np.arange(a.shape[0])[:, None]

    def shared(picked_a: np.ndarray, picked_b: np.ndarray) -> np.ndarray:
        marks = np.zeros((a.shape[0], n_codes), dtype=bool)
        marks[rows, codes_a[picked_a]] = True
        return np.asarray(marks[rows, codes_b[picked_b]].sum(axis=1))

    top = shared(oa[:, max(a.shape[1] - top_bottom, 0) :], ob[:, max(b.shape[1] - top_bottom, 0) :])
    bottom = shared(oa[:, :top_bottom], ob[:, :top_bottom])
    return np.asarray((top / top_bottom + bottom / top_bottom) / 2, dtype=np.float64)

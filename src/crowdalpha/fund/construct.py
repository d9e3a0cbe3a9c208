"""Stage 3 — portfolio construction: from one rebalance's scores to target weights.

The default is the closed form: scores → gaussianized ranks ``z`` → ``z`` with the
exposures projected out (dollar-neutral and neutral to every exposure, exactly) → scaled
to the gross exposure. Per-name caps, ``min(max_weight, max_adv_fraction·ADV/AUM)``, are met
by fixing the names that break them at their cap and solving again for the others, whose
weights then also offset the fixed names' exposures: the result is exactly neutral, exactly
at gross, and within every cap. When the caps leave too little room (a large fund in thin
names), the gross target falls to half the sum of the caps, and the shortfall is reported.

Every book is checked (:func:`check_book`) before it trades; a violation raises
:class:`~crowdalpha.errors.FundConstraintError` and stops the run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from crowdalpha.errors import FundConstraintError
from crowdalpha.fund.config import FundConfig
from crowdalpha.fund.market import Snapshot

__all__ = [
    "NEUTRALITY_TOLERANCE",
    "Limits",
    "check_book",
    "design_matrix",
    "limits",
    "neutral_capped",
]

Float = npt.NDArray[np.float64]

#: Largest |exposure of the book| allowed, by method (exposures are z-scores, gross ~1).
NEUTRALITY_TOLERANCE = {"closed_form": 1e-6, "optimizer": 1e-5}
_RELATIVE = 1e-4  # slack on gross and caps
_MAX_PASSES = 100
_EXACT = 1e-9  # largest |exposure| per unit of gross the closed form accepts of itself


def design_matrix(snap: Snapshot, *, exclude: tuple[str, ...] = ()) -> Float:
    """The columns the book is neutral to: a constant (dollar neutrality), the snapshot's
    exposures except ``exclude``, and one dummy per sector present."""
    keep = [j for j, n in enumerate(snap.exposure_names) if n not in exclude]
    cols = [np.ones((snap.names.size, 1)), snap.exposures[:, keep]]
    if "sector" not in exclude:
        codes = np.unique(snap.sector[snap.sector >= 0])
        if codes.size > 1:
            cols.append((snap.sector[:, None] == codes[None, :]).astype(np.float64))
    return np.hstack(cols)


@dataclass(frozen=True)
class Limits:
    """One rebalance's limits on the names of a snapshot."""

    caps: Float
    gross: float
    #: The gross asked for (``gross`` is lower when the caps leave too little room).
    gross_wanted: float


def limits(snap: Snapshot, config: FundConfig, *, aum: float | None = None) -> Limits:
    """Per-name caps and the reachable gross for a snapshot."""
    size = config.aum if aum is None else aum
    caps = np.minimum(config.max_weight, config.max_adv_fraction * snap.adv / size)
    gross = min(config.gross, 0.5 * float(caps.sum()))
    return Limits(caps=caps, gross=gross, gross_wanted=config.gross)


def _basis(x: Float) -> tuple[Float, Float, Float]:
    """An orthonormal basis ``u`` of the columns of ``x``, and the eigenpairs ``(λ, V)`` of
    ``xᵀx`` on its rank (so that ``x·V·diag(1/λ)·Vᵀ·b`` is the least-norm ``q`` with
    ``xᵀq = b``, for ``b`` in the row space).

    Through the eigen-decomposition of the small Gram matrix (k × k) — far cheaper than an
    SVD of the tall ``x`` — followed by one QR pass that restores orthonormality to
    machine precision.
    """
    if x.shape[0] == 0 or x.shape[1] == 0:
        return np.zeros((x.shape[0], 0)), np.zeros(0), np.zeros((x.shape[1], 0))
    values, vectors = np.linalg.eigh(x.T @ x)
    keep = values > values.max() * 1e-11
    lam = values[keep]
    v = vectors[:, keep]
    u, _ = np.linalg.qr((x @ v) / np.sqrt(lam))
    return u, lam, v


def _scale_to(p: Float, q: Float, target: float) -> float:
    """The ``a ≥ 0`` with ``Σ|a·p + q| = target`` (``Σ|q| < target``, ``p ≠ 0``)."""
    lo, hi = 0.0, (target + float(np.abs(q).sum())) / float(np.abs(p).sum())
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if float(np.abs(mid * p + q).sum()) < target:
            lo = mid
        else:
            hi = mid
    signs = np.sign(0.5 * (lo + hi) * p + q)
    slope = float(signs @ p)
    if slope <= 0:
        return 0.5 * (lo + hi)
    return (target - float(signs @ q)) / slope


def neutral_capped(desired: Float, x: Float, lim: Limits) -> Float:
    """The book closest in direction to ``desired`` that is neutral to the columns of ``x``,
    at gross ``lim.gross`` and within ``lim.caps`` (see the module docstring).

    When the names pinned at their caps cannot be offset by the others (say every name of
    a sector is capped), the gross target is lowered step by step until they can: a fund
    too large for its names holds less, and says so in its diagnostics.
    """
    gross = lim.gross
    for _ in range(_MAX_PASSES):
        w = _neutral_capped_at(desired, x, lim.caps, gross)
        exposure = float(np.abs(x.T @ w).max()) if x.size else 0.0
        if exposure <= _EXACT * max(gross, 1e-300):
            return w
        gross *= 0.8
    raise FundConstraintError(
        "no neutral book fits within the caps; loosen max_weight or max_adv_fraction, "
        "or lower the fund's size"
    )


def _neutral_capped_at(desired: Float, x: Float, caps: Float, gross: float) -> Float:
    n = desired.size
    fixed = np.zeros(n, dtype=bool)
    w = np.zeros(n)
    for _ in range(_MAX_PASSES):
        free = ~fixed
        f = w[fixed]
        xu = x[free]
        u, lam, v = _basis(xu)
        z = desired[free]
        p = z - u @ (u.T @ z)
        q = np.zeros(z.size)
        if fixed.any() and lam.size:
            q = -xu @ (v @ ((v.T @ (x[fixed].T @ f)) / lam))
        room = gross - float(np.abs(f).sum())
        if not np.abs(p).sum() > 0 or room <= float(np.abs(q).sum()):
            w[free] = q
            total = float(np.abs(w).sum())
            if total > gross:
                w *= gross / total
            return w
        scale = room / float(np.abs(p).sum()) if not fixed.any() else _scale_to(p, q, room)
        w[free] = scale * p + q
        over = free & (np.abs(w) > caps * (1.0 + 1e-12))
        if not over.any():
            return w
        w[over] = np.sign(w[over]) * caps[over]
        fixed |= over
    return w


def check_book(w: Float, x: Float, lim: Limits, *, method: str, where: str = "") -> dict[str, Any]:
    """Check a target book; raise :class:`~crowdalpha.errors.FundConstraintError` on any
    violation, else return its measured diagnostics."""
    gross = float(np.abs(w).sum())
    net = float(w.sum())
    exposure = float(np.abs(x.T @ w).max()) if x.size else 0.0
    ratio = float((np.abs(w) / lim.caps).max()) if w.size else 0.0
    tol = NEUTRALITY_TOLERANCE[method]
    problems = []
    if abs(net) > 1e-6 * lim.gross_wanted:
        problems.append(f"net exposure {net:.3g} (allowed ±{1e-6 * lim.gross_wanted:.1g})")
    if gross > lim.gross * (1 + _RELATIVE):
        problems.append(f"gross {gross:.6g} above its limit {lim.gross:.6g}")
    if ratio > 1 + _RELATIVE:
        problems.append(f"a weight at {ratio:.6g}× its cap")
    if exposure > tol:
        problems.append(f"a risk exposure of {exposure:.3g} (allowed {tol:g})")
    if not np.isfinite(w).all():
        problems.append("weights that are not finite")
    if problems:
        raise FundConstraintError(
            f"the target book{where} breaks its constraints: {'; '.join(problems)}",
            details={"gross": gross, "net": net, "max_exposure": exposure, "cap_ratio": ratio},
        )
    return {
        "gross": gross,
        "net": net,
        "max_abs_exposure": exposure,
        "max_cap_ratio": ratio,
        "max_weight": float(np.abs(w).max()) if w.size else 0.0,
        "n_long": int((w > 0).sum()),
        "n_short": int((w < 0).sum()),
        "gross_limit": lim.gross,
    }

"""The optional convex optimizer, and the exact gradient of its book.

The problem (one rebalance; ``Q`` an orthonormal basis of the exposures, the constant
included; ``v`` the names' variances over one period)::

    maximize    αᵀw − λ·Σ vᵢ·wᵢ² − κ·‖w − w_prev‖₁
    subject to  Qᵀw = 0,   ‖w‖₁ ≤ G,   |wᵢ| ≤ cᵢ

is written with cvxpy parameters (DPP), so it is compiled once per problem size (sizes are
padded up to a multiple of 256 with names capped at 0) and each later rebalance only
re-solves. CLARABEL is tried first, then OSQP; each answer is polished (the tiny residual
exposure is projected out) and checked; the closed form is the last resort. Every attempt
is logged in the rebalance's diagnostics.

:func:`book_gradient` differentiates the solution with respect to ``α`` by implicit
differentiation of the KKT system on the active set: names at a cap, at zero or at their
previous weight are pinned; the others solve
``2λ·V·w + A·ν = α − κ·sign(w − w_prev)``, ``Aᵀw = b`` (``A`` = the exposures on the free
names, plus the signs of ``w`` when the gross limit binds), so
``dw/dα = H⁻¹ − H⁻¹A(AᵀH⁻¹A)⁺AᵀH⁻¹`` with ``H = 2λV``, exact wherever the active set is
locally constant.
"""

from __future__ import annotations

import importlib.util
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from crowdalpha.errors import FundConstraintError, InvalidParameterError
from crowdalpha.fund.config import FundConfig
from crowdalpha.fund.construct import Limits, check_book, neutral_capped

__all__ = ["Optimizer", "book_gradient", "optimizer_available"]

Float = npt.NDArray[np.float64]
_PAD = 256


def optimizer_available() -> bool:
    """Whether cvxpy (the ``fund`` extra) is installed."""
    return importlib.util.find_spec("cvxpy") is not None


@dataclass
class _Compiled:
    problem: Any
    w: Any
    params: dict[str, Any]


@dataclass
class Optimizer:
    """Solves rebalances of one fund; keeps one compiled problem per padded size."""

    config: FundConfig
    tight: bool = False  # solver tolerances near machine precision (finite-difference checks)
    _cache: dict[tuple[int, int], _Compiled] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not optimizer_available():
            raise InvalidParameterError(
                "method='optimizer' needs cvxpy: install crowdalpha with the fund extra "
                "(pip install 'crowdalpha[fund]')",
                details={"parameter": "method"},
            )

    @property
    def kappa(self) -> float:
        bps = self.config.optimizer.turnover_penalty_bps
        if bps is None:
            bps = self.config.costs.half_spread_bps + self.config.costs.commission_bps
        return bps / 1e4

    def _compiled(self, n: int, r: int) -> _Compiled:
        import cvxpy

        cp: Any = cvxpy

        key = (n, r)
        if key not in self._cache:
            w = cp.Variable(n)
            p = {
                "alpha": cp.Parameter(n),
                "risk": cp.Parameter(n, nonneg=True),
                "prev": cp.Parameter(n),
                "caps": cp.Parameter(n, nonneg=True),
                "qt": cp.Parameter((r, n)),
                "gross": cp.Parameter(nonneg=True),
            }
            objective = cp.Maximize(
                p["alpha"] @ w
                - cp.sum_squares(cp.multiply(p["risk"], w))
                - self.kappa * cp.norm1(w - p["prev"])
            )
            constraints = [cp.norm1(w) <= p["gross"], cp.abs(w) <= p["caps"]]
            if r:
                constraints.append(p["qt"] @ w == 0)
            self._cache[key] = _Compiled(cp.Problem(objective, constraints), w, p)
        return self._cache[key]

    def alpha(self, z: Float, var: Float) -> Float:
        """Expected returns ``ic·σ·z`` from scores ``z`` and variances ``var``."""
        return self.config.optimizer.ic * np.sqrt(var) * z

    def solve(
        self, alpha: Float, var: Float, prev: Float, q: Float, x: Float, lim: Limits
    ) -> tuple[Float, dict[str, Any]]:
        """The optimal book, with its log: solver, status and seconds of each attempt."""
        import cvxpy

        cp: Any = cvxpy
        n, r = q.shape
        size = -(-max(n, 1) // _PAD) * _PAD
        compiled = self._compiled(size, r)
        pad = size - n
        p = compiled.params
        p["alpha"].value = np.concatenate([alpha, np.zeros(pad)])
        risk = np.sqrt(self.config.optimizer.risk_aversion * var)
        p["risk"].value = np.concatenate([risk, np.zeros(pad)])
        p["prev"].value = np.concatenate([prev, np.zeros(pad)])
        p["caps"].value = np.concatenate([lim.caps, np.zeros(pad)])
        p["qt"].value = np.hstack([q.T, np.zeros((r, pad))])
        p["gross"].value = lim.gross
        attempts: list[dict[str, Any]] = []
        for solver in self.config.optimizer.solvers:
            started = time.perf_counter()
            status = "error"
            try:
                compiled.problem.solve(solver=solver, **self._options(solver))
                status = str(compiled.problem.status)
            except cp.error.SolverError:
                pass
            attempt: dict[str, Any] = {
                "solver": solver,
                "status": status,
                "seconds": time.perf_counter() - started,
            }
            attempts.append(attempt)
            if status != "optimal" or compiled.w.value is None:
                continue
            w = np.asarray(compiled.w.value[:n], dtype=np.float64)
            w = w - q @ (q.T @ w)
            w = np.clip(w, -lim.caps, lim.caps)
            gross = float(np.abs(w).sum())
            if gross > lim.gross:
                w *= lim.gross / gross
            try:
                check_book(w, x, lim, method="optimizer")
            except FundConstraintError as exc:
                attempt["status"] = f"rejected: {exc.message}"
                continue
            return w, {"solver": solver, "status": "optimal", "attempts": attempts}
        z = alpha / np.where(var > 0, np.sqrt(var), 1.0)
        w = neutral_capped(z, x, lim)
        return w, {"solver": "closed_form", "status": "fallback", "attempts": attempts}

    def _options(self, solver: str) -> dict[str, Any]:
        if solver == "CLARABEL":
            if self.tight:
                return {"tol_gap_abs": 1e-12, "tol_gap_rel": 1e-12, "tol_feas": 1e-12}
            return {}
        eps = 1e-10 if self.tight else 1e-7
        return {"eps_abs": eps, "eps_rel": eps, "max_iter": 200_000, "polishing": True}


def book_gradient(
    w: Float,
    *,
    alpha_grad_target: Float,
    var: Float,
    prev: Float,
    q: Float,
    lim: Limits,
    risk_aversion: float,
    tol: float = 1e-6,
) -> Float:
    """``d(targetᵀw*)/dα`` at the optimizer's solution ``w*`` (see the module docstring).

    ``alpha_grad_target`` is the vector whose product with the book is differentiated
    (the next period's returns, for the fund's return). ``tol`` (relative to the largest
    weight) decides which names sit at a cap, at zero or at their previous weight.
    """
    scale = tol * max(float(np.abs(w).max()), 1e-300)
    pinned = (np.abs(w) >= lim.caps - scale) | (np.abs(w) <= scale) | (np.abs(w - prev) <= scale)
    free = ~pinned
    out = np.zeros(w.size)
    if not free.any():
        return out
    h_inv = 1.0 / (2.0 * risk_aversion * var[free])
    cols = [q[free]]
    if float(np.abs(w).sum()) >= lim.gross * (1.0 - 1e-6):
        cols.append(np.sign(w[free])[:, None])
    a = np.hstack(cols)
    t = alpha_grad_target[free]
    ha = h_inv[:, None] * a
    m = a.T @ ha
    correction = ha @ (np.linalg.pinv(m, rcond=1e-12) @ (ha.T @ t))
    out[free] = h_inv * t - correction
    return out

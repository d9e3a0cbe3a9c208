"""The fund's settings, in one frozen record checked on construction.

Every amount of money here is a plain dollar float (the fund's book is in the operator's
currency, not in NMR); rates are stated in basis points (1 bp = 0.01 %) or as fractions,
as named. Defaults follow the design research in ``docs/fund.md``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, replace
from typing import Literal

from crowdalpha.errors import InvalidParameterError

__all__ = [
    "DEFAULT_EXPOSURES",
    "METHODS",
    "CostModel",
    "FundConfig",
    "OptimizerConfig",
]

#: Construction methods: the closed form (default) or the convex optimizer.
METHODS = ("closed_form", "optimizer")
#: Risk exposures computed from prices, point in time (``sector`` adds one dummy per sector).
DEFAULT_EXPOSURES = ("beta", "size", "momentum", "reversal", "volatility", "liquidity", "sector")
_KNOWN_EXPOSURES = frozenset(DEFAULT_EXPOSURES)
_TIME = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


def _check(name: str, value: float, lo: float, hi: float, *, open_low: bool = False) -> None:
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    v = float(value) if ok else math.nan
    if not ok or not math.isfinite(v) or v < lo or v > hi or (open_low and v == lo):
        bound = f"({lo:g}, {hi:g}]" if open_low else f"[{lo:g}, {hi:g}]"
        raise InvalidParameterError(
            f"{name} must be a number in {bound}; got {value!r}",
            details={"parameter": name},
        )


@dataclass(frozen=True)
class CostModel:
    """What trading and holding cost.

    A trade of ``|Δ$|`` dollars in a stock with daily volatility ``σ`` and average daily
    dollar volume ``ADV`` costs ``|Δ$|·(half_spread + commission) + impact·σ·|Δ$|·√(|Δ$|/ADV)``
    (half-spread, commission, and the square-root law of market impact). Shorts pay
    ``borrow_bps`` a year on their value, accrued per session (``/252``).
    """

    half_spread_bps: float = 5.0
    commission_bps: float = 0.5
    #: ``Y`` of the square-root law; 0.5–1 in the empirical literature.
    impact: float = 0.7
    borrow_bps: float = 50.0
    #: Return booked when a held stock leaves the price file without a known delisting
    #: return (the usual imputation for performance-related delistings is about −30 %).
    delisting_return: float = -0.30

    def __post_init__(self) -> None:
        _check("half_spread_bps", self.half_spread_bps, 0.0, 10_000.0)
        _check("commission_bps", self.commission_bps, 0.0, 10_000.0)
        _check("impact", self.impact, 0.0, 100.0)
        _check("borrow_bps", self.borrow_bps, 0.0, 100_000.0)
        _check("delisting_return", self.delisting_return, -1.0, 100.0)

    def scaled(self, factor: float) -> CostModel:
        """Trading and borrow costs times ``factor`` (the cost-sensitivity runs)."""
        _check("factor", factor, 0.0, 1000.0)
        return replace(
            self,
            half_spread_bps=self.half_spread_bps * factor,
            commission_bps=self.commission_bps * factor,
            impact=self.impact * factor,
            borrow_bps=self.borrow_bps * factor,
        )


@dataclass(frozen=True)
class OptimizerConfig:
    """The optional convex optimizer (``method="optimizer"``, needs the ``fund`` extra).

    Solves ``max αᵀw − λ·Σ σ²ᵢ·w²ᵢ − κ·‖w − w_prev‖₁`` subject to exact neutrality to the
    exposures (and the dollar), ``‖w‖₁ ≤ gross`` and ``|wᵢ| ≤ capᵢ``, with the expected
    return ``αᵢ = ic·σᵢ·zᵢ`` (Grinold's rule: information coefficient × volatility × score)
    and ``σᵢ`` the stock's volatility over one rebalance period.
    """

    #: ``λ``, the risk aversion.
    risk_aversion: float = 50.0
    #: ``κ``, the turnover penalty in bp per unit traded; None: half-spread + commission.
    turnover_penalty_bps: float | None = None
    #: The information coefficient assumed in ``α = ic·σ·z``.
    ic: float = 0.03
    #: Solvers tried in order; the closed form is the last resort.
    solvers: tuple[str, ...] = ("CLARABEL", "OSQP")

    def __post_init__(self) -> None:
        _check("risk_aversion", self.risk_aversion, 0.0, 1e9, open_low=True)
        if self.turnover_penalty_bps is not None:
            _check("turnover_penalty_bps", self.turnover_penalty_bps, 0.0, 10_000.0)
        _check("ic", self.ic, 0.0, 1.0, open_low=True)
        unknown = [s for s in self.solvers if s not in ("CLARABEL", "OSQP")]
        if unknown or not self.solvers:
            raise InvalidParameterError(
                f"solvers must be a non-empty sequence of CLARABEL and OSQP; got {self.solvers!r}",
                details={"parameter": "solvers"},
            )


@dataclass(frozen=True)
class FundConfig:
    """How the fund builds, trades and reports its book."""

    #: ``closed_form`` (rank → gaussianize → project out the exposures → scale, caps
    #: re-projected) or ``optimizer`` (cvxpy: CLARABEL, OSQP, then the closed form).
    method: Literal["closed_form", "optimizer"] = "closed_form"
    #: Fund size in dollars: sets the liquidity caps and the market impact.
    aum: float = 100e6
    #: Gross exposure ``Σ|wᵢ|`` as a multiple of the fund's capital.
    gross: float = 1.0
    #: The largest weight of one name.
    max_weight: float = 0.01
    #: The largest position as a fraction of the name's average daily dollar volume.
    max_adv_fraction: float = 0.05
    #: Fraction traded toward each new target (1: all the way; below 1 smooths turnover).
    smoothing: float = 1.0
    #: Sessions after the first open at or after a signal's ``available_at`` until the
    #: fill (1: that first open).
    lag: int = 1
    #: Market hours, local time of the price file: a signal dated ``d`` is known at the
    #: earliest at ``d``'s close; fills happen at a session's open.
    session_open: str = "09:30"
    session_close: str = "16:00"
    #: The universe: a name trades when listed this many sessions, above these floors.
    min_history: int = 63
    min_price: float = 1.0
    min_adv: float = 1e5
    #: Windows (sessions) of the point-in-time estimates.
    adv_window: int = 20
    vol_window: int = 63
    beta_window: int = 252
    #: Exposures the book is neutral to (see :data:`DEFAULT_EXPOSURES`), plus any extra
    #: columns given in an exposures frame.
    exposures: tuple[str, ...] = DEFAULT_EXPOSURES
    costs: CostModel = field(default_factory=CostModel)
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise InvalidParameterError(
                f"method must be one of {', '.join(METHODS)}; got {self.method!r}",
                details={"parameter": "method"},
            )
        _check("aum", self.aum, 0.0, 1e13, open_low=True)
        _check("gross", self.gross, 0.0, 10.0, open_low=True)
        _check("max_weight", self.max_weight, 0.0, 1.0, open_low=True)
        _check("max_adv_fraction", self.max_adv_fraction, 0.0, 10.0, open_low=True)
        _check("smoothing", self.smoothing, 0.0, 1.0, open_low=True)
        for name in ("lag", "min_history", "adv_window", "vol_window", "beta_window"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 10_000:
                raise InvalidParameterError(
                    f"{name} must be a whole number from 1 to 10,000; got {value!r}",
                    details={"parameter": name},
                )
        _check("min_price", self.min_price, 0.0, 1e9)
        _check("min_adv", self.min_adv, 0.0, 1e15)
        for name in ("session_open", "session_close"):
            if not isinstance(getattr(self, name), str) or not _TIME.match(getattr(self, name)):
                raise InvalidParameterError(
                    f"{name} must be a time such as '09:30'; got {getattr(self, name)!r}",
                    details={"parameter": name},
                )
        if self.session_open >= self.session_close:
            raise InvalidParameterError(
                "session_open must be before session_close",
                details={"parameter": "session_open"},
            )
        if len(set(self.exposures)) != len(self.exposures):
            raise InvalidParameterError(
                f"exposures are repeated: {self.exposures!r}", details={"parameter": "exposures"}
            )

    @property
    def price_exposures(self) -> tuple[str, ...]:
        """The exposures computed from prices (the others come from an exposures frame)."""
        return tuple(e for e in self.exposures if e in _KNOWN_EXPOSURES)

    @property
    def extra_exposures(self) -> tuple[str, ...]:
        """The exposures the operator supplies as columns of an exposures frame."""
        return tuple(e for e in self.exposures if e not in _KNOWN_EXPOSURES)

"""Payout policies: what a round's scores do to a model's stake, to the base unit.

Pure functions of integers and scores; no database. Scores are floats (statistics), money
is ``int`` base units. A float score is converted to a Decimal *exactly* (every binary float
is a finite decimal), the formula is evaluated in decimal arithmetic with ample precision,
and the result is truncated toward zero: the platform never pays a base unit more, and never
burns a base unit more, than the formula gives.

``numerai`` (default)::

    payout = stake × clip(payout_factor × (corr_mult × CORR + mmc_mult × MMC), −clip, +clip)
    payout_factor = min(1, threshold / total_stake_at_risk)

is one case of the ``weighted`` payout, which any competition's round configuration can
name: ``stake × clip(payout_factor × Σ multiplier × score, −clip, +clip)`` over the scores
the round pays on (Signals today: ``0.3 × ALPHA + 0.8 × MPC``, clip 0.017).

``tiered`` (the article's table)::

    CORR > 0.05          +2.5 × stake
    0.02 < CORR ≤ 0.05   +1.5 × stake
    0 < CORR ≤ 0.02      +1.0 × stake
    −0.02 < CORR ≤ 0     +0.5 × stake
    CORR ≤ −0.02         −0.25 × stake (burned)

(On a 100 NMR stake: +250 / +150 / +100 / +50 / −25 NMR.)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_DOWN, Context, Decimal, localcontext
from typing import Literal

from crowdalpha.errors import InvalidParameterError

__all__ = [
    "POLICIES",
    "TIERS",
    "PayoutRules",
    "numerai_payout",
    "payout",
    "payout_factor",
    "tiered_payout",
    "weighted_payout",
]

POLICIES = ("numerai", "tiered")
PolicyName = Literal["numerai", "tiered"]

# (lower bound exclusive, multiplier); the first tier whose bound CORR exceeds applies.
TIERS: tuple[tuple[Decimal, Decimal], ...] = (
    (Decimal("0.05"), Decimal("2.5")),
    (Decimal("0.02"), Decimal("1.5")),
    (Decimal("0"), Decimal("1.0")),
    (Decimal("-0.02"), Decimal("0.5")),
)
TIER_BURN = Decimal("-0.25")

_CONTEXT = Context(prec=120)


def _decimal(text: str | int | Decimal, name: str) -> Decimal:
    try:
        value = Decimal(text)
    except Exception:
        raise InvalidParameterError(f"{name} must be a decimal number, got {text!r}") from None
    if not value.is_finite():
        raise InvalidParameterError(f"{name} must be finite, got {text!r}")
    return value


@dataclass(frozen=True)
class PayoutRules:
    """A round's payout configuration, fixed when it opens (decimals as exact strings).

    ``mpc_multiplier``: the weight of MPC, each model's contribution to the meta model's
    portfolio, in the payout (0 by default: MPC is then informational only).
    """

    policy: PolicyName = "numerai"
    corr_multiplier: str = "0.5"
    mmc_multiplier: str = "2.0"
    mpc_multiplier: str = "0"
    clip: str = "0.05"
    threshold: int = 72_000 * 10**18

    def __post_init__(self) -> None:
        if self.policy not in POLICIES:
            raise InvalidParameterError(
                f"unknown payout policy {self.policy!r}; choose one of {', '.join(POLICIES)}"
            )
        _decimal(self.corr_multiplier, "corr_multiplier")
        _decimal(self.mmc_multiplier, "mmc_multiplier")
        _decimal(self.mpc_multiplier, "mpc_multiplier")
        if _decimal(self.clip, "clip") < 0:
            raise InvalidParameterError(f"clip must be ≥ 0, got {self.clip}")
        if isinstance(self.threshold, bool) or not isinstance(self.threshold, int):
            raise InvalidParameterError("threshold is an int amount of base units")
        if self.threshold <= 0:
            raise InvalidParameterError("threshold must be positive")


def _score(value: float, name: str) -> Decimal:
    if not math.isfinite(value):
        raise InvalidParameterError(f"{name} must be a finite score, got {value}")
    return Decimal(value)  # exact: a binary float is a finite decimal


def payout_factor(threshold: int, total_at_risk: int) -> Decimal:
    """``min(1, threshold / total_at_risk)``, exact to 100 significant digits."""
    if total_at_risk <= 0:
        return Decimal(1)
    with localcontext(_CONTEXT):
        return min(Decimal(1), Decimal(threshold) / Decimal(total_at_risk))


def _truncate(value: Decimal) -> int:
    with localcontext(_CONTEXT):
        return int(value.to_integral_value(rounding=ROUND_DOWN))


def weighted_payout(
    stake: int,
    scores: Mapping[str, float],
    multipliers: Mapping[str, str | Decimal],
    *,
    factor: Decimal,
    clip: str | Decimal,
) -> int:
    """``stake × clip(factor × Σ multiplier × score, −clip, +clip)`` (signed base units),
    over the scores named in ``multipliers`` (each one must be in ``scores``)."""
    with localcontext(_CONTEXT):
        total = Decimal(0)
        for name, multiplier in multipliers.items():
            if name not in scores:
                raise InvalidParameterError(f"the payout needs the {name} score")
            total += _decimal(multiplier, f"{name} multiplier") * _score(scores[name], name.upper())
        bound = _decimal(clip, "clip")
        return _truncate(Decimal(stake) * max(-bound, min(bound, factor * total)))


def numerai_payout(
    stake: int, corr: float, mmc: float, *, factor: Decimal, rules: PayoutRules
) -> int:
    """The ``numerai`` policy for one model (signed base units)."""
    return weighted_payout(
        stake,
        {"corr": corr, "mmc": mmc},
        {"corr": rules.corr_multiplier, "mmc": rules.mmc_multiplier},
        factor=factor,
        clip=rules.clip,
    )


def tiered_payout(stake: int, corr: float) -> int:
    """The article's ``tiered`` table for one model (signed base units)."""
    _score(corr, "CORR")
    # Tiers compare the score as published (a float) with the table's bounds as floats, so
    # a CORR of exactly 0.05 sits in the 0.02–0.05 tier as the table reads.
    multiplier = next((m for bound, m in TIERS if corr > float(bound)), TIER_BURN)
    with localcontext(_CONTEXT):
        return _truncate(Decimal(stake) * multiplier)


def payout(
    stake: int, corr: float, mmc: float | None, *, factor: Decimal, rules: PayoutRules
) -> int:
    """One model's payout under ``rules`` (MMC may be missing only for ``tiered``)."""
    if isinstance(stake, bool) or not isinstance(stake, int) or stake < 0:
        raise InvalidParameterError(f"stake must be a non-negative int, got {stake!r}")
    if stake == 0:
        return 0
    if rules.policy == "tiered":
        return tiered_payout(stake, corr)
    if mmc is None:
        raise InvalidParameterError("the numerai policy needs MMC")
    return numerai_payout(stake, corr, mmc, factor=factor, rules=rules)

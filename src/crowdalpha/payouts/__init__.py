"""Payout policies: scores and stakes in, exact signed amounts of base units out."""

from crowdalpha.payouts.policies import (
    POLICIES,
    TIERS,
    PayoutRules,
    numerai_payout,
    payout,
    payout_factor,
    tiered_payout,
    weighted_payout,
)

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

"""Which settings of a round's configuration a vote may change, and how far.

:data:`ROUND_PARAMETERS` declares, for :class:`~crowdalpha.tournament.round_config.RoundConfig`,
each governable setting's type, hard bounds and largest change per proposal
(:class:`~crowdalpha.tournament.governable.Governable`); whoever changes them
(``crowdalpha.governance``) asks the declaration, and ``RoundConfig.with_values`` parses
every change against it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from crowdalpha.ledger import NMR
from crowdalpha.tournament.governable import Governable

__all__ = ["POLICIES", "ROUND_PARAMETERS", "PayoutPolicy"]

#: ``numerai``: multipliers and clip; ``tiered``: the article's table on CORR.
PayoutPolicy = Literal["numerai", "tiered"]
#: The payout policies a round may use.
POLICIES: tuple[str, ...] = ("numerai", "tiered")

#: The governable settings of a round's configuration: type, hard bounds (never crossed,
#: whatever a vote says) and the largest move one proposal may make. ``multiplier.*`` holds
#: for each paid metric's multiplier, ``gate.*`` for each stake-gate threshold.
ROUND_PARAMETERS: Mapping[str, Governable] = {
    spec.name: spec
    for spec in (
        Governable(
            "policy",
            "choice",
            "the payout policy: numerai (multipliers, clip) or tiered (the article's table)",
            choices=POLICIES,
        ),
        Governable(
            "clip",
            "decimal",
            "the payout's clip: a round pays or burns at most this share of a stake",
            low="0",
            high="0.25",
            max_change="0.02",
        ),
        Governable(
            "threshold",
            "amount",
            "the payout factor's stake threshold (base units): payout_factor = "
            "min(1, threshold / total at risk)",
            low=str(1_000 * NMR),
            high=str(10_000_000 * NMR),
            max_change=str(36_000 * NMR),
        ),
        Governable(
            "require_previous",
            "bool",
            "a model with no on-time submission in the previous round stakes zero",
        ),
        Governable(
            "multiplier.*",
            "decimal",
            "a paid metric's payout multiplier",
            low="0",
            high="5",
            max_change="0.5",
        ),
        Governable(
            "gate.*",
            "decimal",
            "a stake-gate threshold (churn, turnover): at or above it, no stake that round",
            low="0.01",
            high="1",
            max_change="0.1",
        ),
    )
}

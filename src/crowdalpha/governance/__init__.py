"""Governance: NMR holders steer the tournament's parameters (beside the core).

Proposals change a competition's governable round settings
(:data:`~crowdalpha.tournament.ROUND_PARAMETERS`), governance's own rules
(:data:`GOVERNANCE_PARAMETERS`, within hard bounds) or grant NMR from the treasury. Voting
power is the NMR an account held and staked at the ledger snapshot taken when the proposal
was made; a deposit returns on quorum and burns otherwise; a passed proposal waits out a
timelock and reaches only rounds that open after it. :func:`verify` recomputes every tally
from the ledger. See ``docs/governance.md``.
"""

from crowdalpha.governance.power import POWER_KINDS, total_power, voting_power
from crowdalpha.governance.rules import GOVERNANCE_PARAMETERS, GovernanceRules
from crowdalpha.governance.service import Governance, ledger_key
from crowdalpha.governance.verify import verify
from crowdalpha.governance.views import (
    CHOICES,
    EventInfo,
    ProposalInfo,
    Tally,
    VerifyReport,
    VoteInfo,
)

__all__ = [
    "CHOICES",
    "GOVERNANCE_PARAMETERS",
    "POWER_KINDS",
    "EventInfo",
    "Governance",
    "GovernanceRules",
    "ProposalInfo",
    "Tally",
    "VerifyReport",
    "VoteInfo",
    "ledger_key",
    "total_power",
    "verify",
    "voting_power",
]

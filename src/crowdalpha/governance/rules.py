"""Governance's own rules: deposit, voting period, quorum, approval, timelock.

Their defaults are themselves governable (a ``governance`` proposal), but only within the
hard bounds declared here, in code: no vote can make proposals free, voting instant, a
quorum vanish or a timelock disappear.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from fractions import Fraction

from crowdalpha.errors import InvalidParameterError
from crowdalpha.ledger import NMR
from crowdalpha.tournament import Governable

__all__ = ["GOVERNANCE_PARAMETERS", "GovernanceRules", "approved", "quorum_met"]

_DAY = 86_400

#: Governance's governable settings, with their hard bounds and largest move per proposal.
GOVERNANCE_PARAMETERS: Mapping[str, Governable] = {
    spec.name: spec
    for spec in (
        Governable(
            "deposit",
            "amount",
            "NMR (base units) a proposer locks: returned if quorum is met, burned if not",
            low=str(1 * NMR),
            high=str(10_000 * NMR),
            max_change=str(500 * NMR),
        ),
        Governable(
            "voting_period",
            "seconds",
            "how long a proposal is open for votes",
            low=str(1 * _DAY),
            high=str(30 * _DAY),
            max_change=str(7 * _DAY),
        ),
        Governable(
            "quorum",
            "decimal",
            "the share of the snapshot's voting power that must vote (for, against or abstain)",
            low="0.01",
            high="0.5",
            max_change="0.05",
        ),
        Governable(
            "approval",
            "decimal",
            "a proposal passes when votes for exceed this share of for + against",
            low="0.5",
            high="0.9",
            max_change="0.1",
        ),
        Governable(
            "timelock",
            "seconds",
            "the wait between a passed vote and its execution",
            low=str(1 * _DAY),
            high=str(30 * _DAY),
            max_change=str(7 * _DAY),
        ),
    )
}


@dataclass(frozen=True)
class GovernanceRules:
    """The rules a proposal is created under (stored with it; later changes never reach
    a proposal already made). Values are canonical strings of their declarations; an
    operator's defaults are checked against the same hard bounds."""

    deposit: int = 100 * NMR
    voting_period: timedelta = timedelta(days=5)
    quorum: str = "0.1"
    approval: str = "0.5"
    timelock: timedelta = timedelta(days=2)

    def __post_init__(self) -> None:
        for name, spec in GOVERNANCE_PARAMETERS.items():
            spec.parse(self.value(name))

    def governable(self) -> Mapping[str, Governable]:
        """Every governance setting's declaration."""
        return GOVERNANCE_PARAMETERS

    def value(self, name: str) -> str:
        """Setting ``name`` as its canonical string."""
        if name not in GOVERNANCE_PARAMETERS:
            raise InvalidParameterError(
                f"{name!r} is not a governance setting; governable: "
                f"{', '.join(sorted(GOVERNANCE_PARAMETERS))}",
                details={"parameter": name, "governable": sorted(GOVERNANCE_PARAMETERS)},
            )
        raw = getattr(self, name)
        if isinstance(raw, timedelta):
            return str(int(raw.total_seconds()))
        return str(raw)

    def with_values(self, changes: Mapping[str, str]) -> GovernanceRules:
        """A copy with settings changed, each parsed against its hard bounds."""
        updates: dict[str, object] = {}
        for name, raw in changes.items():
            self.value(name)
            value = GOVERNANCE_PARAMETERS[name].parse(raw)
            if name in ("voting_period", "timelock"):
                updates[name] = timedelta(seconds=int(value))
            elif name == "deposit":
                updates[name] = int(value)
            else:
                updates[name] = value
        return dataclasses.replace(self, **updates)  # type: ignore[arg-type]


def quorum_met(turnout: int, total_power: int, quorum: str) -> bool:
    """Whether ``turnout`` reaches ``quorum`` of ``total_power`` (exact; none at all never
    does)."""
    return total_power > 0 and turnout > 0 and Fraction(turnout) >= Fraction(quorum) * total_power


def approved(votes_for: int, votes_against: int, approval: str) -> bool:
    """Whether the votes for exceed ``approval`` of the decided votes (exact)."""
    decided = votes_for + votes_against
    return decided > 0 and Fraction(votes_for) > Fraction(approval) * decided

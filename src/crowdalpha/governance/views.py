"""What governance returns: plain, immutable records (amounts in int base units)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = ["CHOICES", "EventInfo", "ProposalInfo", "Tally", "VerifyReport", "VoteInfo"]

CHOICES: tuple[str, ...] = ("for", "against", "abstain")


@dataclass(frozen=True)
class Tally:
    """Voting power behind each choice (each account's last vote), and how many voted."""

    votes_for: int = 0
    votes_against: int = 0
    votes_abstain: int = 0
    voters: int = 0

    @property
    def turnout(self) -> int:
        return self.votes_for + self.votes_against + self.votes_abstain


@dataclass(frozen=True)
class ProposalInfo:
    """A proposal, its rules, and its tally (live while voting, final once tallied)."""

    id: int
    kind: str
    title: str
    description: str
    proposer_id: int
    competition: str | None
    competition_id: int | None
    changes: dict[str, str]
    grant_to: int | None
    grant_amount: int | None
    deposit: int
    quorum: str
    approval: str
    snapshot: int
    total_power: int
    created_at: datetime
    voting_ends_at: datetime
    executable_at: datetime
    state: str
    tally: Tally
    tallied_at: datetime | None
    executed_at: datetime | None
    failure: str | None


@dataclass(frozen=True)
class VoteInfo:
    """One vote as cast; ``counts`` is whether it is the account's last."""

    id: int
    proposal_id: int
    account_id: int
    choice: str
    power: int
    cast_at: datetime
    counts: bool = True


@dataclass(frozen=True)
class EventInfo:
    """One line of a proposal's audit trail."""

    id: int
    proposal_id: int
    kind: str
    account_id: int | None
    detail: dict[str, Any]
    entry_id: int | None
    created_at: datetime


@dataclass
class VerifyReport:
    """What ``crowdalpha governance verify`` recomputed, and every disagreement found."""

    proposals: int = 0
    votes: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

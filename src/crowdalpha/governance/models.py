"""Governance's tables: proposals, votes (every one cast, the last per account counts) and
the audit trail of everything that happened to a proposal."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from crowdalpha.db.base import Base
from crowdalpha.db.types import Amount, UtcDateTime

__all__ = ["GovernanceEvent", "Proposal", "ProposalKind", "ProposalState", "Vote"]


class ProposalKind(StrEnum):
    """``parameters``: a competition's round configuration; ``governance``: governance's own
    rules; ``grant``: NMR from the treasury to an account."""

    PARAMETERS = "parameters"
    GOVERNANCE = "governance"
    GRANT = "grant"


class ProposalState(StrEnum):
    """voting → passed | rejected | no_quorum; passed → executed | failed."""

    VOTING = "voting"
    PASSED = "passed"
    REJECTED = "rejected"
    NO_QUORUM = "no_quorum"
    EXECUTED = "executed"
    FAILED = "failed"


class Proposal(Base):
    """One proposal, with the rules it was created under (later rule changes never reach
    it), its ledger snapshot and, once tallied, its tally."""

    __tablename__ = "governance_proposals"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    proposer_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    competition_id: Mapped[int | None] = mapped_column(Integer)
    # JSON object {setting: new value} (parameters, governance); empty for a grant
    changes: Mapped[str] = mapped_column(Text, default="{}")
    grant_to: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"))
    grant_amount: Mapped[int | None] = mapped_column(Amount())
    # the rules in force at creation
    deposit: Mapped[int] = mapped_column(Amount())
    quorum: Mapped[str] = mapped_column(String(32))
    approval: Mapped[str] = mapped_column(String(32))
    # the ledger as of this entry id decides every voter's power
    snapshot: Mapped[int] = mapped_column(Integer)
    total_power: Mapped[int] = mapped_column(Amount())
    deposit_entry_id: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    voting_ends_at: Mapped[datetime] = mapped_column(UtcDateTime())
    # voting end + timelock: executable from then; its changes reach rounds opening then on
    executable_at: Mapped[datetime] = mapped_column(UtcDateTime())
    state: Mapped[str] = mapped_column(String(16), index=True)
    votes_for: Mapped[int | None] = mapped_column(Amount())
    votes_against: Mapped[int | None] = mapped_column(Amount())
    votes_abstain: Mapped[int | None] = mapped_column(Amount())
    tallied_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    settlement_entry_id: Mapped[int | None] = mapped_column(Integer)
    executed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    execution_entry_id: Mapped[int | None] = mapped_column(Integer)
    failure: Mapped[str | None] = mapped_column(String(500))


class Vote(Base):
    """One vote as cast (never updated): the account's last vote counts."""

    __tablename__ = "governance_votes"
    __table_args__ = (Index("ix_governance_votes_proposal_account", "proposal_id", "account_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    proposal_id: Mapped[int] = mapped_column(ForeignKey("governance_proposals.id"))
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    choice: Mapped[str] = mapped_column(String(8))
    power: Mapped[int] = mapped_column(Amount())
    cast_at: Mapped[datetime] = mapped_column(UtcDateTime())


class GovernanceEvent(Base):
    """The audit trail: proposed, voted, tallied, deposit returned or burned, executed,
    failed — with the ledger entry that moved NMR, if one did."""

    __tablename__ = "governance_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    proposal_id: Mapped[int] = mapped_column(ForeignKey("governance_proposals.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    account_id: Mapped[int | None] = mapped_column(Integer)
    detail: Mapped[str] = mapped_column(Text, default="{}")
    entry_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())

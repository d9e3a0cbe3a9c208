"""What the tournament's operations return: plain, frozen records (no database objects).

Amounts are ``int`` base units; the server and the CLI format them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

__all__ = [
    "AccountInfo",
    "ApiKeyInfo",
    "LeaderboardRow",
    "ModelInfo",
    "PayoutInfo",
    "PendingReleaseInfo",
    "Principal",
    "ResolutionReport",
    "RoundInfo",
    "ScoreInfo",
    "StakeInfo",
    "SubmissionInfo",
    "TickReport",
]


@dataclass(frozen=True)
class AccountInfo:
    id: int
    username: str
    email: str
    wallet_address: str | None
    is_operator: bool
    max_stake: int | None
    max_stake_share_ppm: int | None
    created_at: datetime


@dataclass(frozen=True)
class ApiKeyInfo:
    """An API key as shown after creation: never with its secret."""

    public_id: str
    account_id: int
    name: str
    scopes: frozenset[str]
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True)
class Principal:
    """Who a request acts as: an account, through one key with its scopes."""

    account: AccountInfo
    key: ApiKeyInfo

    def has(self, scope: str) -> bool:
        return scope in self.key.scopes or "admin" in self.key.scopes


@dataclass(frozen=True)
class ModelInfo:
    id: int
    account_id: int
    name: str
    created_at: datetime


@dataclass(frozen=True)
class RoundInfo:
    number: int
    state: str
    opens_at: datetime
    closes_at: datetime
    resolves_at: datetime
    closed_at: datetime | None
    resolved_at: datetime | None
    dataset_version: str
    live_rows: int
    payout_policy: str
    total_at_risk: int | None
    payout_factor: str | None
    meta_model_key: str | None
    submissions: int = 0


@dataclass(frozen=True)
class SubmissionInfo:
    id: int
    model_id: int
    round_number: int
    created_at: datetime
    filename: str
    sha256: str
    size_bytes: int
    rows: int
    unknown_ids: int
    state: str
    late: bool
    selected: bool
    error_code: str | None = None
    error_message: str | None = None


@dataclass(frozen=True)
class PendingReleaseInfo:
    id: int
    requested: int
    remaining: int
    requested_at: datetime
    release_round: int | None
    released_at: datetime | None


@dataclass(frozen=True)
class StakeInfo:
    model_id: int
    stake: int
    pending: int
    releases: list[PendingReleaseInfo] = field(default_factory=list)


@dataclass(frozen=True)
class ScoreInfo:
    round_number: int
    model_id: int
    corr: float | None
    mmc: float | None
    fnc: float | None
    bmc: float | None
    final: bool
    scored_at: datetime


@dataclass(frozen=True)
class PayoutInfo:
    round_number: int
    model_id: int
    stake_at_risk: int
    amount: int


@dataclass(frozen=True)
class LeaderboardRow:
    rank: int
    model_id: int
    model_name: str
    username: str
    stake: int
    reputation: float | None
    rounds: int


@dataclass(frozen=True)
class ResolutionReport:
    round_number: int
    scored: int
    staked: int
    paid: int
    burned: int
    minted: int
    released: int
    payout_factor: str


@dataclass(frozen=True)
class TickReport:
    """What one ``tick`` did; empty lists when nothing was due."""

    now: datetime
    opened: list[int] = field(default_factory=list)
    skipped: list[int] = field(default_factory=list)
    closed: list[int] = field(default_factory=list)
    scored: list[int] = field(default_factory=list)
    resolved: list[ResolutionReport] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.opened or self.closed or self.scored or self.resolved)

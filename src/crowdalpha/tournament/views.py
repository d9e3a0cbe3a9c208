"""What the tournament's operations return: plain, frozen records (no database objects).

Amounts are ``int`` base units; the server and the CLI format them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from crowdalpha.tournament.round_config import RoundConfig

__all__ = [
    "AccountInfo",
    "ApiKeyInfo",
    "DatasetFile",
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
    competition: str = "classic"  # the competition's slug


@dataclass(frozen=True)
class RoundInfo:
    """A round of ``competition`` (its slug); ``config`` is the scoring and payout
    configuration it opened with (resolution uses it, whatever the current rules)."""

    number: int
    state: str
    opens_at: datetime
    closes_at: datetime
    resolves_at: datetime
    closed_at: datetime | None
    resolved_at: datetime | None
    dataset_version: str
    live_rows: int
    config: RoundConfig
    total_at_risk: int | None
    payout_factor: str | None
    meta_model_key: str | None
    submissions: int = 0
    competition: str = "classic"
    #: The live era's market regime, recorded at resolution (None: not labelled).
    regime: str | None = None

    @property
    def payout_policy(self) -> str:
        return self.config.policy


@dataclass(frozen=True)
class DatasetFile:
    """One published file of a round: its name in the dataset, its storage key (for the
    server's signed links) and its size."""

    name: str
    key: str
    size_bytes: int
    #: the SHA-256 recorded when it was published (None: published before manifests)
    sha256: str | None = None


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
    """A model's scores in a round, by metric (None: not computable); provisional until
    ``final``. Classic's metrics are also attributes (``corr``, ``mmc``, ``fnc``, ``bmc``,
    ``mpc``)."""

    round_number: int
    model_id: int
    values: Mapping[str, float | None]
    final: bool
    scored_at: datetime

    def get(self, metric: str) -> float | None:
        return self.values.get(metric)

    @property
    def corr(self) -> float | None:
        return self.values.get("corr")

    @property
    def mmc(self) -> float | None:
        return self.values.get("mmc")

    @property
    def fnc(self) -> float | None:
        return self.values.get("fnc")

    @property
    def bmc(self) -> float | None:
        return self.values.get("bmc")

    @property
    def mpc(self) -> float | None:
        """Meta portfolio contribution: the model's contribution to the meta model's
        portfolio (informational unless the round's payout multiplies it)."""
        return self.values.get("mpc")


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
    competition: str = "classic"


@dataclass(frozen=True)
class TickReport:
    """What one ``tick`` did to one competition's rounds; empty lists when nothing was due.

    ``tick`` moves every enabled competition: the report it returns is that of the
    competition it was asked through, and its ``by_competition`` holds every competition's
    report by slug (its own included; those have an empty ``by_competition``).
    """

    now: datetime
    competition: str = "classic"
    opened: list[int] = field(default_factory=list)
    skipped: list[int] = field(default_factory=list)
    closed: list[int] = field(default_factory=list)
    scored: list[int] = field(default_factory=list)
    resolved: list[ResolutionReport] = field(default_factory=list)
    by_competition: dict[str, TickReport] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        """Whether any competition's rounds moved."""
        if any(r.changed for r in self.by_competition.values()):
            return True
        return bool(self.opened or self.closed or self.scored or self.resolved)

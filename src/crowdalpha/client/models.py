"""What the client returns: frozen dataclasses. NMR amounts are ``int`` base units
(1 NMR = 10^18), parsed exactly from the server's decimal strings; times are aware."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from crowdalpha.units import to_base_units

__all__ = [
    "Account",
    "ApiKey",
    "DatasetFile",
    "Grant",
    "LeaderboardRow",
    "LedgerCheck",
    "LedgerEntry",
    "Model",
    "NewApiKey",
    "Payout",
    "PendingRelease",
    "Profile",
    "Proposal",
    "ProposalVote",
    "Resolution",
    "Round",
    "Score",
    "SignUp",
    "Stake",
    "Submission",
    "TickResult",
    "Wallet",
    "Webhook",
]


def _units(value: Any) -> int:
    return to_base_units(str(value), allow_negative=True)


def _maybe_units(value: Any) -> int | None:
    return None if value is None else _units(value)


def _time(value: Any) -> datetime:
    return datetime.fromisoformat(str(value))


def _maybe_time(value: Any) -> datetime | None:
    return None if value is None else _time(value)


@dataclass(frozen=True)
class Account:
    id: int
    username: str
    email: str
    wallet_address: str | None
    is_operator: bool
    max_stake: int | None
    max_stake_share: Decimal | None
    reputation: float | None
    created_at: datetime

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Account:
        share = d.get("max_stake_share")
        return cls(
            id=int(d["id"]),
            username=d["username"],
            email=d["email"],
            wallet_address=d.get("wallet_address"),
            is_operator=bool(d["is_operator"]),
            max_stake=_maybe_units(d.get("max_stake")),
            max_stake_share=None if share is None else Decimal(str(share)),
            reputation=d.get("reputation"),
            created_at=_time(d["created_at"]),
        )


@dataclass(frozen=True)
class ApiKey:
    public_id: str
    name: str
    scopes: frozenset[str]
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> ApiKey:
        return cls(
            public_id=d["public_id"],
            name=d["name"],
            scopes=frozenset(d["scopes"]),
            created_at=_time(d["created_at"]),
            last_used_at=_maybe_time(d.get("last_used_at")),
            revoked_at=_maybe_time(d.get("revoked_at")),
        )


@dataclass(frozen=True)
class NewApiKey:
    """A key just created: its secret is shown this once (the server keeps a hash)."""

    key: ApiKey
    secret: str

    @property
    def public_id(self) -> str:
        return self.key.public_id

    @property
    def token(self) -> str:
        return f"{self.key.public_id}${self.secret}"

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> NewApiKey:
        return cls(ApiKey.from_json(d), d["secret"])


@dataclass(frozen=True)
class SignUp:
    account: Account
    api_key: NewApiKey

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> SignUp:
        return cls(Account.from_json(d["account"]), NewApiKey.from_json(d["api_key"]))


@dataclass(frozen=True)
class Wallet:
    account_id: int
    balance: int
    staked: int
    pending: int
    total: int

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Wallet:
        return cls(
            int(d["account_id"]),
            _units(d["balance"]),
            _units(d["staked"]),
            _units(d["pending"]),
            _units(d["total"]),
        )


@dataclass(frozen=True)
class LedgerEntry:
    id: int
    kind: str
    amount: int
    created_at: datetime
    memo: str

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> LedgerEntry:
        return cls(int(d["id"]), d["kind"], _units(d["amount"]), _time(d["created_at"]), d["memo"])


@dataclass(frozen=True)
class Model:
    id: int
    account_id: int
    name: str
    created_at: datetime
    competition: str = "classic"

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Model:
        return cls(
            int(d["id"]),
            int(d["account_id"]),
            d["name"],
            _time(d["created_at"]),
            d.get("competition", "classic"),
        )


@dataclass(frozen=True)
class Webhook:
    """A model's webhook: ``url`` and ``secret`` (the HMAC key of every call's
    ``X-CrowdAlpha-Signature``) are None while none is set."""

    model_id: int
    url: str | None
    secret: str | None
    updated_at: datetime | None

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Webhook:
        return cls(
            int(d["model_id"]), d.get("url"), d.get("secret"), _maybe_time(d.get("updated_at"))
        )


@dataclass(frozen=True)
class Profile:
    """A model's public profile: its bio and its link (None: not set)."""

    model_id: int
    bio: str | None
    link_url: str | None
    link_text: str | None
    updated_at: datetime | None

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Profile:
        return cls(
            int(d["model_id"]),
            d.get("bio"),
            d.get("link_url"),
            d.get("link_text"),
            _maybe_time(d.get("updated_at")),
        )


@dataclass(frozen=True)
class PendingRelease:
    id: int
    requested: int
    remaining: int
    requested_at: datetime
    release_round: int | None
    released_at: datetime | None

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> PendingRelease:
        return cls(
            int(d["id"]),
            _units(d["requested"]),
            _units(d["remaining"]),
            _time(d["requested_at"]),
            d.get("release_round"),
            _maybe_time(d.get("released_at")),
        )


@dataclass(frozen=True)
class Stake:
    model_id: int
    stake: int
    pending: int
    releases: list[PendingRelease] = field(default_factory=list)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Stake:
        return cls(
            int(d["model_id"]),
            _units(d["stake"]),
            _units(d["pending"]),
            [PendingRelease.from_json(r) for r in d["releases"]],
        )


@dataclass(frozen=True)
class Round:
    number: int
    state: str
    opens_at: datetime
    closes_at: datetime
    resolves_at: datetime
    closed_at: datetime | None
    resolved_at: datetime | None
    dataset_version: str
    live_rows: int
    submissions: int
    payout_policy: str
    total_at_risk: int | None
    payout_factor: str | None
    competition: str = "classic"
    metrics: tuple[str, ...] = ()
    paid_metrics: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Round:
        return cls(
            competition=d.get("competition", "classic"),
            metrics=tuple(d.get("metrics", ())),
            paid_metrics=tuple(d.get("paid_metrics", ())),
            number=int(d["number"]),
            state=d["state"],
            opens_at=_time(d["opens_at"]),
            closes_at=_time(d["closes_at"]),
            resolves_at=_time(d["resolves_at"]),
            closed_at=_maybe_time(d.get("closed_at")),
            resolved_at=_maybe_time(d.get("resolved_at")),
            dataset_version=d.get("dataset_version", ""),
            live_rows=int(d["live_rows"]),
            submissions=int(d["submissions"]),
            payout_policy=d["payout_policy"],
            total_at_risk=_maybe_units(d.get("total_at_risk")),
            payout_factor=d.get("payout_factor"),
        )


@dataclass(frozen=True)
class DatasetFile:
    name: str
    size_bytes: int
    url: str
    #: The file's SHA-256 (None from servers that do not send it).
    sha256: str | None = None

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> DatasetFile:
        return cls(d["name"], int(d["size_bytes"]), d["url"], d.get("sha256"))


@dataclass(frozen=True)
class Submission:
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
    error_code: str | None
    error_message: str | None

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Submission:
        return cls(
            id=int(d["id"]),
            model_id=int(d["model_id"]),
            round_number=int(d["round_number"]),
            created_at=_time(d["created_at"]),
            filename=d["filename"],
            sha256=d["sha256"],
            size_bytes=int(d["size_bytes"]),
            rows=int(d["rows"]),
            unknown_ids=int(d["unknown_ids"]),
            state=d["state"],
            late=bool(d["late"]),
            selected=bool(d["selected"]),
            error_code=d.get("error_code"),
            error_message=d.get("error_message"),
        )


@dataclass(frozen=True)
class Score:
    round_number: int
    model_id: int
    era: str | None
    corr: float | None
    mmc: float | None
    fnc: float | None
    bmc: float | None
    final: bool
    scored_at: datetime
    values: dict[str, float | None] = field(default_factory=dict)

    def get(self, metric: str) -> float | None:
        """Any score the round recorded, by name (Signals: ``alpha``, ``mpc``, ``churn``…)."""
        return self.values.get(metric)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Score:
        values = dict(d.get("values") or {})
        for name in ("corr", "mmc", "fnc", "bmc"):
            values.setdefault(name, d.get(name))
        return cls(
            int(d["round_number"]),
            int(d["model_id"]),
            d.get("era"),
            d.get("corr"),
            d.get("mmc"),
            d.get("fnc"),
            d.get("bmc"),
            bool(d["final"]),
            _time(d["scored_at"]),
            values,
        )


@dataclass(frozen=True)
class Payout:
    round_number: int
    model_id: int
    stake_at_risk: int
    amount: int

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Payout:
        return cls(
            int(d["round_number"]),
            int(d["model_id"]),
            _units(d["stake_at_risk"]),
            _units(d["amount"]),
        )


@dataclass(frozen=True)
class LeaderboardRow:
    rank: int
    model_id: int
    model_name: str
    username: str
    stake: int
    reputation: float | None
    rounds: int

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> LeaderboardRow:
        return cls(
            int(d["rank"]),
            int(d["model_id"]),
            d["model_name"],
            d["username"],
            _units(d["stake"]),
            d.get("reputation"),
            int(d["rounds"]),
        )


@dataclass(frozen=True)
class Grant:
    entry_id: int
    account_id: int
    amount: int
    balance: int

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Grant:
        return cls(
            int(d["entry_id"]), int(d["account_id"]), _units(d["amount"]), _units(d["balance"])
        )


@dataclass(frozen=True)
class LedgerCheck:
    ok: bool
    entries: int
    postings: int
    accounts: int
    supply: dict[str, int]
    problems: list[str]

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> LedgerCheck:
        return cls(
            bool(d["ok"]),
            int(d["entries"]),
            int(d["postings"]),
            int(d["accounts"]),
            {k: _units(v) for k, v in d["supply"].items()},
            list(d["problems"]),
        )


@dataclass(frozen=True)
class Resolution:
    round_number: int
    scored: int
    staked: int
    paid: int
    burned: int
    minted: int
    released: int
    payout_factor: str

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Resolution:
        return cls(
            int(d["round_number"]),
            int(d["scored"]),
            int(d["staked"]),
            _units(d["paid"]),
            _units(d["burned"]),
            _units(d["minted"]),
            _units(d["released"]),
            d["payout_factor"],
        )


@dataclass(frozen=True)
class TickResult:
    now: datetime
    opened: list[int]
    skipped: list[int]
    closed: list[int]
    scored: list[int]
    resolved: list[Resolution]

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> TickResult:
        return cls(
            _time(d["now"]),
            list(d["opened"]),
            list(d["skipped"]),
            list(d["closed"]),
            list(d["scored"]),
            [Resolution.from_json(r) for r in d["resolved"]],
        )


@dataclass(frozen=True)
class ProposalVote:
    """One vote on a proposal; ``counts``: it is the account's last."""

    id: int
    account_id: int
    choice: str
    power: int
    cast_at: datetime
    counts: bool

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> ProposalVote:
        return cls(
            int(d["id"]),
            int(d["account_id"]),
            str(d["choice"]),
            _units(d["power"]),
            _time(d["cast_at"]),
            bool(d["counts"]),
        )


@dataclass(frozen=True)
class Proposal:
    """A governance proposal with its tally (live while voting); ``votes`` and ``events``
    only when fetched one by one."""

    id: int
    kind: str
    title: str
    description: str
    proposer_id: int
    competition: str | None
    changes: dict[str, str]
    grant_to: int | None
    grant_amount: int | None
    deposit: int
    quorum: str
    approval: str
    snapshot: int
    total_power: int
    state: str
    votes_for: int
    votes_against: int
    votes_abstain: int
    voters: int
    created_at: datetime
    voting_ends_at: datetime
    executable_at: datetime
    executed_at: datetime | None
    failure: str | None
    votes: list[ProposalVote] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Proposal:
        tally = d["tally"]
        return cls(
            id=int(d["id"]),
            kind=str(d["kind"]),
            title=str(d["title"]),
            description=str(d["description"]),
            proposer_id=int(d["proposer_id"]),
            competition=d.get("competition"),
            changes={str(k): str(v) for k, v in d["changes"].items()},
            grant_to=None if d.get("grant_to") is None else int(d["grant_to"]),
            grant_amount=_maybe_units(d.get("grant_amount")),
            deposit=_units(d["deposit"]),
            quorum=str(d["quorum"]),
            approval=str(d["approval"]),
            snapshot=int(d["snapshot"]),
            total_power=_units(d["total_power"]),
            state=str(d["state"]),
            votes_for=_units(tally["votes_for"]),
            votes_against=_units(tally["votes_against"]),
            votes_abstain=_units(tally["votes_abstain"]),
            voters=int(tally["voters"]),
            created_at=_time(d["created_at"]),
            voting_ends_at=_time(d["voting_ends_at"]),
            executable_at=_time(d["executable_at"]),
            executed_at=_maybe_time(d.get("executed_at")),
            failure=d.get("failure"),
            votes=[ProposalVote.from_json(v) for v in d.get("votes", [])],
            events=list(d.get("events", [])),
        )

"""What the REST API sends and accepts: pydantic models, documented in the OpenAPI schema.

Amounts of NMR are decimal strings (``"12.5"``, up to 18 decimals), never JSON numbers:
binary floats cannot hold them exactly. Times are ISO-8601 with a time zone.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictStr

from crowdalpha.ledger import LedgerCheckReport, format_nmr
from crowdalpha.tournament import (
    AccountInfo,
    ApiKeyInfo,
    LeaderboardRow,
    ModelInfo,
    PayoutInfo,
    PendingReleaseInfo,
    ResolutionReport,
    RoundInfo,
    ScoreInfo,
    StakeInfo,
    SubmissionInfo,
    TickReport,
)

__all__ = [
    "AccountOut",
    "AmountIn",
    "ApiKeyCreated",
    "ApiKeyIn",
    "ApiKeyOut",
    "DatasetFileOut",
    "ErrorBody",
    "ErrorDetail",
    "GrantIn",
    "GrantOut",
    "Health",
    "LeaderboardRowOut",
    "LedgerCheckOut",
    "LedgerEntryOut",
    "LinkOut",
    "ModelIn",
    "ModelOut",
    "PayoutOut",
    "PendingReleaseOut",
    "RoundOut",
    "ScoreOut",
    "SignUpIn",
    "SignUpOut",
    "StakeOut",
    "SubmissionOut",
    "SupplyOut",
    "TickOut",
    "WalletOut",
]

Scope = Literal["read", "upload", "stake", "admin"]

#: An NMR amount as a decimal string: digits, at most one point, at most 18 decimals.
AMOUNT_PATTERN = r"^[0-9]{1,30}(\.[0-9]{1,18})?$"
#: Printable text without control characters (they break some databases and logs).
_TEXT = r"^[^\x00-\x1f\x7f]*$"


def _nmr(units: int | None) -> str | None:
    return None if units is None else format_nmr(units)


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- errors ------------------------------------------------------------------------------


class ErrorDetail(BaseModel):
    code: str = Field(description="Stable machine-readable code (crowdalpha.errors).")
    message: str = Field(description="What went wrong, written for a person.")
    details: dict[str, Any] = Field(description="Structured facts (limits, names, counts).")


class ErrorBody(BaseModel):
    """Every error, whatever the status: ``{"error": {"code", "message", "details"}}``."""

    error: ErrorDetail


# -- server ------------------------------------------------------------------------------


class Health(BaseModel):
    status: str
    version: str


# -- accounts and keys -------------------------------------------------------------------


class SignUpIn(_In):
    username: StrictStr = Field(
        min_length=3, max_length=64, description="3–64 letters, digits or underscores"
    )
    email: StrictStr = Field(min_length=3, max_length=254, pattern=_TEXT)
    wallet_address: StrictStr | None = Field(default=None, max_length=64, pattern=_TEXT)


class AccountOut(BaseModel):
    id: int
    username: str
    email: str
    wallet_address: str | None
    is_operator: bool
    max_stake: str | None = Field(description="Largest stake per model (NMR); null: none")
    max_stake_share: str | None = Field(
        description="Largest share of holdings one model may stake, in (0, 1]; null: none"
    )
    reputation: float | None = Field(
        default=None, description="Stake-weighted reputation of the account's models"
    )
    created_at: datetime

    @classmethod
    def of(cls, info: AccountInfo, reputation: float | None = None) -> AccountOut:
        share = info.max_stake_share_ppm
        return cls(
            id=info.id,
            username=info.username,
            email=info.email,
            wallet_address=info.wallet_address,
            is_operator=info.is_operator,
            max_stake=_nmr(info.max_stake),
            max_stake_share=None if share is None else f"{share / 1_000_000:g}",
            reputation=reputation,
            created_at=info.created_at,
        )


def _default_scopes() -> list[Scope]:
    return ["read", "upload", "stake"]


class ApiKeyIn(_In):
    name: StrictStr = Field(default="", max_length=100, pattern=_TEXT)
    scopes: list[Scope] = Field(
        default_factory=_default_scopes,
        min_length=1,
        max_length=4,
        description="A subset of the calling key's own scopes (admin covers all).",
    )


class ApiKeyOut(BaseModel):
    """An API key without its secret."""

    public_id: str
    name: str
    scopes: list[str]
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def of(cls, info: ApiKeyInfo) -> ApiKeyOut:
        return cls(
            public_id=info.public_id,
            name=info.name,
            scopes=sorted(info.scopes),
            created_at=info.created_at,
            last_used_at=info.last_used_at,
            revoked_at=info.revoked_at,
        )


class ApiKeyCreated(ApiKeyOut):
    """A new key with its secret — shown this once only; only a hash is kept."""

    secret: str
    token: str = Field(description="What to send: 'Authorization: Token {token}'")

    @classmethod
    def created(cls, info: ApiKeyInfo, secret: str) -> ApiKeyCreated:
        base = ApiKeyOut.of(info)
        return cls(**base.model_dump(), secret=secret, token=f"{info.public_id}${secret}")


class SignUpOut(BaseModel):
    account: AccountOut
    api_key: ApiKeyCreated


# -- wallet ------------------------------------------------------------------------------


class WalletOut(BaseModel):
    account_id: int
    balance: str = Field(description="NMR in the wallet, free to stake")
    staked: str = Field(description="NMR staked on the account's models")
    pending: str = Field(description="NMR taken off stakes, waiting for their rounds")
    total: str


class LedgerEntryOut(BaseModel):
    id: int
    kind: str
    amount: str = Field(description="Net NMR this entry moved into the wallet (negative: out)")
    created_at: datetime
    memo: str


# -- models, stakes ----------------------------------------------------------------------


class ModelIn(_In):
    name: StrictStr = Field(min_length=1, max_length=64)
    competition: StrictStr = Field(
        default="classic",
        min_length=1,
        max_length=32,
        description="The competition the model enters: classic (8) or signals (11)",
    )


class ModelOut(BaseModel):
    id: int
    account_id: int
    name: str
    created_at: datetime
    competition: str = Field(default="classic", description="classic or signals")

    @classmethod
    def of(cls, info: ModelInfo) -> ModelOut:
        return cls(
            id=info.id,
            account_id=info.account_id,
            name=info.name,
            created_at=info.created_at,
            competition=info.competition,
        )


class AmountIn(_In):
    amount: StrictStr = Field(
        pattern=AMOUNT_PATTERN,
        description="NMR as a decimal string, e.g. '12.5' (never a JSON number)",
        examples=["12.5"],
    )


class PendingReleaseOut(BaseModel):
    id: int
    requested: str = Field(description="NMR asked back from the stake")
    remaining: str = Field(
        description="NMR that burns have left of it: what will be (or, once released_at is "
        "set, what was) returned to the wallet"
    )
    requested_at: datetime
    release_round: int | None = Field(description="The round whose resolution releases it")
    released_at: datetime | None

    @classmethod
    def of(cls, info: PendingReleaseInfo) -> PendingReleaseOut:
        return cls(
            id=info.id,
            requested=format_nmr(info.requested),
            remaining=format_nmr(info.remaining),
            requested_at=info.requested_at,
            release_round=info.release_round,
            released_at=info.released_at,
        )


class StakeOut(BaseModel):
    model_id: int
    stake: str
    pending: str
    releases: list[PendingReleaseOut]

    @classmethod
    def of(cls, info: StakeInfo) -> StakeOut:
        return cls(
            model_id=info.model_id,
            stake=format_nmr(info.stake),
            pending=format_nmr(info.pending),
            releases=[PendingReleaseOut.of(r) for r in info.releases],
        )


# -- rounds and datasets -----------------------------------------------------------------


class RoundOut(BaseModel):
    number: int
    state: str
    opens_at: datetime
    closes_at: datetime
    resolves_at: datetime
    closed_at: datetime | None = None
    resolved_at: datetime | None
    dataset_version: str = ""
    live_rows: int
    submissions: int
    payout_policy: str
    total_at_risk: str | None
    payout_factor: str | None
    competition: str = Field(default="classic", description="classic or signals")
    metrics: list[str] = Field(
        default_factory=list, description="The scores the round computes (its own config)"
    )
    paid_metrics: list[str] = Field(default_factory=list, description="The scores it pays on")

    @classmethod
    def of(cls, info: RoundInfo) -> RoundOut:
        return cls(
            competition=info.competition,
            metrics=list(info.config.metrics),
            paid_metrics=list(info.config.paid_metrics),
            number=info.number,
            state=info.state,
            opens_at=info.opens_at,
            closes_at=info.closes_at,
            resolves_at=info.resolves_at,
            closed_at=info.closed_at,
            resolved_at=info.resolved_at,
            dataset_version=info.dataset_version,
            live_rows=info.live_rows,
            submissions=info.submissions,
            payout_policy=info.payout_policy,
            total_at_risk=_nmr(info.total_at_risk),
            payout_factor=info.payout_factor,
        )


class DatasetFileOut(BaseModel):
    name: str
    size_bytes: int
    sha256: str = Field(description="The file's SHA-256: check a (resumed) download with it")
    url: str = Field(description="Signed, expiring download URL (supports Range requests)")


class LinkOut(BaseModel):
    url: str
    expires_in: int = Field(description="Seconds the link stays valid")


# -- submissions -------------------------------------------------------------------------


class SubmissionOut(BaseModel):
    id: int
    model_id: int
    round_number: int
    created_at: datetime
    filename: str
    sha256: str = Field(description="SHA-256 of the file exactly as uploaded (hex)")
    size_bytes: int
    rows: int
    unknown_ids: int
    state: str = Field(description="received, validated, scored, resolved or failed")
    late: bool
    selected: bool = Field(description="The model's latest file of the round: the one scored")
    error_code: str | None
    error_message: str | None

    @classmethod
    def of(cls, info: SubmissionInfo) -> SubmissionOut:
        return cls(
            id=info.id,
            model_id=info.model_id,
            round_number=info.round_number,
            created_at=info.created_at,
            filename=info.filename,
            sha256=info.sha256,
            size_bytes=info.size_bytes,
            rows=info.rows,
            unknown_ids=info.unknown_ids,
            state=info.state,
            late=info.late,
            selected=info.selected,
            error_code=info.error_code,
            error_message=info.error_message,
        )


# -- scores, payouts, leaderboard --------------------------------------------------------


class ScoreOut(BaseModel):
    round_number: int
    model_id: int
    era: str | None = Field(
        default=None, description="The live era scored; null: the round's whole live period"
    )
    corr: float | None
    mmc: float | None
    fnc: float | None
    bmc: float | None
    mpc: float | None = Field(
        default=None,
        description="Meta portfolio contribution: the model's contribution to the stake-"
        "weighted meta model's portfolio (informational unless the round's payout uses it)",
    )
    alpha: float | None = Field(default=None, description="Signals: ALPHA")
    churn: float | None = Field(
        default=None, description="Signals: max churn against the model's last submissions"
    )
    turnover: float | None = Field(
        default=None, description="Signals: max turnover against the model's last submissions"
    )
    values: dict[str, float | None] = Field(
        default_factory=dict, description="Every score the round recorded, by name"
    )
    final: bool = Field(description="False for provisional scores before resolution")
    scored_at: datetime

    @classmethod
    def of(cls, info: ScoreInfo) -> ScoreOut:
        return cls(
            alpha=info.get("alpha"),
            churn=info.get("churn"),
            turnover=info.get("turnover"),
            values=dict(info.values),
            round_number=info.round_number,
            model_id=info.model_id,
            corr=info.corr,
            mmc=info.mmc,
            fnc=info.fnc,
            bmc=info.bmc,
            mpc=info.mpc,
            final=info.final,
            scored_at=info.scored_at,
        )


class PayoutOut(BaseModel):
    round_number: int
    model_id: int
    stake_at_risk: str
    amount: str = Field(description="NMR paid (positive) or burned (negative)")

    @classmethod
    def of(cls, info: PayoutInfo) -> PayoutOut:
        return cls(
            round_number=info.round_number,
            model_id=info.model_id,
            stake_at_risk=format_nmr(info.stake_at_risk),
            amount=format_nmr(info.amount),
        )


class LeaderboardRowOut(BaseModel):
    rank: int
    model_id: int
    model_name: str
    username: str
    stake: str
    reputation: float | None
    rounds: int

    @classmethod
    def of(cls, row: LeaderboardRow) -> LeaderboardRowOut:
        return cls(
            rank=row.rank,
            model_id=row.model_id,
            model_name=row.model_name,
            username=row.username,
            stake=format_nmr(row.stake),
            reputation=row.reputation,
            rounds=row.rounds,
        )


# -- operators ---------------------------------------------------------------------------


class GrantIn(AmountIn):
    account_id: int | None = Field(default=None, ge=1, le=2**31 - 1)
    username: StrictStr | None = Field(default=None, min_length=1, max_length=64)


class GrantOut(BaseModel):
    entry_id: int
    account_id: int
    amount: str
    balance: str = Field(description="The wallet's balance after the grant")


class SupplyOut(BaseModel):
    minted: str
    burned: str
    net_deposits: str
    circulating: str


class LedgerCheckOut(BaseModel):
    ok: bool
    entries: int
    postings: int
    accounts: int
    supply: SupplyOut
    problems: list[str]

    @classmethod
    def of(cls, report: LedgerCheckReport) -> LedgerCheckOut:
        s = report.supply
        return cls(
            ok=report.ok,
            entries=report.entries,
            postings=report.postings,
            accounts=report.accounts,
            supply=SupplyOut(
                minted=format_nmr(s.minted),
                burned=format_nmr(s.burned),
                net_deposits=format_nmr(s.net_deposits),
                circulating=format_nmr(s.circulating),
            ),
            problems=list(report.problems),
        )


class ResolutionOut(BaseModel):
    round_number: int
    scored: int
    staked: int
    paid: str
    burned: str
    minted: str
    released: str
    payout_factor: str

    @classmethod
    def of(cls, r: ResolutionReport) -> ResolutionOut:
        return cls(
            round_number=r.round_number,
            scored=r.scored,
            staked=r.staked,
            paid=format_nmr(r.paid),
            burned=format_nmr(r.burned),
            minted=format_nmr(r.minted),
            released=format_nmr(r.released),
            payout_factor=r.payout_factor,
        )


class TickOut(BaseModel):
    now: datetime
    opened: list[int]
    skipped: list[int]
    closed: list[int]
    scored: list[int]
    resolved: list[ResolutionOut]

    @classmethod
    def of(cls, report: TickReport) -> TickOut:
        return cls(
            now=report.now,
            opened=report.opened,
            skipped=report.skipped,
            closed=report.closed,
            scored=report.scored,
            resolved=[ResolutionOut.of(r) for r in report.resolved],
        )

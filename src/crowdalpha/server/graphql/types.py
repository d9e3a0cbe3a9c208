"""The GraphQL object types of Numerai's API, as numerapi 3.1.1 reads them.

Field names follow the client letter for letter (camelCase by default, snake_case where the
client spells it so). Amounts of NMR are strings of exact decimals (numerapi parses them
with ``Decimal``), never floats; scores are floats; times are ISO-8601 with a time zone.
Fields crowdalpha has no value for (Numerai's USD values, on-chain hashes…) are null.
"""

from __future__ import annotations

from datetime import datetime
from enum import Enum

import strawberry

__all__ = [
    "Account",
    "AccountLeaderboardRow",
    "AccountProfile",
    "ApiToken",
    "DailyModelPerformance",
    "Diagnostics",
    "LeaderboardRow",
    "Model",
    "ModelPayout",
    "ModelPayouts",
    "PayoutMultiplier",
    "PerEraDiagnostics",
    "ProfileModel",
    "RegimeDiagnostics",
    "Round",
    "RoundModelPerformance",
    "RoundScore",
    "RoundScoreConfig",
    "RoundStatus",
    "StakeChange",
    "Submission",
    "SubmissionRound",
    "SubmissionScore",
    "UploadAuth",
    "UserProfile",
    "V2Stake",
    "WalletTransaction",
]


@strawberry.enum(description="The phase of a round, as numerapi's list_rounds filters it.")
class RoundStatus(Enum):
    UPCOMING = "upcoming"
    OPEN = "open"
    RESOLVING = "resolving"
    RESOLVED = "resolved"


@strawberry.type(description="One scoring metric of a round and its payout settings.")
class RoundScoreConfig:
    id: strawberry.ID
    score_config_id: strawberry.ID
    round_number_start: int | None
    round_number_end: int | None
    name: str
    version: str
    display_name: str
    total_score_days: int | None
    returns_lag_days: int | None
    data_delay_days: int | None
    universe: str | None
    is_canon_score: bool
    is_payout: bool
    scoring_start: datetime | None
    scoring_end: datetime | None
    min_multiplier: str | None
    max_multiplier: str | None
    default_multiplier: str | None
    clip_threshold: str | None
    stake_threshold: str | None
    payout_factor: str | None


@strawberry.type(description="A round of the Classic tournament (8).")
class Round:
    id: strawberry.ID
    tournament: int
    number: int
    target: str | None
    state: str = strawberry.field(description="crowdalpha's state: open, closed, scoring, resolved")
    open_time: datetime
    close_time: datetime
    close_staking_time: datetime
    score_time: datetime | None
    resolve_time: datetime
    resolved_general: bool
    resolved_staking: bool
    payout_factor: str | None
    stake_threshold: str | None
    data_datestamp: int | None
    total_at_risk: str | None
    round_score_configs: list[RoundScoreConfig]


@strawberry.type
class UploadAuth:
    filename: str = strawberry.field(
        description="An opaque name for the upload: pass it back to create_submission"
    )
    url: str = strawberry.field(description="A signed URL: PUT the file's bytes to it")


@strawberry.type
class SubmissionRound:
    tournament: int
    number: int


@strawberry.type
class Submission:
    id: strawberry.ID
    filename: str
    inserted_at: datetime
    selected: bool
    state: str
    late: bool
    rows: int
    round: SubmissionRound
    round_number: int
    model_id: strawberry.ID
    error_message: str | None


@strawberry.type
class V2Stake:
    status: str
    tx_hash: str | None
    value: str


@strawberry.type
class Model:
    id: strawberry.ID
    name: str
    display_name: str
    tournament: int
    inserted_at: datetime
    submissions: list[Submission]
    v2_stake: V2Stake


@strawberry.type
class ApiToken:
    name: str
    public_id: str = strawberry.field(name="public_id")
    scopes: list[str]


@strawberry.type
class WalletTransaction:
    amount: str
    from_: str | None = strawberry.field(name="from")
    status: str
    to: str | None
    time: datetime
    tournament: int | None
    tx_hash: str | None
    type: str


@strawberry.type
class Account:
    id: strawberry.ID
    username: str
    email: str
    wallet_address: str | None
    assigned_eth_address: str | None
    available_nmr: str
    available_usd: str | None
    mfa_enabled: bool
    status: str
    inserted_at: datetime
    models: list[Model]
    api_tokens: list[ApiToken]
    wallet_txns: list[WalletTransaction]


@strawberry.type
class DailyModelPerformance:
    date: datetime
    corr_rep: float | None
    corr_rank: int | None
    mmc_rep: float | None
    mmc_rank: int | None
    fnc_rep: float | None
    fnc_rank: int | None
    fnc_v3_rep: float | None
    fnc_v3_rank: int | None
    tc_rep: float | None
    tc_rank: int | None


@strawberry.type(description="A model's public profile (numerapi's stake_get reads stakeValue).")
class UserProfile:
    id: strawberry.ID
    username: str
    start_date: datetime
    bio: str | None
    nmr_staked: str | None
    stake_value: str | None
    daily_model_performances: list[DailyModelPerformance]
    link_text: str | None = None
    link_url: str | None = None


@strawberry.type
class ProfileModel:
    id: strawberry.ID
    name: str
    display_name: str


@strawberry.type
class AccountProfile:
    username: str
    models: list[ProfileModel]


@strawberry.type
class StakeChange:
    id: strawberry.ID | None
    due_date: datetime | None
    requested_amount: str
    status: str
    type: str
    drain: bool
    stake: str = strawberry.field(description="The model's stake after the change")


@strawberry.type
class SubmissionScore:
    round_id: strawberry.ID
    submission_id: strawberry.ID | None
    round_number: int
    round_resolve_time: datetime
    round_score_time: datetime | None
    round_close_staking_time: datetime
    value: float | None
    percentile: float | None
    display_name: str
    version: str
    date: datetime
    day: int
    resolve_date: datetime | None
    resolved: bool


@strawberry.type
class PayoutMultiplier:
    id: strawberry.ID
    score_config_id: strawberry.ID
    name: str
    version: str
    display_name: str
    multiplier: float


@strawberry.type
class RoundScore:
    date: datetime
    day: int
    display_name: str
    payout_pending: str | None
    payout_settled: str | None
    percentile: float | None
    value: float | None


@strawberry.type
class RoundModelPerformance:
    at_risk: str | None
    payout_multipliers: list[PayoutMultiplier]
    round_payout_factor: float | None
    round_number: int
    round_open_time: datetime
    round_resolve_time: datetime
    round_resolved: bool
    round_target: str | None
    submission_scores: list[RoundScore]
    intra_round_submission_scores: list[RoundScore]
    corr_w_metamodel: float | None = strawberry.field(
        default=None,
        name="corrWMetamodel",
        description="The correlation with the round's meta model (Numerai's older field)",
    )


@strawberry.type
class ModelPayout:
    round_id: strawberry.ID
    round_number: int
    round_resolve_time: datetime
    model_id: strawberry.ID
    model_name: str
    model_display_name: str
    payout_nmr: str | None
    payout_value: str | None
    currency_symbol: str
    stake_at_risk: str | None


@strawberry.type
class ModelPayouts:
    actual: list[ModelPayout]
    pending: list[ModelPayout]


@strawberry.type
class LeaderboardRow:
    rank: int
    username: str
    nmr_staked: str
    corr20_rep: float | None
    corr20_v2_rep: float | None
    corj60_rep: float | None
    fnc_rep: float | None
    fnc_v3_rep: float | None
    tc_rep: float | None
    mmc_rep: float | None
    bmc_rep: float | None
    team: bool
    return_1_day: float | None = strawberry.field(name="return_1_day")
    return_52_weeks: float | None = strawberry.field(name="return_52_weeks")
    return_13_weeks: float | None = strawberry.field(name="return_13_weeks")
    rounds: int


@strawberry.type
class AccountLeaderboardRow:
    rank: int
    username: str
    display_name: str
    nmr_staked: str
    v2_corr20: float | None
    cort20: float | None
    cor_j60: float | None = strawberry.field(name="corJ60")
    corr_v4: float | None
    fnc_v4: float | None
    ic_v2: float | None
    mmc: float | None
    ric: float | None
    return1y: float | None
    return3m: float | None
    return_all_time: float | None
    return1y_nmr: str | None
    return3m_nmr: str | None
    return_all_time_nmr: str | None


@strawberry.type
class PerEraDiagnostics:
    era: str
    example_preds_corr: float | None = None
    validation_alpha: float | None = None
    validation_bmc: float | None = None
    validation_churn: float | None = None
    validation_corr: float | None = None
    validation_corr_v4: float | None = None
    validation_feature_corr_max: float | None = None
    validation_feature_neutral_corr: float | None = None
    validation_feature_neutral_corr_v3: float | None = None
    validation_mmc: float | None = None
    validation_fnc_v4: float | None = None
    validation_ic_v2: float | None = None
    validation_ric: float | None = None


@strawberry.type(
    description="crowdalpha: the validation means over the eras of one market regime "
    "(the operator's era labels, published in era_regimes.parquet)."
)
class RegimeDiagnostics:
    regime: str
    eras: int
    validation_corr_mean: float | None = None
    validation_mmc_mean: float | None = None
    validation_fnc_v4_mean: float | None = None
    validation_feature_corr_max: float | None = None


@strawberry.type(description="Validation diagnostics of an uploaded prediction file.")
class Diagnostics:
    id: strawberry.ID
    model_id: strawberry.ID
    status: str
    message: str | None
    updated_at: datetime
    trained_on_val: bool
    eras_accepted_count: int
    round_number: int
    per_era_diagnostics: list[PerEraDiagnostics]
    example_preds_corr_mean: float | None = None
    validation_corr_mean: float | None = None
    validation_corr_mean_rating: float | None = None
    validation_corr_plus_mmc_mean: float | None = None
    validation_corr_plus_mmc_mean_rating: float | None = None
    validation_corr_plus_mmc_sharpe: float | None = None
    validation_corr_plus_mmc_sharpe_diff: float | None = None
    validation_corr_plus_mmc_sharpe_diff_rating: float | None = None
    validation_corr_plus_mmc_sharpe_rating: float | None = None
    validation_corr_plus_mmc_std: float | None = None
    validation_corr_plus_mmc_std_rating: float | None = None
    validation_corr_sharpe: float | None = None
    validation_corr_sharpe_rating: float | None = None
    validation_corr_std: float | None = None
    validation_corr_std_rating: float | None = None
    validation_feature_corr_max: float | None = None
    validation_feature_corr_max_rating: float | None = None
    validation_feature_neutral_corr_mean: float | None = None
    validation_feature_neutral_corr_mean_rating: float | None = None
    validation_max_drawdown: float | None = None
    validation_max_drawdown_rating: float | None = None
    validation_mmc_mean: float | None = None
    validation_mmc_mean_rating: float | None = None
    validation_mmc_sharpe: float | None = None
    validation_mmc_sharpe_rating: float | None = None
    validation_mmc_std: float | None = None
    validation_mmc_std_rating: float | None = None
    validation_bmc_mean: float | None = None
    validation_adjusted_sharpe: float | None = None
    validation_apy: float | None = None
    validation_autocorr: float | None = None
    validation_corr_corr_w_example_preds: float | None = None
    validation_corr_max_drawdown: float | None = None
    validation_corr_v4_corr_w_example_preds: float | None = None
    validation_corr_v4_max_drawdown: float | None = None
    validation_corr_v4_mean: float | None = None
    validation_corr_v4_sharpe: float | None = None
    validation_corr_v4_std: float | None = None
    validation_feature_neutral_corr_v3_mean: float | None = None
    validation_feature_neutral_corr_v3_mean_rating: float | None = None
    validation_fnc_v4_corr_w_example_preds: float | None = None
    validation_fnc_v4_max_drawdown: float | None = None
    validation_fnc_v4_mean: float | None = None
    validation_fnc_v4_sharpe: float | None = None
    validation_fnc_v4_std: float | None = None
    validation_ic_v2_corr_w_example_preds: float | None = None
    validation_ic_v2_max_drawdown: float | None = None
    validation_ic_v2_mean: float | None = None
    validation_ic_v2_sharpe: float | None = None
    validation_ic_v2_std: float | None = None
    validation_ric_corr_w_example_preds: float | None = None
    validation_ric_max_drawdown: float | None = None
    validation_ric_mean: float | None = None
    validation_ric_sharpe: float | None = None
    validation_ric_std: float | None = None
    validation_alpha_corr_w_example_preds: float | None = None
    validation_alpha_max_drawdown: float | None = None
    validation_alpha_mean: float | None = None
    validation_alpha_sharpe: float | None = None
    validation_alpha_std: float | None = None
    by_regime: list[RegimeDiagnostics] = strawberry.field(
        default_factory=list,
        description="crowdalpha: the means per market regime (empty: no labels published)",
    )

"""Numerai's scoring metrics — exact, and vectorised over submissions and eras.

Drop-in replacements for numerai-tools' scoring functions (same names, same call shapes,
same numbers), plus per-era versions that score a whole validation set without a loop and
summaries of per-era scores, and clusters of near-identical submissions (copies, sybils:
:mod:`crowdalpha.scoring.duplicates`). Signals' metrics sit beside them: neutral
correlation and contribution, neutralized weights, Alpha, MPC, churn, turnover and the
cleaning of Signals submissions, and a round scorer for Signals. The numpy kernels
underneath live in :mod:`crowdalpha.scoring.kernels` and
:mod:`crowdalpha.scoring.portfolio_kernels`.
"""

from crowdalpha.scoring.churn import (
    ChurnTurnover,
    NeutralChurn,
    SignalsEra,
    churn_and_turnover,
    mean_neutral_churn,
)
from crowdalpha.scoring.duplicates import (
    DEFAULT_DUPLICATE_THRESHOLD,
    DuplicateCluster,
    DuplicateReport,
    find_duplicates,
)
from crowdalpha.scoring.metrics import (
    DEFAULT_MAX_FILTERED_INDEX_RATIO,
    META_CHUNK,
    META_MODEL_NAME,
    RoundScores,
    add_in_order,
    correlation_contribution,
    correlation_contribution_by_era,
    feature_neutral_corr,
    feature_neutral_corr_by_era,
    filter_sort_index,
    gaussian,
    max_feature_correlation,
    meta_model_of,
    meta_partial_sums,
    neutralize,
    numerai_corr,
    numerai_corr_by_era,
    orthogonalize,
    score_by_era,
    score_round,
    score_submissions,
    stake_weight,
    staked_columns,
    tie_kept_rank,
)
from crowdalpha.scoring.neutral import (
    alpha,
    generate_neutralized_weights,
    meta_portfolio_contribution,
    neutral_contribution,
    neutral_correlation,
)
from crowdalpha.scoring.signals import (
    calculate_max_churn_and_turnover,
    calculate_mean_neutral_churn,
    churn,
    clean_signals,
    clean_submission,
    neutral_churn,
    neutral_churn_penalty,
    turnover,
)
from crowdalpha.scoring.signals_round import (
    MAIN_TARGET,
    SIGNALS_META_MODEL_NAME,
    SIGNALS_METRICS,
    SignalsRoundScores,
    score_signals_round,
)
from crowdalpha.scoring.summary import SUMMARY_STATS, summarize

__all__ = [
    "DEFAULT_DUPLICATE_THRESHOLD",
    "DEFAULT_MAX_FILTERED_INDEX_RATIO",
    "MAIN_TARGET",
    "META_CHUNK",
    "META_MODEL_NAME",
    "SIGNALS_META_MODEL_NAME",
    "SIGNALS_METRICS",
    "SUMMARY_STATS",
    "ChurnTurnover",
    "DuplicateCluster",
    "DuplicateReport",
    "NeutralChurn",
    "RoundScores",
    "SignalsEra",
    "SignalsRoundScores",
    "add_in_order",
    "alpha",
    "calculate_max_churn_and_turnover",
    "calculate_mean_neutral_churn",
    "churn",
    "churn_and_turnover",
    "clean_signals",
    "clean_submission",
    "correlation_contribution",
    "correlation_contribution_by_era",
    "feature_neutral_corr",
    "feature_neutral_corr_by_era",
    "filter_sort_index",
    "find_duplicates",
    "gaussian",
    "generate_neutralized_weights",
    "max_feature_correlation",
    "mean_neutral_churn",
    "meta_model_of",
    "meta_partial_sums",
    "meta_portfolio_contribution",
    "neutral_churn",
    "neutral_churn_penalty",
    "neutral_contribution",
    "neutral_correlation",
    "neutralize",
    "numerai_corr",
    "numerai_corr_by_era",
    "orthogonalize",
    "score_by_era",
    "score_round",
    "score_signals_round",
    "score_submissions",
    "stake_weight",
    "staked_columns",
    "summarize",
    "tie_kept_rank",
    "turnover",
]

"""Numerai's scoring metrics — exact, and vectorised over submissions and eras.

Drop-in replacements for numerai-tools' scoring functions (same names, same call shapes,
same numbers), plus per-era versions that score a whole validation set without a loop and
summaries of per-era scores. The numpy kernels underneath live in
:mod:`crowdalpha.scoring.kernels`.
"""

from crowdalpha.scoring.metrics import (
    DEFAULT_MAX_FILTERED_INDEX_RATIO,
    META_MODEL_NAME,
    RoundScores,
    correlation_contribution,
    correlation_contribution_by_era,
    feature_neutral_corr,
    feature_neutral_corr_by_era,
    filter_sort_index,
    gaussian,
    max_feature_correlation,
    neutralize,
    numerai_corr,
    numerai_corr_by_era,
    orthogonalize,
    score_by_era,
    score_round,
    score_submissions,
    stake_weight,
    tie_kept_rank,
)
from crowdalpha.scoring.summary import SUMMARY_STATS, summarize

__all__ = [
    "DEFAULT_MAX_FILTERED_INDEX_RATIO",
    "META_MODEL_NAME",
    "SUMMARY_STATS",
    "RoundScores",
    "correlation_contribution",
    "correlation_contribution_by_era",
    "feature_neutral_corr",
    "feature_neutral_corr_by_era",
    "filter_sort_index",
    "gaussian",
    "max_feature_correlation",
    "neutralize",
    "numerai_corr",
    "numerai_corr_by_era",
    "orthogonalize",
    "score_by_era",
    "score_round",
    "score_submissions",
    "stake_weight",
    "summarize",
    "tie_kept_rank",
]

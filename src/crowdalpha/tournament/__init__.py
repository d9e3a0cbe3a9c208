"""The tournament core: rounds, submissions, stakes, resolution and payouts.

:class:`Tournament` is the one entry point; it composes the pure stages (submissions,
scoring, payouts, ledger, meta model) over a database, a file store and a source of round
data, one transaction per operation.
"""

from crowdalpha.tournament.clock import Clock, ManualClock, SystemClock
from crowdalpha.tournament.config import Schedule, TournamentConfig
from crowdalpha.tournament.data import Outcome, PublishedDataset, RoundData, SyntheticRoundData
from crowdalpha.tournament.models import RoundState, SubmissionState
from crowdalpha.tournament.pipeline import PipelineRoundData
from crowdalpha.tournament.service import SCOPES, Tournament
from crowdalpha.tournament.views import (
    AccountInfo,
    ApiKeyInfo,
    LeaderboardRow,
    ModelInfo,
    PayoutInfo,
    PendingReleaseInfo,
    Principal,
    ResolutionReport,
    RoundInfo,
    ScoreInfo,
    StakeInfo,
    SubmissionInfo,
    TickReport,
)

__all__ = [
    "SCOPES",
    "AccountInfo",
    "ApiKeyInfo",
    "Clock",
    "LeaderboardRow",
    "ManualClock",
    "ModelInfo",
    "Outcome",
    "PayoutInfo",
    "PendingReleaseInfo",
    "PipelineRoundData",
    "Principal",
    "PublishedDataset",
    "ResolutionReport",
    "RoundData",
    "RoundInfo",
    "RoundState",
    "Schedule",
    "ScoreInfo",
    "StakeInfo",
    "SubmissionInfo",
    "SubmissionState",
    "SyntheticRoundData",
    "SystemClock",
    "TickReport",
    "Tournament",
    "TournamentConfig",
]

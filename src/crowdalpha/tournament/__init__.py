"""The tournament core: competitions, rounds, submissions, stakes, resolution and payouts.

:class:`Tournament` is the one entry point, a thin facade over modules that each own one
concern (see :mod:`crowdalpha.tournament.facade`); it composes the pure stages
(submissions, scoring, payouts, ledger, meta model) over a database, a file store and the
competitions' data sources, one transaction per operation. A competition is data
(:mod:`crowdalpha.tournament.competitions`): :data:`CLASSIC` runs out of the box,
:data:`SIGNALS` once its source, rules and scorer are plugged in
(:mod:`crowdalpha.tournament.plugs`); each round stores its
:class:`RoundConfig` (:mod:`crowdalpha.tournament.round_config`).
"""

from crowdalpha.tournament.accounts import SCOPES
from crowdalpha.tournament.clock import Clock, ManualClock, SystemClock
from crowdalpha.tournament.competitions import (
    CLASSIC,
    COMPETITIONS,
    SIGNALS,
    Competition,
    DatasetLayout,
    competition,
)
from crowdalpha.tournament.config import TournamentConfig
from crowdalpha.tournament.data import Outcome, PublishedDataset, RoundData, SyntheticRoundData
from crowdalpha.tournament.facade import Tournament
from crowdalpha.tournament.governable import Governable
from crowdalpha.tournament.models import RoundState, SubmissionState
from crowdalpha.tournament.pipeline import PipelineRoundData
from crowdalpha.tournament.plugs import RoundConfigProvider, RoundScorer, StakeGate, SubmissionRules
from crowdalpha.tournament.round_config import DuplicateRules, RoundConfig
from crowdalpha.tournament.round_parameters import ROUND_PARAMETERS
from crowdalpha.tournament.schedule import Schedule
from crowdalpha.tournament.views import (
    AccountInfo,
    ApiKeyInfo,
    DatasetFile,
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
    "CLASSIC",
    "COMPETITIONS",
    "ROUND_PARAMETERS",
    "SCOPES",
    "SIGNALS",
    "AccountInfo",
    "ApiKeyInfo",
    "Clock",
    "Competition",
    "DatasetFile",
    "DatasetLayout",
    "DuplicateRules",
    "Governable",
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
    "RoundConfig",
    "RoundConfigProvider",
    "RoundData",
    "RoundInfo",
    "RoundScorer",
    "RoundState",
    "Schedule",
    "ScoreInfo",
    "StakeGate",
    "StakeInfo",
    "SubmissionInfo",
    "SubmissionRules",
    "SubmissionState",
    "SyntheticRoundData",
    "SystemClock",
    "TickReport",
    "Tournament",
    "TournamentConfig",
    "competition",
]

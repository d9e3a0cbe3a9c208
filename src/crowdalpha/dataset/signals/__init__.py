"""Numerai Signals data: the universe, public features, targets, neutralizers and files.

Signals participants bring their own data and submit a score per stock. From the market
data the operator already feeds (simulated or real prices), this package makes what a
Signals round needs:

* the universe of a date — the tradable stocks and the map between every id type a
  submission may use (:mod:`~crowdalpha.dataset.signals.universe`,
  :mod:`~crowdalpha.dataset.signals.ids`);
* public features (:mod:`~crowdalpha.dataset.signals.features`) and factor-neutral,
  binned targets (:mod:`~crowdalpha.dataset.signals.targets`);
* the round's files in Numerai's layout (:func:`build_signals_round`,
  :mod:`~crowdalpha.dataset.signals.layout`), never reading a price after the live date;
* the operator's side (:func:`signals_live`, :func:`signals_outcome`): the live
  neutralizer matrix N and sample weights v (:mod:`~crowdalpha.dataset.signals.risk`),
  and the realized targets once the market has moved.

Pure functions of prices, a :class:`~crowdalpha.dataset.obfuscate.Vault` and settings:
the tournament core calls them per round.
"""

from crowdalpha.dataset.signals.build import (
    SignalsBuildReport,
    build_signals_round,
    cut_prices,
    signals_splits,
)
from crowdalpha.dataset.signals.config import SignalsConfig
from crowdalpha.dataset.signals.features import FEATURE_NAMES, NUMERIC_FEATURES
from crowdalpha.dataset.signals.ids import ID_COLUMNS
from crowdalpha.dataset.signals.layout import (
    EXAMPLE_FILES,
    LIVE_IDS_FILE,
    NEUTRALIZER_FILES,
    OPERATOR_FILES,
    PUBLIC_FILES,
    SAMPLE_WEIGHT_FILES,
    SPLIT_FILES,
)
from crowdalpha.dataset.signals.outcome import (
    SignalsLive,
    SignalsOutcome,
    signals_known_days,
    signals_live,
    signals_outcome,
)
from crowdalpha.dataset.signals.risk import Exposures
from crowdalpha.dataset.signals.targets import MAIN_TARGET, target_names
from crowdalpha.dataset.signals.universe import (
    UNIVERSE_COLUMNS,
    UniverseConfig,
    signals_universe,
)

__all__ = [
    "EXAMPLE_FILES",
    "FEATURE_NAMES",
    "ID_COLUMNS",
    "LIVE_IDS_FILE",
    "MAIN_TARGET",
    "NEUTRALIZER_FILES",
    "NUMERIC_FEATURES",
    "OPERATOR_FILES",
    "PUBLIC_FILES",
    "SAMPLE_WEIGHT_FILES",
    "SPLIT_FILES",
    "UNIVERSE_COLUMNS",
    "Exposures",
    "SignalsBuildReport",
    "SignalsConfig",
    "SignalsLive",
    "SignalsOutcome",
    "UniverseConfig",
    "build_signals_round",
    "cut_prices",
    "signals_known_days",
    "signals_live",
    "signals_outcome",
    "signals_splits",
    "signals_universe",
    "target_names",
]

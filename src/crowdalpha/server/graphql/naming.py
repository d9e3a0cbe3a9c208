"""How each competition's scores and files are named to numerapi.

Scores: crowdalpha's metric names (``corr``, ``mmc``…) under Numerai's display names
(Classic ``v2_corr20``, ``fnc_v4``…; Signals ``corr_v4``, ``alpha``, ``mpc``…), and which
of them pay (from the round's own configuration). Files: a competition's round files under
its dataset folder (Classic: the server's ``v5.0``; Signals: ``signals/v2.0``, with the live
file also under its older aliases, e.g. ``signals/v1.0/live.parquet`` for numerapi's
``ticker_universe``).
"""

from __future__ import annotations

from collections.abc import Iterable

from crowdalpha.tournament import Competition, DatasetFile, RoundConfig

__all__ = [
    "CLASSIC_METRICS",
    "CORR_W_METAMODEL",
    "SIGNALS_NAMES",
    "advertised",
    "alias",
    "canon",
    "folder",
    "metrics",
]

#: The display name of the correlation with the meta model (Numerai's ``corrWMetamodel``).
CORR_W_METAMODEL = "corr_w_metamodel"

#: Classic's metrics: (our name, Numerai's name, payout).
#: MPC is informational unless the round's configuration pays it (a multiplier for it);
#: the correlation with the meta model and the maximum feature exposure never pay.
CLASSIC_METRICS: tuple[tuple[str, str, bool], ...] = (
    ("corr", "v2_corr20", True),
    ("mmc", "mmc", True),
    ("fnc", "fnc_v4", False),
    ("bmc", "bmc", False),
    ("mpc", "mpc", False),
    ("corr_meta", CORR_W_METAMODEL, False),
    ("feature_exposure", "max_feature_exposure", False),
)

#: Signals' metric names as Numerai's Signals scores are called (the stake gate's
#: ``churn`` and ``turnover`` included: the core records them as scores of the round).
SIGNALS_NAMES: dict[str, str] = {
    "corr": "corr_v4",
    "fnc": "fnc_v4",
    "mmc": "mmc",
    "alpha": "alpha",
    "mpc": "mpc",
    "churn": "churn",
    "turnover": "turnover",
}


def metrics(competition: str, config: RoundConfig) -> tuple[tuple[str, str, bool], ...]:
    """(our name, Numerai's name, payout) for each score a round of ``competition`` (its
    slug) computes under ``config``, the stake gate's measures last."""
    paid = set(config.paid_metrics)
    if competition == "classic":
        return tuple((m, name, pays or m in paid) for m, name, pays in CLASSIC_METRICS)
    ours = [*config.metrics, *(m for m, _ in config.gate_thresholds if m not in config.metrics)]
    return tuple((m, SIGNALS_NAMES.get(m, m), m in paid) for m in ours)


def canon(competition: str, config: RoundConfig) -> str:
    """The score a round's payout is reported against (Classic ``v2_corr20``; otherwise the
    first paid metric's name)."""
    if competition == "classic":
        return "v2_corr20"
    first = config.paid_metrics[0]
    return SIGNALS_NAMES.get(first, first)


def alias(competition: str, name: str) -> str:
    """A score name a client sent, as Numerai's name (ours are accepted too)."""
    table = CLASSIC_METRICS if competition == "classic" else SIGNALS_NAMES.items()
    for entry in table:
        if entry[0] == name:
            return entry[1]
    return name


def folder(competition: Competition, classic_folder: str) -> str:
    """Where a competition's files are advertised (Classic's is the server's setting)."""
    return classic_folder if competition.slug == "classic" else competition.layout.folder


def advertised(
    competition: Competition, classic_folder: str, number: int, files: Iterable[DatasetFile]
) -> dict[str, str]:
    """Advertised names → storage keys of round ``number``'s files, sorted by name.

    A file stored under a plain name appears under the competition's folder; one stored
    under a path (``signals/v2.1/…``) under that path. The live file also appears as
    ``live_<round>.parquet`` and under each of the layout's aliases that has none.
    """
    base = folder(competition, classic_folder)
    out: dict[str, str] = {}
    for item in files:
        name = item.name if "/" in item.name else f"{base}/{item.name}"
        out[name] = item.key
    live_name = competition.layout.live_file
    live = out.get(f"{base}/{live_name}")
    if live is not None:
        stem, _, suffix = live_name.rpartition(".")
        out.setdefault(f"{base}/{stem}_{number}.{suffix}", live)
        if competition.slug != "classic":
            for other in competition.layout.aliases:
                out.setdefault(f"{other}/{live_name}", live)
    return dict(sorted(out.items()))

"""The economics simulator: bots play whole tournaments headless, and a report measures
whether skill pays, whether the meta model beats its parts, what happens to supply, and
what the article's risk rules change (``crowdalpha simulate``)."""

from crowdalpha.simulation.bots import (
    BOT_KINDS,
    DEFAULT_ROSTER,
    Bot,
    RoundView,
    make_bots,
    parse_roster,
    predictions_csv,
)
from crowdalpha.simulation.report import analyze, render_html
from crowdalpha.simulation.runner import (
    MemoryFileStore,
    Progress,
    RunSpec,
    TournamentRun,
    collect,
    run_specs,
    run_tournament,
)
from crowdalpha.simulation.simulator import (
    DEFAULT_SHARE_LIMIT,
    SimulationConfig,
    simulate,
    write_report,
)

__all__ = [
    "BOT_KINDS",
    "DEFAULT_ROSTER",
    "DEFAULT_SHARE_LIMIT",
    "Bot",
    "MemoryFileStore",
    "Progress",
    "RoundView",
    "RunSpec",
    "SimulationConfig",
    "TournamentRun",
    "analyze",
    "collect",
    "make_bots",
    "parse_roster",
    "predictions_csv",
    "render_html",
    "run_specs",
    "run_tournament",
    "simulate",
    "write_report",
]

"""The economics simulator: run the configured tournaments and write the report."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crowdalpha.errors import InvalidParameterError
from crowdalpha.payouts import POLICIES
from crowdalpha.simulation.bots import DEFAULT_ROSTER, make_bots
from crowdalpha.simulation.report import analyze, render_html
from crowdalpha.simulation.runner import Progress, RunSpec, run_specs

__all__ = ["DEFAULT_SHARE_LIMIT", "SimulationConfig", "simulate", "write_report"]

#: The per-model stake limit of the risk-rules comparison, as a share of holdings.
DEFAULT_SHARE_LIMIT = "0.35"


@dataclass(frozen=True)
class SimulationConfig:
    """What to simulate: rounds, payout policies, bots, data size and the risk comparison.

    Each policy runs once without limits; with ``compare_limits`` it runs again with every
    account limited to ``share_limit`` of its holdings per model. The best single model is
    chosen on the first ``selection_rounds`` rounds (default: a third) and every model is
    judged on the rest.
    """

    rounds: int = 30
    policies: tuple[str, ...] = ("numerai",)
    roster: tuple[tuple[str, int], ...] = DEFAULT_ROSTER
    seed: int = 0
    rows: int = 500
    #: ``synthetic`` or ``simulated`` (:data:`crowdalpha.simulation.runner.SOURCES`).
    source: str = "synthetic"
    stocks: int = 300
    compare_limits: bool = True
    share_limit: str = DEFAULT_SHARE_LIMIT
    selection_rounds: int | None = None
    #: Also run each policy with bots that govern its payout rules (section (e)).
    governance: bool = False
    #: Signals bots per kind, playing Signals beside Classic (simulated source only).
    signals: tuple[tuple[str, int], ...] = ()

    def __post_init__(self) -> None:
        if not self.policies or any(p not in POLICIES for p in self.policies):
            raise InvalidParameterError(f"policies must be among {', '.join(POLICIES)}")

    @property
    def selection(self) -> int:
        return self.rounds // 3 if self.selection_rounds is None else self.selection_rounds

    def specs(self) -> list[RunSpec]:
        specs = []
        for policy in self.policies:
            common = {
                "policy": policy,
                "rounds": self.rounds,
                "roster": self.roster,
                "source": self.source,
                "stocks": self.stocks,
                "signals": self.signals,
            }
            specs.append(RunSpec(policy, seed=self.seed, rows=self.rows, **common))  # type: ignore[arg-type]
            if self.governance:
                specs.append(
                    RunSpec(
                        f"{policy}+governance",
                        seed=self.seed,
                        rows=self.rows,
                        governance=True,
                        **common,  # type: ignore[arg-type]
                    )
                )
            if self.compare_limits:
                specs.append(
                    RunSpec(
                        f"{policy}+limits",
                        seed=self.seed,
                        rows=self.rows,
                        share_limit=self.share_limit,
                        **common,  # type: ignore[arg-type]
                    )
                )
        return specs


def simulate(
    config: SimulationConfig, *, progress: Progress | None = None, workers: int | None = None
) -> dict[str, Any]:
    """Run every tournament of ``config`` and return the report (JSON-ready)."""
    specs = config.specs()
    if workers is None:
        workers = min(len(specs), os.cpu_count() or 1)
    records = run_specs(specs, progress=progress, workers=workers)
    bots = make_bots(config.roster, seed=config.seed)
    return {
        "config": {
            "rounds": config.rounds,
            "policies": list(config.policies),
            "roster": dict(config.roster),
            "bots": len(bots),
            "models": sum(len(b.models) for b in bots),
            "seed": config.seed,
            "rows": config.rows,
            "source": config.source,
            "stocks": config.stocks if config.source == "simulated" else None,
            "schedule": "weekly",
            "share_limit": config.share_limit if config.compare_limits else None,
            "selection_rounds": config.selection,
            "governance": config.governance,
            "signals": dict(config.signals) or None,
        },
        "answers": analyze(records, selection_rounds=config.selection),
        "runs": {r["label"]: r for r in records},
        "elapsed_s": {r["label"]: r["elapsed_s"] for r in records},
    }


def write_report(report: dict[str, Any], out: Path) -> tuple[Path, Path]:
    """Write ``report.json`` and ``report.html`` into ``out``; return their paths."""
    out.mkdir(parents=True, exist_ok=True)
    json_path, html_path = out / "report.json", out / "report.html"
    json_path.write_text(json.dumps(report, indent=1, allow_nan=False) + "\n")
    html_path.write_text(render_html(report))
    return json_path, html_path

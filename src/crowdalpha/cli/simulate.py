"""``crowdalpha simulate``: bots play whole tournaments headless; a report measures the
economics (does skill pay, is the meta model better than its parts, what happens to supply,
what the article's risk rules change)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TimeElapsedColumn

from crowdalpha.payouts import POLICIES

console = Console()


def simulate(
    rounds: Annotated[int, typer.Option(min=1, help="Weekly rounds to simulate.")] = 30,
    policy: Annotated[
        str, typer.Option(help=f"Payout policy: {' | '.join(POLICIES)} | both (side by side).")
    ] = "numerai",
    bots: Annotated[
        str | None,
        typer.Option(
            help="Bots per kind, e.g. 'good=6,mediocre=8,overfit=6,random=6,copy=4,anti=4,"
            "diversified=6' (the default). Kinds: good, mediocre, overfit, random, copy, anti, "
            "diversified, trained (a ridge or LightGBM model fitted on each round's train "
            "data: --source simulated only)."
        ),
    ] = None,
    source: Annotated[
        str,
        typer.Option(
            help="synthetic (generated rows, fast) or simulated (a simulated market through "
            "the real data pipeline: train / validation / live files every round; slower)."
        ),
    ] = "synthetic",
    stocks: Annotated[
        int, typer.Option(min=50, help="Stocks of the simulated market (--source simulated).")
    ] = 300,
    signals: Annotated[
        bool,
        typer.Option(
            "--signals/--no-signals",
            help="Also run Signals on the same market, with Signals bots (momentum, reversal, "
            "volatility, skilled; see --signals-bots). Needs --source simulated.",
        ),
    ] = False,
    signals_bots: Annotated[
        str | None,
        typer.Option(
            help="Signals bots per kind, e.g. 'momentum=2,reversal=1,volatility=2,skilled=3' "
            "(the default). Implies --signals."
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the data and of the bots.")] = 0,
    rows: Annotated[int, typer.Option(min=50, help="Live rows (stocks) per round.")] = 500,
    limits: Annotated[
        bool,
        typer.Option(
            "--limits/--no-limits",
            help="Also run each policy with per-account stake limits, to compare.",
        ),
    ] = True,
    share_limit: Annotated[
        str, typer.Option(help="The compared limit: largest stake per model / holdings.")
    ] = "0.35",
    governance: Annotated[
        bool,
        typer.Option(
            "--governance/--no-governance",
            help="Also run each policy with bots that propose and vote on its payout rules "
            "in their own interest; the report says what they changed and whether it helped "
            "the meta model.",
        ),
    ] = False,
    workers: Annotated[
        int | None, typer.Option(min=1, help="Processes running tournaments (default: cores).")
    ] = None,
    out: Annotated[Path, typer.Option(help="Folder for report.json and report.html.")] = Path(
        "simulation-report"
    ),
) -> None:
    """Run the economics simulator and write report.json and report.html."""
    from crowdalpha.errors import InvalidParameterError
    from crowdalpha.simulation import (
        DEFAULT_ROSTER,
        SimulationConfig,
        parse_roster,
        write_report,
    )
    from crowdalpha.simulation import (
        simulate as run_simulation,
    )
    from crowdalpha.simulation.signals_bots import DEFAULT_SIGNALS_ROSTER, SIGNALS_BOT_KINDS

    choice = policy.strip().lower()
    if choice != "both" and choice not in POLICIES:
        raise InvalidParameterError(
            f"unknown payout policy {policy!r}; choose {', '.join(POLICIES)} or both"
        )
    config = SimulationConfig(
        rounds=rounds,
        policies=POLICIES if choice == "both" else (choice,),
        roster=DEFAULT_ROSTER if bots is None else parse_roster(bots),
        seed=seed,
        rows=rows,
        source=source,
        stocks=stocks,
        compare_limits=limits,
        share_limit=share_limit,
        governance=governance,
        signals=(
            parse_roster(signals_bots, kinds=SIGNALS_BOT_KINDS)
            if signals_bots is not None
            else DEFAULT_SIGNALS_ROSTER
            if signals
            else ()
        ),
    )
    started = time.perf_counter()
    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    ) as bars:
        tasks: dict[str, TaskID] = {
            spec.label: bars.add_task(spec.label, total=spec.rounds + 1) for spec in config.specs()
        }

        def progress(label: str, done: int, total: int) -> None:
            bars.update(tasks[label], completed=done, total=total)

        report = run_simulation(config, progress=progress, workers=workers)
    json_path, html_path = write_report(report, out)
    _summary(report)
    console.print(
        f"simulated {len(tasks)} tournament(s) in {time.perf_counter() - started:.1f} s; "
        f"wrote {json_path} and {html_path}"
    )


def _summary(report: dict[str, Any]) -> None:
    from rich.table import Table

    answers = report["answers"]
    table = Table(title="Does skill pay? Mean return on the grant, by bot kind")
    labels = list(answers["skill_pays"])
    table.add_column("kind")
    for label in labels:
        table.add_column(label, justify="right")
    kinds = dict.fromkeys(k for a in answers["skill_pays"].values() for k in a["by_kind"])
    for kind in kinds:
        cells = []
        for label in labels:
            v = answers["skill_pays"][label]["by_kind"].get(kind)
            cells.append("" if v is None else f"{100 * v['mean_return']:+,.1f}%")
        table.add_row(kind, *cells)
    console.print(table)
    for label, meta in answers["meta_model"].items():
        best = meta["best_on_selection_rounds"]
        console.print(
            f"{label}: meta model CORR {meta['meta_model']['mean']:+.4f} (Sharpe "
            f"{meta['meta_model']['sharpe']:.2f}) vs best single model {best['model']} "
            f"{best['mean']:+.4f} ({best['sharpe']:.2f}), equal weight "
            f"{meta['equal_weight']['mean']:+.4f}, median model "
            f"{meta['median_model']['mean']:+.4f}"
        )
    for label, gov in answers.get("governance", {}).items():
        meta, changed = gov["meta_model"], gov["changed"]
        what = ", ".join(f"{k} {v[0]} → {v[1]}" for k, v in changed.items()) or "nothing"
        console.print(f"{label}: governance changed {what}; meta model CORR {meta['verdict']}")
    for label, supply in answers["supply"].items():
        console.print(
            f"{label}: minted {supply['minted_nmr']:,.1f}, burned {supply['burned_nmr']:,.1f}, "
            f"circulating {supply['circulating_change_nmr']:+,.1f} NMR"
        )

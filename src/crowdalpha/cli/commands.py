"""The ``crowdalpha`` command line: the only place that prints (with rich)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.console import Console

from crowdalpha import __version__
from crowdalpha.cli.admin import db_app, ledger_app
from crowdalpha.cli.chain import chain_app
from crowdalpha.cli.data import data_app
from crowdalpha.cli.fund import fund_app
from crowdalpha.cli.governance import governance_app
from crowdalpha.cli.living import demo
from crowdalpha.cli.operator import (
    admin_app,
    backup,
    check_files,
    config,
    restore,
    rounds_app,
    serve,
    tick,
)
from crowdalpha.cli.participant import register as register_participant_commands
from crowdalpha.cli.simulate import simulate
from crowdalpha.errors import CrowdAlphaError

app = typer.Typer(
    name="crowdalpha",
    help="A self-hostable, Numerai-style crowdsourced hedge-fund tournament.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
err_console = Console(stderr=True)
app.add_typer(data_app, name="data")
app.add_typer(fund_app, name="fund")
app.add_typer(chain_app, name="chain")
app.add_typer(db_app, name="db")
app.add_typer(ledger_app, name="ledger")
app.add_typer(admin_app, name="admin")
app.add_typer(rounds_app, name="rounds")
app.add_typer(governance_app, name="governance")
app.command()(serve)
app.command()(tick)
app.command()(config)
app.command()(backup)
app.command()(restore)
app.command("check-files")(check_files)
app.command()(demo)
app.command()(simulate)
register_participant_commands(app)


@app.command()
def version() -> None:
    """Print the installed crowdalpha version."""
    console.print(f"crowdalpha {__version__}")


@app.command("scoring-demo")
def scoring_demo(
    eras: Annotated[int, typer.Option(min=2, help="Eras of generated history.")] = 52,
    rows: Annotated[int, typer.Option(min=50, help="Rows (stocks) per era.")] = 2000,
    features: Annotated[int, typer.Option(min=2, help="int8 features per row.")] = 100,
    seed: Annotated[int, typer.Option(help="Seed of the generated data.")] = 0,
) -> None:
    """Score a crowd of example models on generated data, era by era.

    Generates obfuscated-style data (int8 features in 0..4, targets in five bins), a
    handful of models of different skill with stakes, builds the stake-weighted meta
    model, and prints each model's per-era CORR, MMC and FNC summaries.
    """
    from crowdalpha.cli.demo import run_demo

    run_demo(console, eras=eras, rows=rows, n_features=features, seed=seed)


def main() -> None:
    """Entry point: turn crowdalpha's typed errors into one readable line and exit code 2."""
    try:
        app()
    except CrowdAlphaError as exc:
        err_console.print(f"[bold red]error[/] {exc.code}: {exc.message}")
        sys.exit(2)

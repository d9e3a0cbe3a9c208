"""Operator commands: ``crowdalpha db …`` and ``crowdalpha ledger …``."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from crowdalpha.cli import tables
from crowdalpha.settings import Settings

db_app = typer.Typer(help="The tournament database.", no_args_is_help=True)
ledger_app = typer.Typer(help="The NMR ledger.", no_args_is_help=True)
console = Console()

DatabaseOption = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        help="SQLAlchemy URL (default: $CROWDALPHA_DATABASE_URL, else a SQLite file under "
        "$CROWDALPHA_HOME).",
    ),
]


def _settings(database_url: str | None) -> Settings:
    settings = Settings()
    if database_url:
        settings = settings.model_copy(update={"database_url": database_url})
    return settings


@db_app.command("upgrade")
def db_upgrade(database_url: DatabaseOption = None) -> None:
    """Create or migrate the database to the newest schema."""
    from crowdalpha.db import current_revision

    settings = _settings(database_url)
    engine = settings.engine(migrate=True)
    console.print(f"Database at revision {current_revision(engine)}: {engine.url!r}")
    engine.dispose()


@ledger_app.command("check")
def ledger_check(database_url: DatabaseOption = None) -> None:
    """Recompute every balance and the supply from the postings; exit 1 on any problem."""
    from crowdalpha.db import session_factory
    from crowdalpha.ledger import check_ledger

    engine = _settings(database_url).engine(migrate=False)
    try:
        with session_factory(engine)() as session:
            report = check_ledger(session)
    finally:
        engine.dispose()
    # an audit: the exact base units beside the amount rounded to read
    table = tables.table(
        tables.fixed(""), tables.number("NMR"), tables.number("base units"), title="NMR supply"
    )
    supply = report.supply
    for label, units in (
        ("minted", supply.minted),
        ("burned", supply.burned),
        ("net deposits", supply.net_deposits),
        ("circulating", supply.circulating),
    ):
        table.add_row(label, tables.amount(units), str(units))
    tables.show(console, table)
    console.print(
        f"{report.entries:,} entries, {report.postings:,} postings, {report.accounts:,} accounts"
    )
    if report.ok:
        console.print(
            "[bold green]ledger OK[/]: every entry balances, balances match, supply adds up"
        )
        return
    for problem in report.problems:
        console.print(f"[red]problem[/] {problem}")
    console.print(f"[bold red]ledger check failed[/]: {len(report.problems)} problem(s)")
    raise typer.Exit(1)

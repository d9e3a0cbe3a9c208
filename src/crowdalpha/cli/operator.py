"""Operator commands: ``serve``, ``tick``, ``admin …`` and ``rounds …``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from crowdalpha.settings import Settings

admin_app = typer.Typer(
    help="Operator tasks: the operator account, grants, submissions.", no_args_is_help=True
)
rounds_app = typer.Typer(help="Rounds: list and resolve.", no_args_is_help=True)
console = Console()

HomeOption = Annotated[
    Path | None,
    typer.Option(
        "--home", help="The tournament's folder (default $CROWDALPHA_HOME or ./crowdalpha-data)."
    ),
]
DatabaseOption = Annotated[
    str | None, typer.Option("--database-url", help="SQLAlchemy URL (default: SQLite in home).")
]


def settings_from(
    home: Path | None = None, database_url: str | None = None, **overrides: Any
) -> Settings:
    """Environment settings with the command line's overrides on top."""
    values = {k: v for k, v in overrides.items() if v is not None}
    if home is not None:
        values["home"] = home
    if database_url is not None:
        values["database_url"] = database_url
    return Settings(**values)


def serve(
    home: HomeOption = None,
    database_url: DatabaseOption = None,
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
    tick_interval: Annotated[
        float | None, typer.Option(help="Seconds between clock ticks (0: never).")
    ] = None,
    workers: Annotated[
        int, typer.Option(min=1, help="Server processes (the clock runs in one of them).")
    ] = 1,
) -> None:
    """Run the tournament server: REST API, Numerai's GraphQL API and the round clock."""
    import os

    import uvicorn

    from crowdalpha.runtime import open_tournament
    from crowdalpha.server import create_app

    settings = settings_from(home, database_url, host=host, port=port, tick_interval=tick_interval)
    tournament = open_tournament(settings)  # migrates the database once, before any worker
    if workers > 1:
        # the worker processes read their settings from the environment
        for name, value in (
            ("HOME", settings.home),
            ("DATABASE_URL", settings.database_url),
            ("HOST", settings.host),
            ("PORT", settings.port),
            ("TICK_INTERVAL", settings.tick_interval),
        ):
            if value is not None:
                os.environ[f"CROWDALPHA_{name}"] = str(value)
        tournament.close()
        console.print(
            f"crowdalpha serving on [bold]{settings.resolved_public_url}[/] with {workers} "
            "processes — REST /v1 (docs at /docs), GraphQL /graphql"
        )
        uvicorn.run(
            "crowdalpha.server.asgi:app_from_environment",
            factory=True,
            workers=workers,
            host=settings.host,
            port=settings.port,
            log_level="info",
        )
        return
    app = create_app(tournament, settings)
    console.print(
        f"crowdalpha serving on [bold]{settings.resolved_public_url}[/] — REST /v1 (docs at "
        f"/docs), GraphQL /graphql; database {tournament.engine.url!r}; files in "
        f"{settings.resolved_storage_dir}; clock every {settings.tick_interval:g} s"
    )
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="info")


def config(home: HomeOption = None, database_url: DatabaseOption = None) -> None:
    """Show the settings in effect: each CROWDALPHA_* variable, its value, and whether it
    was set (environment, .env file, command line) or is the default."""
    table = Table()
    for header in ("variable", "value", "from", "meaning"):
        table.add_column(header, overflow="fold")  # narrow terminals fold, never cut
    for row in settings_from(home, database_url).described():
        table.add_row(row.variable, row.value, "set" if row.is_set else "default", row.description)
    console.print(table)


def tick(home: HomeOption = None, database_url: DatabaseOption = None) -> None:
    """Move every round as far as the clock and the data allow (for cron)."""
    from crowdalpha.runtime import open_tournament

    with open_tournament(settings_from(home, database_url)) as t:
        report = t.tick()
    if not report.changed:
        console.print(f"{report.now:%Y-%m-%d %H:%M} UTC: nothing to do")
        return
    for label, numbers in (
        ("opened", report.opened),
        ("closed", report.closed),
        ("scored", report.scored),
        ("skipped", report.skipped),
    ):
        if numbers:
            console.print(f"{label}: round {', '.join(map(str, numbers))}")
    for r in report.resolved:
        console.print(
            f"resolved round {r.round_number}: {r.scored} scored, {r.staked} staked, "
            f"paid {r.paid / 10**18:,.4f} NMR, burned {r.burned / 10**18:,.4f} NMR"
        )


@admin_app.command("init")
def init(
    username: Annotated[str, typer.Option(help="The operator's username.")] = "operator",
    email: Annotated[str, typer.Option(help="The operator's email.")] = "operator@localhost",
    mint: Annotated[str, typer.Option(help="NMR to mint into the treasury.")] = "1000000",
    home: HomeOption = None,
    database_url: DatabaseOption = None,
) -> None:
    """Create the operator account with an admin API key, and mint the treasury."""
    from crowdalpha.ledger import nmr
    from crowdalpha.runtime import open_tournament

    with open_tournament(settings_from(home, database_url)) as t:
        account = t.create_account(username, email, is_operator=True)
        key, secret = t.create_api_key(account.id, scopes=["admin"], name="operator")
        amount = nmr(mint)
        if amount:
            t.mint(amount, key="init-treasury")
        console.print(f"operator account [bold]{account.username}[/] created; treasury {mint} NMR")
        console.print("admin API key (shown once, keep it secret):")
        console.print(f"  public id  {key.public_id}\n  secret     {secret}")


@admin_app.command("grant")
def grant(
    username: Annotated[str, typer.Argument(help="Who receives the NMR.")],
    amount: Annotated[str, typer.Argument(help="NMR, e.g. 100 or 12.5.")],
    home: HomeOption = None,
    database_url: DatabaseOption = None,
) -> None:
    """Give NMR from the treasury to a participant's wallet."""
    from crowdalpha.ledger import format_nmr, nmr
    from crowdalpha.runtime import open_tournament

    with open_tournament(settings_from(home, database_url)) as t:
        account = t.account_by_username(username)
        t.grant(account.id, nmr(amount))
        console.print(
            f"granted {amount} NMR to {account.username}; wallet now "
            f"{format_nmr(t.wallet_balance(account.id))} NMR"
        )


@admin_app.command("submissions")
def submissions(
    round_number: Annotated[int | None, typer.Option("--round", help="Only this round.")] = None,
    home: HomeOption = None,
    database_url: DatabaseOption = None,
) -> None:
    """Every submission's state (received, validated, scored, resolved or failed)."""
    from crowdalpha.runtime import open_tournament

    with open_tournament(settings_from(home, database_url)) as t:
        names = {m.id: m.name for m in t.models()}
        table = Table("id", "round", "model", "state", "late", "selected", "uploaded", "reason")
        for s in t.submissions(round_number=round_number):
            table.add_row(
                str(s.id),
                str(s.round_number),
                names.get(s.model_id, "?"),
                s.state,
                "yes" if s.late else "",
                "yes" if s.selected else "",
                f"{s.created_at:%Y-%m-%d %H:%M}",
                s.error_message or "",
            )
        console.print(table)


@rounds_app.command("list")
def list_rounds(home: HomeOption = None, database_url: DatabaseOption = None) -> None:
    """Every round with its state, times, submissions and stake at risk."""
    from crowdalpha.ledger import format_nmr
    from crowdalpha.runtime import open_tournament

    with open_tournament(settings_from(home, database_url)) as t:
        columns = ("round", "state", "opens", "closes", "resolves", "submissions", "at risk")
        table = Table(*columns, "payout factor")
        for r in t.rounds():
            table.add_row(
                str(r.number),
                r.state,
                f"{r.opens_at:%Y-%m-%d %H:%M}",
                f"{r.closes_at:%Y-%m-%d %H:%M}",
                f"{r.resolves_at:%Y-%m-%d}",
                str(r.submissions),
                "" if r.total_at_risk is None else format_nmr(r.total_at_risk),
                r.payout_factor or "",
            )
        console.print(table)


@rounds_app.command("resolve")
def resolve(
    number: Annotated[int, typer.Argument(help="The round to resolve now.")],
    home: HomeOption = None,
    database_url: DatabaseOption = None,
) -> None:
    """Resolve a closed round now, if its targets are final."""
    from crowdalpha.runtime import open_tournament

    with open_tournament(settings_from(home, database_url)) as t:
        r = t.resolve(number)
    console.print(
        f"resolved round {r.round_number}: {r.scored} scored, paid {r.paid / 10**18:,.4f} NMR, "
        f"burned {r.burned / 10**18:,.4f} NMR, payout factor {r.payout_factor}"
    )

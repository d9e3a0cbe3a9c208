"""Operator commands: ``serve``, ``tick``, ``admin …`` and ``rounds …``."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.padding import Padding
from rich.text import Text

from crowdalpha.cli import tables
from crowdalpha.settings import Settings

if TYPE_CHECKING:
    from crowdalpha.tournament import Tournament

admin_app = typer.Typer(
    help="Operator tasks: the operator account, grants, submissions, duplicates.",
    no_args_is_help=True,
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


class LogFormat(StrEnum):
    text = "text"
    json = "json"


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
    log_format: Annotated[
        LogFormat | None,
        typer.Option(
            help="text, or json: one JSON object a line with each request's id "
            "(default $CROWDALPHA_LOG_FORMAT or text).",
        ),
    ] = None,
) -> None:
    """Run the tournament server: REST API, Numerai's GraphQL API and the round clock."""
    import os

    import uvicorn

    from crowdalpha.runtime import open_chain, open_tournament
    from crowdalpha.server import create_app
    from crowdalpha.server.logs import log_config

    settings = settings_from(
        home,
        database_url,
        host=host,
        port=port,
        tick_interval=tick_interval,
        log_format=None if log_format is None else log_format.value,
    )
    logs = log_config(fmt=settings.log_format)
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
        with shared_metrics():
            uvicorn.run(
                "crowdalpha.server.asgi:app_from_environment",
                factory=True,
                workers=workers,
                host=settings.host,
                port=settings.port,
                log_config=logs,
            )
        return
    chain = open_chain(tournament)
    app = create_app(tournament, settings, chain=chain)
    if chain is not None:
        console.print(
            f"chain on: staking {chain.staking.address}, NMR {chain.token.address} "
            f"(chain {chain.chain_id})"
        )
    console.print(
        f"crowdalpha serving on [bold]{settings.resolved_public_url}[/] — REST /v1 (docs at "
        f"/docs), GraphQL /graphql; database {tournament.engine.url!r}; files in "
        f"{settings.resolved_storage_dir}; clock every {settings.tick_interval:g} s"
    )
    uvicorn.run(app, host=settings.host, port=settings.port, log_config=logs)


@contextlib.contextmanager
def shared_metrics() -> Iterator[None]:
    """Several server processes add up their metrics in files under
    ``PROMETHEUS_MULTIPROC_DIR`` (see :mod:`crowdalpha.server.metrics`): a fresh temporary
    folder for this run, deleted when it ends — unless the operator set the variable (then
    that folder is theirs to empty between runs)."""
    import os
    import shutil
    import tempfile

    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        yield
        return
    folder = tempfile.mkdtemp(prefix="crowdalpha-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = folder
    try:
        yield
    finally:
        os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
        shutil.rmtree(folder, ignore_errors=True)


def config(home: HomeOption = None, database_url: DatabaseOption = None) -> None:
    """Show the settings in effect: each CROWDALPHA_* variable, its value, and whether it
    was set (environment, .env file, command line) or is the default."""
    # One setting per block (a table of four columns folds into unreadable cells on an
    # 80-column terminal): ``VARIABLE = value  (set|default)``, then what it means.
    for row in settings_from(home, database_url).described():
        line = Text(row.variable, style="bold")
        line.append(f" = {row.value}  ")
        line.append("(set)" if row.is_set else "(default)", style="green" if row.is_set else "dim")
        console.print(line)
        console.print(Padding(Text(row.description, style="dim"), (0, 0, 0, 4), expand=False))


def tick(home: HomeOption = None, database_url: DatabaseOption = None) -> None:
    """Move every round as far as the clock and the data allow, and tally and execute the
    governance proposals that are due (for cron)."""
    from crowdalpha.governance import Governance
    from crowdalpha.runtime import open_chain, open_tournament

    with open_tournament(settings_from(home, database_url)) as t:
        governed = Governance(t).process()
        report = t.tick()
        chain = open_chain(t)
        if chain is not None:
            done = chain.after_tick(report)
            console.print(
                f"chain: opened {done.opened or 'no round'}, settled "
                f"{done.settled or 'no round'}, {len(done.deposits)} deposit(s) credited"
            )
    if governed:
        console.print(f"governance: tallied or executed proposal {', '.join(map(str, governed))}")
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
            f"paid {tables.amount(r.paid)} NMR, burned {tables.amount(r.burned)} NMR"
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
    from crowdalpha.runtime import open_tournament
    from crowdalpha.units import nmr

    with open_tournament(settings_from(home, database_url)) as t:
        account = t.create_account(username, email, is_operator=True)
        key, secret = t.create_api_key(account.id, scopes=["admin"], name="operator")
        amount = nmr(mint)
        if amount:
            t.mint(amount, key="init-treasury")
        console.print(
            f"operator account [bold]{account.username}[/] created; treasury "
            f"{tables.amount(amount)} NMR"
        )
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
    from crowdalpha.runtime import open_tournament
    from crowdalpha.units import nmr

    with open_tournament(settings_from(home, database_url)) as t:
        account = t.account_by_username(username)
        units = nmr(amount)
        t.grant(account.id, units)
        console.print(
            f"granted {tables.amount(units)} NMR to {account.username}; wallet now "
            f"{tables.amount(t.wallet_balance(account.id))} NMR"
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
        table = tables.table(
            tables.number("id"),
            tables.number("round"),
            tables.text("model"),
            tables.fixed("state"),
            tables.fixed("uploaded"),
            tables.text("notes", min_width=12),
            title="Submissions (times in UTC)",
        )
        for s in t.submissions(round_number=round_number):
            notes = ["late" if s.late else "", "" if s.selected else "superseded"]
            if s.error_code:
                notes.append(f"{s.error_code}: {s.error_message or ''}")
            table.add_row(
                str(s.id),
                str(s.round_number),
                names.get(s.model_id, "?"),
                s.state,
                tables.when(s.created_at),
                "; ".join(n for n in notes if n),
            )
        tables.show(console, table)


@admin_app.command("webhooks")
def webhooks(
    state: Annotated[
        str | None, typer.Option(help="Only deliveries in this state: pending, delivered, failed.")
    ] = None,
    home: HomeOption = None,
    database_url: DatabaseOption = None,
) -> None:
    """Submission-webhook calls: each model's call per opened round, its state, attempts
    and last error (failures are also in the server's log)."""
    from crowdalpha.runtime import open_tournament

    with open_tournament(settings_from(home, database_url)) as t:
        names = {m.id: m.name for m in t.models()}
        table = tables.table(
            tables.number("id"),
            tables.number("round"),
            tables.text("model"),
            tables.fixed("state"),
            tables.number("attempts"),
            tables.fixed("next attempt"),
            tables.text("url / last error", min_width=16),
            title="Webhook deliveries (times in UTC)",
        )
        for d in t.webhooks.deliveries():
            if state is not None and d.state != state.strip().lower():
                continue
            table.add_row(
                str(d.id),
                str(d.round_number),
                names.get(d.model_id, "?"),
                d.state,
                str(d.attempts),
                tables.when(d.next_attempt_at) if d.state == "pending" else "",
                d.url if d.last_error is None else f"{d.url}: {d.last_error}",
            )
        tables.show(console, table)


@admin_app.command("duplicates")
def duplicates(
    round_number: Annotated[int | None, typer.Option("--round", help="Only this round.")] = None,
    competition: Annotated[
        str, typer.Option(help="The competition: classic (8) or signals (11).")
    ] = "classic",
    across_only: Annotated[
        bool, typer.Option("--across-only", help="Only clusters spread over several accounts.")
    ] = False,
    home: HomeOption = None,
    database_url: DatabaseOption = None,
) -> None:
    """Clusters of near-identical submissions (copies, sybils), found as each round closed:
    their models and accounts, rank correlations, and the stakes at risk before and after
    the round's duplicate policy (report, or one_stake)."""
    from crowdalpha.runtime import open_tournament

    with open_tournament(settings_from(home, database_url)) as t:
        view = t.using(competition)
        table = tables.table(
            tables.number("round"),
            tables.number("cluster"),
            tables.fixed("policy"),
            tables.number("min ρ"),
            tables.text("model (account)", min_width=16),
            tables.number("at risk"),
            tables.number("after policy"),
            title=f"Near-identical submissions ({view.competition.name}; NMR at risk)",
        )
        clusters = view.duplicates(round_number, across_only=across_only)
        for c in clusters:
            flag = "" if c.across_accounts else " · one account"
            for i, m in enumerate(c.members):
                table.add_row(
                    str(c.round_number) if i == 0 else "",
                    f"{c.cluster}{flag}" if i == 0 else "",
                    c.policy if i == 0 else "",
                    f"{c.min_correlation:.4f}" if i == 0 else "",
                    f"{m.model} ({m.account})",
                    tables.amount(m.stake_before),
                    tables.amount(m.stake_at_risk),
                )
        tables.show(console, table)
        spread = sum(1 for c in clusters if c.across_accounts)
        console.print(f"{len(clusters)} cluster(s), {spread} spread over several accounts")


@rounds_app.command("list")
def list_rounds(home: HomeOption = None, database_url: DatabaseOption = None) -> None:
    """Every round with its state, close, resolution, submissions and stake at risk."""
    from crowdalpha.runtime import open_tournament

    with open_tournament(settings_from(home, database_url)) as t:
        console.print(_numbering(t))
        # A round opens one period before the next one does: its close and resolution are
        # what participants plan by, so those stay and the opening goes (80 columns).
        table = tables.table(
            tables.number("round"),
            tables.fixed("state"),
            tables.fixed("closes"),
            tables.fixed("resolves"),
            tables.number("subs"),
            tables.number("at risk"),
            tables.number("factor"),
            title="Rounds (NMR at risk, payout factor; times in UTC)",
        )
        for r in t.rounds():
            table.add_row(
                str(r.number),
                r.state,
                tables.when(r.closes_at),
                tables.day(r.resolves_at),
                f"{r.submissions:,}",
                tables.amount(r.total_at_risk),
                tables.factor(r.payout_factor),
            )
        tables.show(console, table)


def _numbering(t: Tournament) -> str:
    """How the competition's rounds are numbered, in one line."""
    schedule = t.schedule
    days = schedule.period.days
    period = {1: "every day", 7: "every week"}.get(days, f"every {schedule.period}")
    first = f"{schedule.opens(1):%Y-%m-%d %H:%M} UTC"
    rule = "rounds are numbered from the tournament's start"
    if not t.rounds():
        return (
            f"{t.competition.name}: no round has opened yet; the first will be round 1 "
            f"({rule}), due {first}; a new round opens {period}."
        )
    return f"{t.competition.name}: round 1 opened {first} ({rule}); a new round opens {period}."


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
        f"resolved round {r.round_number}: {r.scored} scored, paid {tables.amount(r.paid)} NMR, "
        f"burned {tables.amount(r.burned)} NMR, payout factor {tables.factor(r.payout_factor)}"
    )


def backup(
    dest: Annotated[Path, typer.Argument(help="A new (or empty) folder for the backup.")],
    home: HomeOption = None,
    database_url: DatabaseOption = None,
) -> None:
    """Back up the database (a consistent snapshot) and every file of the store, with a
    manifest of SHA-256 hashes."""
    from crowdalpha.backup import backup as take

    settings = settings_from(home, database_url)
    engine = settings.engine(migrate=False)
    try:
        summary = take(engine, settings.store(), dest)
    finally:
        engine.dispose()
    console.print(
        f"backed up the {summary.database} database (revision {summary.revision}) and "
        f"{summary.files:,} files ({summary.bytes:,} bytes) into {summary.folder}"
    )


def restore(
    src: Annotated[Path, typer.Argument(help="A folder written by crowdalpha backup.")],
    home: HomeOption = None,
    database_url: DatabaseOption = None,
) -> None:
    """Restore a backup into an empty database and an empty file store (every hash is
    checked before anything is written)."""
    from crowdalpha.backup import restore as put_back
    from crowdalpha.db import create_database_engine

    settings = settings_from(home, database_url)
    engine = create_database_engine(settings.resolved_database_url)
    try:
        summary = put_back(src, engine, settings.store())
    finally:
        engine.dispose()
    console.print(
        f"restored the {summary.database} database (revision {summary.revision}) and "
        f"{summary.files:,} files ({summary.bytes:,} bytes) from {summary.folder}; "
        "run `crowdalpha ledger check` to confirm"
    )


def check_files(home: HomeOption = None, database_url: DatabaseOption = None) -> None:
    """Reread every stored file whose SHA-256 was recorded — datasets, live ids, uploads
    and their predictions — and list each one missing or damaged; exit 1 on any."""
    from crowdalpha.runtime import open_tournament

    with open_tournament(settings_from(home, database_url), migrate=False) as t:
        report = t.check_files()
    if report.ok:
        console.print(f"[bold green]files OK[/]: {report.files:,} files match their hashes")
        return
    for problem in report.problems:
        console.print(f"[red]problem[/] {problem}")
    console.print(
        f"[bold red]file check failed[/]: {len(report.problems)} problem(s) in "
        f"{report.files:,} files; restore them from a backup (crowdalpha restore)"
    )
    raise typer.Exit(1)

"""``crowdalpha demo``: a living tournament — set it up, then serve it."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from crowdalpha.units import display_nmr

if TYPE_CHECKING:
    from crowdalpha.demo import DemoTournament

console = Console()


def demo(
    home: Annotated[
        Path, typer.Option(help="Where the demo lives (reused when it already holds one).")
    ] = Path("crowdalpha-demo"),
    port: Annotated[int, typer.Option(help="Port of the web UI and both APIs.")] = 8000,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    stocks: Annotated[int, typer.Option(min=50, help="Stocks in the simulated market.")] = 300,
    days: Annotated[int, typer.Option(min=400, help="Trading days of history.")] = 800,
    rounds: Annotated[int, typer.Option(min=1, help="Weekly rounds played at set-up.")] = 10,
    seed: Annotated[int, typer.Option(help="Seed of the market and the bots.")] = 0,
    serve: Annotated[
        bool, typer.Option(help="Keep serving after the set-up (--no-serve: set up and stop).")
    ] = True,
    week_every: Annotated[
        float,
        typer.Option(
            min=0,
            help="While serving, let a simulated week go by every this many seconds (bots "
            "submit, rounds open, close and resolve), ahead of the real calendar; 0 (the "
            "default): follow the real clock, rounds opening and closing on the real dates.",
        ),
    ] = 0.0,
    chain: Annotated[
        bool,
        typer.Option(
            "--chain",
            help="Run NMR and staking on a local anvil node too (needs `make node-tools "
            "contracts` and the chain extra): bots stake and claim on chain, the server "
            "answers numerapi's v3_stake_* calls.",
        ),
    ] = False,
) -> None:
    """Set up a living tournament (market, datasets, operator, bots, rounds) and serve it.

    The web UI, the REST API and Numerai's GraphQL API serve the same tournament; a
    simulated week goes by every --week-every seconds.
    """
    from crowdalpha.demo import STATE_FILE, DemoConfig, open_demo, set_up_demo

    hooks = None
    if chain:
        from crowdalpha.chain.demo import ChainDemo

        hooks = ChainDemo.start
    if (home / STATE_FILE).exists():
        console.print(f"Reopening the demo in {home} (delete the folder for a fresh one).")
        demo_state = open_demo(home, hooks=hooks)
    else:
        with Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        ) as bar:
            tasks: dict[str, int] = {}

            def progress(step: str, done: int, total: int) -> None:
                if step not in tasks:
                    tasks[step] = int(bar.add_task(step, total=total))
                bar.update(tasks[step], completed=done, total=total)  # type: ignore[arg-type]

            demo_state = set_up_demo(
                home,
                DemoConfig(stocks=stocks, days=days, rounds=rounds, seed=seed),
                progress=progress,
                hooks=hooks,
            )
    t = demo_state.tournament
    resolved = [r for r in t.rounds() if r.state == "resolved"]
    supply = t.supply()
    console.print(
        f"{len(t.rounds())} rounds ({len(resolved)} resolved), {len(t.models())} models; "
        f"{display_nmr(supply.burned)} NMR burned, {display_nmr(supply.minted)} NMR minted"
    )
    try:
        _serve(demo_state, serve=serve, host=host, port=port, week_every=week_every)
    finally:
        if demo_state.hooks is not None:
            demo_state.hooks.stop()


def _serve(
    demo_state: DemoTournament, *, serve: bool, host: str, port: int, week_every: float
) -> None:
    t = demo_state.tournament
    on_chain = None
    if demo_state.hooks is not None:  # only then: the chain's dependencies are optional
        from crowdalpha.chain.demo import ChainDemo

        on_chain = demo_state.hooks if isinstance(demo_state.hooks, ChainDemo) else None
    if on_chain is not None:
        differences = on_chain.platform.check()
        console.print(
            f"chain: anvil at {on_chain.url}, staking {on_chain.platform.staking.address}, "
            f"NMR {on_chain.platform.token.address}; chain check: "
            + ("no difference" if not differences else f"{len(differences)} difference(s)")
        )
        for difference in differences:
            console.print(f"  {difference}", highlight=False)
    report = demo_state.settings.resolved_fund_dir / "report.html"
    if report.is_file():
        console.print(f"the fund traded the resolved rounds: {report}")
    if not serve:
        return
    import uvicorn

    from crowdalpha.server import create_app

    url = f"http://{host}:{port}"
    # the demo's tournament runs on its own clock and sources, which no settings describe:
    # its background jobs (diagnostics) run in this process, on it
    settings = demo_state.settings.model_copy(
        update={"host": host, "port": port, "public_url": url, "jobs_workers": 0}
    )
    app = create_app(t, settings, chain=None if on_chain is None else on_chain.platform)
    pub, secret, model = demo_state.public_id, demo_state.secret_key, demo_state.model
    commands = [
        f"crowdalpha login --url {url} --public-id {pub} --secret-key '{secret}' "
        "&& crowdalpha download --dest data",
        f"CROWDALPHA_PUBLIC_ID={pub} CROWDALPHA_SECRET_KEY='{secret}' "
        f"python examples/example_model.py --data data --out predictions.csv "
        f"--upload {url} --model {model}",
        'python -c "import numerapi, numerapi.base_api as b; '
        f"b.API_TOURNAMENT_URL='{url}/graphql'; napi = numerapi.NumerAPI('{pub}', '{secret}'); "
        "napi.download_dataset('v5.0/live.parquet'); "
        f"print(napi.upload_predictions('predictions.csv', "
        f"model_id=napi.get_models()['{model}']))\"",
    ]
    console.rule("[bold]ready")
    console.print(
        f"crowdalpha demo at [bold cyan]{url}[/] — the web UI; REST at {url}/docs; "
        f"GraphQL at {url}/graphql"
    )
    console.print(
        f"participant [bold]{demo_state.participant}[/], model [bold]{model}[/]; API key "
        "(sign in on the web page with it, or use it below):"
    )
    console.print(f"  public id  {pub}\n  secret     {secret}", soft_wrap=True)
    if demo_state.operator_key is not None:
        op_pub, op_secret = demo_state.operator_key
        fund = (
            f"; the fund that trades the meta model at {url}/operator/fund"
            if (demo_state.settings.resolved_fund_dir / "report.html").is_file()
            else ""
        )
        console.print(
            f"operator (the dashboard at {url}/operator{fund}):\n"
            f"  public id  {op_pub}\n  secret     {op_secret}",
            soft_wrap=True,
        )
    console.print("Try (from the project folder, with .venv/bin on your PATH):")
    for number, command in enumerate(commands, 1):
        console.print(f"{number}. {command}", soft_wrap=True, highlight=False, markup=False)
    if week_every > 0:
        console.print(
            f"A simulated week goes by every {week_every:g} s (--week-every): the demo's "
            "calendar runs ahead of the real one."
        )
    else:
        console.print(
            "Rounds open and close on the real calendar (--week-every N: a week every N s)."
        )
    threading.Thread(
        target=_weeks_go_by, args=(demo_state, week_every), daemon=True, name="demo-clock"
    ).start()
    console.rule()
    uvicorn.run(app, host=host, port=port, log_level="warning")


def _weeks_go_by(demo_state: DemoTournament, seconds: float) -> None:
    """The demo's clock, for as long as the server runs: a week every ``seconds``, or (0)
    the real clock, checked every minute (the bots submit to each round once)."""
    while True:
        time.sleep(seconds if seconds > 0 else 60.0)
        before = demo_state.tournament.current_round()
        try:
            if seconds > 0:
                demo_state.next_week()
            else:
                demo_state.follow()
        except Exception as exc:  # keep serving: report and try again later
            console.print(f"[red]the demo's clock failed[/]: {exc}")
            continue
        current = demo_state.tournament.current_round()
        if seconds > 0 or (current and (before is None or current.number != before.number)):
            console.print(
                f"{demo_state.clock.now():%Y-%m-%d}: a week went by"
                + (f"; round {current.number} is open" if current else "")
            )

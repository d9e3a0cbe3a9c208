"""``crowdalpha demo``: a living tournament — set it up, then serve it."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

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
            "submit, rounds open, close and resolve); 0 stops the clock.",
        ),
    ] = 300.0,
) -> None:
    """Set up a living tournament (market, datasets, operator, bots, rounds) and serve it.

    The web UI, the REST API and Numerai's GraphQL API serve the same tournament; a
    simulated week goes by every --week-every seconds.
    """
    from crowdalpha.demo import STATE_FILE, DemoConfig, open_demo, set_up_demo

    if (home / STATE_FILE).exists():
        console.print(f"Reopening the demo in {home} (delete the folder for a fresh one).")
        demo_state = open_demo(home)
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
            )
    t = demo_state.tournament
    resolved = [r for r in t.rounds() if r.state == "resolved"]
    supply = t.supply()
    console.print(
        f"{len(t.rounds())} rounds ({len(resolved)} resolved), {len(t.models())} models; "
        f"{supply.burned / 10**18:,.2f} NMR burned, {supply.minted / 10**18:,.0f} NMR minted"
    )
    if not serve:
        return
    import uvicorn

    from crowdalpha.server import create_app

    url = f"http://{host}:{port}"
    settings = demo_state.settings.model_copy(
        update={"host": host, "port": port, "public_url": url}
    )
    app = create_app(t, settings)
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
    console.print("Try (from the project folder, with .venv/bin on your PATH):")
    for number, command in enumerate(commands, 1):
        console.print(f"{number}. {command}", soft_wrap=True, highlight=False, markup=False)
    if week_every > 0:
        console.print(f"A simulated week goes by every {week_every:g} s (--week-every).")
        threading.Thread(
            target=_weeks_go_by, args=(demo_state, week_every), daemon=True, name="demo-clock"
        ).start()
    console.rule()
    uvicorn.run(app, host=host, port=port, log_level="warning")


def _weeks_go_by(demo_state: DemoTournament, seconds: float) -> None:
    """The demo's clock: a week every ``seconds``, for as long as the server runs."""
    while True:
        time.sleep(seconds)
        try:
            demo_state.next_week()
        except Exception as exc:  # keep serving: report and try again next week
            console.print(f"[red]the demo's week failed[/]: {exc}")
            continue
        now = demo_state.clock.now()
        current = demo_state.tournament.current_round()
        console.print(
            f"{now:%Y-%m-%d}: a week went by"
            + (f"; round {current.number} is open" if current else "")
        )

"""``crowdalpha data …``: market data in, round datasets out — with progress bars."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from crowdalpha.errors import ConflictError

data_app = typer.Typer(help="Market data and round datasets.", no_args_is_help=True)
console = Console()


@contextmanager
def _progress(description: str) -> Iterator[Callable[[int, int], None]]:
    """A progress bar fed by the library's ``progress(done, total)`` callbacks."""
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    ) as bar:
        task = bar.add_task(description, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


@data_app.command("simulate")
def simulate(
    out: Annotated[Path, typer.Option(help="Where to write the prices (.parquet or .csv).")],
    stocks: Annotated[int, typer.Option(min=1, max=10_000, help="Stocks in the universe.")] = 3000,
    days: Annotated[int, typer.Option(min=2, help="Trading days of history.")] = 2520,
    seed: Annotated[int, typer.Option(help="Seed: the same seed gives the same market.")] = 0,
) -> None:
    """Simulate a stock market and write its daily prices in long format."""
    from crowdalpha.market.simulator import MarketConfig, simulate_market

    config = MarketConfig(n_stocks=stocks, n_days=days, seed=seed)
    with _progress("Simulating the market") as update:
        market = simulate_market(config, progress=update)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix.lower() == ".csv":
        market.prices.to_csv(out, index=False)
    else:
        market.prices.to_parquet(out, index=False)
    console.print(
        f"Wrote {len(market.prices):,} rows ({market.prices['ticker'].nunique():,} tickers, "
        f"{market.prices['date'].nunique():,} days) to {out}"
    )


@data_app.command("build")
def build(
    prices: Annotated[Path, typer.Option(help="Long-format prices (.parquet, .csv, .csv.gz).")],
    out: Annotated[Path, typer.Option(help="Folder for the public round files.")],
    operator: Annotated[Path, typer.Option(help="The operator's private folder (vault, maps).")],
    round_number: Annotated[int, typer.Option("--round", min=1, help="Round number.")] = 1,
    validation_eras: Annotated[int, typer.Option(min=1, help="Eras of validation data.")] = 52,
    mode: Annotated[
        str,
        typer.Option(
            help="Obfuscation: 'standard' (bins), 'noisy' (keyed noise) or 'composite' "
            "(a few keyed-noise mixes of the features; needs --mix)."
        ),
    ] = "standard",
    noise: Annotated[
        float | None,
        typer.Option(
            help="Noise: on ranks in the noisy mode (default 1.0), in standard deviations "
            "of a composite in the composite mode (default 0.5)."
        ),
    ] = None,
    mix: Annotated[
        Path | None, typer.Option(help="The composite mode's mix (a JSON file from Mix.save).")
    ] = None,
    cache: Annotated[
        str | None,
        typer.Option(
            help="Era cache: eras with unchanged inputs are reused; a folder or an "
            "s3://bucket/prefix URL (default: OPERATOR/cache)."
        ),
    ] = None,
    no_cache: Annotated[
        bool, typer.Option("--no-cache", help="Compute every era; neither read nor fill a cache.")
    ] = False,
    dask_scheduler: Annotated[
        str | None,
        typer.Option(
            envvar="CROWDALPHA_DASK_SCHEDULER",
            help="Compute the time cells as tasks on this Dask cluster (tcp://host:8786); "
            "its workers must reach the cache (use an s3:// cache across machines).",
        ),
    ] = None,
    workers: Annotated[
        int,
        typer.Option(min=1, help="Compute the time cells in this many local processes."),
    ] = 1,
) -> None:
    """Build a round's obfuscated dataset (train, validation, live) from prices.

    Eras are kept in an era cache, so the next round after new prices are appended
    computes only the eras whose inputs changed; the files are the same as without it.
    """
    from crowdalpha.compute import open_backend
    from crowdalpha.dataset.build import BuildConfig, build_round
    from crowdalpha.dataset.obfuscate import Mix, Vault, check_mode
    from crowdalpha.market import load_prices
    from crowdalpha.storage import open_store

    if (out / "features.json").exists():
        raise ConflictError(f"{out} already holds a round dataset; choose another folder")
    config = BuildConfig(
        validation_eras=validation_eras,
        mode=check_mode(mode, noise)[0],
        noise=noise,
        mix=Mix.load(mix) if mix is not None else None,
    )
    with open_backend(dask_scheduler, workers=workers) as backend:  # before anything is written
        era_cache = None if no_cache else open_store(cache or operator / "cache")
        with console.status(f"Reading {prices}…"):
            frame = load_prices(prices)
        vault_path = operator / "vault.json"
        vault = Vault.load(vault_path) if vault_path.exists() else Vault.create()
        if not vault_path.exists():
            vault.save(vault_path)
            console.print(f"Created a new vault key at {vault_path} — keep it secret and safe.")
        with _progress("Building eras") as update:
            report = build_round(
                frame,
                out_dir=out,
                operator_dir=operator / f"round_{round_number}",
                vault=vault,
                round_number=round_number,
                config=config,
                progress=update,
                cache_dir=era_cache,
                compute=backend,
            )
    for split, rows in report.rows.items():
        console.print(f"  {split:<10} {rows:>10,} rows in {len(report.eras[split]):>5} eras")
    console.print(f"{report.features} features, targets {', '.join(report.targets)} → {out}")
    line = f"{len(report.computed)} eras computed"
    if not no_cache:
        line += f", {len(report.reused)} reused from the cache"
        if report.copied:
            line += f" ({len(report.copied)} copied as published before)"
        if report.damaged:
            line += f" ({report.damaged} damaged cache files replaced)"
    console.print(line)


@data_app.command("fit-mix")
def fit_mix(
    prices: Annotated[Path, typer.Option(help="Long-format prices (.parquet, .csv, .csv.gz).")],
    out: Annotated[Path, typer.Option(help="Where to write the mix (JSON; keep it private).")],
    validation_eras: Annotated[
        int, typer.Option(min=1, help="Eras of validation data (as for data build).")
    ] = 52,
    target: Annotated[
        list[str], typer.Option(help="One composite per target (repeat for several).")
    ] = ["target"],  # noqa: B006 - typer reads the default, never mutates it
    ridge: Annotated[float, typer.Option(min=0.0, help="Ridge penalty × rows.")] = 10.0,
) -> None:
    """Fit the composite mode's mix on the train eras a round from these prices would have.

    Only train eras are used, so the round's validation scores do not flatter the mode.
    Then: ``crowdalpha data build --mode composite --mix OUT``.
    """
    from crowdalpha.dataset.build import BuildConfig, round_splits
    from crowdalpha.dataset.obfuscate import fit_mix as fit
    from crowdalpha.market import load_prices

    if out.exists():
        raise ConflictError(f"{out} exists; choose another file or remove it first")
    with console.status(f"Reading {prices}…"):
        frame = load_prices(prices)
    train = round_splits(frame, BuildConfig(validation_eras=validation_eras))["train"]
    with console.status(f"Fitting the mix on {len(train)} train eras…"):
        mix = fit(frame, train, target_names=target, ridge=ridge)
    mix.save(out)
    console.print(
        f"Wrote a mix of {len(mix.features)} features into {len(mix.names)} composite(s), "
        f"fitted on {len(train)} train eras, to {out} — keep it private, like the vault."
    )


@data_app.command("audit")
def audit(
    prices: Annotated[Path, typer.Option(help="The public prices the rounds were built from.")],
    public: Annotated[
        list[Path], typer.Option(help="A round's public folder (repeat to compare modes).")
    ],
    operator: Annotated[
        list[Path], typer.Option(help="Its operator folder (round_N), one per --public.")
    ],
    vault: Annotated[
        Path | None,
        typer.Option(help="The vault (default: vault.json in or above the operator folder)."),
    ] = None,
    model: Annotated[
        bool, typer.Option(help="Also train the ridge example model and report its CORR.")
    ] = True,
    mix: Annotated[
        Path | None,
        typer.Option(
            help="Give the attacker the composite mode's mix (the worst case: an upper bound)."
        ),
    ] = None,
    history_eras: Annotated[
        int,
        typer.Option(
            min=0, help="Also attack this many validation eras as if live (tighter rates)."
        ),
    ] = 0,
) -> None:
    """Attack rounds as someone with the public prices would; print re-identification rates."""
    from crowdalpha.cli import tables
    from crowdalpha.dataset.audit import audit_round, example_model_corr
    from crowdalpha.dataset.obfuscate import Mix, Vault
    from crowdalpha.errors import InvalidParameterError
    from crowdalpha.market import load_prices

    if len(public) != len(operator):
        raise InvalidParameterError("give one --operator folder per --public folder")
    keys = []
    for op in operator:
        path = vault
        if path is None:
            found = [p / "vault.json" for p in (op, op.parent) if (p / "vault.json").exists()]
            if not found:
                raise InvalidParameterError(f"no vault.json in or above {op}; pass --vault")
            path = found[0]
        keys.append(Vault.load(path))
    known_mix = Mix.load(mix) if mix is not None else None
    with console.status(f"Reading {prices}…"):
        frame = load_prices(prices)
    columns = [tables.text("round"), *map(tables.number, ("re-id", "chance", "linked", "cols"))]
    if model:
        columns += [tables.number("CORR"), tables.number("share")]
    table = tables.table(
        *columns, title="Privacy audit (attacker: public prices + open-source pipeline)"
    )
    first: float | None = None
    for pub, op, key in zip(public, operator, keys, strict=True):
        with _progress(f"Attacking {pub}") as update:
            report = audit_round(
                frame,
                pub,
                op,
                key,
                known_mix=known_mix,
                history_eras=history_eras,
                progress=update,
            )
        row = [
            str(pub),
            f"{report.reidentification_rate:.1%}",
            f"{report.chance:.2%}",
            f"{report.linkage_rate:.1%}",
            f"{report.columns_matched:.0%}",
        ]
        if model:
            with console.status("Training the example model…"):
                corr = example_model_corr(pub)
            first = corr if first is None else first
            row += [f"{corr:.4f}", f"{corr / first:.0%}" if first else "n/a"]
        table.add_row(*row)
    tables.show(console, table)
    console.print(
        "re-id: live rows tied to their ticker; linked: rows of consecutive eras tied together;"
        " cols: opaque columns tied to their feature; CORR: ridge example model on validation"
        " (share: of the first round's)."
    )

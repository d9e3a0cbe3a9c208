"""``crowdalpha fund``: backtest the fund the meta model would run (operator only).

``crowdalpha fund backtest`` reads a price file and a signal file (each model's predictions
with a ``model`` column and a stake file, or one meta-model signal) — or, with
``--tournament``, the configured tournament's resolved rounds mapped to tickers through the
operator's vault, on the prices its pipeline knows now — or, without either, simulates a
market and a crowd of bots of known skill — and writes ``metrics.json``, ``report.html``
and the frames behind them into ``--out``.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

console = Console()
fund_app = typer.Typer(
    help="The fund: trade the meta model and backtest it honestly (operator only).",
    no_args_is_help=True,
)


def _table_frame(path: Path | None) -> Any:
    if path is None:
        return None
    import pandas as pd

    from crowdalpha.errors import FundInputError

    if not path.is_file():
        raise FundInputError(f"no file at {path}")
    if path.suffix.lower() in (".parquet", ".pq"):
        return pd.read_parquet(path)
    return pd.read_csv(path)


@fund_app.command("backtest")
def backtest(
    prices: Annotated[
        Path | None,
        typer.Option(help="Price file (Parquet/CSV: date, ticker, open, close, volume…)."),
    ] = None,
    tournament: Annotated[
        bool,
        typer.Option(
            "--tournament",
            help="Trade the configured tournament's resolved rounds (CROWDALPHA_* settings; "
            "the prices data source); the report goes to CROWDALPHA_FUND_DIR unless --out.",
        ),
    ] = False,
    signals: Annotated[
        Path | None,
        typer.Option(help="Signal file: signal_date, ticker, score, available_at [, model]."),
    ] = None,
    stakes: Annotated[
        Path | None, typer.Option(help="Stake file: signal_date, model, stake (NMR base units).")
    ] = None,
    delistings: Annotated[
        Path | None, typer.Option(help="Known delisting returns: ticker, delisting_return.")
    ] = None,
    exposures: Annotated[
        Path | None,
        typer.Option(help="Extra exposures (date, ticker, columns) named with --exposure."),
    ] = None,
    exposure: Annotated[
        list[str] | None,
        typer.Option(help="An extra exposure column to neutralize (repeatable)."),
    ] = None,
    stocks: Annotated[int, typer.Option(min=100, help="Simulated market: stocks.")] = 1000,
    weeks: Annotated[int, typer.Option(min=60, help="Simulated market: weeks of trading.")] = 156,
    seed: Annotated[int, typer.Option(help="Seed of the simulated market and the bots.")] = 0,
    method: Annotated[str, typer.Option(help="closed_form or optimizer.")] = "closed_form",
    aum: Annotated[float, typer.Option(help="Fund size in dollars.")] = 100e6,
    gross: Annotated[float, typer.Option(help="Gross exposure, multiple of capital.")] = 1.0,
    max_weight: Annotated[float, typer.Option(help="Largest weight of one name.")] = 0.01,
    max_adv: Annotated[
        float, typer.Option(help="Largest position as a fraction of its daily dollar volume.")
    ] = 0.05,
    lag: Annotated[
        int, typer.Option(min=1, help="Fill at the lag-th open after availability.")
    ] = 1,
    smoothing: Annotated[
        float, typer.Option(help="Fraction traded toward each target (1: all the way).")
    ] = 1.0,
    half_spread_bps: Annotated[float, typer.Option(help="Half-spread, bp.")] = 5.0,
    commission_bps: Annotated[float, typer.Option(help="Commission, bp.")] = 0.5,
    impact: Annotated[float, typer.Option(help="Square-root impact coefficient Y.")] = 0.7,
    borrow_bps: Annotated[float, typer.Option(help="Borrow on shorts, bp a year.")] = 50.0,
    placebos: Annotated[int, typer.Option(min=0, help="Placebo seeds.")] = 20,
    oracle: Annotated[bool, typer.Option("--oracle/--no-oracle")] = True,
    momentum: Annotated[bool, typer.Option("--momentum/--no-momentum")] = True,
    contributions: Annotated[bool, typer.Option("--contributions/--no-contributions")] = True,
    trades: Annotated[
        bool, typer.Option("--trades/--no-trades", help="Write trades.parquet.")
    ] = False,
    save_inputs: Annotated[
        Path | None,
        typer.Option(help="Simulated market: also write its prices, signals and stakes here."),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(help="Folder for the report and metrics.json (default: fund-report)."),
    ] = None,
) -> None:
    """Backtest the fund and its comparisons; write the report."""
    from crowdalpha.errors import FundInputError
    from crowdalpha.fund import (
        DEFAULT_EXPOSURES,
        BacktestOptions,
        CostModel,
        FundConfig,
        run_backtest,
        write_report,
    )

    started = time.perf_counter()
    config = FundConfig(
        method=method,  # type: ignore[arg-type]  # checked by FundConfig
        aum=aum,
        gross=gross,
        max_weight=max_weight,
        max_adv_fraction=max_adv,
        lag=lag,
        smoothing=smoothing,
        exposures=(*DEFAULT_EXPOSURES, *(exposure or [])),
        costs=CostModel(
            half_spread_bps=half_spread_bps,
            commission_bps=commission_bps,
            impact=impact,
            borrow_bps=borrow_bps,
        ),
    )
    options = BacktestOptions(
        placebo_seeds=placebos,
        oracle=oracle,
        momentum=momentum,
        contributions=contributions,
        keep_trades=trades,
        seed=seed,
    )
    if tournament:
        if prices is not None or signals is not None or stakes is not None:
            raise FundInputError("--tournament reads its own prices, signals and stakes")
        _backtest_tournament(config, options, out, started)
        return
    out = out or Path("fund-report")
    truth = None
    stake_frame: Any = None
    if prices is None:
        if signals is not None:
            raise FundInputError("--signals needs --prices (or neither, to simulate both)")
        from crowdalpha.fund import DEFAULT_BOTS, bot_predictions
        from crowdalpha.market import MarketConfig, simulate_market

        with console.status(f"simulating a market of {stocks:,} stocks over {weeks} weeks…"):
            market = simulate_market(
                MarketConfig(n_stocks=stocks, n_days=5 * weeks + 260, seed=seed)
            )
            price_frame = market.prices
            signal_frame, stake_frame = bot_predictions(market, seed=seed)
            truth = {b.name: b.skill for b in DEFAULT_BOTS}
        if save_inputs is not None:
            save_inputs.mkdir(parents=True, exist_ok=True)
            price_frame.to_parquet(save_inputs / "prices.parquet", index=False)
            signal_frame.to_parquet(save_inputs / "signals.parquet", index=False)
            stake_frame.assign(stake=stake_frame["stake"].astype(str)).to_csv(
                save_inputs / "stakes.csv", index=False
            )
    else:
        from crowdalpha.market import load_prices

        if signals is None:
            raise FundInputError("--prices needs --signals: the scores the fund trades")
        price_frame = load_prices(prices)
        from crowdalpha.fund import load_signals, load_stakes

        signal_frame = load_signals(signals)
        stake_frame = None if stakes is None else load_stakes(stakes)
    with console.status("backtesting…") as status:
        result = run_backtest(
            price_frame,
            signal_frame,
            stakes=stake_frame,
            config=config,
            options=options,
            delistings=_table_frame(delistings),
            exposures=_table_frame(exposures),
            truth=truth,
            progress=lambda text: status.update(f"backtesting: {text}…"),
        )
        status.update("writing the report…")
        paths = write_report(result, out)
    _print_summary(result.metrics)
    console.print(
        f"report: [bold]{paths['report']}[/] · metrics: {paths['metrics']} "
        f"({time.perf_counter() - started:.1f} s)"
    )


def _backtest_tournament(config: Any, options: Any, out: Path | None, started: float) -> None:
    import json

    from crowdalpha.fund.tournament import run_tournament_fund
    from crowdalpha.runtime import open_tournament
    from crowdalpha.settings import Settings

    settings = Settings()
    folder = out or settings.resolved_fund_dir
    with open_tournament(settings) as t, console.status("backtesting…") as status:
        paths = run_tournament_fund(
            t,
            folder,
            config=config,
            options=options,
            progress=lambda text: status.update(f"backtesting: {text}…"),
        )
    metrics = json.loads(paths["metrics"].read_text(encoding="utf-8"))
    _print_summary(metrics)
    info = metrics["tournament"]
    console.print(
        f"rounds {info['rounds'][0]}–{info['rounds'][-1]} ({len(info['rounds'])}), "
        f"{info['models']} models, prices through {info['prices_through']}; the fund's meta "
        f"model ranks as the stored one (Spearman ≥ {info['meta_model_agreement']:.6f})"
    )
    console.print(
        f"report: [bold]{paths['report']}[/] · metrics: {paths['metrics']} "
        f"({time.perf_counter() - started:.1f} s)"
    )


def _num(value: Any, spec: str) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    return format(value, spec)


def _print_summary(metrics: dict[str, Any]) -> None:
    fund = metrics["fund"]
    net = fund["net_daily"]
    console.print(
        f"fund: net Sharpe {_num(net['sharpe'], '.2f')} "
        f"[{_num(net['sharpe_low'], '.2f')}, {_num(net['sharpe_high'], '.2f')}], "
        f"net {_num(100 * net['annual_return'], '.2f')} %/yr, "
        f"max drawdown {_num(100 * net['max_drawdown'], '.1f')} %, "
        f"turnover {_num(fund['turnover_per_year'], '.1f')}/yr, "
        f"costs {_num(fund['cost_bps_per_year'], '.0f')} bp/yr, "
        f"IC {_num(fund['ic']['mean'], '.4f')}"
    )
    table = Table(title="comparisons (daily, 252 a year)")
    for col in ("strategy", "net Sh.", "Δ vs fund [95 %]", "gross Sh.", "t wk"):
        table.add_column(col, justify="left" if col == "strategy" else "right")
    for name, s in metrics["comparisons"].items():
        if s["kind"] == "placebo" and not name.endswith("_0"):
            continue
        diff = s.get("net_sharpe_vs_meta")
        d = (
            f"{_num(diff['difference'], '+.2f')} [{_num(diff['low'], '+.2f')}, "
            f"{_num(diff['high'], '+.2f')}]"
            if diff
            else ""
        )
        label = name if s["investable"] else f"{name} (not investable)"
        table.add_row(
            label,
            _num(s["net_sharpe"], ".2f"),
            d,
            _num(s["gross_sharpe"], ".2f"),
            _num(s["gross_weekly_t_stat"], ".1f"),
        )
    console.print(table)
    placebo = metrics["placebo"]
    if placebo["seeds"]:
        console.print(
            f"placebos: {placebo['significant']} of {placebo['seeds']} with |t| ≥ 2 "
            "(only placebo_0 shown)"
        )
    for warning in metrics["warnings"]:
        console.print(f"[yellow]warning[/] {warning}")

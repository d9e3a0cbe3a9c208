"""The fund's signals read from a real tournament (the demo's, built by its own operations),
mapped back to tickers through the operator's vault."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from crowdalpha.demo import DemoConfig, DemoTournament, set_up_demo
from crowdalpha.errors import FundInputError
from crowdalpha.fund import BacktestOptions, FundConfig
from crowdalpha.fund.signals import meta_signal, validate_signals, validate_stakes
from crowdalpha.fund.tournament import (
    available_at,
    backtest_tournament,
    read_tournament_signals,
)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoTournament:
    home: Path = tmp_path_factory.mktemp("fund-demo") / "demo"
    return set_up_demo(home, DemoConfig(stocks=120, days=520, rounds=7))


def test_every_resolved_rounds_inputs_are_read_by_ticker(demo: DemoTournament) -> None:
    t, source = demo.tournament, demo.source
    read = read_tournament_signals(t, source)
    resolved = [r.number for r in t.rounds(states=["resolved"])]
    assert read.rounds == tuple(resolved) and len(resolved) >= 2
    validate_signals(read.signals)  # the fund's own checks accept them
    validate_stakes(read.stakes)
    names = {m.id: m.name for m in t.models()}
    for number in resolved:
        live = source.live_date(number)
        assert live is not None
        info = t.round(number)
        preds, at_risk = t.round_predictions(number)
        day = read.signals[read.signals["signal_date"] == live]
        # every model's every prediction, at the ticker the vault maps its id to
        tickers = source.live_tickers(number)
        want = (
            preds.set_axis(tickers.reindex(preds.index.astype(str)).to_numpy(), axis=0)
            .rename(columns=names)
            .reset_index(names="ticker")
            .melt(id_vars="ticker", var_name="model", value_name="score")
            .dropna()
        )
        got = day[["ticker", "model", "score"]]
        merged = want.merge(got, on=["ticker", "model"], how="outer", indicator=True)
        assert (merged["_merge"] == "both").all()
        assert np.array_equal(merged["score_x"].to_numpy(), merged["score_y"].to_numpy())
        # stakes at risk, exact integers, by model name
        st = read.stakes[read.stakes["signal_date"] == live].set_index("model")["stake"]
        assert {k: int(v) for k, v in st.items()} == {
            names[int(m)]: int(v) for m, v in at_risk.items()
        }
        assert sum(int(v) for v in st) == info.total_at_risk
        # available once submissions close: after the live date's close, a window later
        at = available_at(info, live)
        assert (day["available_at"] == at).all()
        assert at >= live.normalize() + pd.Timedelta(days=1) + (info.closes_at - info.opens_at)


def test_the_fund_trades_what_the_tournament_built(demo: DemoTournament) -> None:
    """The stake-weighted meta model the fund builds from the read predictions ranks every
    ticker as the meta model stored at resolution does — and, through the vault, it follows
    the market's hidden alpha (which a wrong id → ticker map would not)."""
    t, source, market = demo.tournament, demo.source, demo.market
    read = read_tournament_signals(t, source)
    ours = meta_signal(read.signals, read.stakes)
    for date, stored in read.meta.groupby("signal_date"):
        mine = ours[ours["signal_date"] == date].set_index("ticker")["score"]
        theirs = stored.set_index("ticker")["score"]
        assert set(mine.index) == set(theirs.index)
        rho = mine.rank().corr(theirs.reindex(mine.index).rank())
        assert rho > 1 - 1e-9
        alpha = market.alpha[market.alpha["date"] <= date]
        latest = alpha.sort_values("date").groupby("ticker")["alpha"].last()
        skill = theirs.corr(latest.reindex(theirs.index), method="spearman")
        assert skill > 0.2, (date, skill)


def test_rounds_not_resolved_and_foreign_maps_are_refused(demo: DemoTournament) -> None:
    t, source = demo.tournament, demo.source
    current = t.current_round()
    assert current is not None
    with pytest.raises(FundInputError, match="not resolved"):
        read_tournament_signals(t, source, rounds=[current.number])

    class OtherVault:
        def live_date(self, number: int) -> pd.Timestamp | None:
            return source.live_date(number)

        def live_tickers(self, number: int) -> pd.Series:
            tickers = source.live_tickers(number)
            return tickers.set_axis([f"x{i}" for i in range(len(tickers))])

    with pytest.raises(FundInputError, match="not in the vault's map"):
        read_tournament_signals(t, OtherVault())


def test_the_demo_tournament_backtests_on_the_prices_known_now(demo: DemoTournament) -> None:
    t, source = demo.tournament, demo.source
    prices = source.known_prices(t.clock.now())
    read, result = backtest_tournament(
        t,
        source,
        prices,
        config=FundConfig(aum=10e6),
        options=BacktestOptions(placebo_seeds=2, contributions=True),
    )
    assert prices["date"].max() < source.market.prices["date"].max()  # never a later price
    assert set(result.contributions["model"]) <= set(read.signals["model"])
    assert result.contributions["mpc"].notna().any()
    assert np.isfinite(result.metrics["fund"]["net_daily"]["sharpe"])


def test_the_demo_trades_its_rounds_and_keeps_the_report(demo: DemoTournament) -> None:
    """After its rounds the demo's fund has traded them: the report the operator's pages
    link, with the rounds read and the meta model exactly as the tournament stored it."""
    import json

    folder = demo.settings.resolved_fund_dir
    assert (folder / "report.html").is_file() and (folder / "book.csv").is_file()
    metrics = json.loads((folder / "metrics.json").read_text(encoding="utf-8"))
    info = metrics["tournament"]
    resolved = [r.number for r in demo.tournament.rounds(states=["resolved"])]
    assert info["rounds"] == resolved
    assert info["meta_model_agreement"] > 1 - 1e-9
    assert demo.operator_key is not None
    principal = demo.tournament.authenticate(*demo.operator_key)
    assert "admin" in principal.key.scopes


def test_the_cli_backtests_the_configured_tournament(
    demo: DemoTournament, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``crowdalpha fund backtest --tournament`` on the settings' tournament (the demo's
    database, files and simulated market — fixed in its home's ``pipeline/market.json`` —
    as an operator would configure them)."""
    import json

    from typer.testing import CliRunner

    from crowdalpha.cli import app

    for name, value in {
        "HOME": str(demo.home),
        "DATA_SOURCE": "simulated",
        "FUND_DIR": str(tmp_path / "fund"),
    }.items():
        monkeypatch.setenv(f"CROWDALPHA_{name}", value)
    args = ["fund", "backtest", "--tournament", "--placebos", "1", "--aum", "1e7"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "fund" / "metrics.json").read_text(encoding="utf-8"))
    resolved = [r.number for r in demo.tournament.rounds(states=["resolved"])]
    assert metrics["tournament"]["rounds"] == resolved
    assert "the fund's meta model ranks as the stored one" in " ".join(result.output.split())
    (tmp_path / "prices.parquet").write_bytes(b"")  # refused before it is read
    refused = CliRunner().invoke(app, [*args, "--prices", str(tmp_path / "prices.parquet")])
    assert isinstance(refused.exception, FundInputError)
    assert "--tournament reads its own" in str(refused.exception)

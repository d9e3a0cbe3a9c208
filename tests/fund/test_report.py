"""Stage 5: metrics.json and the self-contained HTML report; the ``crowdalpha fund`` CLI."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from crowdalpha.cli import app
from crowdalpha.errors import FundInputError
from crowdalpha.fund import FundResult, write_report
from crowdalpha.market import SimulatedMarket


@pytest.fixture(scope="module")
def written(result: FundResult, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return write_report(result, tmp_path_factory.mktemp("report"))


def test_the_report_is_self_contained_and_small(written: dict[str, Path]) -> None:
    page = written["report"].read_text(encoding="utf-8")
    assert written["report"].stat().st_size <= 2 * 1024 * 1024
    assert "<script" not in page and "@import" not in page
    assert not re.search(r"url\((?!#)", page)  # only references inside the page (clip paths)
    # No attribute points anywhere: no network calls (SVG namespaces are names, not fetches).
    assert not re.search(r'(src|href)\s*=\s*["\']?(https?:)?//', page)
    assert page.count("<svg") >= 7
    assert "252" in page and "52" in page  # periods per year are stated
    assert "not investable" in page


def test_the_pages_numbers_are_the_metrics_files(written: dict[str, Path]) -> None:
    metrics = json.loads(written["metrics"].read_text(encoding="utf-8"))
    page = written["report"].read_text(encoding="utf-8")
    cells = re.findall(r'<td data-metric="([^"]+)">([^<]*)</td>', page)
    assert len(cells) >= 20
    for path, shown in cells:
        value = metrics
        for key in path.split("."):
            value = value[key]
        if shown in ("—", ""):
            assert value is None
            continue
        number = float(shown.replace("%", "").replace(",", "").strip())
        if shown.endswith("%"):
            number /= 100
        # Shown rounded to the format's digits: equal to within the last digit printed.
        digits = shown.replace("%", "").strip().split("e")[0]
        decimals = len(digits.split(".")[1]) if "." in digits else 0
        scale = 100 if shown.endswith("%") else 1
        tolerance = 0.5 * 10**-decimals / scale * (1 + 1e-9)
        if "e" in shown:
            tolerance = abs(number) * 0.05
        assert abs(number - value) <= tolerance, (path, shown, value)


def test_metrics_json_holds_every_section(written: dict[str, Path], result: FundResult) -> None:
    metrics = json.loads(written["metrics"].read_text(encoding="utf-8"))
    assert metrics == json.loads(json.dumps(result.metrics))
    fund = metrics["fund"]
    for key in (
        "net_daily",
        "gross_daily",
        "net_weekly",
        "long_leg",
        "short_leg",
        "turnover_per_year",
        "cost_bps_per_year",
        "break_even_cost_bps",
        "ic",
        "ic_decay",
        "decile_spread",
        "capacity",
        "cost_sensitivity",
        "rebalances",
        "realized_exposure_mean_abs",
    ):
        assert key in fund, key
    assert fund["net_daily"]["periods_per_year"] == 252
    assert fund["net_weekly"]["periods_per_year"] == 52
    assert set(metrics["comparisons"]) >= {
        "meta",
        "equal_weight",
        "best_point_in_time",
        "best_hindsight",
        "momentum",
        "oracle",
    }
    assert metrics["comparisons"]["best_hindsight"]["investable"] is False
    diff = metrics["comparisons"]["equal_weight"]["net_sharpe_vs_meta"]
    assert diff["low"] <= diff["difference"] <= diff["high"]
    # Costs bite: the same book costs more at twice the cost and nothing at none.
    sens = {c["cost_multiplier"]: c["net_sharpe"] for c in fund["cost_sensitivity"]}
    assert sens[0.0] > sens[1.0] > sens[2.0]
    # A hundred times the fund is capped by liquidity: it holds less.
    small, large = fund["capacity"]
    assert large["mean_gross_exposure"] < small["mean_gross_exposure"]
    frames = pd.read_csv(written["rebalances"])
    assert {"solver", "status", "gross", "max_abs_exposure", "turnover"} <= set(frames.columns)


def test_cli_backtests_files_and_refuses_half_inputs(
    market: SimulatedMarket, bots: tuple[pd.DataFrame, pd.DataFrame], tmp_path: Path
) -> None:
    preds, stakes = bots
    keep = preds["model"].isin(["good_a", "noise_a"])
    market.prices.to_parquet(tmp_path / "prices.parquet", index=False)
    preds[keep].to_parquet(tmp_path / "signals.parquet", index=False)
    stakes[stakes["model"].isin(["good_a", "noise_a"])].to_csv(tmp_path / "stakes.csv", index=False)
    out = tmp_path / "out"
    runner = CliRunner()
    done = runner.invoke(
        app,
        [
            "fund",
            "backtest",
            "--prices",
            str(tmp_path / "prices.parquet"),
            "--signals",
            str(tmp_path / "signals.parquet"),
            "--stakes",
            str(tmp_path / "stakes.csv"),
            "--aum",
            "5e6",
            "--placebos",
            "1",
            "--no-momentum",
            "--out",
            str(out),
        ],
    )
    assert done.exit_code == 0, done.output
    assert "net Sharpe" in done.output and "oracle" in done.output
    assert (out / "report.html").is_file() and (out / "metrics.json").is_file()
    half = runner.invoke(app, ["fund", "backtest", "--prices", str(tmp_path / "prices.parquet")])
    assert isinstance(half.exception, FundInputError)


def test_the_book_is_the_last_rebalances_targets(
    written: dict[str, Path], result: FundResult
) -> None:
    book = pd.read_csv(written["book"])
    last = result.fund.targets[-1]
    panel = result.constructor.panel
    assert (pd.to_datetime(book["fill_date"]) == panel.sessions[last.fill]).all()
    want = pd.Series(last.weights, index=panel.tickers[last.names].astype(str))
    want = want[want != 0]
    got = book.set_index(book["ticker"].astype(str))["weight"]
    assert set(got.index) == set(want.index)
    assert (got - want.reindex(got.index)).abs().max() < 1e-12
    assert abs(got.sum()) < 1e-6 and got.abs().is_monotonic_decreasing  # neutral, sorted

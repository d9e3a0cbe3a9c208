"""The simulator runs Signals beside Classic: a short tournament on a small simulated market,
its Signals record checked against the ledger and the report built from it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from crowdalpha.cli import app
from crowdalpha.errors import InvalidParameterError
from crowdalpha.ledger import NMR
from crowdalpha.simulation import RunSpec, TournamentRun, analyze, collect, render_html
from crowdalpha.simulation.runner import run_tournament

SIGNALS_ROSTER = (("momentum", 1), ("reversal", 1), ("skilled", 2))


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TournamentRun]:
    spec = RunSpec(
        "numerai",
        rounds=2,
        roster=(("good", 1), ("random", 1)),
        seed=2,
        source="simulated",
        stocks=150,
        signals=SIGNALS_ROSTER,
    )
    result = run_tournament(spec, tmp_path_factory.mktemp("signals-sim"))
    yield result
    result.tournament.close()


@pytest.fixture(scope="module")
def record(run: TournamentRun) -> dict[str, Any]:
    # as report.json holds it
    out: dict[str, Any] = json.loads(json.dumps(collect(run), allow_nan=False))
    return out


def test_both_competitions_resolve_and_the_ledger_balances(
    run: TournamentRun, record: dict[str, Any]
) -> None:
    assert [r["round"] for r in record["resolutions"]] == [1, 2]
    signals = record["signals"]
    assert [r["round"] for r in signals["resolutions"]] == [1, 2]
    # every Signals bot scored in both rounds, under its own model
    assert {(s["round"], s["model_id"]) for s in signals["scores"]} == {
        (r, b.model_id) for r in (1, 2) for b in run.signals_bots
    }
    assert all(s["corr"] is not None for s in signals["scores"])
    assert run.tournament.check_ledger().ok


def test_signals_payouts_are_the_bots_ledger_changes(
    run: TournamentRun, record: dict[str, Any]
) -> None:
    s = run.tournament.using("signals")
    answer = analyze([record], selection_rounds=1)["signals"]["numerai"]
    by_name = {b["name"]: b for b in answer["bots"]}
    for bot in run.signals_bots:
        info = s.stake_info(bot.model_id)
        holdings = s.wallet_balance(bot.account_id) + info.stake + info.pending
        assert holdings - 2 * bot.stake == int(by_name[bot.name]["gained"])
    skilled = answer["by_kind"]["skilled"]
    assert skilled["bots"] == 2 and skilled["rounds_scored"] == 4
    # round 1 has no earlier submission: the gate zeroes every stake
    first = [p for p in record["signals"]["payouts"] if p["round"] == 1]
    assert all(int(p["stake_at_risk"]) == 0 for p in first)
    resolved = record["signals"]["resolutions"]
    assert answer["paid_nmr"] == pytest.approx(sum(int(r["paid"]) for r in resolved) / NMR)


def test_report_shows_both_competitions(record: dict[str, Any]) -> None:
    answers = analyze([record], selection_rounds=1)
    page = render_html({"answers": answers, "config": {**_config(), "signals": None}})
    assert "(a) Does skill pay?" in page and "(f) Signals" in page
    for kind in ("momentum", "reversal", "skilled"):
        assert f"<td>{kind}</td>" in page


def _config() -> dict[str, Any]:
    return {"rounds": 2, "bots": 2, "models": 2, "rows": 500, "seed": 2, "policies": ["numerai"]}


def test_signals_need_the_simulated_market(tmp_path: Path) -> None:
    with pytest.raises(InvalidParameterError, match="--source simulated"):
        RunSpec("x", signals=SIGNALS_ROSTER)
    for args in (
        ["--rounds", "1", "--signals"],
        ["--source", "simulated", "--signals-bots", "astrology=1"],
    ):
        result = CliRunner().invoke(app, ["simulate", *args, "--out", str(tmp_path)])
        assert result.exit_code != 0
        assert isinstance(result.exception, InvalidParameterError)
    assert "astrology" in str(result.exception)
    assert not (tmp_path / "report.json").exists()

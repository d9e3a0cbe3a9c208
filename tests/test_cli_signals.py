"""Signals from the command line, over the REST API and the participant client, against a
real server (uvicorn on 127.0.0.1) running Classic and Signals: a Signals model, the
universe, the round's files, a submission keyed by composite_figi, a stake, two rounds
resolved, and the scores, payouts and leaderboard the core itself holds."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from tests.conftest import fresh_engine
from tests.live_server import ServerThread
from tests.server.graphql_support import settings_for, start_clock
from tests.server.signals_support import SignalsData, build_two, signal_frame
from typer.testing import CliRunner

from crowdalpha.cli import app
from crowdalpha.client import Client
from crowdalpha.ledger import nmr
from crowdalpha.server.app import create_app
from crowdalpha.tournament import ManualClock, Tournament

runner = CliRunner()


@pytest.fixture(autouse=True)
def config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "config" / "crowdalpha"
    monkeypatch.setenv("CROWDALPHA_CONFIG_DIR", str(folder))
    for name in ("CROWDALPHA_PUBLIC_ID", "CROWDALPHA_SECRET_KEY", "CROWDALPHA_SERVER_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CROWDALPHA_RETRIES", "0")
    monkeypatch.setenv("COLUMNS", "200")
    return folder


class Running:
    def __init__(self, tmp_path: Path) -> None:
        self.clock: ManualClock = start_clock()
        self.engine = fresh_engine("sqlite", tmp_path)
        self.tournament: Tournament
        self.data: SignalsData
        self.tournament, self.data = build_two(self.engine, tmp_path / "home", self.clock)
        self.tournament.tick()
        self.server = ServerThread()
        self.url = self.server.url
        self.server.start(
            create_app(self.tournament, settings_for(tmp_path / "home", self.url), background=False)
        )

    def advance(self, delta: timedelta) -> None:
        self.clock.advance(delta)
        self.tournament.tick()


@pytest.fixture
def live(tmp_path: Path) -> Iterator[Running]:
    running = Running(tmp_path)
    try:
        yield running
    finally:
        running.server.stop()
        running.engine.dispose()


def cli(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def as_json(*args: str) -> Any:
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_a_signals_round_from_the_command_line(live: Running, tmp_path: Path) -> None:
    t, data = live.tournament, live.data
    s = t.using("signals")
    cli("signup", "--url", live.url, "--username", "alice", "--email", "alice@example.org")
    alice = t.account_by_username("alice")
    t.grant(alice.id, nmr(100))

    # -- models of two competitions ----------------------------------------------------------
    assert "signals model sig created" in cli("models", "create", "sig", "--tournament", "signals")
    assert "classic model cls created" in cli("models", "create", "cls")
    listed = {m["model"]: m["competition"] for m in as_json("models")}
    assert listed == {"sig": "signals", "cls": "classic"}
    assert [m.name for m in s.models(alice.id)] == ["sig"]

    # -- the universe and the round's files ------------------------------------------------
    assert as_json("universe") == data.tickers
    folder = tmp_path / "data"
    out = cli(
        "download", "signals/v2.0/live.parquet", "--tournament", "signals", "--dest", str(folder)
    )
    assert "round 1: 1 file(s) downloaded" in out
    live_file = folder / "signals" / "v2.0" / "live.parquet"
    assert list(pd.read_parquet(live_file)["composite_figi"]) == data.figis

    # -- a submission keyed by composite_figi, a stake -------------------------------------
    frame = signal_frame(data, 1, 0.5, seed=3, column="composite_figi")
    path = tmp_path / "signal.csv"
    frame.to_csv(path, index=False)
    sub = as_json("submit", "sig", str(path))
    assert sub["round"] == 1 and sub["state"] == s.submissions(round_number=1)[0].state
    cli("stake", "sig", "--increase", "20")
    status = as_json("status")
    assert status["current_rounds"]["signals"]["number"] == 1
    assert status["current_rounds"]["signals"]["competition"] == "signals"
    assert "signals round 1 is open" in cli("status")
    live.advance(timedelta(days=7))
    path2 = tmp_path / "signal2.csv"
    frame.to_csv(path2, index=False)  # the same signal: no churn
    assert as_json("submit", "sig", str(path2))["round"] == 2
    live.advance(timedelta(days=35))

    # -- scores, payouts, leaderboard: the core's numbers ----------------------------------
    model = s.model_by_name("sig")
    shown = {row["round"]: row for row in as_json("scores", "sig")}
    for score in s.scores(model_id=model.id):
        assert shown[score.round_number]["values"]["alpha"] == pytest.approx(score.get("alpha"))
        assert shown[score.round_number]["final"] is True
    table = cli("scores", "sig")
    assert "alpha" in table and "churn" in table and "bmc" not in table
    [paid] = s.payouts(model_id=model.id)
    assert [p["round"] for p in as_json("payouts", "sig")] == [paid.round_number] == [2]
    board = as_json("leaderboard", "--tournament", "signals")
    assert [row["model"] for row in board] == ["sig"]
    assert [row["model"] for row in as_json("leaderboard")] == ["cls"]  # Classic's own

    # -- the client and REST directly --------------------------------------------------------
    creds = t.create_api_key(alice.id, scopes=("read",), name="reader")
    with Client(live.url, creds[0].public_id, creds[1]) as client:
        assert [m.name for m in client.models("signals")] == ["sig"]
        rounds = client.rounds("signals")
        assert [r.competition for r in rounds] == ["signals"] * len(rounds)
        assert rounds[0].paid_metrics == ("alpha", "mpc")
        names = {f.name for f in client.datasets(1, "signals")}
        assert "signals/v1.0/live.parquet" in names and "signals/v2.0/live.parquet" in names
        assert client.scores("sig")[-1].get("mpc") == pytest.approx(
            s.scores(model_id=model.id, round_number=2)[0].get("mpc")
        )
        with pytest.raises(Exception, match="no competition 'crypto'"):
            client.rounds("crypto")

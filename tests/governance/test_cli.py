"""``crowdalpha governance`` against a real server: propose, vote, list, show — and
``verify`` on the database, which fails (exit 1) once a tally is tampered with."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import update
from tests.conftest import fresh_engine
from tests.live_server import ServerThread
from tests.server.rest_support import Served, build
from typer.testing import CliRunner

from crowdalpha.cli import app
from crowdalpha.governance.models import Proposal

runner = CliRunner()


@pytest.fixture
def live(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Served, str]]:
    monkeypatch.setenv("CROWDALPHA_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("CROWDALPHA_RETRIES", "0")
    monkeypatch.setenv("COLUMNS", "200")
    server = ServerThread()
    engine = fresh_engine("sqlite", tmp_path)
    served = build(engine, tmp_path, public_url=server.url)
    server.start(served.app)
    try:
        yield served, server.url
    finally:
        server.stop()
        engine.dispose()


def _as(monkeypatch: pytest.MonkeyPatch, url: str, token: str) -> None:
    public, secret = token.split("$")
    monkeypatch.setenv("CROWDALPHA_SERVER_URL", url)
    monkeypatch.setenv("CROWDALPHA_PUBLIC_ID", public)
    monkeypatch.setenv("CROWDALPHA_SECRET_KEY", secret)


def run(*args: str, code: int = 0) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == code, result.output
    return result.output


def test_governance_from_the_command_line(
    live: tuple[Served, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    served, url = live
    alice = served.sign_up("alice", grant="1000")
    bob = served.sign_up("bob", grant="300")
    _as(monkeypatch, url, alice.token)
    out = run(
        "governance", "propose", "Wider clip", "--competition", "classic", "--set", "clip=0.06"
    )
    assert "proposal #1 made" in out and "classic: clip=0.06" in out
    refused = runner.invoke(
        app, ["governance", "propose", "x", "--competition", "classic", "--set", "clip=0.9"]
    )
    assert refused.exit_code == 2 and "invalid_parameter" in refused.output
    assert "hard bounds" in refused.output and "Traceback" not in refused.output
    assert "voted for on #1 with 1,000" in run("governance", "vote", "1", "for")
    _as(monkeypatch, url, bob.token)
    run("governance", "vote", "1", "for")
    run("governance", "vote", "1", "against")
    listed = json.loads(run("governance", "list", "--json"))
    assert listed[0]["votes_for"] == "1000" and listed[0]["votes_against"] == "300"
    shown = run("governance", "show", "1")
    assert "replaced" in shown and "snapshot at ledger entry" in shown
    assert "Wider clip" in run("governance", "list")

    served.clock.advance(timedelta(days=7))
    served.tournament.tick()
    database = str(served.tournament.engine.url)
    ok = run("governance", "verify", "--database-url", database, "--home", str(tmp_path))
    assert "governance OK" in ok and "1 proposals and 3 votes" in ok
    with served.tournament.engine.begin() as connection:
        connection.execute(update(Proposal).values(votes_against=0))
    failed = run(
        "governance", "verify", "--database-url", database, "--home", str(tmp_path), code=1
    )
    assert "tally recorded" in failed

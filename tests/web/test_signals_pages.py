"""The web UI with Classic and Signals: a competition switch in the navigation, Signals'
leaderboard, rounds and round pages (its own scores and payouts, the ones the core holds),
and a Signals model's page in its own competition."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from starlette.testclient import TestClient
from tests.server.graphql_support import add_participant, settings_for, start_clock
from tests.server.signals_support import build_two, signal_frame

from crowdalpha.ledger import format_nmr, nmr
from crowdalpha.server.app import create_app
from crowdalpha.tournament import Tournament


@pytest.fixture
def played(engine: Engine, tmp_path: Path) -> tuple[TestClient, Tournament]:
    """Two Signals models staked over two rounds, both resolved."""
    clock = start_clock()
    t, data = build_two(engine, tmp_path / "home", clock)
    t.tick()
    s = t.using("signals")
    who = add_participant(t, "alice", (), wallet="100")
    models = [s.create_model(who.account_id, name) for name in ("sig_a", "sig_b")]
    for model in models:
        t.increase_stake(model.id, nmr(10))
    for _week in range(2):
        for i, model in enumerate(models):
            frame = signal_frame(data, 1, 0.5 + i, seed=i)
            s.submit(model.id, frame.to_csv(index=False).encode())
        clock.advance(timedelta(days=7))
        t.tick()
    clock.advance(timedelta(days=35))
    t.tick()
    app = create_app(t, settings_for(tmp_path / "home", "http://testserver"), background=False)
    return TestClient(app, base_url="http://testserver"), t


def test_signals_has_its_own_pages_and_a_switch(
    played: tuple[TestClient, Tournament],
) -> None:
    client, t = played
    s = t.using("signals")
    home = client.get("/").text
    assert 'data-competition="classic" aria-current="true"' in home
    assert 'href="/signals" data-competition="signals"' in home

    board = client.get("/signals").text
    assert "<h1>Signals leaderboard</h1>" in board
    assert 'data-competition="signals" aria-current="true"' in board
    assert 'href="/signals/rounds"' in board  # the main navigation follows the switch
    shown = re.findall(r'<tr data-model="([a-z_]+)">', board)
    assert shown == [r.model_name for r in s.leaderboard()] and set(shown) == {"sig_a", "sig_b"}
    assert "sig_a" not in client.get("/").text  # Classic's board has only Classic's models

    rounds = client.get("/signals/rounds").text
    for info in s.rounds():
        assert f'href="/signals/rounds/{info.number}"' in rounds

    page = client.get("/signals/rounds/2").text
    assert "<h1>Signals round 2</h1>" in page
    assert "ALPHA *" in page and "MPC *" in page and "CHURN" in page  # its own metrics
    for score in s.scores(round_number=2):
        name = s.model(score.model_id).name
        row = re.search(rf'<tr data-model="{name}">(.*?)</tr>', page, re.S)
        assert row is not None
        alpha = score.get("alpha")
        assert alpha is not None and f'<td class="num alpha">{alpha:.4f}</td>' in row.group(1)
        [paid] = s.payouts(model_id=score.model_id, round_number=2)
        assert f'value="{format_nmr(paid.amount)}"' in row.group(1)

    model = s.model_by_name("sig_a")
    model_page = client.get(f"/models/{model.id}").text
    assert 'href="/signals/rounds/2"' in model_page and 'class="num alpha"' in model_page


def test_signals_pages_are_404_where_signals_does_not_run(client: TestClient) -> None:
    response = client.get("/signals")
    assert response.status_code == 404 and "does not run Signals" in response.text
    assert 'data-competition="signals"' not in client.get("/").text  # no switch for one

"""A tournament with history for the web UI's tests: three resolved rounds, a closed round
with stakes at risk and a pending release, an open round, two participants and an operator.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
from fastapi import FastAPI
from sqlalchemy import Engine

from crowdalpha.ledger import TREASURY, nmr
from crowdalpha.server import create_app
from crowdalpha.settings import Settings
from crowdalpha.storage import LocalFileStore
from crowdalpha.tournament import ManualClock, SyntheticRoundData, Tournament, TournamentConfig

ROWS = 200
WEEK = timedelta(days=7)


def predictions_csv(ids: list[str], values: np.ndarray) -> bytes:
    return pd.DataFrame({"id": ids, "prediction": values}).to_csv(index=False).encode()


def skilled(data: SyntheticRoundData, number: int, noise: float, seed: int) -> np.ndarray:
    signal = data.skill_signal(number).to_numpy()
    raw = signal + noise * np.random.default_rng(seed).normal(size=len(signal))
    return (pd.Series(raw).rank().to_numpy() - 0.5) / len(raw)


@dataclass
class Site:
    tournament: Tournament
    clock: ManualClock
    data: SyntheticRoundData
    app: FastAPI
    tokens: dict[str, tuple[str, str]]  # who -> (public id, secret)
    accounts: dict[str, int] = field(default_factory=dict)
    models: dict[str, int] = field(default_factory=dict)
    resolved: list[int] = field(default_factory=list)
    closed: int = 0
    open: int = 0


def build_site(engine: Engine, tmp_path: Path, *, public_url: str = "http://testserver") -> Site:
    config = TournamentConfig()
    clock = ManualClock(config.schedule.anchor - timedelta(hours=1))
    data = SyntheticRoundData(seed=5, rows=ROWS)
    t = Tournament(engine, LocalFileStore(tmp_path / "files"), data, config=config, clock=clock)
    t.mint(nmr(100_000), to=TREASURY)
    accounts: dict[str, int] = {}
    tokens: dict[str, tuple[str, str]] = {}
    operator = t.create_account("operator", "ops@example.org", is_operator=True)
    accounts["operator"] = operator.id
    key, secret = t.create_api_key(operator.id, scopes=["admin"], name="ops")
    tokens["operator"] = (key.public_id, secret)
    for who in ("alice", "bob"):
        account = t.create_account(who, f"{who}@example.org")
        accounts[who] = account.id
        key, secret = t.create_api_key(account.id, name=f"{who}'s laptop")
        tokens[who] = (key.public_id, secret)
        t.grant(account.id, nmr(500))
    models = {
        "alice_alpha": t.create_model(accounts["alice"], "alice_alpha").id,
        "alice_beta": t.create_model(accounts["alice"], "alice_beta").id,
        "bob_gamma": t.create_model(accounts["bob"], "bob_gamma").id,
    }
    t.increase_stake(models["alice_alpha"], nmr(100))
    t.increase_stake(models["alice_beta"], nmr("50.5"))
    t.increase_stake(models["bob_gamma"], nmr(80))
    skill = {"alice_alpha": 0.2, "alice_beta": 3.0, "bob_gamma": -0.3}

    def submit_all(number: int, week: int) -> None:
        ids = t.live_ids(number)
        for i, (name, model_id) in enumerate(models.items()):
            noise = abs(skill[name])
            values = skilled(data, number, noise, 10 * week + i)
            if skill[name] < 0:
                values = 1 - values
            t.submit(model_id, predictions_csv(ids, values), filename=f"{name}.csv")

    clock.advance(timedelta(hours=1))
    resolved = []
    for week in range(3):
        t.tick()
        current = t.current_round()
        assert current is not None
        resolved.append(current.number)
        submit_all(current.number, week)
        clock.advance(WEEK)
    clock.set(t.round(resolved[-1]).resolves_at + timedelta(hours=1))
    report = t.tick()
    assert sorted(r.round_number for r in report.resolved) == resolved
    current = t.current_round()
    assert current is not None
    closed = current.number
    submit_all(closed, 9)
    clock.set(t.round(closed).closes_at)
    t.tick()
    assert t.round(closed).state == "closed"
    t.decrease_stake(models["alice_alpha"], nmr(10))  # a pending release: the round is at risk
    clock.set(config.schedule.opens(closed + 1))
    t.tick()
    current = t.current_round()
    assert current is not None
    settings = Settings(
        home=tmp_path / "home",
        tick_interval=0,
        public_url=public_url,
        rate_limit_per_minute=0,
        signing_key="web-test-signing-key",  # type: ignore[arg-type]
    )
    app = create_app(t, settings)
    return Site(
        tournament=t,
        clock=clock,
        data=data,
        app=app,
        tokens=tokens,
        accounts=accounts,
        models=models,
        resolved=resolved,
        closed=closed,
        open=current.number,
    )

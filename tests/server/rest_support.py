"""A served tournament for the REST tests: a synthetic data source, a clock tests move, an
operator with an admin key, and helpers to sign participants up."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fastapi import FastAPI
from sqlalchemy import Engine
from starlette.testclient import TestClient

from crowdalpha.ledger import TREASURY, nmr
from crowdalpha.server import create_app
from crowdalpha.settings import Settings
from crowdalpha.storage import LocalFileStore
from crowdalpha.tournament import ManualClock, SyntheticRoundData, Tournament, TournamentConfig

ROWS = 200
PUBLIC_URL = "http://testserver"


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Token {token}"}


def predictions_csv(ids: list[str], values: np.ndarray | None = None) -> bytes:
    if values is None:
        values = (np.arange(len(ids)) + 0.5) / len(ids)
    return pd.DataFrame({"id": ids, "prediction": values}).to_csv(index=False).encode()


@dataclass
class Participant:
    account_id: int
    username: str
    token: str
    models: dict[str, int] = field(default_factory=dict)

    @property
    def headers(self) -> dict[str, str]:
        return auth(self.token)


@dataclass
class Served:
    tournament: Tournament
    clock: ManualClock
    data: SyntheticRoundData
    settings: Settings
    app: FastAPI
    client: TestClient
    admin_token: str

    @property
    def admin(self) -> dict[str, str]:
        return auth(self.admin_token)

    def sign_up(self, username: str, *, grant: str | None = None) -> Participant:
        response = self.client.post(
            "/v1/accounts", json={"username": username, "email": f"{username}@example.org"}
        )
        assert response.status_code == 201, response.text
        body = response.json()
        who = Participant(body["account"]["id"], username, body["api_key"]["token"])
        if grant is not None:
            self.tournament.grant(who.account_id, nmr(grant))
        return who

    def create_model(self, who: Participant, name: str) -> int:
        response = self.client.post("/v1/models", json={"name": name}, headers=who.headers)
        assert response.status_code == 201, response.text
        model_id = int(response.json()["id"])
        who.models[name] = model_id
        return model_id

    def key(self, who: Participant, *scopes: str) -> str:
        response = self.client.post(
            "/v1/account/keys", json={"scopes": list(scopes)}, headers=who.headers
        )
        assert response.status_code == 201, response.text
        return str(response.json()["token"])

    def open_round(self) -> int:
        """Move the clock to the next round's opening and tick; its number."""
        number = self.tournament.config.schedule.latest_due(self.clock.now()) + 1
        self.clock.set(self.tournament.config.schedule.opens(number))
        report = self.tournament.tick()
        assert number in report.opened
        return number

    def live_csv(self, number: int) -> bytes:
        return predictions_csv(self.tournament.live_ids(number))

    def snapshot(self) -> dict[str, Any]:
        """Everything a refused request must leave unchanged."""
        t = self.tournament
        accounts = sorted({m.account_id for m in t.models()})
        return {
            "models": t.models(),
            "submissions": t.submissions(),
            "stakes": [t.stake_info(m.id) for m in t.models()],
            "wallets": {a: t.wallet_balance(a) for a in accounts},
            "supply": t.supply(),
            "files": sorted(k for k in t.store.keys("submissions/")),
            "rounds": t.rounds(),
        }


def build(
    engine: Engine,
    tmp_path: Path,
    *,
    rate_limit: int = 0,
    max_upload_bytes: int = 1_000_000,
    public_url: str = PUBLIC_URL,
) -> Served:
    config = TournamentConfig()
    clock = ManualClock(config.schedule.anchor - timedelta(hours=1))
    data = SyntheticRoundData(seed=11, rows=ROWS)
    tournament = Tournament(
        engine, LocalFileStore(tmp_path / "files"), data, config=config, clock=clock
    )
    tournament.mint(nmr(1_000_000), to=TREASURY)
    operator = tournament.create_account("operator", "ops@example.org", is_operator=True)
    key, secret = tournament.create_api_key(operator.id, scopes=["admin"], name="ops")
    settings = Settings(
        home=tmp_path / "home",
        tick_interval=0,
        public_url=public_url,
        rate_limit_per_minute=rate_limit,
        max_upload_bytes=max_upload_bytes,
        signing_key="test-signing-key",  # type: ignore[arg-type]
    )
    app = create_app(tournament, settings)
    client = TestClient(app, base_url=PUBLIC_URL)
    return Served(tournament, clock, data, settings, app, client, f"{key.public_id}${secret}")


@pytest.fixture
def served(engine: Engine, tmp_path: Path) -> Iterator[Served]:
    s = build(engine, tmp_path)
    with s.client:
        yield s

"""Helpers for the GraphQL tests: a tournament behind the app, participants with keys, and
prediction files of chosen skill (shared by test_graphql*.py and test_numerapi.py)."""

from __future__ import annotations

import io
import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, ClassVar

import numerapi
import numpy as np
import pandas as pd
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from crowdalpha.compute import InProcess
from crowdalpha.jobs import JobQueue, JobRunner
from crowdalpha.ledger import TREASURY, nmr
from crowdalpha.server.app import create_app
from crowdalpha.settings import Settings
from crowdalpha.storage import LocalFileStore
from crowdalpha.tournament import (
    ManualClock,
    PublishedDataset,
    SyntheticRoundData,
    Tournament,
    TournamentConfig,
)

ROWS = 300
SEED = 11


class ValidatingRoundData(SyntheticRoundData):
    """Synthetic rounds that also publish a small ``validation.parquet`` (three eras, with
    targets) so diagnostics have something to score."""

    validation_eras = 3
    #: The operator's market regime of each validation era (published as era_regimes.parquet).
    regimes: ClassVar[dict[str, str]] = {
        "0001": "up_calm",
        "0002": "down_volatile",
        "0003": "up_calm",
    }

    def validation(self) -> pd.DataFrame:
        frames = []
        for e in range(self.validation_eras):
            number = 10_000 + e  # eras outside the live rounds' numbers
            feats = self.features(number)
            feats.index = pd.Index([f"v{e}{i[1:]}" for i in feats.index], name="id")
            feats.insert(0, "era", f"{e + 1:04d}")
            feats.insert(1, "data_type", "validation")
            feats["target"] = self._target(number, 0.0).to_numpy()
            frames.append(feats)
        return pd.concat(frames)

    def validation_signal(self) -> pd.Series:
        parts = []
        for e in range(self.validation_eras):
            signal = self.skill_signal(10_000 + e)
            signal.index = pd.Index([f"v{e}{i[1:]}" for i in signal.index], name="id")
            parts.append(signal)
        return pd.concat(parts)

    def publish(self, number: int, opens_at: Any) -> PublishedDataset:
        published = super().publish(number, opens_at)
        buffer = io.BytesIO()
        self.validation().to_parquet(buffer)
        files = dict(published.files)
        files["validation.parquet"] = buffer.getvalue()
        buffer = io.BytesIO()
        pd.DataFrame({"era": list(self.regimes), "regime": list(self.regimes.values())}).to_parquet(
            buffer, index=False
        )
        files["era_regimes.parquet"] = buffer.getvalue()
        return PublishedDataset(version=published.version, live_ids=published.live_ids, files=files)


@dataclass
class Participant:
    account_id: int
    username: str
    public_id: str
    secret: str
    models: dict[str, int] = field(default_factory=dict)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Token {self.public_id}${self.secret}"}


def build_tournament(
    engine: Engine, home: Path, clock: ManualClock, data: SyntheticRoundData
) -> Tournament:
    tournament = Tournament(
        engine, LocalFileStore(home / "files"), data, config=TournamentConfig(), clock=clock
    )
    tournament.mint(nmr(1_000_000), to=TREASURY)
    return tournament


def start_clock() -> ManualClock:
    """A clock just after round 1 opens (tick once to open it)."""
    return ManualClock(TournamentConfig().schedule.anchor + timedelta(minutes=1))


def settings_for(home: Path, public_url: str, *, webhook_allow_private: bool = False) -> Settings:
    """``webhook_allow_private``: for tests whose webhook receiver listens on 127.0.0.1.
    Background jobs run in the server process (on the test's tournament, whose data source
    no settings describe), looked for every 50 ms."""
    return Settings(
        home=home,
        tick_interval=0,
        public_url=public_url,
        rate_limit_per_minute=0,
        signing_key="test-signing-key",  # type: ignore[arg-type]
        webhook_allow_private=webhook_allow_private,
        jobs_workers=0,
        jobs_poll_interval=0.05,
    )


def run_jobs(tournament: Tournament) -> int:
    """Run the queued background jobs (diagnostics) in this process, as a server with
    ``jobs_workers=0`` does; how many ran."""
    runner = JobRunner(JobQueue(tournament.engine), InProcess(), context=tournament)
    return runner.run_until_idle()


def await_diagnostics(
    napi: numerapi.NumerAPI, model_id: str, ident: str, *, timeout: float = 120
) -> dict[str, Any]:
    """numerapi's diagnostics flow: poll ``diagnostics`` until its status is final."""
    deadline = time.monotonic() + timeout
    while True:
        report: dict[str, Any] = napi.diagnostics(model_id, ident)
        if report["status"] in ("succeeded", "failed") or time.monotonic() > deadline:
            return report
        time.sleep(0.05)


def add_participant(
    tournament: Tournament,
    username: str,
    models: tuple[str, ...] = (),
    *,
    wallet: str = "100",
    scopes: tuple[str, ...] = ("read", "upload", "stake"),
) -> Participant:
    account = tournament.create_account(username, f"{username}@example.org")
    if nmr(wallet):
        tournament.grant(account.id, nmr(wallet))
    key, secret = tournament.create_api_key(account.id, scopes=scopes, name="test")
    participant = Participant(account.id, username, key.public_id, secret)
    for name in models:
        participant.models[name] = tournament.create_model(account.id, name).id
    return participant


def skilled(signal: pd.Series, noise: float, seed: int) -> np.ndarray:
    """Predictions of chosen skill: the hidden signal plus noise, as ranks in (0, 1)."""
    rng = np.random.default_rng(seed)
    raw = signal.to_numpy() + noise * rng.normal(size=len(signal))
    return (pd.Series(raw).rank().to_numpy() - 0.5) / len(raw)


def predictions_frame(ids: list[str], values: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({"id": ids, "prediction": values})


def predictions_csv(ids: list[str], values: np.ndarray) -> bytes:
    return predictions_frame(ids, values).to_csv(index=False).encode()


class GraphQLHarness:
    """A tournament, the app around it and a TestClient, with a helper to post queries."""

    def __init__(
        self,
        engine: Engine,
        home: Path,
        data: SyntheticRoundData | None = None,
        *,
        open_round: bool = True,
    ) -> None:
        self.clock = start_clock()
        if not open_round:
            self.clock = ManualClock(TournamentConfig().schedule.anchor - timedelta(hours=1))
        self.data = data or ValidatingRoundData(seed=SEED, rows=ROWS)
        self.tournament = build_tournament(engine, home, self.clock, self.data)
        self.tournament.tick()
        self.settings = settings_for(home, "http://testserver")
        self.app: FastAPI = create_app(self.tournament, self.settings, background=False)
        self.client = TestClient(self.app)

    def post(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        who: Participant | None = None,
        headers: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        sent = dict(headers or {})
        if who is not None:
            sent.update(who.headers)
        response = self.client.post(
            "/graphql", json={"query": query, "variables": variables}, headers=sent
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def data_of(self, query: str, variables: dict[str, Any] | None = None, **kw: Any) -> Any:
        body = self.post(query, variables, **kw)
        assert "errors" not in body, body
        return body["data"]

    def error_of(self, query: str, variables: dict[str, Any] | None = None, **kw: Any) -> str:
        body = self.post(query, variables, **kw)
        assert body.get("errors"), body
        message: str = body["errors"][0]["message"]
        return message

    def run_jobs(self) -> int:
        """Run the queued background jobs (the server's runner, synchronously)."""
        return run_jobs(self.tournament)

    def live_ids(self, number: int | None = None) -> list[str]:
        if number is None:
            current = self.tournament.current_round()
            assert current is not None
            number = current.number
        return self.tournament.live_ids(number)

    def advance(self, delta: timedelta) -> None:
        self.clock.advance(delta)
        self.tournament.tick()

"""The operator quickstart on the embedded defaults, end to end (issue 20).

A fresh home folder (and database: PostgreSQL when ``CROWDALPHA_TEST_DATABASE_URL`` is set,
else the default SQLite file) and no data settings: ``db upgrade``, ``admin init``, the
server with its own round clock; then a new participant signs up, is granted NMR, finds
everything a model needs in the open round (train, validation, live, features, example
predictions) with numerapi and the CLI, and the example model trains, validates and submits.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numerapi
import numerapi.base_api
import pandas as pd
import pytest
from sqlalchemy import text
from tests.conftest import POSTGRES_URL
from tests.live_server import ServerThread
from typer.testing import CliRunner

from crowdalpha.cli import app
from crowdalpha.cli.credentials import load_credentials
from crowdalpha.db import create_database_engine

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "example_model.py"
runner = CliRunner()


def invoke(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture
def fresh_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An environment with no data settings at all, a fresh home and a fresh database."""
    for name in list(os.environ):
        if name.startswith("CROWDALPHA_") and name != "CROWDALPHA_TEST_DATABASE_URL":
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no .env file either
    monkeypatch.setenv("CROWDALPHA_HOME", str(tmp_path / "crowdalpha-data"))
    monkeypatch.setenv("CROWDALPHA_CONFIG_DIR", str(tmp_path / "participant-config"))
    if POSTGRES_URL:
        engine = create_database_engine(POSTGRES_URL)
        with engine.begin() as connection:
            connection.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
        engine.dispose()
        monkeypatch.setenv("CROWDALPHA_DATABASE_URL", POSTGRES_URL)
    yield tmp_path


def test_a_fresh_default_tournament_serves_what_a_participant_needs(
    fresh_defaults: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from crowdalpha.runtime import open_tournament
    from crowdalpha.server import create_app
    from crowdalpha.settings import Settings

    # -- the operator quickstart --------------------------------------------------------------
    invoke("db", "upgrade")
    assert "operator account operator created" in invoke("admin", "init", "--mint", "1000000")
    server = ServerThread()
    settings = Settings(public_url=server.url, tick_interval=0.2)
    assert settings.data_source == "simulated"  # the embedded default
    tournament = open_tournament(settings)
    server.start(create_app(tournament, settings), lifespan="on")  # the server's own clock
    try:
        deadline = time.monotonic() + 600  # the first round's dataset is built on 2 cores
        rounds: list[dict[str, object]] = []
        while not rounds and time.monotonic() < deadline:
            rounds = httpx.get(f"{server.url}/v1/rounds", timeout=30).json()
            time.sleep(0.5)
        assert [(r["number"], r["state"]) for r in rounds] == [(1, "open")]

        # -- a new participant ----------------------------------------------------------------
        invoke("signup", "--url", server.url, "--username", "alice", "--email", "a@x.invalid")
        invoke("admin", "grant", "alice", "100")
        invoke("models", "create", "alice_model")
        key = load_credentials()

        monkeypatch.setattr(numerapi.base_api, "API_TOURNAMENT_URL", f"{server.url}/graphql")
        napi = numerapi.NumerAPI(key.public_id, key.secret_key, show_progress_bars=False)
        assert napi.get_current_round() == 1
        assert napi.check_round_open()  # the simulated market runs on the real calendar
        datasets = set(napi.list_datasets())
        for name in (
            "train.parquet",
            "validation.parquet",
            "live.parquet",
            "features.json",
            "validation_example_preds.parquet",
            "live_example_preds.parquet",
        ):
            assert f"v5.0/{name}" in datasets, name

        data = fresh_defaults / "data"
        invoke("download", "--dest", str(data))
        train = pd.read_parquet(data / "train.parquet")
        validation = pd.read_parquet(data / "validation.parquet")
        live = pd.read_parquet(data / "live.parquet")
        features = json.loads((data / "features.json").read_text())["feature_sets"]
        assert train["era"].nunique() >= 50 and validation["era"].nunique() >= 10
        assert train["target"].notna().mean() > 0.9 and len(live) >= 200
        assert set(features["medium"]) <= set(train.columns)
        example = pd.read_parquet(data / "live_example_preds.parquet")
        assert list(example.index) == list(live.index)

        # -- the example model trains, validates and submits -------------------------------
        out = fresh_defaults / "predictions.csv"
        proc = subprocess.run(
            [
                sys.executable,
                str(EXAMPLE),
                "--data",
                str(data),
                "--out",
                str(out),
                "--n-estimators",
                "100",
                "--upload",
                server.url,
                "--model",
                "alice_model",
            ],
            env={
                **os.environ,
                "CROWDALPHA_PUBLIC_ID": key.public_id,
                "CROWDALPHA_SECRET_KEY": key.secret_key,
            },
            capture_output=True,
            text=True,
            check=False,
            timeout=600,
        )
        assert proc.returncode == 0, proc.stderr
        assert "validation CORR: mean" in proc.stdout and "submitted: id" in proc.stdout
        submissions = tournament.submissions()
        assert [(s.round_number, s.state) for s in submissions] == [(1, "validated")]
    finally:
        server.stop()
        tournament.close()

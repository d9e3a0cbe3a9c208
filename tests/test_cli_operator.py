"""Operator commands on a fresh home folder, and `crowdalpha serve` answering for real."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from crowdalpha.cli import app

runner = CliRunner()


def invoke(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_an_operator_sets_up_and_runs_rounds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # generated rows: the commands are under test, not the data (tests/test_default_tournament.py
    # runs the default, simulated source end to end)
    monkeypatch.setenv("CROWDALPHA_DATA_SOURCE", "synthetic")
    home = ["--home", str(tmp_path)]
    out = invoke("admin", "init", "--mint", "5000", *home)
    assert "operator account operator created" in out and "secret" in out
    out = " ".join(invoke("rounds", "list", *home).split())  # the console wraps lines
    assert "no round has opened yet; the first will be round 1" in out
    out = invoke("tick", *home)
    assert "opened: round 1" in out  # numbered from the tournament's start, not the calendar
    assert "nothing to do" in invoke("tick", *home)
    out = " ".join(invoke("rounds", "list", *home).split())
    assert "round 1 opened" in out and "numbered from the tournament's start" in out
    assert "open" in out
    out = invoke("admin", "submissions", *home)
    assert "state" in out
    out = invoke("ledger", "check", "--database-url", f"sqlite:///{tmp_path / 'crowdalpha.db'}")
    assert "ledger OK" in out and "5000" in out
    result = runner.invoke(app, ["admin", "grant", "nobody", "10", *home])
    assert result.exit_code != 0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("workers", [1, 2])
def test_serve_answers_and_stops_cleanly(tmp_path: Path, workers: int) -> None:
    port = _free_port()
    env = {
        **os.environ,
        "CROWDALPHA_HOME": str(tmp_path),
        "CROWDALPHA_DATA_SOURCE": "synthetic",
        "CROWDALPHA_SYNTHETIC_ROWS": "50",
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from crowdalpha.cli import main; main()",
            "serve",
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--tick-interval",
            "0.5",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        # generous deadlines: this is about correctness, and a loaded 2-core machine can
        # take tens of seconds to start two worker processes
        deadline = time.monotonic() + 120
        rounds: list[dict[str, object]] = []
        while time.monotonic() < deadline:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/v1/health", timeout=10)
                rounds = httpx.get(f"http://127.0.0.1:{port}/v1/rounds", timeout=10).json()
                if health.status_code == 200 and rounds:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.3)
        assert rounds and rounds[-1]["state"] == "open"  # the server's own clock opened it
    finally:
        proc.terminate()
        try:
            output, _ = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()  # never leave a server behind, even when it does not stop
            proc.communicate()
            raise
    assert "crowdalpha serving on" in output
    assert "Traceback" not in output


def test_config_shows_the_settings_in_effect_and_never_a_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CROWDALPHA_DATABASE_URL", "postgresql+psycopg://bob:hunter2@db.internal/t")
    monkeypatch.setenv("CROWDALPHA_SIGNING_KEY", "sign-with-this-secret")
    monkeypatch.setenv("CROWDALPHA_RATE_LIMIT_PER_MINUTE", "42")
    monkeypatch.setenv("COLUMNS", "250")
    out = invoke("config", "--home", str(tmp_path))
    # one block per setting: "VARIABLE = value  (set|default)", then its meaning, indented
    shown = {}
    for line in out.splitlines():
        if line.startswith("CROWDALPHA_"):
            variable, _, rest = line.partition(" = ")
            value, _, source = rest.rstrip().rpartition("  ")
            shown[variable] = (value, source)
    assert "hunter2" not in out and "sign-with-this-secret" not in out
    assert shown["CROWDALPHA_DATABASE_URL"] == (
        "postgresql+psycopg://bob:***@db.internal/t",
        "(set)",
    )
    assert shown["CROWDALPHA_SIGNING_KEY"] == ("(hidden)", "(set)")
    assert shown["CROWDALPHA_RATE_LIMIT_PER_MINUTE"] == ("42", "(set)")
    assert shown["CROWDALPHA_PORT"] == ("8000", "(default)")
    assert shown["CROWDALPHA_STORAGE_DIR"] == (str(tmp_path / "files"), "(default)")
    from crowdalpha.settings import Settings

    assert sorted(shown) == sorted(f"CROWDALPHA_{name.upper()}" for name in Settings.model_fields)


def test_the_configuration_docs_list_every_setting() -> None:
    from crowdalpha.settings import Settings

    docs = (Path(__file__).parents[1] / "docs" / "configuration.md").read_text()
    for name, field in Settings.model_fields.items():
        row = next(
            (line for line in docs.splitlines() if f"`CROWDALPHA_{name.upper()}`" in line), ""
        )
        assert field.description and field.description in row, name

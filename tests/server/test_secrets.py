"""Secrets never reach logs, error messages or ``crowdalpha config``: an API secret (right
or wrong), the URL-signing key, the database password. Everything the server logs during
a session of sign-up, keyed calls, refusals and signed URLs is captured (DEBUG, every
logger), in the text and in the JSON format (tracebacks included), and searched for each
secret."""

from __future__ import annotations

import io
import json
import logging

import pytest
from tests.server.rest_support import Served, auth, served
from typer.testing import CliRunner

from crowdalpha.cli import app
from crowdalpha.server.logs import JsonFormatter

__all__ = ["served"]

SIGNING_KEY = "test-signing-key"  # what rest_support.build configures


def test_no_secret_in_logs_or_error_messages(
    served: Served, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    as_json = io.StringIO()  # the same records in the JSON format (serve --log-format json)
    json_handler = logging.StreamHandler(as_json)
    json_handler.setFormatter(JsonFormatter())
    logging.getLogger().addHandler(json_handler)
    try:
        secret, texts = _session(served)
    finally:
        logging.getLogger().removeHandler(json_handler)
    assert len(caplog.records) >= 8  # the session was logged (one line per request at least)
    texts += [record.getMessage() for record in caplog.records]
    texts += [str(record.exc_info) for record in caplog.records if record.exc_info]
    lines = as_json.getvalue().splitlines()
    assert len(lines) >= len(caplog.records)
    assert all(isinstance(json.loads(line), dict) for line in lines)
    texts += lines
    everything = "\n".join(texts)
    assert secret not in everything
    assert SIGNING_KEY not in everything


def _session(s: Served) -> tuple[str, list[str]]:
    """Sign-up, keyed calls, refusals and a bad upload: bob's secret and the responses."""
    texts: list[str] = []
    bob = s.sign_up("bob", grant="50")
    public_id, secret = bob.token.split("$")
    model = s.create_model(bob, "bob_m")
    number = s.open_round()
    for response in (
        s.client.get("/v1/account", headers=bob.headers),
        s.client.post(
            f"/v1/models/{model}/submissions", content=s.live_csv(number), headers=bob.headers
        ),
        s.client.get(f"/v1/rounds/{number}/datasets", headers=bob.headers),
        # refusals: a wrong secret, a malformed header, another scope, a bad body
        s.client.get("/v1/account", headers=auth(f"{public_id}$wrong{secret}")),
        s.client.get("/v1/account", headers={"Authorization": f"Bearer {secret}"}),
        s.client.post("/v1/admin/tick", headers=bob.headers),
        s.client.post(
            f"/v1/models/{model}/submissions", content=b"id,prediction\nx,2\n", headers=bob.headers
        ),
    ):
        texts.append(response.text)
    return secret, texts


def test_config_shows_neither_the_signing_key_nor_the_database_password(
    monkeypatch: pytest.MonkeyPatch, tmp_path: object
) -> None:
    monkeypatch.setenv("CROWDALPHA_SIGNING_KEY", "sk-very-secret-signing")
    monkeypatch.setenv(
        "CROWDALPHA_DATABASE_URL", "postgresql+psycopg://ops:pw-very-secret@db.example/ca"
    )
    monkeypatch.setenv("COLUMNS", "200")
    result = CliRunner().invoke(app, ["config", "--home", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "CROWDALPHA_SIGNING_KEY" in result.output and "db.example" in result.output
    assert "sk-very-secret-signing" not in result.output
    assert "pw-very-secret" not in result.output

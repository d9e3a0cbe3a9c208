"""`crowdalpha admin webhooks`: the operator sees every webhook call and why one failed."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from crowdalpha.cli import app
from crowdalpha.runtime import open_tournament
from crowdalpha.settings import Settings
from crowdalpha.tournament.webhooks import Webhooks

runner = CliRunner()


def test_the_operator_lists_webhook_deliveries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CROWDALPHA_DATA_SOURCE", "synthetic")
    home = ["--home", str(tmp_path)]
    assert runner.invoke(app, ["admin", "init", *home]).exit_code == 0
    assert runner.invoke(app, ["tick", *home]).exit_code == 0
    with open_tournament(Settings(home=tmp_path)) as t:
        account = t.create_account("alice", "alice@example.org")
        model = t.create_model(account.id, "alpha")
        t.webhooks.set(model.id, "http://127.0.0.1:9/hook")
        webhooks = Webhooks(t.uow)
        [queued] = webhooks.enqueue(t.competition, 1)
        webhooks.record(queued.id, error="HTTP 503", max_attempts=1, backoff=timedelta(seconds=30))
    result = runner.invoke(app, ["admin", "webhooks", "--state", "failed", *home])
    assert result.exit_code == 0, result.output
    out = " ".join(result.output.split())
    assert "alpha" in out and "failed" in out and "HTTP 503" in out
    result = runner.invoke(app, ["admin", "webhooks", "--state", "pending", *home])
    assert "alpha" not in result.output

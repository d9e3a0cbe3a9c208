"""`crowdalpha admin duplicates`: the operator sees a closed round's copies across accounts."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from crowdalpha.cli import app
from crowdalpha.ledger import nmr
from crowdalpha.runtime import open_tournament
from crowdalpha.settings import Settings

runner = CliRunner()


def _csv(ids: list[str], values: np.ndarray) -> bytes:
    return pd.DataFrame({"id": ids, "prediction": values}).to_csv(index=False).encode()


def test_the_operator_lists_duplicate_clusters(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CROWDALPHA_DATA_SOURCE", "synthetic")
    monkeypatch.setenv("CROWDALPHA_SYNTHETIC_ROWS", "200")
    monkeypatch.setenv("CROWDALPHA_DUPLICATE_POLICY", "one_stake")
    monkeypatch.setenv("COLUMNS", "160")
    home = ["--home", str(tmp_path)]
    assert runner.invoke(app, ["admin", "init", *home]).exit_code == 0
    assert runner.invoke(app, ["tick", *home]).exit_code == 0
    with open_tournament(Settings(home=tmp_path)) as t:
        current = t.current_round()
        assert current is not None
        ids = t.live_ids(current.number)
        values = np.random.default_rng(1).random(len(ids))
        for who, stake in (("alice", "30"), ("bob", "20")):
            account = t.create_account(who, f"{who}@example.org")
            t.grant(account.id, nmr(100))
            model = t.create_model(account.id, f"{who}_m")
            t.increase_stake(model.id, nmr(stake))
            t.set_limits(account.id, max_stake=nmr(40))
            t.submit(model.id, _csv(ids, values))
        t.tick(now=current.closes_at + timedelta(seconds=1))
        number = current.number
    result = runner.invoke(app, ["admin", "duplicates", "--round", str(number), *home])
    assert result.exit_code == 0, result.output
    out = " ".join(result.output.split())
    assert "alice_m (alice)" in out and "bob_m (bob)" in out and "one_stake" in out
    # 50 NMR held to the accounts' 40 NMR limit: 30 → 24, 20 → 16
    assert "30.00" in out and "24.00" in out and "20.00" in out and "16.00" in out
    assert "1 cluster(s), 1 spread over several accounts" in out
    result = runner.invoke(app, ["admin", "duplicates", "--competition", "nope", *home])
    assert result.exit_code != 0

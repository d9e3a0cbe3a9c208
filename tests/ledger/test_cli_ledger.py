"""`crowdalpha db upgrade` and `crowdalpha ledger check` on a real database file."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from sqlalchemy import update
from typer.testing import CliRunner

from crowdalpha.cli import app
from crowdalpha.db import create_database_engine, head_revision, session_factory, transact
from crowdalpha.ledger import TREASURY, SqlLedger, nmr, wallet
from crowdalpha.ledger.models import LedgerBalance

runner = CliRunner()


def test_upgrade_then_check_then_catch_tampering(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'op.db'}"
    result = runner.invoke(app, ["db", "upgrade", "--database-url", url])
    assert result.exit_code == 0, result.output
    assert f"revision {head_revision()}" in result.output

    engine = create_database_engine(url)
    factory = session_factory(engine)
    transact(factory, lambda s: SqlLedger(s).mint(TREASURY, nmr("1000.5")))
    transact(factory, lambda s: SqlLedger(s).transfer(TREASURY, wallet(1), nmr(10)))
    result = runner.invoke(app, ["ledger", "check", "--database-url", url])
    assert result.exit_code == 0, result.output
    assert "ledger OK" in result.output and "1,000.50" in result.output
    assert "1000500000000000000000" in result.output
    assert "2 entries, 4 postings, 3 accounts" in result.output

    transact(
        factory,
        lambda s: s.execute(
            update(LedgerBalance).where(LedgerBalance.account == wallet(1)).values(balance=1)
        ),
    )
    engine.dispose()
    result = runner.invoke(app, ["ledger", "check", "--database-url", url])
    assert result.exit_code == 1
    assert "wallet:1: stored balance 1" in result.output
    assert "ledger check failed" in result.output


def test_checking_a_missing_database_is_a_clear_error(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.db"
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "from crowdalpha.cli import main; main()",
            "ledger",
            "check",
            "--database-url",
            f"sqlite:///{missing}",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "conflict" in proc.stderr and "crowdalpha db upgrade" in proc.stderr
    assert not missing.exists()

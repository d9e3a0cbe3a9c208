"""Resolve one round with many staked models, end to end, on SQLite and on PostgreSQL.

The workload of issue 4: 10,000 staked models on 5,000 live rows. Set-up (not timed) puts
the accounts, models, NMR and submissions in place in bulk; then the round is closed
(stakes frozen) and resolved by ``Tournament.tick`` — loading every prediction, building the
stake-weighted meta model, scoring CORR, MMC, FNC and BMC with the batch kernels, computing
every payout with the ``numerai`` policy, and posting the payouts, burns and releases to the
ledger, in one transaction. Goal: resolution under 30 s on 2 cores.

    python benchmarks/resolve.py                       # SQLite, and PostgreSQL when it answers
    python benchmarks/resolve.py --models 2000 --rows 1000 --database sqlite
"""

from __future__ import annotations

import argparse
import io
import os
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import Engine, insert, text

from _common import CpuContention, fmt_mib, fmt_seconds, format_table, measure
from crowdalpha.db import create_database_engine, session_factory, transact, upgrade
from crowdalpha.ledger import TREASURY, Posting, SqlLedger, nmr, stake, wallet
from crowdalpha.storage import LocalFileStore
from crowdalpha.tournament import CLASSIC, ManualClock, SyntheticRoundData, Tournament
from crowdalpha.tournament.models import Account, Model, Submission
from crowdalpha.units import display_nmr

POSTGRES_URL = os.environ.get(
    "CROWDALPHA_BENCH_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
MODELS_PER_ACCOUNT = 10


def _engine(kind: str, folder: Path) -> Engine | None:
    if kind == "sqlite":
        engine = create_database_engine(f"sqlite:///{folder / 'bench.db'}")
    else:
        engine = create_database_engine(POSTGRES_URL)
        try:
            with engine.begin() as connection:
                connection.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
                connection.execute(text("CREATE SCHEMA public"))
        except Exception as exc:
            print(f"PostgreSQL at {POSTGRES_URL} is not available ({type(exc).__name__}); skipped")
            return None
    upgrade(engine)
    return engine


def _setup(t: Tournament, data: SyntheticRoundData, models: int, clock: ManualClock) -> list[int]:
    """Accounts, models, wallets, stakes and one submission per model, in bulk."""
    accounts = -(-models // MODELS_PER_ACCOUNT)
    now = clock.now()
    factory = session_factory(t.engine)

    def people(session):  # type: ignore[no-untyped-def]
        session.execute(
            insert(Account),
            [
                {
                    "id": a + 1,
                    "username": f"user{a:05d}",
                    "email": f"u{a}@example.org",
                    "is_operator": False,
                    "created_at": now,
                }
                for a in range(accounts)
            ],
        )
        session.execute(
            insert(Model),
            [
                {
                    "id": m + 1,
                    "account_id": m // MODELS_PER_ACCOUNT + 1,
                    "competition_id": CLASSIC.id,
                    "name": f"model{m:05d}",
                    "created_at": now,
                }
                for m in range(models)
            ],
        )

    transact(factory, people)
    model_ids = list(range(1, models + 1))
    rng = np.random.default_rng(0)
    stakes = {
        m: nmr(int(s)) for m, s in zip(model_ids, rng.integers(1, 500, size=models), strict=True)
    }

    def money(session):  # type: ignore[no-untyped-def]
        ledger = SqlLedger(session)
        total = sum(stakes.values())
        ledger.mint(TREASURY, total)
        grants = [Posting(TREASURY, -total)]
        per_account: dict[int, int] = {}
        for m, s in stakes.items():
            per_account[(m - 1) // MODELS_PER_ACCOUNT + 1] = (
                per_account.get((m - 1) // MODELS_PER_ACCOUNT + 1, 0) + s
            )
        grants += [Posting(wallet(a), v) for a, v in per_account.items()]
        ledger.post(grants, kind="grant")
        legs = [Posting(wallet(a), -v) for a, v in per_account.items()]
        legs += [Posting(stake(m), s) for m, s in stakes.items()]
        ledger.post(legs, kind="stake_increase")

    transact(factory, money)

    clock.advance(timedelta(hours=1))
    t.tick()
    number = 1
    signal = data.skill_signal(number).to_numpy()
    rows = []
    for m in model_ids:
        noise = rng.uniform(0.5, 20.0)
        raw = signal * (1 if m % 7 else -1) + noise * rng.normal(size=len(signal))
        values = (pd.Series(raw).rank().to_numpy() - 0.5) / len(raw)
        key = f"submissions/{number:05d}/{m}/bench"
        buffer = io.BytesIO()
        np.save(buffer, values, allow_pickle=False)
        t.store.put(key + ".npy", buffer.getvalue())
        rows.append(
            {
                "model_id": m,
                "round_id": 1,
                "created_at": clock.now(),
                "filename": "bench.csv",
                "sha256": "0" * 64,
                "storage_key": key,
                "size_bytes": 0,
                "rows": len(values),
                "unknown_ids": 0,
                "state": "validated",
                "late": False,
                "selected": True,
            }
        )

    def submissions(session):  # type: ignore[no-untyped-def]
        round_id = session.scalar(text("SELECT id FROM rounds WHERE number = 1"))
        for row in rows:
            row["round_id"] = round_id
        session.execute(insert(Submission), rows)

    transact(factory, submissions)
    return model_ids


def run(kind: str, models: int, rows: int, features: int) -> list[str] | None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        engine = _engine(kind, folder)
        if engine is None:
            return None
        anchor = datetime(2026, 1, 3, 18, 0, tzinfo=UTC)
        clock = ManualClock(anchor - timedelta(hours=1))
        data = SyntheticRoundData(seed=0, rows=rows, n_features=features, benchmarks=2)
        t = Tournament(engine, LocalFileStore(folder / "files"), data, clock=clock)
        _setup(t, data, models, clock)

        clock.set(t.round(1).closes_at)
        closing = measure(t.tick)
        assert closing.result.closed == [1]
        clock.set(t.round(1).closes_at + timedelta(days=28))
        with CpuContention(f"{kind} resolution"):
            resolving = measure(t.tick)
        report = resolving.result.resolved[0]
        checking = measure(t.check_ledger)
        assert checking.result.ok, checking.result.problems
        scored = len(t.scores(round_number=1))
        query = text("SELECT state FROM rounds WHERE number = 1")
        round_state = transact(session_factory(engine), lambda s: s.scalar(query))
        assert round_state == "resolved" and scored == models, (round_state, scored)
        t.close()
        engine.dispose()
        return [
            kind,
            f"{models:,}",
            f"{rows:,}",
            fmt_seconds(closing.best),
            fmt_seconds(resolving.best),
            fmt_mib(resolving.peak_growth),
            f"{report.staked:,}",
            f"{display_nmr(report.paid)} / {display_nmr(report.burned)}",
            fmt_seconds(checking.best),
        ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=10_000)
    parser.add_argument("--rows", type=int, default=5_000)
    parser.add_argument("--features", type=int, default=50, help="features for FNC")
    parser.add_argument("--database", choices=["sqlite", "postgresql", "both"], default="both")
    args = parser.parse_args()
    kinds = ["sqlite", "postgresql"] if args.database == "both" else [args.database]
    table = []
    for kind in kinds:
        row = run(kind, args.models, args.rows, args.features)
        if row is not None:
            table.append(row)
    print(
        format_table(
            [
                "database",
                "models",
                "rows",
                "close",
                "resolve",
                "peak RSS +",
                "staked",
                "paid / burned NMR",
                "ledger check",
            ],
            table,
        )
    )


if __name__ == "__main__":
    main()

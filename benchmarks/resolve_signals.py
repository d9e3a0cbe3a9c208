"""Resolve one Signals round with many staked models, end to end through the core.

The Signals counterpart of ``resolve.py``: M staked Signals models over N universe tickers.
Set-up (not timed) puts the accounts, models, NMR and one stored submission per model in
place in bulk (each model ranks a random 40-100 % of the universe, NaN elsewhere); the
round's source is synthetic (a universe of N tickers, 200 neutralizer factors, sample
weights, 23 public features, a main target with 1 % unknown). Then ``Tournament.tick``
closes the round and, once the outcome is final, resolves it in one transaction: loading
every stored prediction, cleaning them over the universe (tie-kept ranks, 0.5 filled),
``score_signals_round`` with Signals' metrics (CORR, FNC, MMC against the stake-weighted
meta model, Alpha, MPC), the payouts (0.3 × Alpha + 0.8 × MPC, clip 0.017, payout factor on
36,000 NMR) and their ledger entries. The stake gate is off here (every stake is at risk):
a first round has no history to compare with, and the gate's engine is measured by
``signals.py`` workload 2. Goal: under 30 s on 2 cores, as Classic's.

    python benchmarks/resolve_signals.py                      # 10,000 models x 5,000 tickers
    python benchmarks/resolve_signals.py --models 1000 --tickers 1000   # a short run
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import insert, text

from _common import CpuContention, fmt_mib, fmt_seconds, format_table, measure
from crowdalpha.db import create_database_engine, session_factory, transact, upgrade
from crowdalpha.ledger import TREASURY, Posting, SqlLedger, nmr, stake, wallet
from crowdalpha.storage import LocalFileStore
from crowdalpha.tournament import (
    SIGNALS,
    ManualClock,
    Outcome,
    PublishedDataset,
    SyntheticRoundData,
    Tournament,
    TournamentConfig,
)
from crowdalpha.tournament.models import Account, Model, Submission
from crowdalpha.tournament.signals import plug_signals
from crowdalpha.units import display_nmr

MODELS_PER_ACCOUNT = 10
FACTORS = 200
FEATURES = 23


class SyntheticSignals:
    """A Signals source of one synthetic round: universe, N, v, features and targets."""

    def __init__(self, tickers: int, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.ids = pd.Index([f"T{i:05d} US" for i in range(tickers)], name="numerai_ticker")
        self.weights = pd.Series(rng.uniform(0.5, 1.5, tickers), index=self.ids)
        self.weights /= self.weights.mean()
        self.neutralizers = pd.DataFrame(
            rng.normal(size=(tickers, FACTORS)), index=self.ids
        ).add_prefix("neutralizer_")
        self.features = pd.DataFrame(
            rng.normal(size=(tickers, FEATURES)), index=self.ids
        ).add_prefix("feature_")
        target = rng.choice(
            [0.0, 0.25, 0.5, 0.75, 1.0], p=[0.05, 0.2, 0.5, 0.2, 0.05], size=tickers
        )
        target[rng.random(tickers) < 0.01] = np.nan
        self.target = pd.Series(target, index=self.ids, name="target")

    def publish(self, number: int, opens_at: datetime) -> PublishedDataset:
        universe = pd.DataFrame({"numerai_ticker": self.ids.to_numpy()})
        return PublishedDataset(f"bench-{number}", list(self.ids), {}, universe)

    def outcome(
        self, number: int, live_ids: Sequence[str], *, closes_at: datetime, now: datetime
    ) -> Outcome | None:
        if now < closes_at + timedelta(days=28):
            return None
        return Outcome(
            targets=self.target,
            final=True,
            features=self.features,
            extras={"neutralizers": self.neutralizers, "sample_weights": self.weights},
        )

    def live_neutral_inputs(self, number: int) -> tuple[pd.DataFrame, pd.Series]:
        return self.neutralizers, self.weights


def _setup(t: Tournament, source: SyntheticSignals, models: int, clock: ManualClock) -> None:
    accounts = -(-models // MODELS_PER_ACCOUNT)
    now = clock.now()
    factory = session_factory(t.engine)

    def people(session):  # type: ignore[no-untyped-def]
        session.execute(
            insert(Account),
            [
                {
                    "id": a + 1,
                    "username": f"u{a:05d}",
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
                    "competition_id": SIGNALS.id,
                    "name": f"s{m:05d}",
                    "created_at": now,
                }
                for m in range(models)
            ],
        )

    transact(factory, people)
    rng = np.random.default_rng(1)
    stakes = {m + 1: nmr(int(s)) for m, s in enumerate(rng.integers(1, 500, size=models))}

    def money(session):  # type: ignore[no-untyped-def]
        ledger = SqlLedger(session)
        total = sum(stakes.values())
        ledger.mint(TREASURY, total)
        per_account: dict[int, int] = {}
        for m, s in stakes.items():
            a = (m - 1) // MODELS_PER_ACCOUNT + 1
            per_account[a] = per_account.get(a, 0) + s
        grants = [
            Posting(TREASURY, -total),
            *(Posting(wallet(a), v) for a, v in per_account.items()),
        ]
        ledger.post(grants, kind="grant")
        legs = [Posting(wallet(a), -v) for a, v in per_account.items()]
        ledger.post(
            [*legs, *(Posting(stake(m), s) for m, s in stakes.items())], kind="stake_increase"
        )

    transact(factory, money)
    clock.advance(timedelta(hours=1))
    t.tick()
    n = len(source.ids)
    rows = []
    for m in stakes:
        values = rng.uniform(size=n)
        values[rng.random(n) > rng.uniform(0.4, 1.0)] = np.nan
        key = f"signals/submissions/00001/{m}/bench"
        buffer = io.BytesIO()
        np.save(buffer, values, allow_pickle=False)
        t.store.put(key + ".npy", buffer.getvalue())
        rows.append(
            {
                "model_id": m,
                "round_id": 0,
                "created_at": clock.now(),
                "filename": "b.csv",
                "sha256": "0" * 64,
                "storage_key": key,
                "size_bytes": 0,
                "rows": n,
                "unknown_ids": 0,
                "state": "validated",
                "late": False,
                "selected": True,
            }
        )

    def submissions(session):  # type: ignore[no-untyped-def]
        round_id = session.scalar(
            text("SELECT id FROM rounds WHERE number = 1 AND competition_id = :c"),
            {"c": SIGNALS.id},
        )
        for row in rows:
            row["round_id"] = round_id
        session.execute(insert(Submission), rows)

    transact(factory, submissions)


def run(models: int, tickers: int) -> list[str]:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        engine = create_database_engine(f"sqlite:///{folder / 'bench.db'}")
        upgrade(engine)
        clock = ManualClock(datetime(2026, 1, 3, 17, 0, tzinfo=UTC))
        source = SyntheticSignals(tickers)
        no_gate = dataclasses.replace(
            SIGNALS.round_config, gate_thresholds=(), require_previous=False
        )
        signals = plug_signals(SIGNALS.configured(round_config=no_gate), source)  # type: ignore[arg-type]
        t = Tournament(
            engine,
            LocalFileStore(folder / "files"),
            SyntheticRoundData(rows=10),
            config=TournamentConfig(competitions=(signals,)),
            clock=clock,
        ).using("signals")
        _setup(t, source, models, clock)
        clock.set(t.round(1).closes_at)
        closing = measure(t.tick)
        assert closing.result.closed == [1]
        clock.set(t.round(1).closes_at + timedelta(days=28))
        with CpuContention("signals resolution"):
            resolving = measure(t.tick)
        report = resolving.result.resolved[0]
        checking = measure(t.check_ledger)
        assert checking.result.ok, checking.result.problems
        assert len(t.scores(round_number=1)) == models
        t.close()
        engine.dispose()
        return [
            f"{models:,}",
            f"{tickers:,}",
            fmt_seconds(closing.best),
            fmt_seconds(resolving.best),
            fmt_mib(resolving.peak_growth),
            f"{display_nmr(report.paid)} / {display_nmr(report.burned)}",
            fmt_seconds(checking.best),
        ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=10_000)
    parser.add_argument("--tickers", type=int, default=5_000)
    args = parser.parse_args()
    row = run(args.models, args.tickers)
    headers = [
        "models",
        "tickers",
        "close",
        "resolve",
        "peak RSS +",
        "paid / burned NMR",
        "ledger check",
    ]
    print(format_table(headers, [row]))


if __name__ == "__main__":
    main()

"""Make the "database of the previous release" that the migration test upgrades.

Run ONCE, at commit 52f33ce (the last release before the schema's revision 0002: one
competition, round numbers from the calendar anchor, scores as corr/mmc/fnc/bmc columns):

    .venv/bin/python tests/data/release_0001/make_release_db.py

It plays a small tournament with that release's own code on SQLite — accounts, API keys (one
revoked), models, mints, grants, a deposit and a withdrawal, stakes with a risk limit and an
idempotency key, on-time, late and replaced submissions, three rounds resolved with payouts,
burns, a mint at resolution and pending releases (one released, one still waiting), rounds
in every state — and writes, next to this script:

- ``crowdalpha.db``: the SQLite file (journal mode DELETE, vacuumed);
- ``files/``: the file store (round datasets, live ids, submissions, meta models);
- ``expected.json``: what must still hold after the upgrade (the ledger check's totals, the
  supply, every ledger balance, every round, score, payout, submission, stake and pending
  release, the API keys, and one key's secret to sign in with).

The committed outputs are the record of that release; do not regenerate them with a later
version (a later version would write its own schema).
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from crowdalpha.db import create_database_engine, upgrade
from crowdalpha.ledger import REWARD_POOL, TREASURY, nmr
from crowdalpha.storage import LocalFileStore
from crowdalpha.tournament import ManualClock, SyntheticRoundData, Tournament, TournamentConfig

HERE = Path(__file__).resolve().parent
ROWS = 120
SEED = 11
WEEK = timedelta(days=7)


def _csv(ids: list[str], values: np.ndarray) -> bytes:
    return pd.DataFrame({"id": ids, "prediction": values}).to_csv(index=False).encode()


def _predictions(data: SyntheticRoundData, number: int, noise: float, seed: int) -> np.ndarray:
    signal = data.skill_signal(number).to_numpy()
    raw = signal + noise * np.random.default_rng(seed).normal(size=len(signal))
    return (pd.Series(raw).rank().to_numpy() - 0.5) / len(raw)


def _submit_all(t: Tournament, data: SyntheticRoundData, models: dict[str, int]) -> None:
    current = t.current_round()
    assert current is not None
    number = current.number
    ids = t.live_ids(number)
    plan = {"alice_good": 0.3, "alice_noise": 6.0, "bob_anti": -1.0, "carol_one": 1.0}
    for name, noise in plan.items():
        if name == "carol_one" and number % 2 == 0:
            continue  # carol skips every other round (a stake with no submission)
        values = _predictions(data, number, abs(noise), seed=number * 100 + models[name])
        if noise < 0:
            values = 1.0 - values  # anti-skilled: burns
        t.submit(models[name], _csv(ids, values), key=f"{name}-{number}")


def main() -> None:
    out_db = HERE / "crowdalpha.db"
    out_files = HERE / "files"
    for path in (out_db, HERE / "crowdalpha.db-wal", HERE / "crowdalpha.db-shm"):
        path.unlink(missing_ok=True)
    shutil.rmtree(out_files, ignore_errors=True)

    config = TournamentConfig()
    clock = ManualClock(config.schedule.anchor - timedelta(hours=1))
    data = SyntheticRoundData(seed=SEED, rows=ROWS)
    engine = create_database_engine(f"sqlite:///{out_db}")
    upgrade(engine)
    t = Tournament(engine, LocalFileStore(out_files), data, config=config, clock=clock)

    operator = t.create_account("operator", "operator@example.invalid", is_operator=True)
    t.create_api_key(operator.id, scopes=["admin"], name="operator")
    alice = t.create_account("alice", "alice@example.invalid", wallet_address="0xa11ce")
    bob = t.create_account("bob", "bob@example.invalid")
    carol = t.create_account("carol", "carol@example.invalid")
    alice_key, alice_secret = t.create_api_key(alice.id, name="laptop")
    old_key, _ = t.create_api_key(bob.id, scopes=["read"], name="old")
    t.revoke_api_key(bob.id, old_key.public_id)
    t.create_api_key(bob.id, name="new")

    t.mint(nmr(10_000), to=TREASURY, key="genesis")
    t.mint(nmr(5), to=REWARD_POOL)  # a small pool: resolution mints the rest
    t.fund_reward_pool(nmr(2), key="pool-1")
    t.grant(alice.id, nmr(300), key="grant-alice")
    t.grant(bob.id, nmr(200))
    t.grant(carol.id, nmr(50))
    t.deposit(carol.id, nmr(25))
    t.withdraw(carol.id, nmr(5))
    t.set_limits(bob.id, max_stake=nmr(150), max_stake_share="0.9")

    models = {
        "alice_good": t.create_model(alice.id, "alice_good").id,
        "alice_noise": t.create_model(alice.id, "alice_noise").id,
        "bob_anti": t.create_model(bob.id, "bob_anti").id,
        "carol_one": t.create_model(carol.id, "carol_one").id,
    }
    idle = t.create_model(carol.id, "carol_idle").id  # never stakes; one late file
    t.increase_stake(models["alice_good"], nmr(120), key="stake-ag")
    t.increase_stake(models["alice_noise"], nmr(60))
    t.increase_stake(models["bob_anti"], nmr(140))
    t.set_stake(models["carol_one"], nmr(30))

    # Week 1 .. 8: a round opens each week; rounds 1-3 resolve on the way.
    for week in range(1, 9):
        clock.set(config.schedule.opens(week))
        t.tick()
        _submit_all(t, data, models)
        if week == 1:
            t.submit(  # replaced by a second upload: unselected
                models["alice_good"],
                _csv(t.live_ids(1), _predictions(data, 1, 9.0, seed=1)),
            )
            t.submit(
                models["alice_good"],
                _csv(t.live_ids(1), _predictions(data, 1, 0.2, seed=2)),
            )
        if week == 2:
            # a late file for round 1 (closed): scored, not staked
            late = _csv(t.live_ids(1), _predictions(data, 1, 0.5, seed=3))
            t.submit(idle, late, round_number=1)
            # taken off while round 1 (closed) holds it at risk: released when round 1 resolves
            t.decrease_stake(models["alice_noise"], nmr(20), key="dec-an")
        if week == 6:
            # still at risk in rounds 2-5 (closed): still pending at the end
            t.decrease_stake(models["bob_anti"], nmr(10))
    clock.advance(timedelta(days=1))
    t.tick()

    rounds = t.rounds()
    assert [r.state for r in rounds].count("resolved") == 3, [r.state for r in rounds]
    report = t.check_ledger()
    assert report.ok, report.problems
    supply = t.supply()
    with engine.connect() as connection:
        balances = {
            str(a): str(b)
            for a, b in connection.exec_driver_sql(
                "SELECT account, balance FROM ledger_balances ORDER BY account"
            )
        }
        revision = connection.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
    expected = {
        "made_at_commit": "52f33ce",
        "alembic_revision": revision,
        "clock": clock.now().isoformat(),
        "rows": ROWS,
        "seed": SEED,
        "ledger_check": {
            "entries": report.entries,
            "postings": report.postings,
            "accounts": report.accounts,
        },
        "supply": {
            "minted": str(supply.minted),
            "burned": str(supply.burned),
            "net_deposits": str(supply.net_deposits),
            "circulating": str(supply.circulating),
        },
        "balances": balances,
        "accounts": {a.username: a.id for a in (operator, alice, bob, carol)},
        "models": {m.name: m.id for m in t.models()},
        "sign_in": {"public_id": alice_key.public_id, "secret": alice_secret},
        "api_keys": sorted(
            [
                {
                    "public_id": k.public_id,
                    "account_id": k.account_id,
                    "revoked": bool(k.revoked_at),
                }
                for a in (operator, alice, bob, carol)
                for k in t.api_keys(a.id)
            ],
            key=lambda k: str(k["public_id"]),
        ),
        "rounds": [
            {
                "number": r.number,
                "state": r.state,
                "opens_at": r.opens_at.isoformat(),
                "total_at_risk": None if r.total_at_risk is None else str(r.total_at_risk),
                "payout_factor": r.payout_factor,
                "payout_policy": r.payout_policy,
                "submissions": r.submissions,
                "dataset_version": r.dataset_version,
                "meta_model_key": r.meta_model_key,
            }
            for r in rounds
        ],
        "scores": [
            {
                "round": s.round_number,
                "model_id": s.model_id,
                "corr": s.corr,
                "mmc": s.mmc,
                "fnc": s.fnc,
                "bmc": s.bmc,
                "final": s.final,
            }
            for s in t.scores()
        ],
        "payouts": [
            {
                "round": p.round_number,
                "model_id": p.model_id,
                "stake_at_risk": str(p.stake_at_risk),
                "amount": str(p.amount),
            }
            for p in t.payouts()
        ],
        "stakes_at_risk": {
            str(m): {str(n): str(v) for n, v in sorted(t.stakes_at_risk(m).items())}
            for m in models.values()
        },
        "stakes": {
            str(m): {
                "stake": str(info.stake),
                "pending": str(info.pending),
                "releases": [
                    {
                        "requested": str(r.requested),
                        "remaining": str(r.remaining),
                        "release_round": r.release_round,
                        "released": r.released_at is not None,
                    }
                    for r in info.releases
                ],
            }
            for m in [*models.values(), idle]
            for info in [t.stake_info(m)]
        },
        "submissions": [
            {
                "id": s.id,
                "model_id": s.model_id,
                "round": s.round_number,
                "state": s.state,
                "late": s.late,
                "selected": s.selected,
                "sha256": s.sha256,
            }
            for s in t.submissions()
        ],
        "leaderboard": [
            {"model_id": r.model_id, "reputation": r.reputation, "rounds": r.rounds}
            for r in t.leaderboard()
        ],
    }
    t.close()
    # One self-contained file: fold the WAL in, leave no journal beside it, drop free pages.
    with sqlite3.connect(out_db) as connection:
        connection.execute("PRAGMA journal_mode = DELETE")
    connection.close()
    with sqlite3.connect(out_db) as connection:
        connection.execute("VACUUM")
    connection.close()
    (HERE / "expected.json").write_text(json.dumps(expected, indent=1) + "\n")


if __name__ == "__main__":
    main()

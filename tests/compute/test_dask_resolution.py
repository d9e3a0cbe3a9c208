"""A tournament whose rounds are scored in column blocks on a Dask cluster resolves them
exactly as one that scores them in one frame in-process: the same scores to the last bit,
the same meta model, the same payouts and ledger — also when a worker is killed while it
scores."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from distributed import Client, LocalCluster
from tests.conftest import fresh_engine
from tests.tournament.conftest import predictions_csv, skilled

from crowdalpha.compute import ComputeBackend
from crowdalpha.compute.dask import DaskBackend
from crowdalpha.ledger import BURNED, TREASURY, nmr, stake, wallet
from crowdalpha.storage import LocalFileStore
from crowdalpha.tournament import ManualClock, SyntheticRoundData, Tournament, TournamentConfig

WEEK = timedelta(days=7)
MODELS = 70  # more than one 64-column alignment group
ROWS = 300


@pytest.fixture
def client(dask_cluster: LocalCluster) -> Iterator[Client]:
    with Client(dask_cluster, set_as_default=False) as made:
        made.wait_for_workers(2, timeout=60)
        yield made


def _tournament(root: Path, compute: ComputeBackend | None, rows: int) -> Tournament:
    root.mkdir()
    data = SyntheticRoundData(seed=7, rows=rows)
    clock = ManualClock(TournamentConfig().schedule.anchor - timedelta(hours=1))
    t = Tournament(
        fresh_engine("sqlite", root),
        LocalFileStore(root / "files"),
        data,
        config=TournamentConfig(compute=compute),
        clock=clock,
    )
    t.mint(nmr(100_000), to=TREASURY)
    acct = t.create_account("erin", "erin@example.org")
    t.grant(acct.id, nmr(10_000), key="grant")
    models = [t.create_model(acct.id, f"m{i}").id for i in range(MODELS)]
    clock.advance(timedelta(hours=1))
    t.tick()
    ids = t.live_ids(1)
    for i, m in enumerate(models):
        if i % 3:  # a third unstaked: scored, not in the meta model
            t.increase_stake(m, nmr(1 + i))
        values = skilled(data, 1, noise=0.3 + i / 10, seed=i)
        t.submit(m, predictions_csv(ids, values))
    clock.advance(WEEK)
    t.tick()  # closes round 1
    clock.set(t.round(1).closes_at + timedelta(days=28))
    return t


def _resolved(t: Tournament) -> dict[str, object]:
    assert t.round(1).state == "resolved"
    scores = {
        (s.model_id, metric): s.get(metric)
        for s in t.scores(round_number=1)
        for metric in ("corr", "mmc", "fnc", "bmc", "mpc", "corr_meta", "feature_exposure")
    }
    payouts = sorted((p.model_id, p.amount) for p in t.payouts(round_number=1))
    meta = t.meta_model(1)
    models = sorted({m for m, _ in scores})
    accounts = [TREASURY, BURNED, wallet(1), *(stake(m) for m in models)]
    balances = {a: t.balance(a) for a in accounts}
    return {"scores": scores, "payouts": payouts, "meta": meta, "balances": balances}


def _assert_same(got: dict[str, object], want: dict[str, object]) -> None:
    scores, expected = got["scores"], want["scores"]
    assert isinstance(scores, dict) and isinstance(expected, dict)
    assert scores.keys() == expected.keys() and len(scores) == MODELS * 7
    for key, value in expected.items():
        # bit for bit: the same float, or both missing
        assert (scores[key] is None) == (value is None), key
        if value is not None:
            assert np.float64(scores[key]).tobytes() == np.float64(value).tobytes(), key
    assert got["payouts"] == want["payouts"]
    assert got["balances"] == want["balances"]
    assert got["meta"].equals(want["meta"])  # type: ignore[attr-defined]


def test_resolution_on_the_cluster_gives_the_one_frame_bits(client: Client, tmp_path: Path) -> None:
    single = _tournament(tmp_path / "single", None, ROWS)
    blocks = _tournament(tmp_path / "blocks", DaskBackend(client), ROWS)
    try:
        single.tick()
        blocks.tick()
        want = _resolved(single)
        _assert_same(_resolved(blocks), want)
        payouts = want["payouts"]
        assert isinstance(payouts, list) and any(amount != 0 for _, amount in payouts)
        assert blocks.check_ledger().ok
    finally:
        single.close()
        blocks.close()


def test_a_worker_killed_while_a_round_resolves_costs_only_time(
    client: Client, tmp_path: Path
) -> None:
    rows = 3000  # long enough a score task to be caught running
    single = _tournament(tmp_path / "single", None, rows)
    blocks = _tournament(tmp_path / "blocks", DaskBackend(client), rows)
    try:
        single.tick()
        failure: list[BaseException] = []

        def resolve() -> None:
            try:
                blocks.tick()
            except BaseException as exc:  # reported below
                failure.append(exc)

        running = threading.Thread(target=resolve)
        running.start()
        victim = None
        deadline = time.monotonic() + 120
        while victim is None and time.monotonic() < deadline and running.is_alive():
            for worker, tasks in client.processing().items():
                if any(str(k).startswith(("score-block", "meta-model")) for k in tasks):
                    victim = worker
                    break
            else:
                time.sleep(0.002)
        assert victim is not None, "no scoring task was ever seen running"
        os.kill(client.run(os.getpid, workers=[victim])[victim], signal.SIGKILL)
        running.join(timeout=300)
        assert not running.is_alive() and not failure, failure
        _assert_same(_resolved(blocks), _resolved(single))
    finally:
        single.close()
        blocks.close()

"""A round resolved in column blocks on a Dask cluster (two worker processes) gives
score_round's bits — also when a worker is killed in the middle of a task."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from distributed import Client, LocalCluster
from tests.scoring.test_blocks import assert_identical, make_round, store_columns

from crowdalpha.compute.dask import DaskBackend
from crowdalpha.errors import InvalidParameterError
from crowdalpha.scoring import RoundScores, score_round
from crowdalpha.scoring.blocks import FrameColumns, score_round_blocks
from crowdalpha.storage import LocalFileStore


@pytest.fixture
def client(dask_cluster: LocalCluster) -> Iterator[Client]:
    with Client(dask_cluster, set_as_default=False) as made:
        made.wait_for_workers(2, timeout=60)
        yield made


def test_blocks_on_the_cluster_give_score_rounds_bits(client: Client, tmp_path: Path) -> None:
    preds, targets, stakes, features, bench = make_round(seed=8, rows=400, models=300)
    source = store_columns(LocalFileStore(tmp_path), preds)
    got = score_round_blocks(
        source,
        targets,
        stakes=stakes,
        features=features.sort_index(),
        benchmark_meta_model=bench,
        backend=DaskBackend(client),
        block_columns=128,
    )
    want = score_round(
        preds.sort_index(),
        targets,
        stakes=stakes,
        features=features.sort_index(),
        benchmark_meta_model=bench,
    )
    assert_identical(got, want)
    with pytest.raises(InvalidParameterError, match="cannot be shipped"):
        score_round_blocks(FrameColumns(preds), targets, backend=DaskBackend(client))


def test_a_worker_killed_mid_task_costs_only_time(client: Client, tmp_path: Path) -> None:
    preds, targets, stakes, features, bench = make_round(seed=9, rows=1000, models=384)
    source = store_columns(LocalFileStore(tmp_path), preds)
    outcome: dict[str, RoundScores | BaseException] = {}

    def resolve() -> None:
        try:
            outcome["scores"] = score_round_blocks(
                source,
                targets,
                stakes=stakes,
                features=features.sort_index(),
                benchmark_meta_model=bench,
                backend=DaskBackend(client),
                block_columns=64,
            )
        except BaseException as exc:  # reported below
            outcome["error"] = exc

    running = threading.Thread(target=resolve)
    running.start()
    victim, keys = None, []
    deadline = time.monotonic() + 120
    while victim is None and time.monotonic() < deadline:
        for worker, tasks in client.processing().items():
            scoring = [k for k in tasks if str(k).startswith("score-block")]
            if scoring:
                victim, keys = worker, scoring
                break
        else:
            time.sleep(0.01)
    assert victim is not None, "no scoring task was ever seen running"
    pid = client.run(os.getpid, workers=[victim])[victim]
    os.kill(pid, signal.SIGKILL)
    running.join(timeout=300)
    assert not running.is_alive()
    assert "error" not in outcome, outcome.get("error")
    got = outcome["scores"]
    assert isinstance(got, RoundScores)
    want = score_round(
        preds.sort_index(),
        targets,
        stakes=stakes,
        features=features.sort_index(),
        benchmark_meta_model=bench,
    )
    assert_identical(got, want)
    # the task the dead worker held was run again on a live one
    restarted = [k for k in keys if _times_started(client, k) >= 2]
    assert restarted, f"none of {keys} ran twice"


def _times_started(client: Client, key: object) -> int:
    """How often the scheduler sent ``key`` to a worker (``processing`` transitions)."""
    return sum(
        1
        for entry in client.story(key)
        if entry[0] == "scheduler" and entry[1] == key and entry[3] == "processing"
    )

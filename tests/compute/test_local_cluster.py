"""The test and benchmark cluster stays on the loopback, never needs a fixed port, and starts
its workers with crowdalpha's Dask settings; its workers hand back what a task freed."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator

import dask.config
import numpy as np
import pytest
from distributed import Client, LocalCluster, get_worker

from crowdalpha.compute.dask import WORKER_CONFIG, DaskBackend, local_cluster, worker_config
from crowdalpha.compute.memory import can_release_memory, release_memory


@pytest.fixture
def port_8787_taken() -> Iterator[None]:
    """Port 8787 held, as by another cluster's dashboard on the same machine."""
    holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        holder.bind(("127.0.0.1", 8787))
    except OSError:
        holder.close()
        yield  # somebody else holds it already: the same situation
        return
    holder.listen(1)
    try:
        yield
    finally:
        holder.close()


def test_a_cluster_starts_beside_another_and_listens_on_the_loopback_only(
    port_8787_taken: None,
) -> None:
    # the suite turns warnings into errors: the old cluster warned "Port 8787 is already in
    # use" here and failed to start when two test processes started clusters at once
    cluster = local_cluster(1)
    try:
        scheduler = cluster.scheduler
        assert scheduler is not None
        assert scheduler.http_server.address == "127.0.0.1"
        assert scheduler.http_server.port != 8787
        assert cluster.scheduler_address.startswith("tcp://127.0.0.1:")
    finally:
        cluster.close()


def test_the_workers_run_with_the_shipped_settings_not_dasks_malloc_trimming(
    dask_cluster: LocalCluster,
) -> None:
    # Dask sets MALLOC_TRIM_THRESHOLD_=65536 in every worker it spawns, which fixes glibc's
    # mmap threshold at 128 KiB: a build's cells then map and zero each array afresh
    key = "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_"
    assert dask.config.get(key) is not None  # Dask's default, outside local_cluster
    assert worker_config() == {key: None}
    assert "MALLOC_TRIM_THRESHOLD_: null" in WORKER_CONFIG.read_text()  # the shipped file
    with Client(dask_cluster, set_as_default=False) as client:
        client.wait_for_workers(2, timeout=60)  # (the first test on a new cluster)
        seen = client.run(os.environ.get, "MALLOC_TRIM_THRESHOLD_")
    assert len(seen) == 2
    assert set(seen.values()) == {None}


#: Small arrays left between the freed ones, as a task's results and caches are.
_KEPT: list[np.ndarray] = []


def _free_in_the_heap(megabytes: int) -> str:
    """Allocate and free ``megabytes`` of 1 MiB arrays as a dataset cell does: after a larger
    array has been freed, glibc serves them from its heap (its mmap threshold rises to the
    freed size), and a small survivor between each keeps the freed space from the top of
    the heap, where free() alone would hand it back. The worker's address."""
    np.ones(4_000_000)  # 32 MB, mapped and unmapped
    freed = []
    for _ in range(megabytes):
        freed.append(np.ones(1 << 17))
        _KEPT.append(np.ones(4))
    del freed
    return str(get_worker().address)


def _rss() -> int:
    with open("/proc/self/status", encoding="ascii") as fh:
        return next(int(line.split()[1]) * 1024 for line in fh if line.startswith("VmRSS:"))


def _handed_back(client: Client, worker: str) -> int:
    """How much the worker's RSS falls when it hands its free pages back now."""
    before = client.run(_rss, workers=[worker])[worker]
    client.run(release_memory, workers=[worker])
    return int(before - client.run(_rss, workers=[worker])[worker])


@pytest.mark.skipif(not can_release_memory(), reason="no malloc_trim in this C library")
def test_a_worker_hands_back_what_its_task_freed() -> None:
    """A task's freed memory does not stay with the worker until its next task (where the
    next task's arrays, not fitting the holes, would add to it): the backend's tasks end
    by handing it back, which a task submitted to Dask by hand does not. (A new worker: one
    whose heap earlier tasks shaped may leave nothing to hand back either way.)"""
    mib = 1 << 20
    cluster = local_cluster(1)
    try:
        with Client(cluster, set_as_default=False) as client:
            client.wait_for_workers(1, timeout=60)
            [worker] = DaskBackend(client).map(_free_in_the_heap, [256], name="free")
            assert _handed_back(client, worker) < 32 * mib  # already handed back
            by_hand = client.submit(_free_in_the_heap, 256, pure=False)
            assert by_hand.result() == worker
            assert _handed_back(client, worker) > 128 * mib  # kept by the worker until now
    finally:
        cluster.close()

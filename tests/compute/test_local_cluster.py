"""The test and benchmark cluster stays on the loopback, never needs a fixed port, and starts
its workers with crowdalpha's Dask settings."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator

import dask.config
import pytest
from distributed import Client, LocalCluster

from crowdalpha.compute.dask import WORKER_CONFIG, local_cluster, worker_config


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
        seen = client.run(os.environ.get, "MALLOC_TRIM_THRESHOLD_")
    assert len(seen) == 2
    assert set(seen.values()) == {None}

"""The test and benchmark cluster stays on the loopback and never needs a fixed port."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from crowdalpha.compute.dask import local_cluster


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

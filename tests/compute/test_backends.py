"""The compute backends run a function over items and hand the results back in order —
in this process, in a local pool, on a Dask cluster (a LocalCluster of two worker
processes) — and a task's typed error reaches the caller typed."""

from __future__ import annotations

import math
import operator
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from distributed import Client, LocalCluster
from typer.testing import CliRunner

from crowdalpha.cli import app
from crowdalpha.compute import ComputeBackend, InProcess, LocalPool, open_backend
from crowdalpha.compute.dask import DaskBackend
from crowdalpha.errors import InvalidInputError, InvalidParameterError, ServiceUnavailableError
from crowdalpha.settings import Settings
from crowdalpha.storage import check_key


@pytest.fixture(params=["in-process", "pool", "dask"])
def backend(request: pytest.FixtureRequest) -> Iterator[ComputeBackend]:
    if request.param == "in-process":
        yield InProcess()
    elif request.param == "pool":
        with LocalPool(2) as pool:
            yield pool
    else:
        cluster: LocalCluster = request.getfixturevalue("dask_cluster")
        with Client(cluster, set_as_default=False) as client:
            client.wait_for_workers(2, timeout=60)
            yield DaskBackend(client)


def test_results_come_back_in_the_items_order(backend: ComputeBackend) -> None:
    items = list(range(40))
    assert list(backend.map(math.factorial, items, name="factorial")) == [
        math.factorial(i) for i in items
    ]
    assert list(backend.map(operator.neg, [])) == []
    assert backend.workers == (1 if isinstance(backend, InProcess) else 2)


def test_a_tasks_typed_error_reaches_the_caller(backend: ComputeBackend) -> None:
    with pytest.raises(InvalidInputError, match="not a valid storage key"):
        list(backend.map(check_key, ["fine/key", "../escape", "other"], name="keys"))


def test_the_backend_is_chosen_by_the_settings(dask_cluster: LocalCluster) -> None:
    assert isinstance(open_backend(None), InProcess)
    with open_backend(None, workers=2) as pool:
        assert isinstance(pool, LocalPool) and pool.workers == 2
    with Settings(dask_scheduler=dask_cluster.scheduler_address).compute() as remote:
        assert isinstance(remote, DaskBackend) and remote.remote
        assert list(remote.map(abs, [-1, -2])) == [1, 2]
    assert isinstance(Settings().compute(), InProcess)
    with pytest.raises(InvalidParameterError):
        LocalPool(0)


def test_an_unreachable_scheduler_is_a_service_error() -> None:
    with socket.socket() as probe:  # a port on 127.0.0.1 that nothing listens on
        probe.bind(("127.0.0.1", 0))
        address = f"tcp://127.0.0.1:{probe.getsockname()[1]}"
    started = time.monotonic()
    with pytest.raises(ServiceUnavailableError, match="no Dask scheduler answered") as caught:
        DaskBackend.connect(address, timeout=2)
    assert caught.value.details == {"service": "dask", "scheduler": address}
    assert time.monotonic() - started < 30


def test_the_build_command_names_a_scheduler_that_does_not_answer(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        address = f"tcp://127.0.0.1:{probe.getsockname()[1]}"
    prices = tmp_path / "prices.csv"
    prices.write_text("date,ticker,close\n")
    args = ["data", "build", "--prices", str(prices), "--out", str(tmp_path / "r")]
    args += ["--operator", str(tmp_path / "op"), "--dask-scheduler", address]
    result = CliRunner().invoke(app, args)
    assert isinstance(result.exception, ServiceUnavailableError)
    assert address in str(result.exception)
    assert not (tmp_path / "op").exists()  # refused before anything was written

"""Tasks on a Dask cluster (``dask.distributed``), for ``CROWDALPHA_DASK_SCHEDULER=tcp://…``.

The cluster is the operator's: ``dask scheduler`` on one machine, ``dask worker tcp://…`` on
each of the others, every worker with crowdalpha (the same version) installed and the same
storage settings (a task reads and writes the file store itself). A worker that dies while
running a task — killed, out of memory, its machine gone — costs only time: the scheduler
runs the task again on another worker (up to ``distributed.scheduler.allowed-failures``
times, 3 by default, after which the map fails with a :class:`ServiceUnavailableError`).

The workers should run with the Dask settings of ``dask.yaml`` beside this module
(:data:`WORKER_CONFIG`): :func:`local_cluster` applies them, and an operator's cluster
reads them from Dask's configuration folder on each worker machine (``docs/scaling.md``).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, Self, TypeVar

import dask.config
from distributed import Client, Future, LocalCluster
from distributed.scheduler import KilledWorker

from crowdalpha.compute.backend import ComputeBackend
from crowdalpha.compute.memory import run_task
from crowdalpha.errors import ServiceUnavailableError

__all__ = ["WORKER_CONFIG", "DaskBackend", "local_cluster", "worker_config"]

T = TypeVar("T")
R = TypeVar("R")

#: Dask settings for the workers that run crowdalpha's tasks (the file explains each).
WORKER_CONFIG = Path(__file__).with_name("dask.yaml")


def worker_config() -> dict[str, Any]:
    """The settings of :data:`WORKER_CONFIG`, as dotted keys for :func:`dask.config.set`."""
    return _dotted(dask.config.collect(paths=[str(WORKER_CONFIG)], env={}))


def _dotted(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    # (dask.config.set replaces a whole section given as a nested mapping)
    out: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, Mapping) and value:
            out.update(_dotted(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def local_cluster(workers: int) -> LocalCluster:
    """A :class:`LocalCluster` of ``workers`` single-threaded worker processes on 127.0.0.1.

    For the tests and the benchmarks. Nothing of it listens beyond the loopback, and every port
    is the system's choice: with ``dashboard_address=None`` alone, the scheduler still starts
    its HTTP endpoint on port 8787 of every interface and only warns (an error under the
    suite's warning filter) when another cluster on the machine already holds that port.
    The workers start with :func:`worker_config`'s settings.
    """
    with dask.config.set(worker_config()):
        return LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            scheduler_kwargs={"dashboard": False, "dashboard_address": "127.0.0.1:0"},
            silence_logs=logging.ERROR,
        )


class DaskBackend(ComputeBackend):
    """Tasks on the cluster behind a :class:`distributed.Client`."""

    def __init__(self, client: Client, *, owned: bool = False) -> None:
        self.client = client
        self._owned = owned

    @classmethod
    def connect(cls, scheduler: str, *, timeout: float = 10.0) -> Self:
        """A backend on the scheduler at ``scheduler`` (``tcp://host:8786``)."""
        try:
            client = Client(scheduler, timeout=timeout, set_as_default=False)
        except (OSError, TimeoutError) as exc:
            raise ServiceUnavailableError(
                f"no Dask scheduler answered at {scheduler} within {timeout:g} s; start one "
                "(`dask scheduler`) or unset CROWDALPHA_DASK_SCHEDULER to work in-process",
                details={"service": "dask", "scheduler": scheduler},
            ) from exc
        return cls(client, owned=True)

    @property
    def workers(self) -> int:
        info = self.client.scheduler_info(n_workers=-1)
        return max(1, len(info.get("workers", {})))

    def map(self, fn: Callable[[T], R], items: Iterable[T], *, name: str = "task") -> Iterator[R]:
        run = uuid.uuid4().hex[:12]
        futures: list[Future[R]] = []
        try:
            # pure=False and unique keys: a task runs once per call, never served from a
            # result an earlier call left on the cluster
            futures = [
                self.client.submit(run_task, fn, item, key=f"{name}-{run}-{i}", pure=False)
                for i, item in enumerate(items)
            ]
            for future in futures:
                yield future.result()
                future.release()
        except KilledWorker as exc:
            raise ServiceUnavailableError(
                f"Dask workers kept dying while running a {name} task ({exc}); the work was "
                "not finished — look at the workers' logs (out of memory?)",
                details={"service": "dask"},
            ) from exc
        finally:
            for future in futures:
                if not future.done():
                    future.cancel()

    def close(self) -> None:
        if self._owned:
            self.client.close()

    def __repr__(self) -> str:
        return f"DaskBackend({self.client.scheduler.address if self.client.scheduler else ''})"

"""The compute port: run one function over many independent items, somewhere.

Heavy work — a dataset build's era cells, a round's score blocks — is split by its owner into
items that each name where their inputs are (keys in a file store, small parameters) and
return a small result; a :class:`ComputeBackend` runs them and hands the results back in the
items' order. Where they run is the operator's choice, not the caller's:

- :class:`InProcess` (the default): one after the other in this process — exactly what the
  caller would do without a backend;
- :class:`LocalPool`: in a pool of worker processes on this machine;
- :class:`~crowdalpha.compute.dask.DaskBackend`: on a Dask cluster
  (``CROWDALPHA_DASK_SCHEDULER=tcp://…``), where a task whose worker dies is run again on
  another worker.

A task must be a module-level function (it travels by name) whose item and result pickle;
it must be safe to run twice (a task that was running on a worker that died runs again), so
tasks write their outputs atomically under keys that depend only on their inputs. Worker
processes hand the memory a task freed back to the system when it ends
(:mod:`crowdalpha.compute.memory`), so what a worker holds is one task's at a time.
"""

from __future__ import annotations

import multiprocessing
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from types import TracebackType
from typing import Self, TypeVar

from crowdalpha.compute.memory import run_task
from crowdalpha.errors import InvalidParameterError, ServiceUnavailableError

__all__ = ["ComputeBackend", "InProcess", "LocalPool", "open_backend"]

T = TypeVar("T")
R = TypeVar("R")


class ComputeBackend(ABC):
    """Runs tasks; use as a context manager (or call :meth:`close`)."""

    #: Whether tasks run in other processes, which see none of this process's memory: their
    #: inputs and outputs must travel through a file store that every worker reaches.
    remote: bool = True

    @property
    @abstractmethod
    def workers(self) -> int:
        """How many tasks run at once (the parallelism callers size their blocks for)."""

    @abstractmethod
    def map(self, fn: Callable[[T], R], items: Iterable[T], *, name: str = "task") -> Iterator[R]:
        """``fn(item)`` for every item, yielded in the items' order as they finish.

        All items are handed out at once, each as soon as ``items`` yields it (a generator
        that prepares them lets the first tasks start while it prepares the rest); a task
        that raises ends the iteration with its error (the tasks not yet finished are
        cancelled). ``name`` labels the tasks on the cluster's dashboard.
        """

    def close(self) -> None:  # noqa: B027 - most backends hold nothing to release
        """Release the workers (a pool's processes, a cluster connection)."""

    def abort(self) -> None:
        """Stop now: tasks still running are abandoned (a pool's processes killed), then
        release as :meth:`close` does. By default the same as :meth:`close`."""
        self.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class InProcess(ComputeBackend):
    """Every task in this process, one after the other, when its result is asked for."""

    remote = False

    @property
    def workers(self) -> int:
        return 1

    def map(self, fn: Callable[[T], R], items: Iterable[T], *, name: str = "task") -> Iterator[R]:
        for item in items:
            yield fn(item)

    def __repr__(self) -> str:
        return "InProcess()"


class LocalPool(ComputeBackend):
    """A pool of ``workers`` processes on this machine (started fresh with ``spawn``: no
    inherited threads or locks)."""

    def __init__(self, workers: int) -> None:
        if workers < 1:
            raise InvalidParameterError(f"a pool needs at least one worker, not {workers}")
        self._workers = workers
        self._pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))

    @property
    def workers(self) -> int:
        return self._workers

    def map(self, fn: Callable[[T], R], items: Iterable[T], *, name: str = "task") -> Iterator[R]:
        futures: list[Future[R]] = []
        try:
            futures = [self._pool.submit(run_task, fn, item) for item in items]
            for future in futures:
                yield future.result()
        except BrokenProcessPool as exc:
            raise ServiceUnavailableError(
                f"a worker process of the local pool died while running {name} tasks "
                "(out of memory?); the work was not finished",
                details={"service": "compute"},
            ) from exc
        finally:
            for future in futures:
                future.cancel()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def abort(self) -> None:
        # the executor has no public way to stop a running task (3.14's terminate_workers):
        # kill its processes, then shut down what is left
        processes = list((getattr(self._pool, "_processes", None) or {}).values())
        for process in processes:
            process.kill()
        self._pool.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            process.join(timeout=10)

    def __repr__(self) -> str:
        return f"LocalPool(workers={self._workers})"


def open_backend(scheduler: str | None = None, *, workers: int = 1) -> ComputeBackend:
    """The backend for a Dask ``scheduler`` address (``tcp://host:8786``), else a local pool
    of ``workers`` processes, else (``workers=1``) this process."""
    if scheduler:
        from crowdalpha.compute.dask import DaskBackend

        return DaskBackend.connect(scheduler)
    if workers > 1:
        return LocalPool(workers)
    return InProcess()

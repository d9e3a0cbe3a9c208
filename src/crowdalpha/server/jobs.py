"""The server's background jobs: the runner a server starts, and how a job reaches the
tournament it works on.

Requests that would do heavy work — validation diagnostics — queue a job
(:class:`~crowdalpha.jobs.JobQueue`) and answer at once; a runner claims it and runs it:

- ``CROWDALPHA_JOBS_WORKERS=N`` (default 2): in a local pool of N processes, each opening
  the tournament from the server's settings (once per process);
- ``CROWDALPHA_JOBS_WORKERS=0``: in a thread of the server process, on its own tournament;
- ``CROWDALPHA_DASK_SCHEDULER=tcp://…``: on the Dask cluster, each worker opening the
  tournament from the settings shipped with the task (so workers need the same database
  and file store).

One runner per server: the process that runs its background tasks (of ``--workers N``
processes the one holding ``{home}/clock.lock``). Several servers on one database each run
theirs; a job is leased to one runner at a time in the database (see :mod:`crowdalpha.jobs`),
so none runs twice while its runner lives, and one whose runner died is run again when its
lease (``CROWDALPHA_JOBS_LEASE``) runs out. A stopping server waits up to
``CROWDALPHA_JOBS_SHUTDOWN_GRACE`` seconds for the jobs it runs, then queues them again
for the next start.
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta
from typing import Any

from crowdalpha.compute import ComputeBackend, InProcess, LocalPool, open_backend
from crowdalpha.jobs import JobQueue, JobRunner
from crowdalpha.settings import Settings
from crowdalpha.tournament import Tournament

__all__ = ["RunnerThread", "job_queue", "open_job_runner", "tournament_of"]

log = logging.getLogger("crowdalpha.server.jobs")

_opened: dict[str, Tournament] = {}
_opening = threading.Lock()


def job_queue(tournament: Tournament) -> JobQueue:
    """The jobs of ``tournament``'s database."""
    return JobQueue(tournament.engine)


def tournament_of(context: Tournament | Settings) -> Tournament:
    """The tournament a job works on: the runner's own (in-process), or the one its
    settings describe, opened once per worker process and kept."""
    if isinstance(context, Tournament):
        return context
    key = context.model_dump_json()
    with _opening:
        tournament = _opened.get(key)
        if tournament is None:
            from crowdalpha.runtime import open_tournament

            tournament = open_tournament(context, migrate=False)
            _opened[key] = tournament
    return tournament


def open_job_runner(tournament: Tournament, settings: Settings) -> JobRunner:
    """The runner of a server on ``tournament`` (opened from ``settings`` wherever the jobs
    run in other processes): where it runs its jobs as the module docstring says."""
    backend: ComputeBackend
    context: Any
    # a worker must not connect to the cluster again to resolve rounds: its tournament
    # works in-process
    shipped = settings.model_copy(update={"dask_scheduler": None})
    if settings.dask_scheduler:
        backend, context = open_backend(settings.dask_scheduler), shipped
    elif settings.jobs_workers > 0:
        backend, context = LocalPool(settings.jobs_workers), shipped
    else:
        backend, context = InProcess(), tournament
    return JobRunner(
        job_queue(tournament),
        backend,
        lease=timedelta(seconds=settings.jobs_lease),
        context=context,
    )


class RunnerThread:
    """A :class:`JobRunner` serving in a thread of its own, stopped gracefully."""

    def __init__(self, runner: JobRunner, *, poll: float = 1.0) -> None:
        self.runner = runner
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=runner.serve,
            args=(self._stop,),
            kwargs={"poll": poll},
            daemon=True,
            name="crowdalpha-jobs",
        )

    def start(self) -> RunnerThread:
        self._thread.start()
        log.info("running background jobs on %r as %s", self.runner.backend, self.runner.name)
        return self

    def stop(self, grace: float) -> list[int]:
        """Claim nothing more; wait up to ``grace`` seconds for the jobs running; queue
        those still running again (the ids) and release the workers."""
        self._stop.set()
        self._thread.join(grace)
        released: list[int] = []
        if self._thread.is_alive():
            released = self.runner.abandon()
            self._thread.join(30)
            if released:
                log.info("queued again for the next start: jobs %s", released)
        else:
            self.runner.close()
        return released

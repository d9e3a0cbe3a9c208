"""Running queued jobs: claim, run each handler on a compute backend, record the outcome.

A handler is a module-level function ``fn(payload: dict) -> JSON-able result``, named by
the job's ``kind`` (``package.module:function``) so that it travels by name to a pool
process or a Dask worker; a runner given a ``context`` (what its handlers need to reach
the tournament: the settings, or in-process the tournament itself) calls
``fn(payload, context)`` instead, the context shipped with every task.

A handler that raises a :class:`~crowdalpha.errors.CrowdAlphaError` fails the job with that
error's code and message; any other exception with ``internal_error`` and its text. A
worker process that dies leaves its jobs running until their lease runs out; the next
claim (by this runner or another, after a restart) runs them again.

:meth:`JobRunner.serve` runs jobs until told to stop (the server runs it in a thread);
:meth:`JobRunner.abandon` hands the jobs still running back to the queue at once, for a
shutdown that cannot wait for them.
"""

from __future__ import annotations

import importlib
import logging
import os
import socket
import threading
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from crowdalpha.compute import ComputeBackend, LocalPool
from crowdalpha.errors import CrowdAlphaError, ServiceUnavailableError
from crowdalpha.jobs.queue import DEFAULT_LEASE, JobQueue

__all__ = ["JobRunner", "run_job"]

log = logging.getLogger("crowdalpha.jobs")


@dataclass(frozen=True)
class _Task:
    kind: str
    payload: dict[str, Any]
    context: Any = None


@dataclass(frozen=True)
class _Outcome:
    ok: bool
    result: Any = None
    code: str = ""
    message: str = ""


def run_job(kind: str, payload: dict[str, Any], context: Any = None) -> Any:
    """Import the handler ``module:function`` and call it with ``payload`` (and
    ``context``, when there is one)."""
    module, _, name = kind.partition(":")
    handler = getattr(importlib.import_module(module), name)
    if context is None:
        return handler(payload)
    return handler(payload, context)


def _execute(task: _Task) -> _Outcome:
    try:
        return _Outcome(True, result=run_job(task.kind, task.payload, task.context))
    except CrowdAlphaError as exc:
        return _Outcome(False, code=exc.code, message=str(exc))
    except Exception as exc:  # a handler's bug: recorded, not raised
        return _Outcome(False, code="internal_error", message=f"{type(exc).__name__}: {exc}")


class JobRunner:
    """Claims jobs from ``queue`` and runs them on ``backend`` (default: a local pool of
    two processes), as many at once as the backend has workers."""

    def __init__(
        self,
        queue: JobQueue,
        backend: ComputeBackend | None = None,
        *,
        name: str | None = None,
        lease: timedelta = DEFAULT_LEASE,
        context: Any = None,
    ) -> None:
        self.queue = queue
        self._owned = backend is None
        self.backend = backend if backend is not None else LocalPool(2)
        self.name = name or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.lease = lease
        self.context = context

    def run_once(self) -> int:
        """Claim what the backend can run at once, run it, record it; how many jobs were
        finished (0: nothing was claimable)."""
        jobs = self.queue.claim(self.name, limit=self.backend.workers, lease=self.lease)
        if not jobs:
            return 0
        finished = 0
        try:
            outcomes = self.backend.map(
                _execute, [_Task(j.kind, j.payload, self.context) for j in jobs], name="job"
            )
            for job, outcome in zip(jobs, outcomes, strict=False):
                if outcome.ok:
                    self.queue.succeed(job.id, self.name, outcome.result)
                else:
                    self.queue.fail(job.id, self.name, outcome.code, outcome.message)
                finished += 1
        except ServiceUnavailableError:
            # a worker died: the unfinished jobs stay running and are retried when their
            # lease runs out; a pool of our own is broken for good, so start a fresh one
            if self._owned:
                self.backend.close()
                self.backend = LocalPool(2)
        return finished

    def run_until_idle(self) -> int:
        """Run jobs until none is claimable; how many were finished."""
        total = 0
        while (done := self.run_once()) > 0:
            total += done
        return total

    def serve(self, stop: threading.Event, *, poll: float = 1.0) -> None:
        """Run jobs until ``stop`` is set, looking for new ones every ``poll`` seconds when
        there is nothing to do; a failing pass (the database away) is logged and retried."""
        while not stop.is_set():
            try:
                if self.run_once() > 0:
                    continue
            except Exception:
                log.exception("the job runner failed; retrying in %.1f s", poll)
            stop.wait(poll)

    def abandon(self) -> list[int]:
        """Hand the jobs this runner still holds back to the queue (queued again, the
        attempt not counted) and stop the backend's work at once; their ids. A result that
        comes in later is not recorded: the job is no longer this runner's."""
        released = self.queue.release(self.name)
        self.backend.abort()
        return released

    def close(self) -> None:
        self.backend.close()

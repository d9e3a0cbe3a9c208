"""The job queue: enqueue, claim with a lease, finish — transitions of the ``jobs`` table.

A claim takes the oldest jobs that are queued, or running with a lease that ran out (the
runner that held them died), and leases them to the claimer. On PostgreSQL the candidates
are read ``FOR UPDATE SKIP LOCKED`` (as the webhook sender does), so runners on several
machines claim disjoint jobs without waiting on each other; every claim is also a
conditional update (the row must still be claimable), which keeps two claimers apart on
SQLite too. A job whose lease ran out ``max_attempts`` times fails with
``worker_died`` instead of running again.

Handlers must be safe to run twice: a job whose lease runs out while its worker is merely
slow is claimed again — give the lease a margin over the longest job.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import Engine, or_, select, update
from sqlalchemy.orm import Session

from crowdalpha.db.engine import read_engine, session_factory, transact
from crowdalpha.errors import InvalidParameterError, NotFoundError
from crowdalpha.jobs.models import Job, JobState

__all__ = ["DEFAULT_LEASE", "JobInfo", "JobQueue"]

T = TypeVar("T")

#: How long a claim lasts before the job counts as abandoned.
DEFAULT_LEASE = timedelta(minutes=15)


@dataclass(frozen=True)
class JobInfo:
    id: int
    kind: str
    payload: dict[str, Any]
    state: JobState
    attempts: int
    max_attempts: int
    claimed_by: str | None
    result: Any
    error_code: str | None
    error_message: str | None
    created_at: datetime
    updated_at: datetime


def _info(row: Job) -> JobInfo:
    return JobInfo(
        id=row.id,
        kind=row.kind,
        payload=json.loads(row.payload),
        state=JobState(row.state),
        attempts=row.attempts,
        max_attempts=row.max_attempts,
        claimed_by=row.claimed_by,
        result=None if row.result is None else json.loads(row.result),
        error_code=row.error_code,
        error_message=row.error_message,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


class JobQueue:
    """The jobs of one database."""

    def __init__(self, engine: Engine, *, now: Callable[[], datetime] | None = None) -> None:
        self.engine = engine
        self._sessions = session_factory(engine)
        self._reader = read_engine(engine)
        self._now = now or (lambda: datetime.now(UTC))

    def _run(self, op: Callable[[Session], T]) -> T:
        return transact(self._sessions, op)

    def enqueue(self, kind: str, payload: dict[str, Any], *, max_attempts: int = 3) -> int:
        """Queue a job for handler ``kind`` (``module:function``); its id."""
        if ":" not in kind:
            raise InvalidParameterError(f"a job kind is module:function, not {kind!r}")
        if max_attempts < 1:
            raise InvalidParameterError("a job needs at least one attempt")
        body = json.dumps(payload, sort_keys=True)
        now = self._now()

        def op(session: Session) -> int:
            row = Job(
                kind=kind,
                payload=body,
                state=JobState.QUEUED.value,
                attempts=0,
                max_attempts=max_attempts,
                created_at=now,
                updated_at=now,
            )
            session.add(row)
            session.flush()
            return row.id

        return self._run(op)

    def get(self, job_id: int) -> JobInfo:
        def op(session: Session) -> JobInfo:
            row = session.get(Job, job_id)
            if row is None:
                raise NotFoundError(f"there is no job {job_id}", details={"job": job_id})
            return _info(row)

        return self._run(op)

    def claim(
        self,
        worker: str,
        *,
        limit: int = 1,
        lease: timedelta = DEFAULT_LEASE,
        kinds: Sequence[str] | None = None,
    ) -> list[JobInfo]:
        """Lease up to ``limit`` claimable jobs (oldest first) to ``worker``."""
        now = self._now()
        claimable = or_(
            Job.state == JobState.QUEUED.value,
            (Job.state == JobState.RUNNING.value) & (Job.lease_until < now),
        )
        if kinds is not None:
            claimable = claimable & Job.kind.in_(list(kinds))
        # runners poll every second: look first without the write lock (on SQLite a
        # write transaction would queue behind, and hold up, the uploads' writes)
        with self._reader.connect() as connection:
            if connection.scalar(select(Job.id).where(claimable).limit(1)) is None:
                return []

        def op(session: Session) -> list[JobInfo]:
            query = (
                select(Job)
                .where(claimable)
                .order_by(Job.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
            claimed = []
            for row in session.scalars(query).all():
                abandoned = row.state == JobState.RUNNING.value
                if abandoned and row.attempts >= row.max_attempts:
                    row.state = JobState.FAILED.value
                    row.error_code = "worker_died"
                    row.error_message = (
                        f"the worker running it stopped answering {row.attempts} times "
                        f"(last: {row.claimed_by}); not retried again"
                    )
                    row.lease_until = None
                    row.updated_at = now
                    continue
                taken = session.execute(
                    update(Job)
                    .where(
                        Job.id == row.id,
                        Job.state == row.state,
                        Job.attempts == row.attempts,
                    )
                    .values(
                        state=JobState.RUNNING.value,
                        attempts=row.attempts + 1,
                        claimed_by=worker,
                        lease_until=now + lease,
                        updated_at=now,
                    )
                    .execution_options(synchronize_session=False)
                )
                if taken.rowcount == 1:  # type: ignore[attr-defined]
                    session.refresh(row)
                    claimed.append(_info(row))
            return claimed

        return self._run(op)

    def succeed(self, job_id: int, worker: str, result: Any) -> bool:
        """Record the result of a job ``worker`` holds; False if it no longer holds it."""
        return self._finish(
            job_id, worker, state=JobState.SUCCEEDED, result=json.dumps(result, sort_keys=True)
        )

    def fail(self, job_id: int, worker: str, code: str, message: str) -> bool:
        """Fail a job ``worker`` holds, with a reason; False if it no longer holds it."""
        return self._finish(
            job_id, worker, state=JobState.FAILED, error_code=code, error_message=message
        )

    def release(self, worker: str) -> list[int]:
        """Hand the jobs ``worker`` holds back to the queue (a runner shutting down before
        they finished): queued again at once, the attempt not counted; their ids."""
        now = self._now()

        def op(session: Session) -> list[int]:
            held = session.scalars(
                select(Job)
                .where(Job.state == JobState.RUNNING.value, Job.claimed_by == worker)
                .with_for_update()
            ).all()
            for row in held:
                row.state = JobState.QUEUED.value
                row.attempts = max(0, row.attempts - 1)
                row.claimed_by = None
                row.lease_until = None
                row.updated_at = now
            return [row.id for row in held]

        return self._run(op)

    def _finish(self, job_id: int, worker: str, *, state: JobState, **values: Any) -> bool:
        now = self._now()

        def op(session: Session) -> bool:
            done = session.execute(
                update(Job)
                .where(
                    Job.id == job_id,
                    Job.state == JobState.RUNNING.value,
                    Job.claimed_by == worker,
                )
                .values(state=state.value, lease_until=None, updated_at=now, **values)
                .execution_options(synchronize_session=False)
            )
            return bool(done.rowcount == 1)  # type: ignore[attr-defined]

        return self._run(op)

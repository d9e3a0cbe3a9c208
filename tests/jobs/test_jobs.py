"""Background jobs: their state in the database survives restarts; a job whose worker died
is run again; handlers' errors fail the job with a reason."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from tests.conftest import fresh_engine

from crowdalpha.compute import InProcess, LocalPool
from crowdalpha.db import create_database_engine
from crowdalpha.errors import InvalidParameterError
from crowdalpha.jobs import JobQueue, JobRunner, JobState
from crowdalpha.runtime import open_tournament
from crowdalpha.server.jobs import RunnerThread, open_job_runner
from crowdalpha.settings import Settings

ADD = "tests.jobs.handlers:add"
HANG_ONCE = "tests.jobs.handlers:hang_once"
ACCOUNT_OF = "tests.jobs.handlers:account_of"


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def _reopened(engine: Engine, clock: Clock | None = None) -> JobQueue:
    """The queue as a restarted process sees it: a fresh engine on the same database."""
    return JobQueue(
        create_database_engine(engine.url.render_as_string(hide_password=False)), now=clock
    )


def test_jobs_run_and_record_their_outcome(engine: Engine) -> None:
    queue = JobQueue(engine)
    ok = queue.enqueue(ADD, {"a": 2, "b": 3})
    refused = queue.enqueue("tests.jobs.handlers:refuse", {"what": "x"})
    buggy = queue.enqueue("tests.jobs.handlers:crash", {})
    assert queue.get(ok).state is JobState.QUEUED
    runner = JobRunner(queue, InProcess(), name="r1")
    assert runner.run_until_idle() == 3
    done = queue.get(ok)
    assert (done.state, done.result, done.attempts) == (JobState.SUCCEEDED, {"sum": 5}, 1)
    failed = queue.get(refused)
    assert failed.state is JobState.FAILED
    assert failed.error_code == "invalid_parameter" and "bad input x" in (
        failed.error_message or ""
    )
    crashed = queue.get(buggy)
    assert (crashed.state, crashed.error_code) == (JobState.FAILED, "internal_error")
    assert "RuntimeError: a bug" in (crashed.error_message or "")
    assert runner.run_once() == 0  # nothing left
    with pytest.raises(InvalidParameterError):
        queue.enqueue("no_function_named", {})


def test_a_queued_job_survives_a_restart(engine: Engine) -> None:
    job = JobQueue(engine).enqueue(ADD, {"a": 1, "b": 1})
    engine.dispose()  # the process that queued it is gone
    later = _reopened(engine)
    try:
        assert later.get(job).state is JobState.QUEUED
        assert JobRunner(later, InProcess()).run_until_idle() == 1
        assert later.get(job).result == {"sum": 2}
    finally:
        later.engine.dispose()


def test_a_running_job_whose_worker_died_is_retried_then_given_up(engine: Engine) -> None:
    clock = Clock()
    queue = JobQueue(engine, now=clock)
    job = queue.enqueue(ADD, {"a": 4, "b": 5}, max_attempts=2)
    [held] = queue.claim("dead-worker", lease=timedelta(minutes=1))
    assert held.id == job and queue.get(job).state is JobState.RUNNING
    # within the lease nobody else takes it
    assert queue.claim("other", lease=timedelta(minutes=1)) == []
    clock.now += timedelta(minutes=2)  # the lease ran out: its worker is gone
    restarted = _reopened(engine, clock)
    try:
        assert JobRunner(restarted, InProcess(), name="new").run_until_idle() == 1
        done = restarted.get(job)
        assert (done.state, done.attempts, done.claimed_by) == (JobState.SUCCEEDED, 2, "new")
        # a late answer from the dead worker changes nothing
        assert not queue.succeed(job, "dead-worker", {"sum": 0})
        assert restarted.get(job).result == {"sum": 9}

        again = queue.enqueue(ADD, {"a": 0, "b": 0}, max_attempts=1)
        assert [j.id for j in queue.claim("dead-worker", lease=timedelta(minutes=1))] == [again]
        clock.now += timedelta(minutes=2)
        assert queue.claim("other") == []
        gave_up = queue.get(again)
        assert (gave_up.state, gave_up.error_code) == (JobState.FAILED, "worker_died")
    finally:
        restarted.engine.dispose()


def test_a_pool_worker_killed_mid_job_costs_only_time(engine: Engine, tmp_path: Path) -> None:
    queue = JobQueue(engine)
    job = queue.enqueue("tests.jobs.handlers:die_once", {"marker": str(tmp_path / "m")})
    lease = timedelta(seconds=1)
    with LocalPool(1) as pool:
        runner = JobRunner(queue, pool, name="pool", lease=lease)
        assert runner.run_once() == 0  # the process died: nothing finished
    assert queue.get(job).state is JobState.RUNNING
    threading.Event().wait(1.2)  # the lease runs out
    with LocalPool(1) as pool:
        assert JobRunner(queue, pool, name="pool2", lease=lease).run_until_idle() == 1
    done = queue.get(job)
    assert (done.state, done.attempts) == (JobState.SUCCEEDED, 2)


def test_two_runners_claim_disjoint_jobs(engine: Engine) -> None:
    queue = JobQueue(engine)
    ids = {queue.enqueue(ADD, {"a": i, "b": 0}) for i in range(20)}
    other = _reopened(engine)
    claimed: dict[str, list[int]] = {"a": [], "b": []}

    def take(name: str, q: JobQueue) -> None:
        while got := q.claim(name, limit=3):
            claimed[name] += [j.id for j in got]

    threads = [
        threading.Thread(target=take, args=("a", queue)),
        threading.Thread(target=take, args=("b", other)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    other.engine.dispose()
    assert sorted(claimed["a"] + claimed["b"]) == sorted(ids)  # each exactly once


def _runner_process(engine: Engine, lease: float) -> subprocess.Popen[bytes]:
    """A runner in a process of its own, as a server runs one, on the same database."""
    root = Path(__file__).resolve().parents[2]
    script = (
        "import sys, threading\n"
        "from datetime import timedelta\n"
        "from crowdalpha.compute import InProcess\n"
        "from crowdalpha.db import create_database_engine\n"
        "from crowdalpha.jobs import JobQueue, JobRunner\n"
        "queue = JobQueue(create_database_engine(sys.argv[1]))\n"
        "runner = JobRunner(queue, InProcess(), name='doomed', lease=timedelta(seconds=float("
        "sys.argv[2])))\n"
        "runner.serve(threading.Event(), poll=0.05)\n"
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(root / "src"), str(root)]))
    url = engine.url.render_as_string(hide_password=False)
    return subprocess.Popen([sys.executable, "-c", script, url, str(lease)], env=env, cwd=root)


def _wait_for(path: Path, process: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + 120
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        assert process is None or process.poll() is None, "the runner process ended"
        threading.Event().wait(0.05)


def test_a_runner_process_killed_mid_job_leaves_it_to_the_next(tmp_path: Path) -> None:
    engine = fresh_engine("sqlite", tmp_path)  # processes: PostgreSQL would add only time
    queue = JobQueue(engine)
    marker = tmp_path / "started"
    job = queue.enqueue(HANG_ONCE, {"marker": str(marker), "answer": 42})
    process = _runner_process(engine, lease=1.0)
    try:
        _wait_for(marker, process)  # the job is running in that process
        process.send_signal(signal.SIGKILL)  # kill -9: no shutdown, no release
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    held = queue.get(job)
    assert (held.state, held.claimed_by, held.attempts) == (JobState.RUNNING, "doomed", 1)
    threading.Event().wait(1.2)  # its lease runs out
    assert JobRunner(queue, InProcess(), name="next").run_until_idle() == 1
    done = queue.get(job)
    assert (done.state, done.result, done.attempts) == (JobState.SUCCEEDED, {"answer": 42}, 2)
    assert done.claimed_by == "next"


def test_a_stopping_runner_queues_its_unfinished_jobs_again(tmp_path: Path) -> None:
    engine = fresh_engine("sqlite", tmp_path)  # processes: PostgreSQL would add only time
    queue = JobQueue(engine)
    marker = tmp_path / "started"
    job = queue.enqueue(HANG_ONCE, {"marker": str(marker), "answer": 7})
    runner = JobRunner(queue, LocalPool(1), name="stopping", lease=timedelta(minutes=15))
    thread = RunnerThread(runner, poll=0.05).start()
    _wait_for(marker)
    assert queue.get(job).state is JobState.RUNNING
    pid = int(marker.read_text())
    assert thread.stop(grace=0.2) == [job]  # the job outlasted the grace: handed back
    with pytest.raises(ProcessLookupError):  # and its pool process was stopped
        _await_exit(pid)
    back = queue.get(job)
    assert (back.state, back.attempts, back.claimed_by) == (JobState.QUEUED, 0, None)
    # the next start runs it (well before its lease would have run out)
    assert JobRunner(queue, InProcess(), name="next").run_until_idle() == 1
    done = queue.get(job)
    assert (done.state, done.result, done.attempts) == (JobState.SUCCEEDED, {"answer": 7}, 1)


def _await_exit(pid: int) -> None:
    """Raise ProcessLookupError once ``pid`` is gone (a killed child is reaped by its
    pool's join); fail if it lives on."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        os.kill(pid, 0)
        threading.Event().wait(0.05)
    raise AssertionError(f"process {pid} still runs")


def test_pool_workers_open_the_tournament_from_the_settings(tmp_path: Path) -> None:
    engine = fresh_engine("sqlite", tmp_path)  # processes: PostgreSQL would add only time
    settings = Settings(
        home=tmp_path / "home",
        database_url=engine.url.render_as_string(hide_password=False),
        data_source="synthetic",
        jobs_workers=1,
    )
    tournament = open_tournament(settings)
    try:
        alice = tournament.create_account("alice", "alice@example.org")
        queue = JobQueue(engine)
        job = queue.enqueue(ACCOUNT_OF, {"username": "alice"})
        runner = open_job_runner(tournament, settings)
        try:
            assert isinstance(runner.backend, LocalPool) and runner.backend.workers == 1
            assert runner.run_until_idle() == 1
        finally:
            runner.close()
        done = queue.get(job)
        assert done.state is JobState.SUCCEEDED, done.error_message
        assert done.result["account"] == alice.id
        assert done.result["pid"] != os.getpid()  # in the pool's process
    finally:
        tournament.close()

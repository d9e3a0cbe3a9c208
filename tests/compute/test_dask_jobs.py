"""Background jobs on a Dask cluster (``CROWDALPHA_DASK_SCHEDULER``): the server's runner
hands each job to a worker, which opens the tournament from the settings shipped with it."""

from __future__ import annotations

from pathlib import Path

from distributed import LocalCluster
from tests.conftest import fresh_engine

from crowdalpha.compute.dask import DaskBackend
from crowdalpha.jobs import JobQueue, JobState
from crowdalpha.runtime import open_tournament
from crowdalpha.server.jobs import open_job_runner
from crowdalpha.settings import Settings


def test_a_job_runs_on_a_worker_of_the_cluster(dask_cluster: LocalCluster, tmp_path: Path) -> None:
    engine = fresh_engine("sqlite", tmp_path)
    settings = Settings(
        home=tmp_path / "home",
        database_url=engine.url.render_as_string(hide_password=False),
        data_source="synthetic",
    )
    tournament = open_tournament(settings)
    try:
        alice = tournament.create_account("alice", "alice@example.org")
        queue = JobQueue(engine)
        job = queue.enqueue("tests.jobs.handlers:account_of", {"username": "alice"})
        on_cluster = settings.model_copy(update={"dask_scheduler": dask_cluster.scheduler_address})
        runner = open_job_runner(tournament, on_cluster)
        try:
            assert isinstance(runner.backend, DaskBackend)
            assert runner.run_until_idle() == 1
        finally:
            runner.close()
        done = queue.get(job)
        assert done.state is JobState.SUCCEEDED, done.error_message
        assert done.result["account"] == alice.id
        assert done.result["worker"] in dask_cluster.scheduler_info["workers"]
    finally:
        tournament.close()

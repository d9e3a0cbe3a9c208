"""Diagnostics as background jobs: the request queues them and answers at once; a runner
scores them — to the same result as scoring in the request —, a job whose worker died is
run again, and a server that starts runs the jobs queued before."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from tests.server.graphql_support import (
    GraphQLHarness,
    Participant,
    add_participant,
    predictions_csv,
    settings_for,
    skilled,
)

from crowdalpha.jobs import JobQueue, JobState
from crowdalpha.server.app import create_app
from crowdalpha.server.graphql.diagnostics import (
    diagnostics_job,
    load_diagnostics,
    run_diagnostics,
)

AUTH = """query($filename: String! $modelId: String) {
  diagnosticsUploadAuth(filename: $filename tournament: 8 modelId: $modelId) { filename url } }"""
CREATE = """mutation($filename: String! $modelId: String) {
  createDiagnostics(filename: $filename tournament: 8 modelId: $modelId) { id status } }"""
READ = """query($id: String $modelId: String!) { diagnostics(id: $id modelId: $modelId) {
  id status message erasAcceptedCount validationCorrMean perEraDiagnostics { era } } }"""


@pytest.fixture
def h(engine: Engine, tmp_path: Path) -> GraphQLHarness:
    return GraphQLHarness(engine, tmp_path)


@pytest.fixture
def alice(h: GraphQLHarness) -> Participant:
    return add_participant(h.tournament, "alice", ("alpha",))


def _content(h: GraphQLHarness, seed: int = 3) -> bytes:
    validation = h.data.validation()  # type: ignore[attr-defined]
    values = skilled(h.data.validation_signal(), 1.0, seed=seed)  # type: ignore[attr-defined]
    return predictions_csv(list(validation.index), values)


def _create(h: GraphQLHarness, who: Participant, content: bytes) -> dict[str, Any]:
    model = str(who.models["alpha"])
    auth = h.data_of(AUTH, {"filename": "val.csv", "modelId": model}, who=who)
    auth = auth["diagnosticsUploadAuth"]
    assert h.client.put(auth["url"], content=content).status_code == 200
    created: dict[str, Any] = h.data_of(
        CREATE, {"filename": auth["filename"], "modelId": model}, who=who
    )["createDiagnostics"]
    return created


def _read(h: GraphQLHarness, who: Participant, ident: str, client: TestClient | None = None) -> Any:
    variables = {"id": ident, "modelId": str(who.models["alpha"])}
    if client is None:
        return h.data_of(READ, variables, who=who)["diagnostics"]
    body = client.post(
        "/graphql", json={"query": READ, "variables": variables}, headers=who.headers
    )
    return body.json()["data"]["diagnostics"]


def _without_id(result: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in result.items() if k != "id"}


def test_a_queued_job_scores_as_the_request_did(h: GraphQLHarness, alice: Participant) -> None:
    content = _content(h)
    created = _create(h, alice, content)
    assert created["status"] == "queued"  # answered before any scoring
    assert _read(h, alice, created["id"])["status"] == "queued"
    assert h.run_jobs() == 1
    t = h.tournament
    model = alice.models["alpha"]
    queued = load_diagnostics(t, JobQueue(t.engine), alice.account_id, model, created["id"])
    current = t.current_round()
    assert current is not None
    synchronous = run_diagnostics(
        t, current, content, filename="val.csv", account_id=alice.account_id, model_id=model
    )
    assert queued["status"] == "succeeded" and queued["eras_accepted_count"] == 3
    assert _without_id(queued) == _without_id(synchronous)
    assert _read(h, alice, created["id"])["status"] == "succeeded"


def test_a_job_whose_worker_died_is_run_again(h: GraphQLHarness, alice: Participant) -> None:
    queue = JobQueue(h.tournament.engine)
    created = _create(h, alice, _content(h))
    [held] = queue.claim("dead-worker", lease=timedelta(milliseconds=1))
    read = _read(h, alice, created["id"])
    assert read["status"] == "running" and read["message"] == "running (attempt 1 of 3)"
    threading.Event().wait(0.01)  # its lease ran out: the worker is gone
    assert h.run_jobs() == 1
    done = queue.get(held.id)
    assert (done.state, done.attempts) == (JobState.SUCCEEDED, 2)
    assert done.claimed_by != "dead-worker"
    result = _read(h, alice, created["id"])
    assert result["status"] == "succeeded" and result["erasAcceptedCount"] == 3


def test_a_worker_that_died_after_storing_the_result_is_not_scored_twice(
    h: GraphQLHarness, alice: Participant
) -> None:
    queue = JobQueue(h.tournament.engine)
    created = _create(h, alice, _content(h))
    [held] = queue.claim("dead-worker", lease=timedelta(milliseconds=1))
    # the worker stored the result, dropped the upload, and died before recording it
    first = diagnostics_job(held.payload, h.tournament)
    stored = _read(h, alice, created["id"])
    threading.Event().wait(0.01)
    assert h.run_jobs() == 1
    done = queue.get(held.id)
    assert (done.state, done.attempts, done.result) == (JobState.SUCCEEDED, 2, first)
    assert _read(h, alice, created["id"]) == stored


def test_a_job_that_gives_up_reads_as_failed_with_the_reason(
    h: GraphQLHarness, alice: Participant
) -> None:
    queue = JobQueue(h.tournament.engine)
    created = _create(h, alice, _content(h))
    for attempt in range(3):  # every worker that takes it dies
        threading.Event().wait(0.01)
        assert len(queue.claim(f"dead-{attempt}", lease=timedelta(milliseconds=1))) == 1
    threading.Event().wait(0.01)
    assert h.run_jobs() == 0  # not run a fourth time
    failed = _read(h, alice, created["id"])
    assert failed["status"] == "failed" and failed["message"].startswith("worker_died: ")


def test_a_server_that_starts_runs_the_jobs_queued_before(
    h: GraphQLHarness, alice: Participant, tmp_path: Path
) -> None:
    created = _create(h, alice, _content(h))  # this server runs no jobs: it stays queued
    assert _read(h, alice, created["id"])["status"] == "queued"
    h.client.close()
    # the next server process starts its runner with the app (its lifespan)
    app = create_app(
        h.tournament, settings_for(tmp_path, "http://testserver"), background=False, jobs=True
    )
    with TestClient(app) as client:
        deadline = time.monotonic() + 60
        while (read := _read(h, alice, created["id"], client))["status"] != "succeeded":
            assert read["status"] in ("queued", "running") and time.monotonic() < deadline
            threading.Event().wait(0.05)
    assert read["erasAcceptedCount"] == 3 and len(read["perEraDiagnostics"]) == 3

"""Metrics and JSON logs of a real ``crowdalpha serve --workers 2``: each scrape, whichever
process answers it, counts the requests of both processes (prometheus-client's
multiprocess mode in a folder ``serve`` creates and deletes); every access line is JSON
and carries its request's id, the caller's ``X-Request-ID`` when it sent one."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from tests.faults.conftest import Deployment
from tests.faults.processes import Serve

REQUESTS = 30


def _served_current_round(metrics: str) -> float:
    return sum(
        sample.value
        for family in text_string_to_metric_families(metrics)
        for sample in family.samples
        if sample.name == "crowdalpha_http_requests_total"
        and sample.labels == {"method": "GET", "route": "/v1/rounds/current", "status": "200"}
    )


def _json_lines(log: Path) -> list[dict[str, Any]]:
    lines = []
    for line in log.read_text(errors="replace").splitlines():
        try:
            parsed = json.loads(line)
        except ValueError:
            continue  # serve's own banner, printed before logging starts
        if isinstance(parsed, dict):
            lines.append(parsed)
    return lines


@pytest.mark.parametrize("db_kind", ["sqlite"])  # the processes, not the database, matter
def test_two_workers_add_up_their_metrics_and_log_json_with_request_ids(
    deployment: Deployment, tmp_path: Path
) -> None:
    # where serve makes its metrics folder (TMPDIR): short, since multiprocessing also
    # puts the unix sockets that hand the listening socket to the workers there
    scratch = Path(tempfile.mkdtemp(prefix="ca-ops-"))
    env = {
        **deployment.env,
        "CROWDALPHA_METRICS": "public",
        "CROWDALPHA_LOG_FORMAT": "json",
        "TMPDIR": str(scratch),
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    log = tmp_path / "serve.log"
    server = Serve(env, workers=2, log=log).start()
    try:
        ids = [f"ops-test-{i}" for i in range(REQUESTS)]
        for request_id in ids:  # a connection each, so that both processes answer some
            with httpx.Client(base_url=server.url, timeout=30) as http:
                answer = http.get("/v1/rounds/current", headers={"X-Request-ID": request_id})
            assert answer.status_code == 200
            assert answer.headers["x-request-id"] == request_id
        counted = []
        for _ in range(6):
            with httpx.Client(base_url=server.url, timeout=30) as http:
                counted.append(_served_current_round(http.get("/metrics").text))
        folders = list(scratch.glob("crowdalpha-metrics-*"))
        recorded = sorted(p.name for folder in folders for p in folder.iterdir())
    finally:
        server.stop()
        leftover = list(scratch.glob("crowdalpha-metrics-*"))
        shutil.rmtree(scratch, ignore_errors=True)
    # the start-up wait asks /v1/health, never /v1/rounds/current: exactly our requests
    assert counted == [REQUESTS] * 6
    assert len(folders) == 1 and recorded, recorded  # one shared folder, with files in it
    assert not leftover  # deleted when serve stopped
    access = [line for line in _json_lines(log) if line.get("logger") == "uvicorn.access"]
    by_id = {line["request_id"]: line for line in access if "request_id" in line}
    assert set(ids) <= set(by_id)
    for request_id in ids:
        assert by_id[request_id]["http"]["path"] == "/v1/rounds/current"
        assert by_id[request_id]["http"]["status"] == 200
    made = [line for line in access if line["http"]["path"] == "/metrics"]
    assert made and all(len(line["request_id"]) == 32 for line in made)

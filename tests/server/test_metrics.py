"""Prometheus metrics at /metrics: requests by route template and status, latency, upload
validation, ticks, resolutions, the ledger check, and rounds by state counted in the
database; who may read them (CROWDALPHA_METRICS).

Counters are process-wide (one registry per process, as in production), so each test
compares two scrapes: before and after what it does."""

from __future__ import annotations

import re
import time

import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient
from tests.server.rest_support import PUBLIC_URL, Served, served

from crowdalpha.server import create_app

__all__ = ["served"]

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(s: Served) -> Samples:
    response = s.client.get("/metrics", headers=s.admin)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def test_requests_are_counted_by_route_template_and_status(served: Served) -> None:
    s = served
    bob = s.sign_up("bob")
    model = s.create_model(bob, "bob_m")
    route = "/v1/models/{model_id}"
    before = scrape(s)
    for _ in range(3):
        assert s.client.get(f"/v1/models/{model}", headers=bob.headers).status_code == 200
    assert s.client.get("/v1/models/987654", headers=bob.headers).status_code == 404
    assert s.client.get(f"/v1/models/{model}").status_code == 401
    assert s.client.get("/no/such/page/12345").status_code == 404
    # a dataset's name spans segments (numerapi's "v5.0/train.parquet"): not the prefix
    s.client.get("/v1/rounds/1/datasets/v5.0/train.parquet", follow_redirects=False)
    after = scrape(s)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    requests = "crowdalpha_http_requests_total"
    assert delta(requests, method="GET", route=route, status="200") == 3
    assert delta(requests, method="GET", route=route, status="404") == 1
    assert delta(requests, method="GET", route=route, status="401") == 1
    assert delta(requests, method="GET", route="unmatched", status="404") == 1
    # the latency histogram: every request of the route observed, in cumulative buckets
    latency = "crowdalpha_http_request_duration_seconds"
    assert delta(f"{latency}_count", method="GET", route=route) == 5
    assert delta(f"{latency}_bucket", method="GET", route=route, le="+Inf") == 5
    assert value(after, f"{latency}_sum", method="GET", route=route) > 0
    # the raw paths (ids) never became labels
    routes = {dict(labels)["route"] for (_name, labels) in after if "route" in dict(labels)}
    assert route in routes and "unmatched" in routes
    assert "/v1/rounds/{number}/datasets/{name}" in routes
    assert not [r for r in routes if re.search(r"/\d+(/|$)", r)]


def test_rounds_by_state_match_the_database(served: Served) -> None:
    s = served
    t = s.tournament
    first = s.open_round()
    s.clock.set(t.round(first).closes_at)
    t.tick()
    second = s.open_round()
    samples = scrape(s)
    for state in ("open", "closed", "scoring", "resolved"):
        in_db = len(t.rounds(states=[state]))
        assert value(samples, "crowdalpha_rounds", competition="classic", state=state) == in_db
    assert t.round(second).state == "open"
    assert t.round(first).state in ("closed", "scoring")


def test_uploads_ticks_resolutions_and_the_ledger_check_are_timed(served: Served) -> None:
    s = served
    bob = s.sign_up("bob", grant="10")
    model = s.create_model(bob, "bob_m")
    number = s.open_round()
    before = scrape(s)
    ok = s.client.post(
        f"/v1/models/{model}/submissions", content=s.live_csv(number), headers=bob.headers
    )
    assert ok.status_code == 201, ok.text
    bad = s.client.post(
        f"/v1/models/{model}/submissions", content=b"id,prediction\nx,2\n", headers=bob.headers
    )
    assert bad.status_code == 422, bad.text
    s.clock.set(s.tournament.round(number).resolves_at)
    resolved = s.client.post("/v1/admin/tick", headers=s.admin).json()["resolved"]
    assert [r["round_number"] for r in resolved] == [number]
    started = time.time()
    assert s.client.get("/v1/admin/ledger/check", headers=s.admin).json()["ok"] is True
    after = scrape(s)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    validation = "crowdalpha_upload_validation_seconds_count"
    assert delta(validation, competition="classic", outcome="ok") == 1
    assert delta(validation, competition="classic", outcome="refused") == 1
    assert delta("crowdalpha_tick_duration_seconds_count", outcome="ok") == 1
    resolution = "crowdalpha_resolution_duration_seconds_count"
    assert delta(resolution, competition="classic", outcome="ok") == 1
    assert value(after, "crowdalpha_ledger_check_ok") == 1
    assert value(after, "crowdalpha_ledger_check_timestamp_seconds") >= int(started)
    assert value(after, "crowdalpha_ledger_check_duration_seconds") > 0


@pytest.mark.parametrize(
    ("access", "anonymous", "participant", "admin"),
    [("admin", 401, 403, 200), ("public", 200, 200, 200), ("off", 404, 404, 404)],
)
def test_who_may_read_the_metrics(
    served: Served, access: str, anonymous: int, participant: int, admin: int
) -> None:
    s = served
    bob = s.sign_up("bob")
    settings = s.settings.model_copy(update={"metrics": access})
    with TestClient(
        create_app(s.tournament, settings, background=False), base_url=PUBLIC_URL
    ) as client:
        assert client.get("/metrics").status_code == anonymous
        assert client.get("/metrics", headers=bob.headers).status_code == participant
        assert client.get("/metrics", headers=s.admin).status_code == admin

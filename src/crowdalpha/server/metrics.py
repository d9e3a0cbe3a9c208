"""Prometheus metrics at ``GET /metrics`` (prometheus-client's text format).

What is measured:

- ``crowdalpha_http_requests_total{method, route, status}`` and
  ``crowdalpha_http_request_duration_seconds{method, route}`` (a histogram): every HTTP
  request, labelled by the route's *template* (``/v1/models/{model_id}``), never the raw
  path, so ids cannot multiply the series; requests answered before routing (an unknown
  path, a body over the limit) are ``route="unmatched"``.
- ``crowdalpha_upload_validation_seconds{competition, outcome}``: parsing and checking one
  prediction file (``outcome`` ``ok`` or ``refused``).
- ``crowdalpha_tick_duration_seconds{outcome}`` and
  ``crowdalpha_resolution_duration_seconds{competition, outcome}``: the round clock's
  ticks (``refused``: another scheduler held the clock) and each round's resolution
  (``already_resolved``: a repeated call that found nothing to do).
- ``crowdalpha_ledger_check_ok`` (1 or 0), ``crowdalpha_ledger_check_timestamp_seconds``
  and ``crowdalpha_ledger_check_duration_seconds``: the last ledger check a server process
  ran (``GET /v1/admin/ledger/check``; absent until the first — schedule that call to keep
  them fresh).
- ``crowdalpha_rounds{competition, state}``: rounds by state, one grouped count in the
  database at each scrape (every state listed, 0 where none).

The core reports its durations through :mod:`crowdalpha.observe` (it never imports
Prometheus); :func:`install` listens and records them here.

Several processes (``crowdalpha serve --workers N``): each records into files under
``PROMETHEUS_MULTIPROC_DIR`` (prometheus-client's multiprocess mode; ``serve`` creates a
temporary folder for it and deletes it on exit), and a scrape answered by any process adds
up every process's counters and histograms; the ledger-check gauges show the most recent
value of any process. Without that variable each process reports its own figures.

Access (``CROWDALPHA_METRICS``): ``admin`` (default) answers only an admin key — Prometheus
sends one with ``authorization: {type: Token, credentials: PUBLIC$SECRET}`` in its scrape
configuration; ``public`` answers anyone (for a port only the scraper reaches); ``off``
has no route at all.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator, Mapping

from fastapi import APIRouter, Depends, Request, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from crowdalpha import observe
from crowdalpha.server.auth import require
from crowdalpha.tournament import Tournament

__all__ = ["RequestMetrics", "exposition", "install", "make_router", "route_template"]

log = logging.getLogger("crowdalpha.server")

UNMATCHED = "unmatched"

_FAST = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
_SLOW = (0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)

REQUESTS = Counter(
    "crowdalpha_http_requests",
    "HTTP requests answered, by method, route template and status.",
    ["method", "route", "status"],
)
LATENCY = Histogram(
    "crowdalpha_http_request_duration_seconds",
    "Time to answer an HTTP request (to the end of its body), by method and route template.",
    ["method", "route"],
    buckets=_FAST,
)
UPLOAD_VALIDATION = Histogram(
    "crowdalpha_upload_validation_seconds",
    "Time to parse and check one prediction file.",
    ["competition", "outcome"],
    buckets=_FAST,
)
TICK = Histogram(
    "crowdalpha_tick_duration_seconds",
    "Time of one run of the round clock over every competition.",
    ["outcome"],
    buckets=_SLOW,
)
RESOLUTION = Histogram(
    "crowdalpha_resolution_duration_seconds",
    "Time to resolve one round (scores, meta model, payouts, in one transaction).",
    ["competition", "outcome"],
    buckets=_SLOW,
)
LEDGER_OK = Gauge(
    "crowdalpha_ledger_check_ok",
    "1 when the last ledger check found every balance and the supply in agreement, else 0.",
    multiprocess_mode="mostrecent",
)
LEDGER_TIME = Gauge(
    "crowdalpha_ledger_check_timestamp_seconds",
    "When the last ledger check ended (Unix time).",
    multiprocess_mode="mostrecent",
)
LEDGER_DURATION = Gauge(
    "crowdalpha_ledger_check_duration_seconds",
    "How long the last ledger check took.",
    multiprocess_mode="mostrecent",
)

_installed: list[bool] = []


def _record(event: str, seconds: float, labels: Mapping[str, str]) -> None:
    outcome = labels.get("outcome", "ok")
    if event == "upload_validation":
        UPLOAD_VALIDATION.labels(labels.get("competition", ""), outcome).observe(seconds)
    elif event == "tick":
        TICK.labels(outcome).observe(seconds)
    elif event == "resolution":
        RESOLUTION.labels(labels.get("competition", ""), outcome).observe(seconds)
    elif event == "ledger_check" and outcome in ("ok", "failed"):
        LEDGER_OK.set(1 if outcome == "ok" else 0)
        LEDGER_TIME.set(time.time())
        LEDGER_DURATION.set(seconds)


def install() -> None:
    """Record the core's events in this process's metrics (once per process)."""
    if not _installed:
        observe.listen(_record)
        _installed.append(True)


def route_template(scope: Scope) -> str:
    """The matched route's path template, its router's prefix included
    (``/v1/models/{model_id}``), or ``unmatched``.

    The route in the scope carries its template; FastAPI versions differ on whether an
    included router's prefix is part of it (0.165 keeps the route as declared in its router,
    ``/models/{model_id}``). The prefix is then the leading segments of the request's path
    that the route's own pattern does not match: the shortest prefix whose rest the route
    matches — so a ``{name:path}`` parameter, whose value spans segments, is no part of it.
    Prefixes are constant (no parameters in ``/v1``), so the label never holds an id."""
    route = scope.get("route")
    template = getattr(route, "path_format", None) or getattr(route, "path", None)
    if not isinstance(template, str) or not template:
        return UNMATCHED
    pattern = getattr(route, "path_regex", None)
    path = str(scope.get("path", ""))
    if pattern is None or pattern.match(path):
        return template
    segments = path.split("/")
    for cut in range(2, len(segments)):
        if pattern.match("/" + "/".join(segments[cut:])):
            return "/".join(segments[:cut]) + template
    return template


class RequestMetrics:
    """Pure ASGI middleware: count and time every HTTP request by route template."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500  # unless a response starts
        start = time.perf_counter()

        async def send_seen(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_seen)
        finally:
            route = route_template(scope)
            method = str(scope.get("method", ""))
            REQUESTS.labels(method, route, str(status)).inc()
            LATENCY.labels(method, route).observe(time.perf_counter() - start)


class _Rounds(Collector):
    """``crowdalpha_rounds``, counted in the database when scraped."""

    def __init__(self, tournament: Tournament) -> None:
        self.tournament = tournament

    def collect(self) -> Iterator[Metric]:
        try:
            counts = self.tournament.round_counts()
        except Exception:
            log.warning("metrics: the rounds could not be counted", exc_info=True)
            return
        family = GaugeMetricFamily(
            "crowdalpha_rounds",
            "Rounds by competition and state (counted in the database at each scrape).",
            labels=["competition", "state"],
        )
        for (competition, state), n in sorted(counts.items()):
            family.add_metric([competition, state], n)
        yield family


def exposition(tournament: Tournament) -> bytes:
    """Every metric in Prometheus' text format: this process's (or, in multiprocess mode,
    every process's) and the rounds counted now."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        recorded = CollectorRegistry()
        MultiProcessCollector(recorded)  # type: ignore[no-untyped-call]
    else:
        recorded = REGISTRY
    now = CollectorRegistry(auto_describe=False)
    now.register(_Rounds(tournament))
    return generate_latest(recorded) + generate_latest(now)


def make_router(access: str) -> APIRouter:
    """``GET /metrics``, for an admin key (``access="admin"``) or for anyone."""
    router = APIRouter(include_in_schema=False)
    dependencies = [Depends(require("admin"))] if access == "admin" else []

    @router.get("/metrics", dependencies=dependencies)
    def metrics(request: Request) -> Response:
        body = exposition(request.app.state.context.tournament)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    return router

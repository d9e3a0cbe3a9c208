"""Request ids and JSON logs: every response carries ``X-Request-ID`` (the caller's when it
is a plain token, else a new one), and every JSON log line written while a request is
handled — in the event loop or in a worker thread — carries that id."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from tests.server.rest_support import Served, served

from crowdalpha.server.logs import JsonFormatter, log_config

__all__ = ["served"]

log = logging.getLogger("crowdalpha.server.test")


def test_the_request_id_is_echoed_or_made(served: Served) -> None:
    c = served.client
    given = c.get("/v1/rounds", headers={"X-Request-ID": "lb-7f3a:42"})
    assert given.headers["x-request-id"] == "lb-7f3a:42"
    made = {c.get("/v1/rounds").headers["x-request-id"] for _ in range(3)}
    assert len(made) == 3 and all(re.fullmatch(r"[0-9a-f]{32}", m) for m in made)
    # an id that could forge a log line or flood it is replaced
    for forged in (b"a b", b"x" * 129, b"id\xe9", b'a"}{"level": "x'):
        answered = c.get("/healthz", headers={b"X-Request-ID": forged}).headers["x-request-id"]
        assert re.fullmatch(r"[0-9a-f]{32}", answered)
    # refusals carry it too (the body limit answers before any route)
    refused = c.post(
        "/v1/accounts", headers={"X-Request-ID": "big-1", "Content-Length": str(10**12)}
    )
    assert refused.status_code == 413 and refused.headers["x-request-id"] == "big-1"


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    """What the ``crowdalpha`` loggers write, in the JSON format ``serve`` configures."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("crowdalpha")
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.INFO)
    try:
        yield out
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def _logging_routes(app: FastAPI) -> None:
    @app.get("/_test/sync")
    def in_a_thread() -> dict[str, str]:
        log.info("handled in a worker thread")
        return {}

    @app.get("/_test/async")
    async def in_the_loop() -> dict[str, str]:
        log.warning("handled in the event loop")
        try:
            raise ValueError("boom")
        except ValueError:
            log.exception("with a traceback")
        return {}


def test_json_log_lines_carry_the_request_id(served: Served, json_lines: io.StringIO) -> None:
    _logging_routes(served.app)
    log.info("outside any request")
    sync = served.client.get("/_test/sync", headers={"X-Request-ID": "req-sync"})
    made = served.client.get("/_test/async").headers["x-request-id"]
    assert sync.headers["x-request-id"] == "req-sync"
    lines = [json.loads(line) for line in json_lines.getvalue().splitlines()]
    by_message = {line["message"]: line for line in lines if line["logger"] == log.name}
    assert by_message["handled in a worker thread"]["request_id"] == "req-sync"
    assert by_message["handled in the event loop"]["request_id"] == made
    assert by_message["with a traceback"]["request_id"] == made
    assert "ValueError: boom" in by_message["with a traceback"]["exception"]
    assert "request_id" not in by_message["outside any request"]
    for line in by_message.values():
        assert {"time", "level", "logger", "message", "process"} <= set(line)
    assert by_message["handled in the event loop"]["level"] == "warning"


def test_json_config_formats_uvicorn_access_lines() -> None:
    config = log_config(fmt="json")
    for name in ("crowdalpha", "default", "access"):
        assert config["formatters"][name] == {"()": "crowdalpha.jsonlog.JsonFormatter"}
    assert log_config()["formatters"]["access"]["()"] == "uvicorn.logging.AccessFormatter"
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", "/v1/rounds?x=1", "1.1", 200),
        None,
    )
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == '127.0.0.1:5000 - "GET /v1/rounds?x=1 HTTP/1.1" 200'
    assert line["http"] == {
        "client": "127.0.0.1:5000",
        "method": "GET",
        "path": "/v1/rounds?x=1",
        "status": 200,
    }

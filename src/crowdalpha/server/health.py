"""Probes for process managers and load balancers, outside the API's prefix and keys.

- ``GET /healthz``: the process is up and serving (liveness; touches nothing).
- ``GET /readyz``: the database answers (``SELECT 1``) and the file store answers (a tiny
  probe file written, read back and deleted — so a full or read-only disk is caught);
  200 when both do, else 503 naming the failing check. Failures are reported by their
  kind only (never a message that could carry a URL or a password); the log has the rest.
"""

from __future__ import annotations

import logging
import os
import uuid

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

from crowdalpha.tournament import Tournament

__all__ = ["check_ready", "router"]

log = logging.getLogger("crowdalpha.server")
router = APIRouter(include_in_schema=False)

PROBE_PREFIX = "_probes/"


def check_ready(tournament: Tournament) -> dict[str, str]:
    """Each dependency's state: ``"ok"`` or ``"failed: <kind>"``."""
    checks: dict[str, str] = {}
    try:
        with tournament.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:
        log.warning("readiness: the database does not answer", exc_info=True)
        checks["database"] = f"failed: {type(exc).__name__}"
    key = f"{PROBE_PREFIX}{os.getpid()}-{uuid.uuid4().hex}"
    try:
        tournament.store.put(key, b"ok")
        try:
            if tournament.store.get(key) != b"ok":
                raise OSError("the probe file read back different bytes")
        finally:
            tournament.store.delete(key)
        checks["files"] = "ok"
    except Exception as exc:
        log.warning("readiness: the file store does not answer", exc_info=True)
        checks["files"] = f"failed: {type(exc).__name__}"
    return checks


@router.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
def readyz(request: Request) -> JSONResponse:
    checks = check_ready(request.app.state.context.tournament)
    ready = all(state == "ok" for state in checks.values())
    return JSONResponse(
        {"status": "ready" if ready else "not_ready", "checks": checks},
        status_code=200 if ready else 503,
    )

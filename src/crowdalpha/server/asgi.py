"""An ASGI factory for process managers: the app of the environment's settings.

``uvicorn --factory crowdalpha.server.asgi:app_from_environment --workers 2`` (what
``crowdalpha serve --workers N`` runs) starts several processes on one port, each with
its own engine on the same database and folder; the round clock runs in the first one only
(each process would tick idempotently, but once is enough).
"""

from __future__ import annotations

import os

from fastapi import FastAPI

from crowdalpha.runtime import open_tournament
from crowdalpha.server.app import create_app
from crowdalpha.settings import Settings

__all__ = ["app_from_environment"]

CLOCK_ENV = "CROWDALPHA_CLOCK_LOCK"


def _claim_clock(settings: Settings) -> bool:
    """True for the one process that should run the clock (the first to create the lock)."""
    if settings.tick_interval <= 0:
        return False
    marker = os.environ.get(CLOCK_ENV)
    if marker is None:
        return True
    try:
        fd = os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    os.write(fd, str(os.getpid()).encode())
    os.close(fd)
    return True


def app_from_environment() -> FastAPI:
    settings = Settings()
    tournament = open_tournament(settings)
    return create_app(tournament, settings, run_clock_task=_claim_clock(settings))

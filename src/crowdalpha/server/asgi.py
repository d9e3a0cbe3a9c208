"""An ASGI factory for process managers: the app of the environment's settings.

``uvicorn --factory crowdalpha.server.asgi:app_from_environment --workers 2`` (what
``crowdalpha serve --workers N`` runs) starts several processes on one port, each with
its own engine on the same database and folder; the background tasks (the round clock and
the housekeeping) run in one of them only — the one holding an exclusive lock on
``{home}/clock.lock`` (released by the system when that process exits). Ticking is
idempotent, so this only saves work.
"""

from __future__ import annotations

import fcntl
import os

from fastapi import FastAPI

from crowdalpha.runtime import open_chain, open_tournament
from crowdalpha.server.app import create_app
from crowdalpha.settings import Settings

__all__ = ["app_from_environment"]

_held: list[int] = []  # the lock's file descriptor, kept open for the process's life


def _claim_clock(settings: Settings) -> bool:
    """True for the one process that should run the background tasks."""
    settings.home.mkdir(parents=True, exist_ok=True)
    fd = os.open(settings.home / "clock.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return False
    _held.append(fd)
    return True


def app_from_environment() -> FastAPI:
    settings = Settings()
    tournament = open_tournament(settings)
    return create_app(
        tournament, settings, background=_claim_clock(settings), chain=open_chain(tournament)
    )

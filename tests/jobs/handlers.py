"""Job handlers for the tests (module-level: they travel by name to pool processes)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from crowdalpha.errors import InvalidParameterError


def add(payload: dict[str, Any]) -> dict[str, int]:
    return {"sum": int(payload["a"]) + int(payload["b"])}


def refuse(payload: dict[str, Any]) -> None:
    raise InvalidParameterError(f"bad input {payload['what']}")


def crash(payload: dict[str, Any]) -> None:
    raise RuntimeError("a bug")


def die_once(payload: dict[str, Any]) -> dict[str, int]:
    """Kill its own process the first time (as the out-of-memory killer would)."""
    marker = Path(payload["marker"])
    if not marker.exists():
        marker.write_text("died")
        os._exit(1)
    return {"pid": os.getpid()}


def hang_once(payload: dict[str, Any]) -> dict[str, int]:
    """Hang the first time (a job its runner is stopped or killed in), answer after."""
    marker = Path(payload["marker"])
    if not marker.exists():
        marker.write_text(str(os.getpid()))
        time.sleep(120)
    return {"answer": int(payload["answer"])}


def account_of(payload: dict[str, Any], context: Any) -> dict[str, Any]:
    """The id of an account, read by the worker from the tournament its context opens, and
    where the worker runs (its pid; its Dask address on a cluster)."""
    from crowdalpha.server.jobs import tournament_of

    account = tournament_of(context).account_by_username(payload["username"])
    where: dict[str, Any] = {"account": account.id, "pid": os.getpid()}
    try:
        from distributed import get_worker

        where["worker"] = get_worker().address
    except (ImportError, ValueError):
        where["worker"] = None
    return where

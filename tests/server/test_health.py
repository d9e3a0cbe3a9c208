"""Liveness and readiness probes: /healthz answers while the process serves; /readyz says
whether the database and the file store answer, and which does not."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, text
from tests.server.rest_support import Served, served  # noqa: F401 - fixture

from crowdalpha.storage import LocalFileStore


def test_healthz_and_readyz_answer_on_a_working_deployment(served: Served) -> None:  # noqa: F811
    assert served.client.get("/healthz").json() == {"status": "ok"}
    ready = served.client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "checks": {"database": "ok", "files": "ok"}}
    assert not list(served.tournament.store.keys("_probes/"))  # the probe cleaned up


def test_readyz_names_an_unwritable_file_store(
    served: Served,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def full(self: LocalFileStore, key: str, data: bytes) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(LocalFileStore, "put", full)
    ready = served.client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json() == {
        "status": "not_ready",
        "checks": {"database": "ok", "files": "failed: OSError"},
    }
    assert served.client.get("/healthz").status_code == 200  # alive, not ready


def test_readyz_names_a_database_that_does_not_answer(
    served: Served,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    engine: Engine,
) -> None:
    def refuse(*_args: object, **_kwargs: object) -> None:
        raise ConnectionRefusedError("connection refused (password=hunter2)")

    monkeypatch.setattr(type(engine), "connect", refuse)
    ready = served.client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["checks"] == {"database": "failed: ConnectionRefusedError", "files": "ok"}
    assert "hunter2" not in ready.text  # no message (which may hold secrets) is shown
    monkeypatch.undo()
    with engine.connect() as connection:
        assert connection.execute(text("SELECT 1")).scalar() == 1

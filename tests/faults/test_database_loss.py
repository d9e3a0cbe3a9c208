"""The database connection lost in the middle of a request (PostgreSQL: the backend is
terminated with ``pg_terminate_backend``, as a restart of the server would): the request
fails with a clear, retryable 503, nothing half-written remains (no row, no file), the
pool recovers, and the client's retry with its idempotency key succeeds once."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import event, text
from tests.faults.report import record
from tests.server.rest_support import Served, served

from crowdalpha.db import create_database_engine

__all__ = ["served"]


def test_a_terminated_backend_mid_upload_is_a_clean_retryable_failure(
    served: Served, db_kind: str
) -> None:
    if db_kind != "postgresql":
        pytest.skip("terminating a backend is a PostgreSQL fault")
    s = served
    bob = s.sign_up("bob")
    model = s.create_model(bob, "bob_m")
    number = s.open_round()
    engine = s.tournament.engine
    admin = create_database_engine(engine.url.render_as_string(hide_password=False))
    armed = [True]

    def terminate(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if armed[0] and statement.lstrip().upper().startswith("INSERT INTO SUBMISSIONS"):
            armed[0] = False
            pid = conn.connection.dbapi_connection.info.backend_pid
            with admin.begin() as other:
                other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})

    event.listen(engine, "before_cursor_execute", terminate)
    try:
        before = s.snapshot()
        headers = {**bob.headers, "Idempotency-Key": "upload-1"}
        failed = s.client.post(
            f"/v1/models/{model}/submissions", content=s.live_csv(number), headers=headers
        )
        assert not armed[0], "the fault was not injected"
        assert failed.status_code == 503, failed.text
        error = failed.json()["error"]
        assert error["code"] == "service_unavailable"
        assert error["details"] == {"service": "database", "retryable": True}
        assert failed.headers["Retry-After"] == "1"
        assert s.snapshot() == before  # no row, no file, no money moved

        retried = s.client.post(
            f"/v1/models/{model}/submissions", content=s.live_csv(number), headers=headers
        )
        assert retried.status_code == 201, retried.text
        again = s.client.post(
            f"/v1/models/{model}/submissions", content=s.live_csv(number), headers=headers
        )
        assert again.json()["id"] == retried.json()["id"]  # recorded once
        assert len(s.tournament.submissions()) == 1
        stored = list(s.tournament.store.keys("submissions/"))  # the file and its array
        assert len({key.rsplit(".", 1)[0] for key in stored}) == 1
        assert s.tournament.check_ledger().ok
        record("PostgreSQL backend terminated mid-upload", db_kind, lost=0, duplicates=0)
    finally:
        event.remove(engine, "before_cursor_execute", terminate)
        admin.dispose()

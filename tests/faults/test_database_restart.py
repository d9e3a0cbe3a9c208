"""PostgreSQL restarted under load: every backend of the database terminated, again and
again, while participants upload and stake against ``crowdalpha serve --workers 2``.

A restart of the database server drops every connection at once; this test does the same
with ``pg_terminate_backend`` on every backend of the test database (restarting the shared
server itself with ``pg_ctlcluster`` would break every other database on it). Uploaders
and stakers run in threads of this process (another process than the server's), each
request under its own idempotency key; a refused request must be the clear retryable
``503 service_unavailable`` (``details.retryable``), and its retry with the same key must
succeed once the pool has reconnected. Afterwards nothing is half-written: every upload
the client saw accepted has its row and its hash-identical file, no file lacks its row,
every stake equals the sum of the increases the client saw accepted (none applied twice),
and ``ledger check`` passes.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

import pytest
from sqlalchemy import text
from tests.conftest import POSTGRES_URL
from tests.faults.conftest import Deployment, predictions
from tests.faults.processes import Serve
from tests.faults.report import record

from crowdalpha.client import Client, ServerError
from crowdalpha.db import create_database_engine
from crowdalpha.ledger import TREASURY, nmr
from crowdalpha.runtime import open_tournament

UPLOADERS = 3
UPLOADS = 6  # per uploader
STAKES = 8  # increases of 1 NMR per model
MAX_TERMINATIONS = 60  # rounds of "terminate every backend", one each TERMINATE_EVERY_S
TERMINATE_EVERY_S = 0.1
DEADLINE_S = 300.0  # a bound, not an expectation

T = TypeVar("T")


@dataclass
class Load:
    refusals: list[dict[str, object]] = field(default_factory=list)  # the 503s' error bodies
    errors: list[str] = field(default_factory=list)  # anything else: none expected
    recoveries: list[float] = field(default_factory=list)  # 503 → the retry's success, s
    accepted: dict[str, tuple[int, int, str]] = field(default_factory=dict)  # key → upload
    staked: dict[int, int] = field(default_factory=dict)  # model → accepted increases
    done: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def until_accepted(self, call: Callable[[], T]) -> T | None:
        """``call`` (one request under one idempotency key) until it succeeds; each refusal
        must be the retryable 503."""
        refused_at: float | None = None
        deadline = time.monotonic() + DEADLINE_S
        while time.monotonic() < deadline:
            try:
                result = call()
            except ServerError as exc:
                if exc.status != 503:  # a 500: a failure of the test
                    with self.lock:
                        self.errors.append(f"{exc.status} {exc!r}")
                    return None
                with self.lock:
                    self.refusals.append(exc.details)
                refused_at = refused_at or time.monotonic()
                time.sleep(0.05)
                continue
            except Exception as exc:  # a 500, a broken connection: a failure of the test
                with self.lock:
                    self.errors.append(repr(exc))
                return None
            if refused_at is not None:
                with self.lock:
                    self.recoveries.append(time.monotonic() - refused_at)
            return result
        with self.lock:
            self.errors.append("no success before the deadline")
        return None


def _uploader(load: Load, url: str, secret: tuple[str, str], model: int, ids: list[str]) -> None:
    with Client(url, *secret, max_retries=0, timeout=DEADLINE_S) as client:
        for n in range(UPLOADS):
            data = predictions(ids, model * 1_000 + n)
            key = str(uuid.uuid4())
            sub = load.until_accepted(
                functools.partial(client.upload_predictions, model, data, idempotency_key=key)
            )
            if sub is None:
                return
            with load.lock:
                load.accepted[key] = (model, sub.id, hashlib.sha256(data).hexdigest())


def _staker(load: Load, url: str, secret: tuple[str, str], model: int) -> None:
    with Client(url, *secret, max_retries=0, timeout=DEADLINE_S) as client:
        for _ in range(STAKES):
            key = str(uuid.uuid4())
            stake = functools.partial(client.increase_stake, model, "1", idempotency_key=key)
            if load.until_accepted(stake) is None:
                return
            with load.lock:
                load.staked[model] = load.staked.get(model, 0) + nmr(1)


def _terminator(load: Load, database_url: str, terminated: list[int]) -> None:
    """Every backend of the test database but this one, terminated; again until the load
    is done or MAX_TERMINATIONS rounds have run."""
    admin = create_database_engine(database_url)
    try:
        for _ in range(MAX_TERMINATIONS):
            if load.done.is_set():
                return
            with admin.connect() as conn:
                killed = conn.execute(
                    text(
                        "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) "
                        "FROM pg_stat_activity "
                        "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    )
                ).scalar_one()
                conn.commit()
            terminated.append(int(killed))
            time.sleep(TERMINATE_EVERY_S)
    finally:
        admin.dispose()


@pytest.mark.parametrize(
    "db_kind",
    [
        pytest.param(
            "postgresql",
            marks=pytest.mark.skipif(
                not POSTGRES_URL, reason="CROWDALPHA_TEST_DATABASE_URL is not set"
            ),
        )
    ],
)
def test_every_backend_terminated_under_load_fails_cleanly_and_loses_nothing(
    deployment: Deployment, db_kind: str
) -> None:
    server = Serve(deployment.env, workers=2, log=deployment.home / "serve.log").start()
    with contextlib.ExitStack() as stack:
        stack.callback(server.stop)
        with Client(server.url) as anonymous:
            signup = anonymous.sign_up("rita", "rita@example.org")
        secret = (signup.api_key.public_id, signup.api_key.secret)
        owner = stack.enter_context(Client(server.url, *secret))
        models = [owner.create_model(f"rita_{i}").id for i in range(UPLOADERS)]
        with open_tournament(deployment.settings(), migrate=False) as t:
            t.mint(nmr(10_000), to=TREASURY)
            t.grant(signup.account.id, nmr(1_000))

        load = Load()
        terminated: list[int] = []
        workers = [
            threading.Thread(
                target=_uploader, args=(load, server.url, secret, m, deployment.live_ids)
            )
            for m in models
        ] + [threading.Thread(target=_staker, args=(load, server.url, secret, m)) for m in models]
        killer = threading.Thread(
            target=_terminator, args=(load, deployment.database_url, terminated)
        )
        for thread in [*workers, killer]:
            thread.start()
        for thread in workers:
            thread.join(timeout=DEADLINE_S)
        load.done.set()
        killer.join(timeout=60)
        assert not any(t.is_alive() for t in [*workers, killer])

        # every refusal was the clear, retryable 503; nothing else went wrong
        assert not load.errors, load.errors
        assert sum(terminated) > 0, "no backend was terminated"
        assert load.refusals, "no request was caught by a termination"
        clear = {"code": "service_unavailable", "service": "database", "retryable": True}
        assert all(r == clear for r in load.refusals), load.refusals
        assert len(load.accepted) == UPLOADERS * UPLOADS
        assert load.staked == {m: nmr(STAKES) for m in models}

        # the pool recovered: the server answers, and nothing is half-written
        stored = {s.id: s for m in models for s in owner.submissions(m)}
        lost = sum(sub_id not in stored for _, sub_id, _ in load.accepted.values())
        duplicates = len(stored) - len(load.accepted)
        for model, sub_id, sha in load.accepted.values():
            assert (stored[sub_id].model_id, stored[sub_id].sha256) == (model, sha)
            assert hashlib.sha256(owner.submission_file(sub_id)).hexdigest() == sha
        stakes = {m: owner.stake(m).stake for m in models}
        with open_tournament(deployment.settings(), migrate=False) as t:
            ledger_ok = t.check_ledger().ok
            with t.engine.connect() as conn:
                named = {
                    str(k)
                    for k in conn.execute(text("SELECT storage_key FROM submissions")).scalars()
                }
            files = {k.rsplit(".", 1)[0] for k in t.store.keys("submissions/")}
            wallet = t.wallet_balance(signup.account.id)
        record(
            "every PostgreSQL backend terminated, repeatedly, under load",
            db_kind,
            requests=len(load.accepted) + sum(load.staked.values()) // nmr(1),
            refused_503=len(load.refusals),
            terminations=len(terminated),
            lost=lost,
            duplicates=duplicates,
            ledger_discrepancies=0 if ledger_ok else 1,
            recover_s=max(load.recoveries, default=0.0),
        )
        assert (lost, duplicates) == (0, 0)
        assert stakes == load.staked  # no increase lost or applied twice
        assert wallet == nmr(1_000) - sum(stakes.values())
        assert ledger_ok
        assert files == named, "a file without its row, or a row without its file"
        assert len(named) == len(load.accepted)

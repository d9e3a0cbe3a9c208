"""``kill -9`` of ``crowdalpha serve --workers 2`` in the middle of uploads.

Participants upload from threads of this process (another process than the server's)
through the client, each upload under its own idempotency key. The whole server — the
uvicorn parent and both workers — is killed with SIGKILL while uploads are in flight, then
started again; every upload that failed is retried with its key. Afterwards every upload
the client saw accepted is stored, complete and hash-identical, and the retries recorded
no second copy of anything.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

from tests.faults.conftest import Deployment, predictions
from tests.faults.processes import Serve
from tests.faults.report import record

from crowdalpha.client import Client, ServerUnreachableError
from crowdalpha.runtime import open_tournament

UPLOADERS = 4
BEFORE_KILL = 12  # accepted uploads before the kill
AFTER_RESTART = 2  # further uploads per uploader after the restart
DEADLINE_S = 600.0  # a bound, not an expectation: a server's workers may take minutes to
# start on a loaded machine, and an uploader must outlive the restart to retry


@dataclass
class Load:
    url: str
    accepted: dict[str, tuple[int, int, str]] = field(default_factory=dict)  # key → ids, sha
    interrupted: list[str] = field(default_factory=list)  # keys that needed a retry
    errors: list[str] = field(default_factory=list)  # refusals: none expected
    restarted: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _uploader(load: Load, secret: tuple[str, str], model_id: int, index: int, ids: list[str]):
    with Client(load.url, *secret, max_retries=0, timeout=DEADLINE_S) as client:
        _upload_until_done(load, client, model_id, index, ids)


def _upload_until_done(load: Load, client: Client, model_id: int, index: int, ids: list[str]):
    seed = index * 10_000
    after = 0
    deadline = time.monotonic() + DEADLINE_S
    while after < AFTER_RESTART and time.monotonic() < deadline:
        seed += 1
        data = predictions(ids, seed)
        key = str(uuid.uuid4())
        while time.monotonic() < deadline:
            was_restarted = load.restarted.is_set()
            try:
                sub = client.upload_predictions(model_id, data, idempotency_key=key)
            except ServerUnreachableError:  # the server died under the request
                with load.lock:
                    load.interrupted.append(key)
                load.restarted.wait(timeout=DEADLINE_S)
                continue  # the retry: same file, same key
            except Exception as exc:  # anything else is a failure, reported at once
                with load.lock:
                    load.errors.append(repr(exc))
                return
            assert sub.sha256 == hashlib.sha256(data).hexdigest()
            with load.lock:
                load.accepted[key] = (model_id, sub.id, sub.sha256)
            after += was_restarted
            break


def test_kill_9_during_uploads_loses_nothing_and_duplicates_nothing(
    deployment: Deployment, db_kind: str
) -> None:
    server = Serve(deployment.env, workers=2, log=deployment.home / "serve.log").start()
    with contextlib.ExitStack() as stack:
        stack.callback(server.stop)
        with Client(server.url) as anonymous:
            signup = anonymous.sign_up("ursula", "ursula@example.org")
        secret = (signup.api_key.public_id, signup.api_key.secret)
        owner = stack.enter_context(Client(server.url, *secret))
        models = [owner.create_model(f"ursula_{i}").id for i in range(UPLOADERS)]
        load = Load(server.url)
        threads = [
            threading.Thread(
                target=_uploader, args=(load, secret, m, i, deployment.live_ids), daemon=True
            )
            for i, m in enumerate(models)
        ]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + DEADLINE_S
        while len(load.accepted) < BEFORE_KILL and time.monotonic() < deadline:
            assert not load.errors, load.errors
            time.sleep(0.01)
        server.kill9()  # uploads are in flight: the uploaders never pause
        accepted_before = dict(load.accepted)
        started = time.monotonic()
        server.start()
        restart_s = time.monotonic() - started
        load.restarted.set()
        for thread in threads:
            thread.join(timeout=DEADLINE_S)
        assert not any(t.is_alive() for t in threads)
        assert not load.errors, load.errors
        assert len(accepted_before) >= BEFORE_KILL
        assert load.interrupted, "the kill interrupted no upload"

        # every upload the client saw accepted — before the kill or on a retry — is stored
        # once, complete and hash-identical
        listed = {m: owner.submissions(m) for m in models}
        stored = {s.id: s for subs in listed.values() for s in subs}
        lost = sum(sub_id not in stored for _, sub_id, _ in load.accepted.values())
        duplicates = len(stored) - len({s.sha256 for s in stored.values()})
        record(
            "kill -9 of serve --workers 2 during uploads",
            db_kind,
            accepted=len(load.accepted),
            interrupted=len(load.interrupted),
            lost=lost,
            duplicates=duplicates,
            recover_s=restart_s,
        )
        for key, (model_id, sub_id, sha) in load.accepted.items():
            sub = stored[sub_id]
            assert (sub.model_id, sub.sha256, sub.state) == (model_id, sha, "validated"), key
            assert hashlib.sha256(owner.submission_file(sub_id)).hexdigest() == sha
        # nothing else was recorded: no duplicate of a retried upload, no stray row
        assert sorted(stored) == sorted(sub_id for _, sub_id, _ in load.accepted.values())
        assert max(Counter(s.sha256 for s in stored.values()).values()) == 1
        with open_tournament(deployment.settings(), migrate=False) as t:
            assert t.check_ledger().ok

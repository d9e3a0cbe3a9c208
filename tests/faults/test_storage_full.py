"""A full or read-only file store, during uploads to ``crowdalpha serve --workers 2`` and
during a dataset publish.

The store is a real file system of its own: a small tmpfs mounted over the deployment's
``files`` folder (its contents copied in first), filled by a hidden filler file so that
exactly so many pages are left, or remounted read-only. The operating system itself refuses
the writes (``ENOSPC``, ``EROFS``) — which root cannot get around, unlike a ``chmod``
(these tests run as root where they can mount; elsewhere they skip).

Outcomes: the upload is answered ``507 storage_write_failed`` with the reason and
``retryable``; no submission row lacks its files and no file lacks its row — including an
upload whose first file fit and whose second did not; the retry with the same
``Idempotency-Key`` succeeds once space is back. A round whose dataset cannot be written
is not opened (no round row), the previous round's files are untouched, and the next tick
with space opens it complete.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from tests.faults.conftest import Deployment, predictions
from tests.faults.processes import Serve
from tests.faults.report import record

from crowdalpha.client import Client
from crowdalpha.errors import StorageWriteError
from crowdalpha.runtime import open_tournament

PAGE = 4096
FILLER = ".filler"  # hidden: the store lists no dot-file


class SmallDisk:
    """A tmpfs a few MiB larger than the store's files, mounted at ``root`` (its folder)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def free(self) -> int:
        stat = os.statvfs(self.root)
        return stat.f_bavail * stat.f_frsize

    def leave(self, free_bytes: int) -> None:
        """Fill the disk until ``free_bytes`` (rounded up to pages) are left."""
        self.make_room()
        keep = -(-free_bytes // PAGE) * PAGE
        with open(self.root / FILLER, "wb") as fh:
            fh.write(b"\0" * (self.free() - keep))
        assert self.free() == keep

    def make_room(self) -> None:
        (self.root / FILLER).unlink(missing_ok=True)

    def read_only(self, on: bool) -> None:
        mode = "remount,ro" if on else "remount,rw"
        subprocess.run(["mount", "-o", mode, str(self.root)], check=True)


@pytest.fixture
def small_disk(deployment: Deployment) -> Iterator[SmallDisk]:
    files = deployment.home / "files"
    saved = deployment.home / "files.before"
    files.rename(saved)
    files.mkdir()
    # room for round 1's files twice (round 2's dataset is as large) and the uploads
    held = sum(-(-p.stat().st_size // PAGE) for p in saved.rglob("*") if p.is_file())
    size_kib = (2 * held * PAGE + 8 * 2**20) // 1024
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_kib}k", "tmpfs", str(files)],
        capture_output=True,
    )
    if mounted.returncode != 0:
        files.rmdir()
        saved.rename(files)
        pytest.skip(f"cannot mount a small file system here: {mounted.stderr.decode()[:200]}")
    try:
        shutil.copytree(saved, files, dirs_exist_ok=True)
        yield SmallDisk(files)
    finally:
        subprocess.run(["umount", "-l", str(files)], check=False)


def _post(url: str, token: str, model: int, data: bytes, key: str) -> httpx.Response:
    return httpx.post(
        f"{url}/v1/models/{model}/submissions",
        content=data,
        headers={
            "Authorization": f"Token {token}",
            "Content-Type": "application/octet-stream",
            "Idempotency-Key": key,
        },
        timeout=120,
    )


def _refused(response: httpx.Response, reason: str) -> None:
    assert response.status_code == 507, response.text
    error = response.json()["error"]
    assert error["code"] == "storage_write_failed"
    assert error["details"]["reason"] == reason
    assert error["details"]["retryable"] is True
    assert "nothing was kept" in error["message"]


def _store_state(deployment: Deployment) -> tuple[set[str], set[str]]:
    """The storage keys the submission rows name, and those the store holds files of."""
    with open_tournament(deployment.settings(), migrate=False) as t:
        with t.engine.connect() as conn:
            rows = conn.execute(text("SELECT storage_key FROM submissions")).scalars()
            named = {str(k) for k in rows}
        held = {k.rsplit(".", 1)[0] for k in t.store.keys("submissions/")}
        assert t.check_ledger().ok
    return named, held


def test_a_full_or_read_only_store_refuses_uploads_cleanly(
    deployment: Deployment, small_disk: SmallDisk, db_kind: str
) -> None:
    server = Serve(deployment.env, workers=2, log=deployment.home / "serve.log").start()
    with contextlib.ExitStack() as stack:
        stack.callback(server.stop)
        with Client(server.url) as anonymous:
            signup = anonymous.sign_up("sven", "sven@example.org")
        token = f"{signup.api_key.public_id}${signup.api_key.secret}"
        owner = stack.enter_context(
            Client(server.url, signup.api_key.public_id, signup.api_key.secret)
        )
        model = owner.create_model("sven_m").id
        files = [predictions(deployment.live_ids, seed) for seed in range(4)]
        keys = [str(uuid.uuid4()) for _ in files]
        refused = 0

        # the disk is full: nothing fits
        small_disk.leave(0)
        _refused(_post(server.url, token, model, files[0], keys[0]), "no_space")
        refused += 1
        # room for the file as uploaded, not for its predictions: the first is removed
        small_disk.leave(len(files[1]))
        _refused(_post(server.url, token, model, files[1], keys[1]), "no_space")
        refused += 1
        assert _store_state(deployment) == (set(), set()), "a file outlived a refused upload"

        # space is back: the retries with the same keys are recorded, once
        small_disk.make_room()
        started = time.monotonic()
        for data, key in zip(files[:2], keys[:2], strict=True):
            assert _post(server.url, token, model, data, key).status_code == 201
        recover_s = time.monotonic() - started
        assert _post(server.url, token, model, files[0], keys[0]).status_code == 201

        # a read-only store: refused, then accepted once it is writable again
        small_disk.read_only(True)
        try:
            _refused(_post(server.url, token, model, files[2], keys[2]), "read_only")
            refused += 1
        finally:
            small_disk.read_only(False)
        for data, key in zip(files[2:], keys[2:], strict=True):
            assert _post(server.url, token, model, data, key).status_code == 201

        stored = owner.submissions(model)
        assert sorted(s.sha256 for s in stored) == sorted(
            hashlib.sha256(f).hexdigest() for f in files
        )
        for sub in stored:
            assert hashlib.sha256(owner.submission_file(sub.id)).hexdigest() == sub.sha256
        named, held = _store_state(deployment)
        assert named == held and len(named) == len(files)
        record(
            "file store full or read-only during uploads",
            db_kind,
            refused_507=refused,
            lost=0,
            duplicates=len(stored) - len(files),
            ledger_discrepancies=0,
            recover_s=recover_s,
        )


def test_a_full_store_during_a_dataset_publish_opens_no_half_round(
    deployment: Deployment, small_disk: SmallDisk, db_kind: str
) -> None:
    def snapshot() -> dict[str, str]:
        with open_tournament(deployment.settings(), migrate=False) as t:
            return {k: t.store.sha256(k) for k in t.store.keys("")}

    before = snapshot()
    with open_tournament(deployment.settings(), migrate=False) as t:
        first = t.round(1)
        due = first.closes_at + timedelta(minutes=1)  # round 2 opens, round 1 closes
        small_disk.leave(0)
        with pytest.raises(StorageWriteError) as refused:
            t.tick(due)
        assert refused.value.details["reason"] == "no_space"
        assert [r.number for r in t.rounds()] == [1], "a round opened without its dataset"
        after = snapshot()
        assert {k: after[k] for k in before} == before, "the previous round's files changed"
        assert t.dataset_files(1), "round 1's dataset is still served"

        small_disk.make_room()
        started = time.monotonic()
        report = t.tick(due)
        recover_s = time.monotonic() - started
        assert report.opened == [2]
        published = t.dataset_files(2)
        assert published and all(f.size_bytes > 0 for f in published)
        assert len(t.live_ids(2)) > 0
        assert t.check_ledger().ok
    record(
        "file store full during a dataset publish",
        db_kind,
        refused_storage=1,
        lost=0,
        ledger_discrepancies=0,
        recover_s=recover_s,
    )

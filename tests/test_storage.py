"""The file stores: atomic writes, listing by prefix, write times; and the sweep of
staged uploads that the server's housekeeping runs."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from crowdalpha.errors import InvalidInputError, NotFoundError
from crowdalpha.server.graphql.context import UPLOADS_PREFIX, sweep_staged_uploads
from crowdalpha.simulation.runner import MemoryFileStore
from crowdalpha.storage import FileStore, LocalFileStore

KEYS = [
    "datasets/v1/live.parquet",
    "datasets/v10/live.parquet",
    "submissions/00001/7/a.csv",
    "submissions/00001/7/a.npy",
    "submissions/00012/7/b.csv",
    "top.json",
]


@pytest.fixture(params=["local", "memory"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> FileStore:
    made: FileStore = LocalFileStore(tmp_path) if request.param == "local" else MemoryFileStore()
    for key in KEYS:
        made.put(key, key.encode())
    return made


@pytest.mark.parametrize(
    "prefix",
    ["", "datasets/", "datasets/v1", "datasets/v1/", "submissions/0000", "submissions/00001/7/a",
     "top", "missing/", "missing/folder/x"],
)  # fmt: skip
def test_keys_lists_exactly_the_keys_under_a_prefix(store: FileStore, prefix: str) -> None:
    assert list(store.keys(prefix)) == sorted(k for k in KEYS if k.startswith(prefix))


def test_keys_refuses_a_prefix_that_leaves_the_store(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError):
        list(LocalFileStore(tmp_path / "store").keys("../elsewhere/"))


def test_modified_is_when_the_key_was_last_written(store: FileStore) -> None:
    before = datetime.now(UTC) - timedelta(seconds=2)  # file systems round their times
    store.put("top.json", b"again")
    written = store.modified("top.json")
    assert written.tzinfo is not None
    assert before <= written <= datetime.now(UTC) + timedelta(seconds=2)
    with pytest.raises(NotFoundError):
        store.modified("absent.json")


def test_the_sweep_deletes_only_staged_uploads_nobody_used(tmp_path: Path) -> None:
    store = LocalFileStore(tmp_path)
    old = f"{UPLOADS_PREFIX}submissions/3/{'a' * 32}/p.csv"
    fresh = f"{UPLOADS_PREFIX}submissions/3/{'b' * 32}/p.csv"
    kept = "submissions/00001/3/old.csv"  # a real submission, however old
    for key in (old, fresh, kept):
        store.put(key, b"id,prediction\n")
    two_days_ago = (datetime.now(UTC) - timedelta(days=2)).timestamp()
    for key in (old, kept):
        path = store.local_path(key)
        assert path is not None
        os.utime(path, (two_days_ago, two_days_ago))

    swept = sweep_staged_uploads(store, older_than=timedelta(days=1), now=datetime.now(UTC))

    assert swept == 1
    assert not store.exists(old)
    assert store.exists(fresh) and store.exists(kept)
    assert sweep_staged_uploads(store, older_than=timedelta(days=1), now=datetime.now(UTC)) == 0

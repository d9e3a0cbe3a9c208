"""The file stores — a folder, memory, and an S3 bucket (moto's S3 server on 127.0.0.1) —
behave alike: atomic writes, listing by prefix, write times, hashes; presigned URLs where
the store has them; and the sweep of staged uploads that the server's housekeeping runs."""

from __future__ import annotations

import hashlib
import os
import pickle
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from tests.services import S3Endpoint

from crowdalpha.errors import (
    InvalidInputError,
    InvalidParameterError,
    NotFoundError,
    ServiceUnavailableError,
)
from crowdalpha.server.graphql.context import UPLOADS_PREFIX, sweep_staged_uploads
from crowdalpha.settings import Settings
from crowdalpha.simulation.runner import MemoryFileStore
from crowdalpha.storage import FileStore, LocalFileStore, open_store
from crowdalpha.storage.s3 import S3FileStore

KEYS = [
    "datasets/v1/live.parquet",
    "datasets/v10/live.parquet",
    "submissions/00001/7/a.csv",
    "submissions/00001/7/a.npy",
    "submissions/00012/7/b.csv",
    "top.json",
]


@pytest.fixture(params=["local", "memory", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> FileStore:
    made: FileStore
    if request.param == "local":
        made = LocalFileStore(tmp_path)
    elif request.param == "memory":
        made = MemoryFileStore()
    else:
        made = request.getfixturevalue("s3").store()
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


def test_put_get_size_exists_delete_and_hash(store: FileStore) -> None:
    data = bytes(range(256)) * 4097  # over a megabyte, not a multiple of any chunk size
    store.put("datasets/v2/train.parquet", data)
    assert store.get("datasets/v2/train.parquet") == data
    assert store.size("datasets/v2/train.parquet") == len(data)
    assert store.exists("datasets/v2/train.parquet")
    assert store.sha256("datasets/v2/train.parquet") == hashlib.sha256(data).hexdigest()
    store.put("datasets/v2/train.parquet", b"replaced")
    assert store.get("datasets/v2/train.parquet") == b"replaced"
    store.delete("datasets/v2/train.parquet")
    store.delete("datasets/v2/train.parquet")  # absent: no error
    assert not store.exists("datasets/v2/train.parquet")
    for read in (store.get, store.size, store.sha256):
        with pytest.raises(NotFoundError):
            read("datasets/v2/train.parquet")


@pytest.mark.parametrize("key", ["", "/abs.csv", "a/../b.csv", "../up.csv"])
def test_keys_that_leave_the_store_are_refused(store: FileStore, key: str) -> None:
    if isinstance(store, MemoryFileStore):
        pytest.skip("the simulator's memory store takes any key")
    with pytest.raises(InvalidInputError):
        store.put(key, b"x")


def test_stores_without_direct_urls_say_so(tmp_path: Path) -> None:
    for made in (LocalFileStore(tmp_path), MemoryFileStore()):
        made.put("a.csv", b"x")
        assert made.presigned_get("a.csv", timedelta(minutes=5)) is None
        assert made.presigned_put("a.csv", timedelta(minutes=5)) is None


def test_s3_presigned_urls_read_with_ranges_and_write_straight_to_the_bucket(
    s3: S3Endpoint,
) -> None:
    store = s3.store()
    store.put("datasets/v1/live.parquet", b"0123456789")
    url = store.presigned_get("datasets/v1/live.parquet", timedelta(minutes=5))
    assert url is not None and url.startswith(f"{s3.url}/{s3.bucket}/{store.prefix}/")
    query = parse_qs(urlsplit(url).query)
    # SigV4 query signing, valid for the time asked; moto does not check signatures or
    # expiry (an emulator: see docs/scaling.md), so that part is S3's and is not tested here
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"] and query["X-Amz-Expires"] == ["300"]
    assert httpx.get(url).content == b"0123456789"
    ranged = httpx.get(url, headers={"Range": "bytes=3-5"})
    assert ranged.status_code == 206 and ranged.content == b"345"
    assert httpx.get(url.split("?")[0]).status_code == 403  # the bucket is not public
    put = store.presigned_put("uploads/numerai/submissions/1/x/p.csv", timedelta(minutes=5))
    assert put is not None
    # numerapi's PUT: a plain body, no content type, an extra header of Numerai Compute's
    answer = httpx.put(put, content=b"id,prediction\n", headers={"x_compute_id": "none"})
    assert answer.status_code == 200
    assert store.get("uploads/numerai/submissions/1/x/p.csv") == b"id,prediction\n"


def test_the_s3_store_is_opened_from_the_url_and_the_usual_variables(
    s3: S3Endpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in s3.environment().items():
        monkeypatch.setenv(name, value)
    url = s3.storage_url()
    store = open_store(url)
    assert isinstance(store, S3FileStore) and store.endpoint == s3.url
    store.put("x/y.json", b"{}")
    assert list(store.keys()) == ["x/y.json"]
    # the prefix is a folder of the bucket; pickling (how Dask tasks get it) keeps it
    again = pickle.loads(pickle.dumps(store))
    assert again.get("x/y.json") == b"{}"
    settings = Settings(storage_url=url)
    assert settings.store().get("x/y.json") == b"{}"
    assert isinstance(Settings(home=Path("h")).store(), LocalFileStore)


def test_bad_storage_urls_are_refused() -> None:
    for url in ("s3://", "gs://bucket/x", "s3:///prefix"):
        with pytest.raises(InvalidParameterError):
            open_store(url)


def test_an_unreachable_bucket_is_a_service_error_that_names_it() -> None:
    with socket.socket() as probe:  # a port on 127.0.0.1 that nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    store = S3FileStore(
        "s3://nowhere/files",
        endpoint=f"http://127.0.0.1:{port}",
        access_key_id="a",
        secret_access_key="b",
    )
    with pytest.raises(ServiceUnavailableError, match="s3://nowhere/files") as caught:
        store.get("a.csv")
    assert caught.value.details["service"] == "storage"


def test_a_missing_bucket_is_a_service_error(s3: S3Endpoint) -> None:
    store = S3FileStore(
        "s3://no-such-bucket",
        endpoint=s3.url,
        access_key_id=s3.access_key_id,
        secret_access_key=s3.secret_access_key,
    )
    with pytest.raises(ServiceUnavailableError):
        store.put("a.csv", b"x")

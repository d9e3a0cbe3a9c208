"""Files in an S3-compatible bucket (AWS S3, MinIO, Ceph RGW, Cloudflare R2, …).

``CROWDALPHA_STORAGE_URL=s3://bucket/prefix`` puts every file of the tournament under
``prefix/`` in ``bucket``. The endpoint, region and credentials come from the usual AWS
variables — ``AWS_ENDPOINT_URL`` (or ``AWS_ENDPOINT_URL_S3``; unset: AWS itself),
``AWS_REGION`` (or ``AWS_DEFAULT_REGION``), ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``,
``AWS_SESSION_TOKEN`` — or, on AWS, from the instance's or container's role. An ``http://``
endpoint (a MinIO on the same network) is allowed as given.

The client is `obstore <https://developmentseed.org/obstore/>`_ (Rust's ``object_store``,
from the Apache Arrow project): one PUT per file is atomic, so a reader never sees half a
file. Downloads and uploads by participants go straight to the bucket through presigned
URLs (SigV4 query signing, ``GET`` with ``Range`` and ``PUT``), so the server never relays
the bytes. What the code relies on of S3 is listed in ``docs/scaling.md``.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import obstore
from obstore.exceptions import BaseError as ObstoreError
from obstore.store import S3Store

from crowdalpha.errors import InvalidParameterError, NotFoundError, ServiceUnavailableError
from crowdalpha.storage import FileStore, check_key

if TYPE_CHECKING:
    from obstore.store import ClientConfig, RetryConfig

__all__ = ["S3FileStore", "endpoint_from_environment"]

#: Read in chunks of this size when hashing (a dataset can be gigabytes).
_CHUNK = 8 * 1024 * 1024
#: The error code and message of an S3 error response, as the client's errors quote it.
_S3_CODE = re.compile(r"<Code>([^<]*)</Code>\s*<Message>([^<]*)</Message>")
#: Longest one request may take (large files go up in 5 MiB parts, each a request).
_TIMEOUT = timedelta(minutes=5)


def endpoint_from_environment() -> str | None:
    """The S3 endpoint the usual variables name (``AWS_ENDPOINT_URL_S3`` first), or None."""
    for name in ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "AWS_ENDPOINT"):
        value = os.environ.get(name)
        if value:
            return value
    return None


class S3FileStore(FileStore):
    """Files under ``prefix/`` in an S3 bucket, named by ``s3://bucket/prefix``.

    ``endpoint`` and the credentials default to the environment (see the module). The store
    pickles as its URL and explicit settings, so Dask tasks open it again on their worker
    with that worker's credentials.
    """

    def __init__(
        self,
        url: str,
        *,
        endpoint: str | None = None,
        region: str | None = None,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        session_token: str | None = None,
    ) -> None:
        bucket, _, prefix = url.removeprefix("s3://").partition("/")
        if not url.startswith("s3://") or not bucket:
            raise InvalidParameterError(
                f"{url!r} is not an S3 storage URL: write s3://bucket or s3://bucket/prefix",
                details={"url": url},
            )
        self.url = url
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        if self.prefix:
            check_key(self.prefix)
        self._options: dict[str, str] = {
            name: value
            for name, value in (
                ("endpoint", endpoint),
                ("region", region),
                ("access_key_id", access_key_id),
                ("secret_access_key", secret_access_key),
                ("session_token", session_token),
            )
            if value is not None
        }
        self.endpoint = endpoint or endpoint_from_environment()
        self._store = self._open()

    def _open(self) -> S3Store:
        # A request that cannot get through fails within tens of seconds, not the client's
        # default of minutes of retries: a server thread is waiting on it.
        client: ClientConfig = {"connect_timeout": timedelta(seconds=5), "timeout": _TIMEOUT}
        if self.endpoint is not None and self.endpoint.startswith("http://"):
            client["allow_http"] = True
        retry: RetryConfig = {"max_retries": 3, "retry_timeout": timedelta(seconds=20)}
        options: dict[str, Any] = dict(self._options)
        return S3Store(
            self.bucket,
            prefix=self.prefix or None,
            client_options=client,
            retry_config=retry,
            **options,
        )

    def __getstate__(self) -> dict[str, Any]:
        return {"url": self.url, "options": self._options}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["url"], **state["options"])  # type: ignore[misc]

    def __repr__(self) -> str:
        where = f" at {self.endpoint}" if self.endpoint else ""
        return f"S3FileStore({self.url!r}{where})"

    @contextmanager
    def _service(self, action: str, key: str | None = None) -> Iterator[None]:
        """Turn the client's errors into crowdalpha's: a missing key into ``NotFoundError``,
        everything else (no connection, bad credentials, no bucket) into
        ``ServiceUnavailableError`` naming the bucket."""
        try:
            yield
        except (ObstoreError, OSError) as exc:
            text = str(exc)
            code = _S3_CODE.search(text)
            if isinstance(exc, FileNotFoundError) and (code is None or code[1] == "NoSuchKey"):
                raise NotFoundError(f"no stored file {key!r}", details={"key": key}) from None
            reason = (
                f"{code[1]}: {code[2]}"
                if code is not None
                else (text.strip().splitlines() or [type(exc).__name__])[0]
            )
            where = f" at {self.endpoint}" if self.endpoint else ""
            raise ServiceUnavailableError(
                f"the storage bucket {self.url}{where} failed to {action} ({reason}); check "
                "CROWDALPHA_STORAGE_URL, AWS_ENDPOINT_URL and the AWS credentials",
                details={"service": "storage", "url": self.url, "key": key},
            ) from exc

    @staticmethod
    def _key(key: str) -> str:
        return check_key(key).as_posix()

    def put(self, key: str, data: bytes) -> None:
        name = self._key(key)
        with self._service("store a file", key):
            obstore.put(self._store, name, data)

    def get(self, key: str) -> bytes:
        name = self._key(key)
        with self._service("read a file", key):
            return bytes(obstore.get(self._store, name).bytes())

    def exists(self, key: str) -> bool:
        name = self._key(key)
        try:
            with self._service("look up a file", key):
                obstore.head(self._store, name)
        except NotFoundError:
            return False
        return True

    def delete(self, key: str) -> None:
        name = self._key(key)
        with self._service("delete a file", key):
            obstore.delete(self._store, name)

    def size(self, key: str) -> int:
        name = self._key(key)
        with self._service("look up a file", key):
            return int(obstore.head(self._store, name)["size"])

    def modified(self, key: str) -> datetime:
        name = self._key(key)
        with self._service("look up a file", key):
            return obstore.head(self._store, name)["last_modified"]

    def keys(self, prefix: str = "") -> Iterator[str]:
        # S3 lists by whole path segments; list the folder the prefix names, then filter
        folder = prefix.rsplit("/", 1)[0] if "/" in prefix else ""
        if folder:
            folder = self._key(folder)
        with self._service("list files"):
            found = sorted(
                str(meta["path"])
                for batch in obstore.list(self._store, prefix=folder or None)
                for meta in batch
            )
        yield from (k for k in found if k.startswith(prefix))

    def sha256(self, key: str) -> str:
        name = self._key(key)
        digest = hashlib.sha256()
        with self._service("read a file", key):
            for chunk in obstore.get(self._store, name).stream(min_chunk_size=_CHUNK):
                digest.update(memoryview(chunk))
        return digest.hexdigest()

    def presigned_get(self, key: str, expires_in: timedelta) -> str | None:
        name = self._key(key)
        with self._service("sign a download URL", key):
            return obstore.sign(self._store, "GET", name, expires_in)

    def presigned_put(self, key: str, expires_in: timedelta) -> str | None:
        name = self._key(key)
        with self._service("sign an upload URL", key):
            return obstore.sign(self._store, "PUT", name, expires_in)

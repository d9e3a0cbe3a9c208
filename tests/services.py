"""Services some tests need, started and stopped by session fixtures on 127.0.0.1 only:

- ``s3``: moto's standalone S3 server (``moto[server]``'s ``ThreadedMotoServer``), a real
  S3 HTTP endpoint — an emulator, not AWS — with one bucket; every test takes its own prefix;
- ``dask_cluster``: a ``distributed.LocalCluster`` of two worker processes (one thread each).

Both are imported into ``tests/conftest.py``, so any test may ask for them; nothing starts
unless one does.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from crowdalpha.storage.s3 import S3FileStore

BUCKET = "crowdalpha-test"


@dataclass(frozen=True)
class S3Endpoint:
    """The emulator's address, its bucket and the (dummy) credentials it accepts."""

    url: str
    bucket: str = BUCKET
    region: str = "us-east-1"
    access_key_id: str = "testing"
    secret_access_key: str = "testing"

    def environment(self) -> dict[str, str]:
        """The usual AWS variables that point a client at the emulator."""
        return {
            "AWS_ENDPOINT_URL": self.url,
            "AWS_REGION": self.region,
            "AWS_ACCESS_KEY_ID": self.access_key_id,
            "AWS_SECRET_ACCESS_KEY": self.secret_access_key,
        }

    def storage_url(self) -> str:
        """``s3://bucket/prefix`` with a prefix no other test uses."""
        return f"s3://{self.bucket}/t-{uuid.uuid4().hex[:12]}"

    def store(self) -> S3FileStore:
        """A store on a fresh prefix, configured explicitly (not from the environment)."""
        return S3FileStore(
            self.storage_url(),
            endpoint=self.url,
            region=self.region,
            access_key_id=self.access_key_id,
            secret_access_key=self.secret_access_key,
        )


@pytest.fixture(scope="session")
def s3() -> Iterator[S3Endpoint]:
    import boto3
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one log line per request
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = S3Endpoint(url=f"http://{host}:{port}")
        client = boto3.client(
            "s3",
            endpoint_url=endpoint.url,
            region_name=endpoint.region,
            aws_access_key_id=endpoint.access_key_id,
            aws_secret_access_key=endpoint.secret_access_key,
        )
        client.create_bucket(Bucket=endpoint.bucket)
        yield endpoint
    finally:
        server.stop()


@pytest.fixture(scope="session")
def dask_cluster() -> Iterator[object]:
    from crowdalpha.compute.dask import local_cluster

    cluster = local_cluster(2)
    try:
        yield cluster
    finally:
        cluster.close()

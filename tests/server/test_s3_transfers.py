"""With the files in an S3 bucket (moto's S3 server on 127.0.0.1), numerapi — unchanged —
downloads and uploads straight from and to the bucket through presigned URLs: the file
bytes never pass through the crowdalpha server, which checks an upload's size and records
its hash when the submission is created."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import numerapi
import numerapi.base_api
import pandas as pd
import pytest
from tests.conftest import fresh_engine
from tests.live_server import ServerThread
from tests.server.graphql_support import (
    ROWS,
    SEED,
    ValidatingRoundData,
    add_participant,
    settings_for,
    skilled,
    start_clock,
)
from tests.services import S3Endpoint

from crowdalpha.ledger import TREASURY, nmr
from crowdalpha.server.app import create_app
from crowdalpha.server.graphql.context import UPLOADS_PREFIX
from crowdalpha.storage.s3 import S3FileStore
from crowdalpha.tournament import Tournament, TournamentConfig


@dataclass
class BucketServer:
    url: str
    tournament: Tournament
    store: S3FileStore
    data: ValidatingRoundData


def _serve(
    tmp_path: Path, s3: S3Endpoint, monkeypatch: pytest.MonkeyPatch, **settings: object
) -> Iterator[BucketServer]:
    engine = fresh_engine("sqlite", tmp_path)
    store = s3.store()
    data = ValidatingRoundData(seed=SEED, rows=ROWS)
    tournament = Tournament(engine, store, data, config=TournamentConfig(), clock=start_clock())
    tournament.mint(nmr(1_000), to=TREASURY)
    tournament.tick()
    server = ServerThread()
    config = settings_for(tmp_path / "home", server.url).model_copy(update=settings)
    server.start(create_app(tournament, config, background=False), http="h11")
    monkeypatch.setattr(numerapi.base_api, "API_TOURNAMENT_URL", f"{server.url}/graphql")
    try:
        yield BucketServer(server.url, tournament, store, data)
    finally:
        server.stop()
        engine.dispose()


@pytest.fixture
def bucket_server(
    tmp_path: Path, s3: S3Endpoint, monkeypatch: pytest.MonkeyPatch
) -> Iterator[BucketServer]:
    yield from _serve(tmp_path, s3, monkeypatch)


def test_numerapi_downloads_and_uploads_go_straight_to_the_bucket(
    bucket_server: BucketServer, s3: S3Endpoint, tmp_path: Path
) -> None:
    t, store = bucket_server.tournament, bucket_server.store
    alice = add_participant(t, "alice", ("alpha",))
    napi = numerapi.NumerAPI(alice.public_id, alice.secret, show_progress_bars=False)

    link = napi.raw_query('query { dataset(filename: "v5.0/live.parquet") }', authorization=True)[
        "data"
    ]["dataset"]
    assert link.startswith(f"{s3.url}/{s3.bucket}/{store.prefix}/datasets/")
    dest = tmp_path / "live.parquet"
    napi.download_dataset("v5.0/live.parquet", str(dest))
    key = f"datasets/{t.round(1).dataset_version}/live.parquet"
    assert dest.read_bytes() == store.get(key)
    live = pd.read_parquet(dest)

    frame = pd.DataFrame(
        {"id": live.index, "prediction": skilled(bucket_server.data.skill_signal(1), 1.0, 3)}
    )
    model = alice.models["alpha"]
    auth = napi.raw_query(
        f'query {{ submission_upload_auth(filename: "p.csv", modelId: "{model}") {{ url }} }}',
        authorization=True,
    )["data"]["submission_upload_auth"]
    assert auth["url"].startswith(f"{s3.url}/{s3.bucket}/{store.prefix}/{UPLOADS_PREFIX}")
    submission_id = napi.upload_predictions(df=frame, model_id=str(alice.models["alpha"]))
    [recorded] = t.submissions()
    assert str(recorded.id) == submission_id and recorded.rows == len(live)
    # the hash the server recorded is that of the bytes numerapi put into the bucket
    sent = frame.to_csv(index=False).encode()
    assert recorded.sha256 == hashlib.sha256(sent).hexdigest()
    assert t.submission_file(recorded.id) == sent
    assert list(store.keys(UPLOADS_PREFIX)) == []  # the staged upload was used up


def test_the_rest_api_links_to_the_bucket_and_hashes_from_it(
    bucket_server: BucketServer, s3: S3Endpoint
) -> None:
    t, store = bucket_server.tournament, bucket_server.store
    alice = add_participant(t, "alice", ())
    with httpx.Client(base_url=bucket_server.url, headers=alice.headers) as client:
        files = client.get("/v1/rounds/1/datasets").json()
        live = next(f for f in files if f["name"] == "live.parquet")
        content = httpx.get(live["url"]).content
        assert live["url"].startswith(s3.url)
        assert live["sha256"] == hashlib.sha256(content).hexdigest()
        assert live["size_bytes"] == len(content)
        moved = client.get("/v1/rounds/1/datasets/live.parquet", follow_redirects=False)
        assert moved.status_code == 307 and moved.headers["location"].startswith(s3.url)
    key = f"datasets/{t.round(1).dataset_version}/live.parquet"
    assert content == store.get(key)


@pytest.fixture
def small_limit_server(
    tmp_path: Path, s3: S3Endpoint, monkeypatch: pytest.MonkeyPatch
) -> Iterator[BucketServer]:
    yield from _serve(tmp_path, s3, monkeypatch, max_upload_bytes=2_000)


def test_an_upload_over_the_limit_is_refused_when_the_submission_is_created(
    small_limit_server: BucketServer,
) -> None:
    t, store = small_limit_server.tournament, small_limit_server.store
    alice = add_participant(t, "alice", ("alpha",))
    napi = numerapi.NumerAPI(alice.public_id, alice.secret, show_progress_bars=False)
    ids = t.live_ids(1)
    frame = pd.DataFrame({"id": ids, "prediction": [0.5] * len(ids)})
    assert len(frame.to_csv(index=False)) > 2_000  # the bucket took it: PUTs have no limit
    with pytest.raises(ValueError, match=r"limit_exceeded: the upload is .* over the 2,000-byte"):
        napi.upload_predictions(df=frame, model_id=str(alice.models["alpha"]))
    assert t.submissions() == []
    assert list(store.keys(UPLOADS_PREFIX)) == []  # and the oversized file is gone

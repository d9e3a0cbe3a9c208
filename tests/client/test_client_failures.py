"""The client under failure, on an ``httpx.MockTransport``: what it retries (connection
errors, 502/503/504, rate limits after ``retry_after``) and what it never does (retry a
refusal, repeat an unsafe request, promote a partial or corrupt download)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from crowdalpha.client import (
    ERROR_CLASSES,
    Client,
    CorruptDownloadError,
    ServerError,
    ServerUnreachableError,
    error_from_response,
)
from crowdalpha.errors import (
    ConflictError,
    CrowdAlphaError,
    InsufficientFundsError,
    InvalidInputError,
    StakeLimitError,
    SubmissionValuesError,
)

STAKE = {"model_id": 1, "stake": "2.5", "pending": "0", "releases": []}


def error(status: int, code: str, **details: Any) -> httpx.Response:
    body = {"error": {"code": code, "message": f"{code} happened", "details": details}}
    return httpx.Response(status, json=body)


def client(handler: Any, sleeps: list[float] | None = None, **kw: Any) -> Client:
    waits = sleeps if sleeps is not None else []
    return Client(
        "http://server",
        "PUB",
        "SECRET",
        transport=httpx.MockTransport(handler),
        sleep=waits.append,
        **kw,
    )


def test_every_library_error_code_maps_back_to_its_class() -> None:
    def walk(cls: type[CrowdAlphaError]) -> list[type[CrowdAlphaError]]:
        return [cls] + [d for s in cls.__subclasses__() for d in walk(s)]

    for cls in walk(CrowdAlphaError):
        if cls.__module__ != "crowdalpha.errors":
            continue
        rebuilt = error_from_response(409, json.dumps(error(409, cls.code).json()).encode())
        assert type(rebuilt) is cls and ERROR_CLASSES[cls.code] is cls
        assert rebuilt.message == f"{cls.code} happened"
    assert isinstance(
        error_from_response(
            422, b'{"error":{"code":"invalid_request","message":"m","details":{}}}'
        ),
        InvalidInputError,
    )
    unknown = error_from_response(409, b'{"error":{"code":"brand_new","message":"m"}}')
    assert type(unknown) is ConflictError and unknown.details["code"] == "brand_new"
    html = error_from_response(502, b"<html>bad gateway</html>")
    assert isinstance(html, ServerError) and html.status == 502


def test_transient_failures_are_retried_with_backoff() -> None:
    calls: list[str] = []
    answers = iter(
        [
            httpx.ConnectError("refused"),
            httpx.Response(502, text="bad gateway"),
            httpx.Response(503, json={}),
            error(429, "limit_exceeded", retry_after=7.5),
            httpx.Response(200, json=STAKE),
        ]
    )

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.headers["idempotency-key"])
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    sleeps: list[float] = []
    with client(handler, sleeps, backoff=0.1) as c:
        stake = c.increase_stake(1, "2.5")
    assert stake.stake == 25 * 10**17
    assert len(calls) == 5 and len(set(calls)) == 1  # one idempotency key for every retry
    assert sleeps[:3] == [0.1, 0.2, 0.4] and sleeps[3] == 7.5  # honours retry_after
    request_body: list[bytes] = []

    def check_body(request: httpx.Request) -> httpx.Response:
        request_body.append(request.content)
        return httpx.Response(200, json=STAKE)

    with client(check_body) as c:
        c.increase_stake(1, "2.5")
    assert json.loads(request_body[0]) == {"amount": "2.5"}  # a string, never a float


@pytest.mark.parametrize(
    ("answer", "cls"),
    [
        (error(409, "insufficient_funds"), InsufficientFundsError),
        (error(422, "invalid_submission_values"), SubmissionValuesError),
        (error(429, "stake_limit_exceeded"), StakeLimitError),  # waiting will not help
        (
            httpx.Response(500, json={"error": {"code": "internal_error", "message": "x"}}),
            ServerError,
        ),
    ],
)
def test_refusals_are_raised_at_once(answer: httpx.Response, cls: type[Exception]) -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return answer

    with client(handler) as c, pytest.raises(cls):
        c.increase_stake(1, "1")
    assert len(calls) == 1


def test_retries_give_up_with_a_typed_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("down")

    with client(handler, max_retries=2) as c, pytest.raises(ServerUnreachableError) as caught:
        c.rounds()
    assert caught.value.details["attempts"] == 3
    with client(lambda r: httpx.Response(503, text="x"), max_retries=1) as c:
        with pytest.raises(ServerError) as failed:
            c.rounds()
        assert failed.value.status == 503


def test_an_unsafe_request_is_not_repeated_after_the_server_may_have_acted() -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if len(calls) == 1:
            raise httpx.ReadTimeout("no answer")
        return httpx.Response(201, json={})

    with client(handler) as c, pytest.raises(ServerUnreachableError):
        c.create_model("m")  # no idempotency key: the first try may have created it
    assert len(calls) == 1


class FlakyFile:
    """Serves ``data`` with Range support; breaks the first response after ``cut`` bytes."""

    def __init__(self, data: bytes, cut: int | None = None, corrupt: bool = False) -> None:
        self.data, self.cut, self.corrupt = data, cut, corrupt
        self.ranges: list[str | None] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        rng = request.headers.get("range")
        self.ranges.append(rng)
        start = int(rng.split("=")[1].rstrip("-")) if rng else 0
        body = self.data[start:]
        if self.corrupt:
            body = body[:-1] + bytes([body[-1] ^ 0xFF])
        if self.cut is not None:
            cut, self.cut = self.cut, None
            return httpx.Response(
                206 if start else 200,
                headers={
                    "content-length": str(len(body)),
                    **(
                        {"content-range": f"bytes {start}-{len(self.data) - 1}/{len(self.data)}"}
                        if start
                        else {}
                    ),
                },
                stream=Broken(body[:cut]),
            )
        headers = {"content-length": str(len(body))}
        if start:
            headers["content-range"] = f"bytes {start}-{len(self.data) - 1}/{len(self.data)}"
        return httpx.Response(206 if start else 200, headers=headers, content=body)


class Broken(httpx.SyncByteStream):
    def __init__(self, head: bytes) -> None:
        self.head = head

    def __iter__(self) -> Any:
        yield self.head
        raise httpx.ReadError("connection reset")


def test_an_interrupted_download_resumes_where_it_stopped(tmp_path: Path) -> None:
    data = bytes(range(256)) * 400
    server = FlakyFile(data, cut=30_000)
    dest = tmp_path / "live.parquet"
    progress: list[tuple[int, int | None]] = []
    with client(server) as c:
        got = c.download(
            "http://server/files/t/live.parquet",
            dest,
            sha256=hashlib.sha256(data).hexdigest(),
            progress=lambda d, t: progress.append((d, t)),
        )
    assert got == dest and dest.read_bytes() == data
    assert server.ranges == [None, "bytes=30000-"]
    assert progress[-1] == (len(data), len(data))
    assert not (tmp_path / "live.parquet.part").exists()


def test_a_part_file_left_by_an_earlier_run_is_resumed(tmp_path: Path) -> None:
    data = b"x" * 5000 + b"y" * 5000
    dest = tmp_path / "f.bin"
    (tmp_path / "f.bin.part").write_bytes(data[:4000])
    server = FlakyFile(data)
    with client(server) as c:
        c.download("http://server/f", dest, expected_size=len(data))
    assert dest.read_bytes() == data and server.ranges == ["bytes=4000-"]


def test_a_corrupt_download_is_never_promoted(tmp_path: Path) -> None:
    data = b"new contents " * 1000
    dest = tmp_path / "live.parquet"
    dest.write_bytes(b"the previous, good file")
    with client(FlakyFile(data, corrupt=True)) as c, pytest.raises(CorruptDownloadError):
        c.download("http://server/f", dest, sha256=hashlib.sha256(data).hexdigest())
    assert dest.read_bytes() == b"the previous, good file"
    assert not (tmp_path / "live.parquet.part").exists()
    # a short body (the server announced more than it sent) is corrupt too
    short = client(lambda r: httpx.Response(200, content=data[:100]))
    with short as c, pytest.raises(CorruptDownloadError):
        c.download("http://server/f", dest, expected_size=len(data))
    assert dest.read_bytes() == b"the previous, good file"


def test_download_errors_are_typed_and_downloads_give_up(tmp_path: Path) -> None:
    dest = tmp_path / "f"
    with client(lambda r: error(401, "authentication_failed")) as c:
        with pytest.raises(CrowdAlphaError) as caught:
            c.download("http://server/f", dest)
        assert caught.value.code == "authentication_failed"

    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("down")

    with client(down, max_retries=1) as c, pytest.raises(ServerUnreachableError):
        c.download("http://server/f", dest)
    assert not dest.exists()


def test_uploads_report_progress_and_send_the_raw_file(tmp_path: Path) -> None:
    received: list[httpx.Request] = []
    sub = {
        "id": 3,
        "model_id": 1,
        "round_number": 1,
        "created_at": "2026-01-03T18:00:00Z",
        "filename": "p.csv",
        "sha256": "ab",
        "size_bytes": 200_000,
        "rows": 10,
        "unknown_ids": 0,
        "state": "validated",
        "late": False,
        "selected": True,
        "error_code": None,
        "error_message": None,
    }

    def handler(request: httpx.Request) -> httpx.Response:
        request.read()
        received.append(request)
        if len(received) == 1:
            return httpx.Response(503)
        return httpx.Response(201, json=sub)

    path = tmp_path / "p.csv"
    path.write_bytes(b"z" * 200_000)
    progress: list[int] = []
    with client(handler) as c:
        got = c.upload_predictions(
            1, path, round_number=1, progress=lambda d, _t: progress.append(d)
        )
    assert got.id == 3 and got.created_at.tzinfo is not None
    assert [r.content for r in received] == [path.read_bytes()] * 2  # resent whole on retry
    first, second = received
    assert first.headers["idempotency-key"] == second.headers["idempotency-key"]
    assert first.headers["content-length"] == "200000"
    assert first.url.params["filename"] == "p.csv" and first.url.params["round"] == "1"
    assert progress[-1] == 200_000

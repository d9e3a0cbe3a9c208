"""Two ``crowdalpha serve`` processes on one PostgreSQL and one bucket serve one tournament:
an upload through one is visible through the other at once; exactly one runs the round
clock; when it is killed the other takes over within a tick interval."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from tests.conftest import POSTGRES_URL, fresh_engine
from tests.services import S3Endpoint
from tests.tournament.conftest import predictions_csv

from crowdalpha.client import Client
from crowdalpha.runtime import open_tournament
from crowdalpha.settings import Settings

pytestmark = pytest.mark.skipif(
    POSTGRES_URL is None, reason="CROWDALPHA_TEST_DATABASE_URL is not set"
)

TICK = 1.0  # seconds between two runs of the clock
LEADS = "this process runs the round clock"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    def __init__(self, name: str, env: dict[str, str], root: Path) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = root / f"{name}.log"
        home = root / name
        home.mkdir()
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-c", "from crowdalpha.cli import main; main()", "serve"],
                env={**env, "CROWDALPHA_HOME": str(home), "CROWDALPHA_PORT": str(self.port)},
                stdout=subprocess.DEVNULL,
                stderr=log,
            )

    def wait_up(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log.read_text()
            try:
                if httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"{self.url} did not start: {self.log.read_text()}")

    def leads(self) -> bool:
        return LEADS in self.log.read_text()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _until(condition: object, timeout: float) -> float:
    """Seconds until ``condition()`` held (AssertionError after ``timeout``)."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if condition():  # type: ignore[operator]
            return time.monotonic() - start
        time.sleep(0.05)
    raise AssertionError(f"not within {timeout} s")


@pytest.fixture
def environment(s3: S3Endpoint, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    assert POSTGRES_URL is not None
    fresh_engine("postgresql", tmp_path).dispose()  # an empty database at the newest schema
    env = {
        "CROWDALPHA_DATABASE_URL": POSTGRES_URL,
        "CROWDALPHA_STORAGE_URL": s3.storage_url(),
        "CROWDALPHA_DATA_SOURCE": "synthetic",
        "CROWDALPHA_SYNTHETIC_ROWS": "200",
        "CROWDALPHA_TICK_INTERVAL": str(TICK),
        "CROWDALPHA_WEBHOOK_INTERVAL": "0",
        "CROWDALPHA_SIGNING_KEY": "one-key-for-both-servers",
        **s3.environment(),
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}


@pytest.fixture
def servers(environment: dict[str, str], tmp_path: Path) -> Iterator[tuple[Server, Server]]:
    first = Server("a", environment, tmp_path)
    started = [first]
    try:
        first.wait_up()
        _until(first.leads, 60)  # the first one up takes the clock
        second = Server("b", environment, tmp_path)
        started.append(second)
        second.wait_up()
        yield first, second
    finally:
        for server in started:
            server.stop()


def test_two_servers_share_one_tournament_and_one_clock(
    servers: tuple[Server, Server], tmp_path: Path
) -> None:
    a, b = servers
    # the clock (in a) opens round 1; the test's own view of the tournament sets it up
    t = open_tournament(Settings(home=tmp_path / "admin"))
    try:
        _until(lambda: t.current_round() is not None, 30)
        number = t.current_round().number  # type: ignore[union-attr]
        acct = t.create_account("erin", "erin@example.org")
        model = t.create_model(acct.id, "erin_1")
        key, secret = t.create_api_key(acct.id)
        ids = t.live_ids(number)
    finally:
        t.close()

    with (
        Client(a.url, key.public_id, secret) as via_a,
        Client(b.url, key.public_id, secret) as via_b,
    ):
        _share_and_take_over(a, b, via_a, via_b, model.id, ids)


def _share_and_take_over(
    a: Server, b: Server, via_a: Client, via_b: Client, model_id: int, ids: list[str]
) -> None:
    sent = via_a.upload_predictions(
        model_id, predictions_csv(ids, [i / len(ids) for i in range(len(ids))])
    )
    seen = via_b.submissions(model_id)  # at once: no waiting, no retry
    assert [(s.id, s.sha256) for s in seen] == [(sent.id, sent.sha256)]

    time.sleep(3 * TICK)
    assert a.leads() and not b.leads()  # exactly one runs the clock

    a.process.send_signal(signal.SIGKILL)
    a.process.wait(timeout=10)
    took = _until(b.leads, 30)
    # b's next tick takes the freed lock: a tick interval on an idle machine; the bound
    # leaves room for a loaded CI machine and is still far below any lease's expiry
    assert took <= TICK + 10.0, took
    assert via_b.current_round() is not None

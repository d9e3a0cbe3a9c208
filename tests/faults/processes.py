"""Real processes for the fault tests: ``crowdalpha serve`` and one-shot scripts, each in a
process group of its own so that ``kill -9`` reaches every process it started (uvicorn's
workers too), on 127.0.0.1 only.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
#: ``crowdalpha`` on this interpreter (the checkout's sources, not an installed copy).
CLI = [sys.executable, "-c", "from crowdalpha.cli import main; main()"]


def environment(home: Path, database_url: str, **settings: object) -> dict[str, str]:
    """The environment of a crowdalpha process on ``home`` and ``database_url``: the
    checkout's sources first on the path, every other ``CROWDALPHA_*`` variable cleared."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CROWDALPHA_")}
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT / "src"), str(ROOT), os.environ.get("PYTHONPATH", "")) if p
    )
    env["CROWDALPHA_HOME"] = str(home)
    env["CROWDALPHA_DATABASE_URL"] = database_url
    for name, value in settings.items():
        env[f"CROWDALPHA_{name.upper()}"] = str(value)
    return env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Serve:
    """``crowdalpha serve --workers N`` as a separate process group."""

    def __init__(self, env: dict[str, str], *, workers: int = 2, log: Path) -> None:
        self.env = env
        self.workers = workers
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 300.0) -> Serve:
        """Start the server and wait until it answers (its workers import the whole app:
        seconds on an idle machine, minutes on a loaded one)."""
        try:
            return self._start(timeout)
        except BaseException:
            self.stop()
            raise

    def _start(self, timeout: float) -> Serve:
        command = [
            *CLI,
            "serve",
            "--port",
            str(self.port),
            "--workers",
            str(self.workers),
        ]
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                command, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"serve exited: {self.log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/v1/health", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"serve did not answer: {self.log.read_text()[-2000:]}")

    def kill9(self) -> None:
        """``kill -9`` of the server and all its workers at once."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)
        _wait_port_free(self.port)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)


def _wait_port_free(port: int, timeout: float = 10.0) -> None:
    """Until nothing listens on ``port`` (the killed workers' sockets are gone)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) != 0:
                return
        time.sleep(0.05)

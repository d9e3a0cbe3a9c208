"""What the benchmarks that load a running server share (``server.py``, ``soak.py``): a free
loopback port, waiting for the server, signing participants up, the round's live ids,
prediction files, percentiles, the environment line (CPU, versions, commit), and the CPU
and memory of the server's processes (Linux /proc: the process and its descendants,
uvicorn's workers).
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import io
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pandas as pd

#: The packages whose versions decide how fast an upload is served.
UPLOAD_PATH_PACKAGES = (
    "uvicorn", "uvloop", "httptools", "fastapi", "starlette", "pydantic", "sqlalchemy",
    "pandas", "pyarrow", "numpy",
)  # fmt: skip


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until_serving(base: str, proc: subprocess.Popen[str], timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit("the server exited during start-up")
        try:
            if httpx.get(f"{base}/v1/rounds/current", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    raise SystemExit(f"the server did not start within {timeout:.0f} s")


def sign_up(http: httpx.Client, participants: int) -> list[tuple[str, int]]:
    """``participants`` accounts with one model each: (API token, model id)."""
    people: list[tuple[str, int]] = []
    for p in range(participants):
        signed = http.post(
            "/v1/accounts", json={"username": f"load{p:04d}", "email": f"load{p}@example.org"}
        ).json()
        token = signed["api_key"]["token"]
        model = http.post(
            "/v1/models",
            json={"name": f"load_model_{p:04d}"},
            headers={"Authorization": f"Token {token}"},
        ).json()
        people.append((token, int(model["id"])))
    return people


def live_ids(http: httpx.Client) -> list[str]:
    """The open round's live ids, from its published ``live.parquet``."""
    number = http.get("/v1/rounds/current").json()["number"]
    live = http.get(f"/v1/rounds/{number}/datasets/live.parquet", follow_redirects=True)
    return list(pd.read_parquet(io.BytesIO(live.content)).index)


def predictions_csv(ids: list[str], rng: np.random.Generator) -> bytes:
    buffer = io.StringIO()
    pd.DataFrame({"id": ids, "prediction": rng.random(len(ids))}).to_csv(
        buffer, index=False, float_format="%.6f"
    )
    return buffer.getvalue().encode()


def percentile_ms(values: list[float], q: float) -> str:
    return f"{1000 * float(np.percentile(values, q)):.0f} ms" if values else "-"


def process_tree(root: int) -> list[int]:
    """``root`` and its descendants (uvicorn's workers and their helpers)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def cpu_seconds(root: int) -> float:
    """User + system CPU seconds of process ``root`` and its descendants."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in process_tree(root):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


def rss_bytes(pid: int) -> int:
    """Resident set size of one process (0 once it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def environment() -> str:
    """The CPU model, the upload path's package versions and the commit, on one line each."""
    cpu = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    versions = []
    for name in UPLOAD_PATH_PACKAGES:
        try:
            versions.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            versions.append(f"{name} (not installed)")
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).parent,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).parent,
        ).stdout.strip()
        commit += " (with uncommitted changes)" if dirty else ""
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown commit"
    return (
        f"CPU: {cpu}, {os.cpu_count()} logical CPUs; Python {sys.version.split()[0]}\n"
        f"versions: {', '.join(versions)}\ncommit: {commit}"
    )

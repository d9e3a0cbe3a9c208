"""Load: many participants uploading and querying a running server at once.

Starts ``crowdalpha serve`` in its own process on 127.0.0.1 (a fresh home folder, SQLite,
synthetic rounds of ``--rows`` live ids), signs up ``--participants`` accounts with one
model each through the REST API, pre-builds one distinct ``--rows``-row CSV per upload,
then drives the server from this process with ``--concurrency`` simultaneous clients for
``--uploads`` uploads (each participant's uploads go to its own model) interleaved with
queries (the current round, the leaderboard, the model's submissions). It reports uploads
validated and stored per second, latency percentiles, the CPU the server and the load
generator each used per upload, and checks that every accepted submission is there
afterwards — none lost. Goal: ≥ 100 uploads/s of 5,000-row files on 2 cores with p99
under 1 s.

The load generator shares the machine with the server, so it is kept light: aiohttp
(whose HTTP parser is C) over pre-built files, about 1 ms of CPU per upload.

    python benchmarks/server.py
    python benchmarks/server.py --uploads 300 --concurrency 16 --workers 3
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import httpx
import numpy as np
import pandas as pd

from _common import CpuContention, format_table


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_server(home: Path, port: int, rows: int, workers: int) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "CROWDALPHA_HOME": str(home),
        "CROWDALPHA_SYNTHETIC_ROWS": str(rows),
        "CROWDALPHA_RATE_LIMIT_PER_MINUTE": "0",
        "CROWDALPHA_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "CROWDALPHA_SIGNING_KEY": "benchmark-signing-key",
    }
    code = (
        "import sys, uvicorn\n"
        "from crowdalpha.runtime import open_tournament\n"
        "from crowdalpha.server import create_app\n"
        "from crowdalpha.settings import Settings\n"
        "settings = Settings(tick_interval=0)\n"
        "t = open_tournament(settings)\n"
        "t.tick()\n"
        "app = create_app(t, settings)\n"
        f"uvicorn.run(app, host='127.0.0.1', port={port}, log_level='warning')\n"
    )
    if workers > 1:
        # open the first round once, then serve it from several processes on one port
        subprocess.run(
            [sys.executable, "-c", code.split("app = create_app")[0]], env=env, check=True
        )
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "--factory",
                "crowdalpha.server.asgi:app_from_environment",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--workers",
                str(workers),
                "--log-level",
                "warning",
            ],
            env={**env, "CROWDALPHA_TICK_INTERVAL": "0"},
            text=True,
        )
    return subprocess.Popen([sys.executable, "-c", code], env=env, text=True)


def _wait(base: str, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit("the server exited during start-up")
        try:
            if httpx.get(f"{base}/v1/rounds/current", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    raise SystemExit("the server did not start within 120 s")


def _csv(ids: list[str], rng: np.random.Generator) -> bytes:
    buffer = io.StringIO()
    pd.DataFrame({"id": ids, "prediction": rng.random(len(ids))}).to_csv(
        buffer, index=False, float_format="%.6f"
    )
    return buffer.getvalue().encode()


async def _drive(
    base: str, people: list[tuple[str, int]], files: list[bytes], concurrency: int
) -> tuple[list[float], list[float], list[int], int]:
    """Send every file, ``concurrency`` participants at a time, with aiohttp: its C HTTP
    parser keeps the load generator's own CPU (which shares the machine) low."""
    uploads: list[float] = []
    queries: list[float] = []
    accepted: list[int] = []
    failures = 0
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(len(files)):
        queue.put_nowait(i)
    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(base, connector=connector, timeout=timeout) as http:

        async def worker() -> None:
            nonlocal failures
            while True:
                try:
                    i = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                token, model = people[i % len(people)]
                headers = {"Authorization": f"Token {token}"}
                start = time.perf_counter()
                async with http.post(
                    f"/v1/models/{model}/submissions",
                    data=files[i],
                    headers={**headers, "Content-Type": "application/octet-stream"},
                    params={"filename": f"p{i}.csv"},
                ) as r:
                    body = await r.json()
                uploads.append(time.perf_counter() - start)
                if r.status in (200, 201):
                    accepted.append(int(body["id"]))
                else:
                    failures += 1
                if i % 4 == 0:  # a participant checking on things between uploads
                    for path in (
                        "/v1/rounds/current",
                        "/v1/leaderboard",
                        f"/v1/models/{model}/submissions",
                    ):
                        start = time.perf_counter()
                        async with http.get(path, headers=headers) as q:
                            await q.read()
                        queries.append(time.perf_counter() - start)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return uploads, queries, accepted, failures


def _cpu_seconds(root: int) -> float:
    """User + system CPU seconds of process ``root`` and its children (Linux /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid, ppid = int(entry.name), int(fields[1])
        if pid == root or ppid == root:
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def _pct(values: list[float], q: float) -> str:
    return f"{1000 * float(np.percentile(values, q)):.0f} ms" if values else "-"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--participants", type=int, default=50)
    parser.add_argument("--uploads", type=int, default=1000)
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2, help="server processes")
    args = parser.parse_args()
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as tmp:
        proc = _start_server(Path(tmp), port, args.rows, args.workers)
        try:
            _wait(base, proc)
            people: list[tuple[str, int]] = []
            with httpx.Client(base_url=base, timeout=30) as http:
                for p in range(args.participants):
                    signed = http.post(
                        "/v1/accounts",
                        json={"username": f"load{p:04d}", "email": f"load{p}@example.org"},
                    ).json()
                    token = signed["api_key"]["token"]
                    model = http.post(
                        "/v1/models",
                        json={"name": f"load_model_{p:04d}"},
                        headers={"Authorization": f"Token {token}"},
                    ).json()
                    people.append((token, int(model["id"])))
                number = http.get("/v1/rounds/current").json()["number"]
                live = http.get(f"/v1/rounds/{number}/datasets/live.parquet", follow_redirects=True)
                ids = list(pd.read_parquet(io.BytesIO(live.content)).index)
            rng = np.random.default_rng(0)
            files = [_csv(ids, rng) for _ in range(args.uploads)]
            server_cpu = _cpu_seconds(proc.pid)
            with CpuContention("load"):
                client_cpu = time.process_time()
                start = time.perf_counter()
                uploads, queries, accepted, failures = asyncio.run(
                    _drive(base, people, files, args.concurrency)
                )
                wall = time.perf_counter() - start
                client_cpu = time.process_time() - client_cpu
            server_cpu = _cpu_seconds(proc.pid) - server_cpu
            with httpx.Client(base_url=base, timeout=30) as http:
                stored: set[int] = set()
                for token, model in people:
                    got = http.get(
                        f"/v1/models/{model}/submissions",
                        headers={"Authorization": f"Token {token}"},
                    ).json()
                    stored.update(int(s["id"]) for s in got)
                lost = len(set(accepted) - stored)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    rate = len(accepted) / wall
    print(
        format_table(
            [
                "uploads",
                "accepted",
                "refused",
                "lost",
                "wall",
                "uploads/s",
                "p50",
                "p95",
                "p99",
                "query p50",
                "query p99",
            ],
            [
                [
                    str(len(files)),
                    str(len(accepted)),
                    str(failures),
                    str(lost),
                    f"{wall:.1f} s",
                    f"{rate:.1f}",
                    _pct(uploads, 50),
                    _pct(uploads, 95),
                    _pct(uploads, 99),
                    _pct(queries, 50),
                    _pct(queries, 99),
                ]
            ],
        )
    )
    print(
        f"server CPU: {server_cpu:.1f} s, {1000 * server_cpu / max(len(accepted), 1):.1f} ms "
        "per accepted upload (its share of the queries included); "
        f"load generator CPU: {client_cpu:.1f} s, "
        f"{1000 * client_cpu / max(len(files), 1):.1f} ms per upload"
    )
    print(
        f"{args.rows:,}-row CSV files ({len(files[0]) / 1e6:.2f} MB each), "
        f"{args.participants} participants, {args.concurrency} concurrent clients, "
        f"{args.workers} server process(es)"
    )


if __name__ == "__main__":
    main()

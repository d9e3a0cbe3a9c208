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

So that a fast run can be told from a slow one, it also prints which paths the uploads took
in the server (each process logs its counts when it stops: the CSV reader, pyarrow or
pandas, and whether the ids were the live ids in order), the CPU model, the versions of the
packages on the upload path and the commit.

    python benchmarks/server.py
    python benchmarks/server.py --uploads 300 --concurrency 16 --workers 3
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import httpx
import numpy as np

from _common import CpuContention, format_table
from _serve import (
    cpu_seconds,
    environment,
    free_port,
    live_ids,
    percentile_ms,
    predictions_csv,
    sign_up,
    wait_until_serving,
)

_PATHS_LINE = re.compile(r"upload paths taken by this process: (.*)$")


def _start_server(
    home: Path, port: int, rows: int, workers: int, log: Path
) -> subprocess.Popen[str]:
    """The server, its output (the crowdalpha loggers at INFO, uvicorn's warnings) in ``log``."""
    from crowdalpha.server.logs import log_config

    config = log_config()
    log_config_file = home.parent / "log-config.json"
    log_config_file.write_text(json.dumps(config))
    out = log.open("w")
    env = {
        **os.environ,
        "CROWDALPHA_HOME": str(home),
        # synthetic rounds of exactly --rows live ids (the default source builds a market)
        "CROWDALPHA_DATA_SOURCE": "synthetic",
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
        f"uvicorn.run(app, host='127.0.0.1', port={port}, log_level='warning', "
        f"log_config={str(log_config_file)!r})\n"
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
                "--log-config",
                str(log_config_file),
            ],
            env={**env, "CROWDALPHA_TICK_INTERVAL": "0"},
            text=True,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return subprocess.Popen(
        [sys.executable, "-c", code], env=env, text=True, stdout=out, stderr=subprocess.STDOUT
    )


def _paths_taken(log: Path) -> dict[str, int]:
    """The upload paths the server processes logged when they stopped, summed."""
    total: dict[str, int] = {}
    for line in log.read_text(errors="replace").splitlines():
        found = _PATHS_LINE.search(line)
        if found:
            for item in found.group(1).split(", "):
                path, _, n = item.rpartition(" ")
                total[path] = total.get(path, 0) + int(n)
    return total


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--participants", type=int, default=50)
    parser.add_argument("--uploads", type=int, default=1000)
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2, help="server processes")
    args = parser.parse_args()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "server.log"
        (Path(tmp) / "home").mkdir()
        proc = _start_server(Path(tmp) / "home", port, args.rows, args.workers, log)
        try:
            wait_until_serving(base, proc)
            with httpx.Client(base_url=base, timeout=30) as http:
                people = sign_up(http, args.participants)
                ids = live_ids(http)
            rng = np.random.default_rng(0)
            files = [predictions_csv(ids, rng) for _ in range(args.uploads)]
            server_cpu = cpu_seconds(proc.pid)
            with CpuContention("load"):
                client_cpu = time.process_time()
                start = time.perf_counter()
                uploads, queries, accepted, failures = asyncio.run(
                    _drive(base, people, files, args.concurrency)
                )
                wall = time.perf_counter() - start
                client_cpu = time.process_time() - client_cpu
            server_cpu = cpu_seconds(proc.pid) - server_cpu
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
            proc.wait(timeout=60)
        taken = _paths_taken(log)
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
                    percentile_ms(uploads, 50),
                    percentile_ms(uploads, 95),
                    percentile_ms(uploads, 99),
                    percentile_ms(queries, 50),
                    percentile_ms(queries, 99),
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
    print(
        "upload paths in the server: "
        + (", ".join(f"{path} {n:,}" for path, n in taken.items()) or "none logged")
        + f" (of {len(files):,} uploads; a fast run reads every CSV with pyarrow and finds "
        "its ids in live order: csv_arrow and ids_in_order both equal to the uploads)"
    )
    print(environment())


if __name__ == "__main__":
    main()

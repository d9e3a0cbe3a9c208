"""Soak: a steady load on a real ``crowdalpha serve`` for minutes; latency and memory per minute.

Starts ``crowdalpha serve --workers W`` as its own process on 127.0.0.1 (a fresh home
folder, SQLite, synthetic rounds of ``--rows`` live ids, no rate limit, the round clock
every 60 s, /metrics on as by default), opens round 1 with ``crowdalpha tick``, signs up
``--participants`` accounts with one model each, then for ``--minutes`` sends ``--rate``
uploads a second on a fixed schedule (open loop: a slow answer does not slow the
schedule; at most ``--concurrency`` requests in flight, an upload that finds them all busy
is counted late), each participant's uploads to its own model, with queries between them
(every fourth upload is followed by the current round, the leaderboard and the model's
submissions), as ``benchmarks/server.py`` does.

Each minute it prints the uploads sent, accepted and refused or failed, the upload and
query latency (p50, p99), and the resident memory (RSS) of the server's processes at the
minute's end; at the end, the memory growth from the first minute to the last (goal: flat)
and whether every accepted submission is stored (goal: none lost).

    python benchmarks/soak.py                          # 10 minutes at 20 uploads/s
    python benchmarks/soak.py --minutes 1 --rate 5     # a quick check that it runs

Disk: every upload is stored (about 0.15 MB for a 5,000-row file), so 10 minutes at
20 uploads/s keep about 1.8 GB in a temporary folder until the end.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import httpx
import numpy as np

from _common import MIB, format_table
from _serve import (
    environment,
    free_port,
    live_ids,
    percentile_ms,
    predictions_csv,
    process_tree,
    rss_bytes,
    sign_up,
    wait_until_serving,
)

#: ``crowdalpha`` on this interpreter
CLI = [sys.executable, "-c", "from crowdalpha.cli import main; main()"]
#: distinct prediction files, cycled (the load generator's memory stays small)
DISTINCT_FILES = 64


@dataclass
class Minute:
    uploads: list[float] = field(default_factory=list)
    queries: list[float] = field(default_factory=list)
    accepted: int = 0
    failed: int = 0
    late: int = 0
    rss: dict[int, int] = field(default_factory=dict)  # pid → bytes at the minute's end


def _environment_of(home: Path, rows: int, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CROWDALPHA_")}
    env.update(
        CROWDALPHA_HOME=str(home),
        CROWDALPHA_DATA_SOURCE="synthetic",
        CROWDALPHA_SYNTHETIC_ROWS=str(rows),
        CROWDALPHA_RATE_LIMIT_PER_MINUTE="0",
        CROWDALPHA_PUBLIC_URL=f"http://127.0.0.1:{port}",
        CROWDALPHA_SIGNING_KEY="benchmark-signing-key",
        CROWDALPHA_TICK_INTERVAL="60",
    )
    return env


def _start(home: Path, rows: int, port: int, workers: int, log: Path) -> subprocess.Popen[str]:
    env = _environment_of(home, rows, port)
    subprocess.run([*CLI, "tick"], env=env, check=True, capture_output=True)  # round 1
    return subprocess.Popen(
        [*CLI, "serve", "--port", str(port), "--workers", str(workers)],
        env=env,
        text=True,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )


async def _load(
    base: str,
    people: list[tuple[str, int]],
    files: list[bytes],
    args: argparse.Namespace,
    server: int,
) -> tuple[list[Minute], list[int]]:
    count: int = args.minutes
    minutes = [Minute() for _ in range(count)]
    accepted: list[int] = []
    loop = asyncio.get_running_loop()
    start = loop.time()
    end = start + 60 * args.minutes
    busy = asyncio.Semaphore(args.concurrency)
    connector = aiohttp.TCPConnector(limit=args.concurrency)
    timeout = aiohttp.ClientTimeout(total=120)

    def minute_now() -> Minute:
        return minutes[min(int((loop.time() - start) // 60), count - 1)]

    async def sample_memory() -> None:
        for m, minute in enumerate(minutes):
            await asyncio.sleep(max(0.0, start + 60 * (m + 1) - loop.time()))
            minute.rss = {pid: rss_bytes(pid) for pid in process_tree(server)}

    async with aiohttp.ClientSession(base, connector=connector, timeout=timeout) as http:

        async def one(i: int) -> None:
            token, model = people[i % len(people)]
            headers = {"Authorization": f"Token {token}"}
            async with busy:
                minute = minute_now()
                sent = time.perf_counter()
                try:
                    async with http.post(
                        f"/v1/models/{model}/submissions",
                        data=files[i % len(files)],
                        headers={**headers, "Content-Type": "application/octet-stream"},
                        params={"filename": f"p{i}.csv"},
                    ) as r:
                        body = await r.json()
                    minute.uploads.append(time.perf_counter() - sent)
                    if r.status in (200, 201):
                        minute.accepted += 1
                        accepted.append(int(body["id"]))
                    else:
                        minute.failed += 1
                    if i % 4 == 0:
                        for path in (
                            "/v1/rounds/current",
                            "/v1/leaderboard",
                            # a script polling its last uploads (not all of them: a
                            # model here uploads ~1,000 times in 10 minutes)
                            f"/v1/models/{model}/submissions?latest=10",
                        ):
                            sent = time.perf_counter()
                            async with http.get(path, headers=headers) as q:
                                await q.read()
                            minute.queries.append(time.perf_counter() - sent)
                except (aiohttp.ClientError, TimeoutError):
                    minute.failed += 1

        sampler = asyncio.create_task(sample_memory())
        running: set[asyncio.Task[None]] = set()
        i = 0
        while True:
            due = start + i / args.rate
            if due >= end:
                break
            await asyncio.sleep(max(0.0, due - loop.time()))
            if busy.locked():
                minute_now().late += 1
            task = asyncio.create_task(one(i))
            running.add(task)
            task.add_done_callback(running.discard)
            i += 1
        await asyncio.gather(*running)
        await sampler
    return minutes, accepted


def _stored(base: str, people: list[tuple[str, int]]) -> set[int]:
    stored: set[int] = set()
    with httpx.Client(base_url=base, timeout=60) as http:
        for token, model in people:
            got = http.get(
                f"/v1/models/{model}/submissions", headers={"Authorization": f"Token {token}"}
            ).json()
            stored.update(int(s["id"]) for s in got)
    return stored


def _report(minutes: list[Minute], args: argparse.Namespace, lost: int) -> None:
    rows = []
    for m, minute in enumerate(minutes, 1):
        rss = minute.rss
        rows.append(
            [
                str(m),
                str(minute.accepted + minute.failed),
                str(minute.accepted),
                str(minute.failed),
                str(minute.late),
                percentile_ms(minute.uploads, 50),
                percentile_ms(minute.uploads, 99),
                percentile_ms(minute.queries, 50),
                percentile_ms(minute.queries, 99),
                f"{sum(rss.values()) / MIB:,.0f}",
                " ".join(f"{rss[pid] / MIB:,.0f}" for pid in sorted(rss)),
            ]
        )
    headers = [
        "minute",
        "uploads",
        "accepted",
        "refused/failed",
        "late",
        "upload p50",
        "upload p99",
        "query p50",
        "query p99",
        "server RSS MiB",
        "per process (pid order)",
    ]
    print(format_table(headers, rows))
    first, last = sum(minutes[0].rss.values()), sum(minutes[-1].rss.values())
    growth = last - first
    print(
        f"server RSS: {first / MIB:,.0f} MiB after minute 1, {last / MIB:,.0f} MiB after minute "
        f"{len(minutes)}: {growth / MIB:+,.0f} MiB ({100 * growth / max(first, 1):+.1f}%)"
        " (goal: flat)"
    )
    total = sum(m.accepted for m in minutes)
    print(f"accepted submissions: {total:,}; lost: {lost} (goal: 0)")
    print(
        f"{args.rate:g} uploads/s scheduled, {args.rows:,}-row CSV files, "
        f"{args.participants} participants, at most {args.concurrency} requests in flight, "
        f"{args.workers} server process(es)"
    )
    print(environment())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=int, default=10)
    parser.add_argument("--rate", type=float, default=20.0, help="uploads per second")
    parser.add_argument("--participants", type=int, default=50)
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=32, help="requests in flight, most")
    parser.add_argument("--workers", type=int, default=2, help="server processes")
    args = parser.parse_args()
    if args.minutes < 1 or args.rate <= 0:
        parser.error("--minutes must be at least 1 and --rate positive")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        log = Path(tmp) / "server.log"
        proc = _start(home, args.rows, port, args.workers, log)
        try:
            wait_until_serving(base, proc)
            with httpx.Client(base_url=base, timeout=30) as http:
                people = sign_up(http, args.participants)
                ids = live_ids(http)
            rng = np.random.default_rng(0)
            files = [predictions_csv(ids, rng) for _ in range(DISTINCT_FILES)]
            minutes, accepted = asyncio.run(_load(base, people, files, args, proc.pid))
            lost = len(set(accepted) - _stored(base, people))
        except BaseException:
            print(log.read_text(errors="replace")[-3000:], file=sys.stderr)
            raise
        finally:
            proc.terminate()
            proc.wait(timeout=60)
    _report(minutes, args, lost)


if __name__ == "__main__":
    main()

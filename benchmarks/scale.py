"""Benchmark: beyond one process — block-wise resolution, Dask builds, S3 downloads.

Four workloads, each a subcommand (figures and commands in ``benchmarks/README.md``):

``resolve``
    Score a round of ``--models`` staked models on ``--rows`` live rows (50 int8 features
    for FNC, a benchmark model for BMC) with :func:`crowdalpha.scoring.blocks.score_round_blocks`
    from one stored ``.npy`` file per model — in this process, then on Dask LocalClusters of
    each ``--workers`` count — and, with ``--single``, :func:`score_round` on the whole frame
    for comparison (only where that frame fits in memory). Reports wall time, this process's
    peak RSS growth and the largest worker's peak RSS.
``build``
    A round's dataset from simulated prices, in one process and with its time cells on Dask
    LocalClusters of each ``--workers`` count (``--no-in-process``: the Dask rows only);
    checks the files are byte-identical. ``--malloc-trim N`` starts the workers with Dask's
    own ``MALLOC_TRIM_THRESHOLD_`` (65536), which crowdalpha's worker settings unset.
``incremental``
    The next day's build: the round of a day earlier fills an era cache, then the round with
    one more day of prices is built from it (in one process, and with ``--workers``);
    ``--fill-workers`` fills the cache on a Dask LocalCluster instead of this process.
``download``
    ``--megabytes`` of a dataset file downloaded through the server (``crowdalpha serve``,
    a local folder) and through a presigned URL straight from an S3 endpoint (moto's server:
    an emulator, so its throughput is moto's, not S3's); reports MB/s and the CPU the
    crowdalpha server spent on it.
``s3-clients``
    obstore against s3fs (when installed: it is not a dependency) on moto: put/get of small
    and large objects, wall time and this process's CPU time per operation.

Every subcommand prints how much CPU other processes took meanwhile: on a shared machine
that is what makes figures noisy.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from _common import (
    CpuContention,
    fmt_mib,
    fmt_seconds,
    format_table,
    measure,
    peak_method,
    peak_rss,
    reset_peak_rss,
)
from crowdalpha.compute import ComputeBackend, InProcess
from crowdalpha.dataset.build import BuildConfig, build_round
from crowdalpha.dataset.features import FeatureConfig
from crowdalpha.dataset.obfuscate import Vault
from crowdalpha.market import MarketConfig, simulate_market
from crowdalpha.scoring import score_round
from crowdalpha.scoring.blocks import StoredColumns, score_round_blocks
from crowdalpha.storage import LocalFileStore

MB = 1_000_000


# -- shared -----------------------------------------------------------------------------


@contextmanager
def dask_backend(workers: int) -> Iterator[Any]:
    """A fresh LocalCluster of ``workers`` single-threaded worker processes."""
    from distributed import Client

    from crowdalpha.compute.dask import DaskBackend, local_cluster

    cluster = local_cluster(workers)
    client = Client(cluster, set_as_default=False)
    try:
        client.wait_for_workers(workers)
        yield DaskBackend(client)
    finally:
        client.close()
        cluster.close()


def reset_worker_peaks(backend: ComputeBackend) -> None:
    """Start the backend's worker processes' peak RSS afresh (nothing in-process)."""
    client = getattr(backend, "client", None)
    if client is not None:
        client.run(reset_peak_rss)


def worker_peak(backend: ComputeBackend) -> str:
    """The largest peak RSS of the backend's worker processes since
    :func:`reset_worker_peaks` (MiB: each worker's own, :func:`peak_rss`), or '' in-process."""
    client = getattr(backend, "client", None)
    if client is None:
        return ""
    peaks = client.run(peak_rss)
    return fmt_mib(max(peaks.values()))


def backends(
    workers: list[int], in_process: bool = True
) -> Iterator[tuple[str, Callable[[], Any]]]:
    if in_process:
        yield "in-process", lambda: _in_process()
    for w in workers:
        yield f"Dask, {w} worker{'s' if w > 1 else ''}", lambda w=w: dask_backend(w)


@contextmanager
def _in_process() -> Iterator[ComputeBackend]:
    yield InProcess()


# -- resolve ----------------------------------------------------------------------------


def resolve(args: argparse.Namespace) -> None:
    rows, models = args.rows, args.models
    rng = np.random.default_rng(args.seed)
    root = Path(tempfile.mkdtemp(prefix="crowdalpha-scale-"))
    try:
        ids = pd.Index([f"n{i:015x}" for i in rng.permutation(rows)], name="id")
        signal_ = rng.normal(size=rows)
        targets = pd.Series(
            np.digitize(signal_ + rng.normal(size=rows), [-1.5, -0.5, 0.5, 1.5]) / 4.0, index=ids
        )
        features = pd.DataFrame(
            rng.integers(0, 5, size=(rows, 50)).astype(np.int8), index=ids
        ).add_prefix("f")
        bench = pd.Series(signal_ + rng.normal(size=rows), index=ids)
        store = LocalFileStore(root)
        keys = []
        started = time.perf_counter()
        for m in range(models):
            raw = signal_ + rng.uniform(0.5, 20.0) * rng.normal(size=rows)
            values = (pd.Series(raw).rank().to_numpy() - 0.5) / rows
            key = f"submissions/00001/{m}/bench.npy"
            path = root / key
            path.parent.mkdir(parents=True, exist_ok=True)
            np.save(path, values, allow_pickle=False)
            keys.append(key)
        print(f"wrote {models:,} prediction files in {time.perf_counter() - started:.1f} s")
        stakes = pd.Series(rng.integers(1, 500, size=models).astype(float), index=range(models))
        source = StoredColumns(store, keys, list(range(models)), ids)
        sorted_features = features.sort_index()
        table = []
        reference = None
        if args.single:
            with CpuContention("score_round (one frame)"):
                frame = pd.DataFrame(source.load(np.arange(models)), index=source.ids)
                done = measure(
                    lambda: score_round(
                        frame,
                        targets,
                        stakes=stakes,
                        features=sorted_features,
                        benchmark_meta_model=bench,
                    )
                )
            reference = done.result
            table.append(
                ["score_round, one frame", fmt_seconds(done.best), fmt_mib(done.peak_growth), ""]
            )
            del frame
        for label, opener in backends(args.workers):
            with opener() as backend, CpuContention(label):
                reset_worker_peaks(backend)
                done = measure(
                    lambda backend=backend: score_round_blocks(
                        source,
                        targets,
                        stakes=stakes,
                        features=sorted_features,
                        benchmark_meta_model=bench,
                        backend=backend,
                        block_columns=args.block,
                    )
                )
                peak = worker_peak(backend)
            same = ""
            if reference is not None:
                equal = done.result.scores.equals(reference.scores) and bool(
                    (done.result.meta_model == reference.meta_model).all()
                )
                same = " (bit-identical to score_round)" if equal else " (DIFFERS)"
            table.append(
                [f"blocks of {args.block}, {label}{same}", fmt_seconds(done.best),
                 fmt_mib(done.peak_growth), peak]
            )  # fmt: skip
        print(f"\n{models:,} staked models × {rows:,} rows (CORR, MMC, FNC on 50 features, BMC)")
        print(format_table(["", "seconds", "peak RSS growth MiB", "worker peak MiB"], table))
    finally:
        shutil.rmtree(root, ignore_errors=True)


# -- build and incremental --------------------------------------------------------------


def _market(args: argparse.Namespace) -> pd.DataFrame:
    config = MarketConfig(n_stocks=args.stocks, n_days=args.days, seed=args.seed)
    return simulate_market(config).prices


def _config(args: argparse.Namespace) -> BuildConfig:
    features = FeatureConfig.large() if args.features == "large" else FeatureConfig()
    return BuildConfig(features=features, validation_eras=52, block_days=args.block_days)


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def build(args: argparse.Namespace) -> None:
    prices = _market(args)
    print(f"prices: {len(prices):,} rows, {prices['ticker'].nunique():,} tickers")
    config = _config(args)
    root = Path(tempfile.mkdtemp(prefix="crowdalpha-scale-"))
    table = []
    try:
        first: dict[str, bytes] | None = None
        base = None
        for n, (label, opener) in enumerate(backends(args.workers, args.in_process)):
            out = root / str(n)
            with opener() as backend, CpuContention(label):
                reset_worker_peaks(backend)
                done = measure(
                    lambda backend=backend, out=out: build_round(
                        prices,
                        out_dir=out / "public",
                        operator_dir=out / "operator",
                        vault=Vault(bytes(range(32))),
                        round_number=1,
                        config=config,
                        compute=None if isinstance(backend, InProcess) else backend,
                    )
                )
                peak = worker_peak(backend)
            files = _files(out)
            first = first or files
            base = base or done.best
            eras = len(done.result.computed)
            table.append(
                [label, fmt_seconds(done.best), f"{base / done.best:.2f}x",
                 f"{eras / done.best:.2f}", fmt_mib(done.peak_growth), peak,
                 "yes" if files == first else "NO"]
            )  # fmt: skip
            shutil.rmtree(out)
        print(f"\n{args.stocks:,} stocks × {args.days:,} days, {args.features} features, "
              f"cells of {args.block_days} days")  # fmt: skip
        headers = ["", "seconds", "speed-up", "eras/s", "peak RSS growth MiB",
                   "worker peak MiB", "same bytes"]  # fmt: skip
        print(format_table(headers, table))
    finally:
        shutil.rmtree(root, ignore_errors=True)


def incremental(args: argparse.Namespace) -> None:
    prices = _market(args)
    days = np.unique(prices["date"].to_numpy())
    yesterday = prices[prices["date"] < days[-1]].reset_index(drop=True)
    config = _config(args)
    root = Path(tempfile.mkdtemp(prefix="crowdalpha-scale-"))
    table = []
    first: dict[str, bytes] | None = None
    try:
        cache = Path(args.cache) if args.cache else root / "cache"
        vault = Vault(bytes(range(32)))
        fill = dask_backend(args.fill_workers) if args.fill_workers else _in_process()
        with fill as backend, CpuContention("fill"):
            filled = measure(
                lambda: build_round(
                    yesterday,
                    out_dir=root / "y" / "public",
                    operator_dir=root / "y" / "operator",
                    vault=vault,
                    round_number=1,
                    config=config,
                    cache_dir=cache,
                    compute=None if isinstance(backend, InProcess) else backend,
                )
            )
        where = f", {args.fill_workers} Dask workers" if args.fill_workers else ""
        table.append(
            [f"the day before, filling the cache{where}", fmt_seconds(filled.best),
             str(len(filled.result.computed)), "", "", fmt_mib(filled.peak_growth), ""]
        )  # fmt: skip
        for n, (label, opener) in enumerate(backends(args.workers, args.in_process)):
            out = root / f"t{n}"
            # Every row starts from the cache as the day before left it (each adds the new
            # eras to its own copy); files are replaced, never changed, so links will do.
            day = root / f"cache-t{n}"
            shutil.copytree(cache, day, copy_function=os.link)
            with opener() as backend, CpuContention(label):
                done = measure(
                    lambda backend=backend, out=out, day=day: build_round(
                        prices,
                        out_dir=out / "public",
                        operator_dir=out / "operator",
                        vault=vault,
                        round_number=2,
                        config=config,
                        cache_dir=day,
                        compute=None if isinstance(backend, InProcess) else backend,
                    )
                )
            report = done.result
            files = _files(out)
            first = first or files
            table.append(
                [f"next day from the cache, {label}", fmt_seconds(done.best),
                 str(len(report.computed)), str(len(report.reused)), str(len(report.copied)),
                 fmt_mib(done.peak_growth), "yes" if files == first else "NO"]
            )  # fmt: skip
            shutil.rmtree(out)
            shutil.rmtree(day)
        print(f"\n{args.stocks:,} stocks × {args.days:,} days, {args.features} features")
        headers = ["", "seconds", "computed", "reused", "of them copied", "peak RSS growth MiB",
                   "same bytes"]  # fmt: skip
        print(format_table(headers, table))
    finally:
        shutil.rmtree(root, ignore_errors=True)


# -- download ---------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its children so far (/proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(v) for v in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def _wait(url: str) -> None:
    import httpx

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer")


def _fetch(url: str) -> tuple[float, int]:
    import httpx

    started, size = time.perf_counter(), 0
    with httpx.stream("GET", url, timeout=600) as answer:
        answer.raise_for_status()
        for chunk in answer.iter_bytes(1 << 20):
            size += len(chunk)
    return time.perf_counter() - started, size


def download(args: argparse.Namespace) -> None:
    from crowdalpha.server.signing import Signer
    from crowdalpha.storage.s3 import S3FileStore

    size = args.megabytes * MB
    root = Path(tempfile.mkdtemp(prefix="crowdalpha-scale-"))
    processes: list[subprocess.Popen[bytes]] = []
    table = []
    try:
        payload = np.random.default_rng(0).bytes(size)
        key = "datasets/bench/train.parquet"
        # through the server: `crowdalpha serve` over a local folder
        home = root / "home"
        LocalFileStore(home / "files").put(key, payload)
        port = _free_port()
        env = {**os.environ, "CROWDALPHA_HOME": str(home), "CROWDALPHA_PORT": str(port),
               "CROWDALPHA_SIGNING_KEY": "bench", "CROWDALPHA_TICK_INTERVAL": "0",
               "CROWDALPHA_DATA_SOURCE": "synthetic",
               "CROWDALPHA_RATE_LIMIT_PER_MINUTE": "0"}  # fmt: skip
        server = subprocess.Popen(
            [str(Path(sys.executable).parent / "crowdalpha"), "serve"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        processes.append(server)
        base = f"http://127.0.0.1:{port}"
        _wait(base)
        token = Signer(b"bench", ttl=3600).sign("download", key=key)
        cpu0 = _cpu_seconds(server.pid)
        with CpuContention("through the server"):
            seconds, got = _fetch(f"{base}/files/{token}/train.parquet")
        cpu = _cpu_seconds(server.pid) - cpu0
        table.append(["through crowdalpha serve", f"{got / MB / seconds:,.0f}",
                      fmt_seconds(seconds), f"{cpu:.2f}"])  # fmt: skip
        # straight from the bucket: moto's S3 server in its own process
        s3_port = _free_port()
        moto = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(s3_port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        processes.append(moto)
        endpoint = f"http://127.0.0.1:{s3_port}"
        _wait(endpoint)
        import httpx

        httpx.put(f"{endpoint}/bench-bucket")
        store = S3FileStore("s3://bench-bucket/files", endpoint=endpoint,
                            access_key_id="a", secret_access_key="b")  # fmt: skip
        store.put(key, payload)
        url = store.presigned_get(key, timedelta(hours=1))
        assert url is not None
        cpu0 = _cpu_seconds(server.pid)
        with CpuContention("presigned"):
            seconds, got = _fetch(url)
        cpu = _cpu_seconds(server.pid) - cpu0
        table.append(["presigned URL, moto's S3 server", f"{got / MB / seconds:,.0f}",
                      fmt_seconds(seconds), f"{cpu:.2f}"])  # fmt: skip
        print(f"\none {args.megabytes:,} MB file, one client (httpx, 1 MiB reads)")
        print(format_table(["", "MB/s", "seconds", "crowdalpha server CPU-s"], table))
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)
        shutil.rmtree(root, ignore_errors=True)


# -- s3 clients -------------------------------------------------------------------------


def s3_clients(args: argparse.Namespace) -> None:
    import httpx

    from crowdalpha.storage.s3 import S3FileStore

    port = _free_port()
    moto = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        _wait(endpoint)
        httpx.put(f"{endpoint}/bench-bucket")
        small = np.random.default_rng(1).bytes(40_000)  # one model's predictions
        large = np.random.default_rng(2).bytes(64 * MB)
        clients: dict[str, tuple[Callable[[str, bytes], None], Callable[[str], bytes]]] = {}
        ob = S3FileStore("s3://bench-bucket/obstore", endpoint=endpoint,
                         access_key_id="a", secret_access_key="b")  # fmt: skip
        clients["obstore"] = (ob.put, ob.get)
        try:
            import s3fs  # not a dependency: install it to compare

            fs = s3fs.S3FileSystem(key="a", secret="b", client_kwargs={"endpoint_url": endpoint})
            clients["s3fs"] = (
                lambda k, d: fs.pipe_file(f"bench-bucket/s3fs/{k}", d),
                lambda k: fs.cat_file(f"bench-bucket/s3fs/{k}"),
            )
        except ImportError:
            print("s3fs is not installed: only obstore is measured")
        table = []
        for name, (put, get) in clients.items():
            for label, data, count in (("40 kB", small, args.small), ("64 MB", large, 3)):
                cpu0, wall0 = time.process_time(), time.perf_counter()
                for i in range(count):
                    put(f"{label}/{i}", data)
                put_wall, put_cpu = time.perf_counter() - wall0, time.process_time() - cpu0
                cpu0, wall0 = time.process_time(), time.perf_counter()
                for i in range(count):
                    assert len(get(f"{label}/{i}")) == len(data)
                get_wall, get_cpu = time.perf_counter() - wall0, time.process_time() - cpu0
                table.append(
                    [f"{name}, {label} × {count}",
                     f"{put_wall / count * 1e3:.1f}", f"{put_cpu / count * 1e3:.1f}",
                     f"{get_wall / count * 1e3:.1f}", f"{get_cpu / count * 1e3:.1f}"]
                )  # fmt: skip
        print("\nagainst moto's S3 server (the emulator dominates wall time; CPU is the client's)")
        headers = ["", "put ms", "put CPU ms", "get ms", "get CPU ms"]
        print(format_table(headers, table))
    finally:
        moto.send_signal(signal.SIGTERM)
        moto.wait(timeout=30)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("resolve", help="block-wise resolution")
    p.add_argument("--models", type=int, default=100_000)
    p.add_argument("--rows", type=int, default=5_000)
    p.add_argument("--block", type=int, default=1024, help="columns per block (1024)")
    p.add_argument("--workers", type=int, nargs="*", default=[1, 2])
    p.add_argument("--single", action="store_true", help="also score_round on one frame")
    p.add_argument("--seed", type=int, default=0)
    for name in ("build", "incremental"):
        p = commands.add_parser(name, help=f"dataset {name}")
        p.add_argument("--stocks", type=int, default=5000)
        p.add_argument("--days", type=int, default=5040)
        p.add_argument("--features", choices=("default", "large"), default="large")
        p.add_argument("--block-days", type=int, default=750)
        p.add_argument("--workers", type=int, nargs="*", default=[1, 2])
        p.add_argument("--seed", type=int, default=0)
        p.add_argument(
            "--no-in-process",
            dest="in_process",
            action="store_false",
            help="leave out the build in this process (the first row is then the reference)",
        )
        p.add_argument(
            "--malloc-trim",
            type=int,
            help="start the Dask workers with MALLOC_TRIM_THRESHOLD_ set to this (Dask's own "
            "default is 65536; crowdalpha's worker settings leave it unset), to compare",
        )
        if name == "incremental":
            p.add_argument(
                "--fill-workers",
                type=int,
                default=0,
                help="fill the cache on a Dask LocalCluster of this many workers (0: here)",
            )
            p.add_argument(
                "--cache",
                help="keep the day before's era cache in this folder (kept afterwards, as "
                "filled; a filled one makes the day before's build quick)",
            )
    p = commands.add_parser("download", help="presigned S3 vs through the server")
    p.add_argument("--megabytes", type=int, default=1000)
    p = commands.add_parser("s3-clients", help="obstore vs s3fs")
    p.add_argument("--small", type=int, default=300, help="small objects (300)")
    args = parser.parse_args(argv)
    print(f"python {platform.python_version()}, {os.cpu_count()} CPUs; memory: {peak_method()}")
    if getattr(args, "malloc_trim", None) is not None:
        # Workers inherit this process's environment; this process's allocator has read
        # its settings already and keeps them.
        os.environ["MALLOC_TRIM_THRESHOLD_"] = str(args.malloc_trim)
        print(f"Dask workers start with MALLOC_TRIM_THRESHOLD_={args.malloc_trim}")
    {
        "resolve": resolve,
        "build": build,
        "incremental": incremental,
        "download": download,
        "s3-clients": s3_clients,
    }[args.command](args)
    return 0


if __name__ == "__main__":
    sys.exit(main())

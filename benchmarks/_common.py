"""Helpers shared by the benchmark scripts: timing, peak-memory measurement, plain-text tables.

Peak memory is measured as the growth of the process's resident set size over a phase:
``/proc/self/clear_refs`` (writing ``5``) resets the kernel's high-water mark ``VmHWM`` to the
current RSS, the phase runs, and ``VmHWM`` minus the RSS at the start is the phase's peak
growth. This sees every allocation (numpy buffers, BLAS workspaces, Python objects), which
``tracemalloc`` does not. Where ``clear_refs`` cannot be written (not Linux, or a restricted
container) the growth of ``ru_maxrss`` is reported instead; that is only a lower bound, since
``ru_maxrss`` never goes down, and the output says so.
"""

from __future__ import annotations

import gc
import os
import resource
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from crowdalpha.compute.memory import release_memory as release_free_pages

T = TypeVar("T")

MIB = 1024 * 1024


def _status_kib(field: str) -> int | None:
    """Read one ``kB`` field (``VmRSS``, ``VmHWM``) of /proc/self/status, or None."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


def reset_peak_rss() -> bool:
    """Reset VmHWM to the current RSS; False where the kernel does not let us."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as fh:
            fh.write("5")
    except OSError:
        return False
    return _status_kib("VmHWM") is not None


def _ru_maxrss_bytes() -> int:
    scale = 1 if sys.platform == "darwin" else 1024  # bytes on macOS, KiB elsewhere
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


def current_rss() -> int:
    """The process's resident set size in bytes (0 where unknown)."""
    kib = _status_kib("VmRSS")
    return 0 if kib is None else kib * 1024


def peak_rss() -> int:
    """The process's own peak RSS in bytes since it started or :func:`reset_peak_rss`
    (``VmHWM``; 0 where unknown).

    For another process's peak (a Dask worker's, through ``client.run``) this, not
    ``ru_maxrss``: a process started by fork and exec (``multiprocessing``'s spawn, as Dask's
    nannies start workers) keeps in ``ru_maxrss`` the peak of the process it was forked from
    — Linux folds the old address space's high-water mark into it at exec — so a worker
    spawned by a process that holds 3 GiB of prices reports 3 GiB before it has done
    anything. ``VmHWM`` belongs to the address space, new at exec.
    """
    kib = _status_kib("VmHWM")
    return 0 if kib is None else kib * 1024


def release_memory() -> None:
    """Collect garbage and hand freed heap pages back to the OS (glibc), so that one phase's
    leftovers do not hide the next phase's growth."""
    gc.collect()
    release_free_pages()


def peak_method() -> str:
    """How peak memory is measured on this machine, for the report."""
    if reset_peak_rss():
        return "peak RSS growth over each phase (VmHWM reset through /proc/self/clear_refs)"
    return "growth of ru_maxrss over each phase (a LOWER BOUND: clear_refs is unavailable)"


@dataclass(frozen=True)
class Measurement(Generic[T]):
    """The outcome of :func:`measure`: the last run's result, every run's wall time and the
    peak RSS growth (bytes) over all runs."""

    result: T
    times: list[float]
    peak_growth: int

    @property
    def best(self) -> float:
        return min(self.times)

    @property
    def total(self) -> float:
        return sum(self.times)


def measure(fn: Callable[[], T], repeats: int = 1) -> Measurement[T]:
    """Run ``fn`` ``repeats`` times; time each run with ``time.perf_counter``."""
    if repeats < 1:
        raise ValueError("repeats must be >= 1")
    release_memory()
    exact = reset_peak_rss()
    rss_before = current_rss()
    maxrss_before = _ru_maxrss_bytes()
    start = time.perf_counter()
    result = fn()
    times = [time.perf_counter() - start]
    for _ in range(repeats - 1):
        del result  # drop the previous run's result before the next run starts
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    if exact:
        hwm = _status_kib("VmHWM")
        growth = (hwm or 0) * 1024 - rss_before
    else:
        growth = _ru_maxrss_bytes() - maxrss_before
    return Measurement(result=result, times=times, peak_growth=max(0, growth))


def fmt_seconds(seconds: float) -> str:
    if seconds >= 100:
        return f"{seconds:.0f}"
    if seconds >= 10:
        return f"{seconds:.1f}"
    if seconds >= 1:
        return f"{seconds:.2f}"
    if seconds >= 0.01:
        return f"{seconds:.3f}"
    return f"{seconds:.2e}"


def fmt_ratio(ratio: float) -> str:
    if ratio >= 100:
        return f"{ratio:.0f}x"
    if ratio >= 10:
        return f"{ratio:.1f}x"
    return f"{ratio:.2f}x"


def fmt_mib(nbytes: int | float) -> str:
    return f"{nbytes / MIB:,.1f}"


def fmt_diff(diff: float) -> str:
    return f"{diff:.2e}"


def format_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A plain-text table: the first column left-aligned, the others right-aligned."""
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]

    def line(cells: Sequence[str]) -> str:
        parts = [
            cell.ljust(width) if i == 0 else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  ".join(parts).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(headers), rule, *(line(row) for row in rows)])


def _system_busy_seconds() -> float | None:
    """CPU seconds all processes have spent busy since boot (/proc/stat), or None."""
    try:
        with open("/proc/stat", encoding="ascii") as fh:
            fields = fh.readline().split()
        user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, fields[1:9])
    except (OSError, ValueError):
        return None
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def _own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class CpuContention:
    """Context manager that reports, on exit, how much CPU *other* processes used meanwhile:
    on a small shared machine that is what makes one side's timings noisier than the other's."""

    def __init__(self, label: str) -> None:
        self.label = label
        self._start: tuple[float, float | None, float] = (0.0, None, 0.0)

    def __enter__(self) -> CpuContention:
        self._start = (time.perf_counter(), _system_busy_seconds(), _own_cpu_seconds())
        return self

    def __exit__(self, *exc: object) -> None:
        wall0, busy0, own0 = self._start
        busy1 = _system_busy_seconds()
        if busy0 is None or busy1 is None or exc[0] is not None:
            return
        wall = time.perf_counter() - wall0
        others = max(0.0, (busy1 - busy0) - (_own_cpu_seconds() - own0))
        share = others / wall if wall > 0 else 0.0
        cpus = os.cpu_count() or 1
        note = (
            " -- timings are NOISY, rerun on an idle machine to confirm"
            if share > 0.1 * cpus
            else ""
        )
        print(
            f"{self.label}: other processes used {others:.1f} CPU-s over {wall:.1f} s of wall time "
            f"(on average {share:.2f} of {cpus} CPUs){note}"
        )

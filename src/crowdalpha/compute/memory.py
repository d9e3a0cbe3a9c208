"""Handing the memory a finished task freed back to the system.

A worker process runs one task after another. A dataset cell allocates and frees arrays of
tens of MB all along, and glibc's ``malloc`` — with its own adaptive thresholds, which
crowdalpha's worker settings leave in place (``docs/scaling.md``) — serves arrays of up to
32 MiB from its heaps once a larger one has been freed, and keeps what is freed there for
later. So a worker would keep most of a task's memory after it, and the next task, whose
arrays do not all fit the holes, would add to it: at 5,000 stocks a Dask worker held 1.8 GiB
between cells of 125 days and peaked at 2.3–2.5 GiB, against 1.7–1.9 GiB for the cells
themselves. :func:`release_memory` after each task (what :func:`run_task` does) hands the
free pages back — 10–30 ms after such a cell — so a worker's peak is one task's.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from collections.abc import Callable
from typing import TypeVar

__all__ = ["can_release_memory", "release_memory", "run_task"]

T = TypeVar("T")
R = TypeVar("R")


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, or None where the C library has none (musl, macOS)."""
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        trim: Callable[[int], int] = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):
        return None
    return trim


def can_release_memory() -> bool:
    """Whether :func:`release_memory` can hand anything back here (glibc)."""
    return _malloc_trim() is not None


def release_memory() -> None:
    """Hand the free pages of every ``malloc`` arena of this process back to the system
    (glibc's ``malloc_trim(0)``; nothing elsewhere)."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


def run_task(fn: Callable[[T], R], item: T) -> R:
    """``fn(item)``, then :func:`release_memory`: what a worker process runs for each task
    of :meth:`~crowdalpha.compute.ComputeBackend.map`."""
    try:
        return fn(item)
    finally:
        release_memory()

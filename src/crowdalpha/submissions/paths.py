"""Which reading and validation paths this process's uploads took.

The upload path has fast branches that only plain files take: a CSV read by pyarrow
instead of pandas (:func:`~crowdalpha.submissions.read.parse`), and ids that are the
round's live ids in order, which need no matching
(:func:`~crowdalpha.submissions.validate.validate_submission`). A slow install and a fast
one differ in these counts, so the server logs them when it stops and the server
benchmark prints them (``benchmarks/server.py``).

Counted per process by the stage that made the choice: ``csv_arrow``, ``csv_pandas`` and
``parquet`` once the reader has read a file (a file it cannot read is not counted),
``ids_in_order`` and ``ids_matched`` when validation takes its path (a file it then
refuses is counted).
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Literal

__all__ = ["UploadPath", "count", "paths_taken"]

UploadPath = Literal["csv_arrow", "csv_pandas", "parquet", "ids_in_order", "ids_matched"]

_LOCK = threading.Lock()
_COUNTS: Counter[str] = Counter()


def count(path: UploadPath) -> None:
    """Count one file that took ``path``."""
    with _LOCK:
        _COUNTS[path] += 1


def paths_taken() -> dict[str, int]:
    """The counts so far in this process, by path (paths never taken are absent)."""
    with _LOCK:
        return dict(sorted(_COUNTS.items()))

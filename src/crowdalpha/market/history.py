"""The price history, fingerprinted day by day: a day once read never changes unseen.

Rounds are built from the operator's price file and resolved weeks later from the same
file with more days appended. A day rewritten in between — a damaged file, a bad day
pasted in, a vendor's silent revision — would change targets and payouts with nothing to
show for it. :func:`check_price_history` keeps the SHA-256 of every day it has seen in a
small JSON record and refuses a price frame in which a recorded day is missing or differs
(:class:`~crowdalpha.errors.PriceHistoryError`, naming the days); new days are added to
the record. A deliberate correction is accepted by deleting the record (the operator's
decision, made once).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from crowdalpha.errors import PriceHistoryError

__all__ = ["check_price_history", "day_digests"]

#: Days named in an error (the details carry their count).
_SHOWN = 5


def day_digests(prices: pd.DataFrame) -> dict[str, str]:
    """``YYYY-MM-DD`` → the SHA-256 of that day's rows (every column, in order) of a
    validated price frame (sorted by date, then ticker)."""
    if prices.empty:
        return {}
    rows = pd.util.hash_pandas_object(prices, index=False).to_numpy(dtype=np.uint64)
    dates = prices["date"].to_numpy(dtype="datetime64[D]")
    days, starts = np.unique(dates, return_index=True)
    ends = [*starts[1:], len(dates)]
    names = "\x1f".join(prices.columns).encode()
    return {
        str(day): hashlib.sha256(names + rows[start:end].tobytes()).hexdigest()
        for day, start, end in zip(days, starts, ends, strict=True)
    }


def check_price_history(prices: pd.DataFrame, record: Path) -> None:
    """Refuse ``prices`` if a day recorded in ``record`` is missing or changed; else add
    its new days to the record (written atomically)."""
    seen: dict[str, str] = json.loads(record.read_text()) if record.is_file() else {}
    now = day_digests(prices)
    missing = sorted(day for day in seen if day not in now)
    changed = sorted(day for day, digest in seen.items() if day in now and now[day] != digest)
    if missing or changed:
        parts = []
        if changed:
            parts.append(f"{len(changed)} day(s) changed ({', '.join(changed[:_SHOWN])})")
        if missing:
            parts.append(f"{len(missing)} day(s) missing ({', '.join(missing[:_SHOWN])})")
        raise PriceHistoryError(
            f"the price file rewrites days already used for rounds: {'; '.join(parts)}. "
            f"Restore the file; to accept a deliberate correction, delete {record}",
            details={"changed": changed, "missing": missing, "record": str(record)},
        )
    if len(now) == len(seen):
        return
    record.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=record.parent, prefix=f".{record.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump({**seen, **now}, fh, indent=0, sort_keys=True)
        os.replace(tmp, record)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise

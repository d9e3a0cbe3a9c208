"""The fault table's rows: each fault test records what it saw, one JSON line per run, in
the file named by ``CROWDALPHA_FAULT_REPORT`` (``benchmarks/faults.py`` sets it and prints
the table); without it nothing is written."""

from __future__ import annotations

import json
import os


def record(fault: str, database: str, **figures: object) -> None:
    path = os.environ.get("CROWDALPHA_FAULT_REPORT")
    if not path:
        return
    with open(path, "a", encoding="utf-8") as out:
        out.write(json.dumps({"fault": fault, "database": database, **figures}) + "\n")

"""The fault table: run the fault tests (real processes, kill -9, two schedulers, a database
that drops every connection, a full or read-only file store, files damaged at rest) with
more seeds than the suite does, and print what each fault did.

    python benchmarks/faults.py                  # 20 seeds of kill-while-resolving
    python benchmarks/faults.py --seeds 5 --quick  # no serve --workers 2 restarts

Each test appends one JSON line per run to a report file (``tests/faults/report.py``);
this script sets ``CROWDALPHA_FAULT_REPORT`` and ``CROWDALPHA_FAULT_SEEDS``, runs pytest
on them (SQLite, and PostgreSQL when ``CROWDALPHA_TEST_DATABASE_URL`` is set), and
prints, per fault and database: runs, outcomes (uploads interrupted, requests refused
with 503 or 507, damaged files detected), accepted submissions lost, ledger discrepancies,
double resolutions (or double opens/closes), and the time to recover (restart to the
first answer, or the takeover of the clock lock).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TESTS = [
    "tests/faults/test_kill_resolution.py",
    "tests/faults/test_clock_takeover.py",
    "tests/tournament/test_scheduler_lock.py",
    "tests/faults/test_database_loss.py",
    "tests/faults/test_database_restart.py",
    "tests/faults/test_storage_full.py",
    "tests/faults/test_corrupt_at_rest.py",
]
SERVE_TESTS = ["tests/faults/test_kill_uploads.py"]


def table(rows: list[dict[str, object]]) -> str:
    groups: dict[tuple[str, str], list[dict[str, object]]] = defaultdict(list)
    for row in rows:
        groups[(str(row["fault"]), str(row["database"]))].append(row)
    header = (
        "fault",
        "db",
        "runs",
        "outcomes",
        "lost",
        "ledger diff",
        "double",
        "recover (max s)",
    )
    lines = [header]
    for (fault, database), runs in sorted(groups.items()):

        def total(*names: str, runs: list[dict[str, object]] = runs) -> int:
            return sum(int(r.get(n, 0) or 0) for r in runs for n in names)  # type: ignore[call-overload]

        recover = [
            float(r.get("recover_s", r.get("takeover_s", 0)) or 0)  # type: ignore[arg-type]
            for r in runs
        ]
        lines.append(
            (
                fault,
                database,
                str(len(runs)),
                _outcomes(total),
                str(total("lost")),
                str(total("ledger_discrepancies")),
                str(total("double_resolutions", "double_opens", "double_closes", "duplicates")),
                f"{max(recover):.2f}" if any(recover) else "-",
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True))
        for line in lines
    )


#: What a run saw, beyond the goals: requests refused (by status), damage detected.
OUTCOMES = (
    ("interrupted", "{} interrupted"),
    ("refused_503", "{}×503"),
    ("refused_507", "{}×507"),
    ("refused_storage", "{} storage_write_failed"),
    ("detected", "{} detected"),
    ("scored_garbage", "{} used"),
)


def _outcomes(total: Callable[..., int]) -> str:
    seen = [text.format(total(name)) for name, text in OUTCOMES if total(name)]
    return ", ".join(seen) or "-"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=20, help="kill points per database")
    parser.add_argument(
        "--quick", action="store_true", help="skip the kill -9 of serve --workers 2"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        report = Path(folder) / "faults.jsonl"
        env = dict(os.environ)
        env["CROWDALPHA_FAULT_REPORT"] = str(report)
        env["CROWDALPHA_FAULT_SEEDS"] = str(args.seeds)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(ROOT / "src"), str(ROOT), env.get("PYTHONPATH", "")) if p
        )
        tests = TESTS + ([] if args.quick else SERVE_TESTS)
        code = subprocess.call([sys.executable, "-m", "pytest", "-q", *tests], cwd=ROOT, env=env)
        rows = (
            [json.loads(line) for line in report.read_text().splitlines()]
            if report.exists()
            else []
        )
    print(table(rows))
    sys.exit(code)


if __name__ == "__main__":
    main()

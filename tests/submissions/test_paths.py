"""The upload paths counted per process: what the server logs and its benchmark prints."""

from __future__ import annotations

import io
import subprocess
import sys

import numpy as np
import pandas as pd

from crowdalpha.submissions import load_and_validate
from crowdalpha.submissions.paths import paths_taken

IDS = pd.Index([f"n{i:05d}" for i in range(200)], name="id")


def _csv(ids: list[str], *, header: str = "id,prediction") -> bytes:
    values = np.random.default_rng(0).random(len(ids))
    lines = [header] + [f"{i},{v:.6f}" for i, v in zip(ids, values, strict=True)]
    return ("\n".join(lines) + "\n").encode()


def _delta(before: dict[str, int]) -> dict[str, int]:
    after = paths_taken()
    return {k: n - before.get(k, 0) for k, n in after.items() if n != before.get(k, 0)}


def test_each_upload_counts_its_reader_and_its_validation() -> None:
    before = paths_taken()
    load_and_validate(_csv(list(IDS)), IDS, filename="p.csv")
    assert _delta(before) == {"csv_arrow": 1, "ids_in_order": 1}

    before = paths_taken()
    load_and_validate(_csv(list(IDS[::-1])), IDS, filename="p.csv")
    assert _delta(before) == {"csv_arrow": 1, "ids_matched": 1}

    before = paths_taken()  # a quoted header is not plain: pandas reads it
    load_and_validate(_csv(list(IDS), header='"id","prediction"'), IDS, filename="p.csv")
    assert _delta(before) == {"csv_pandas": 1, "ids_in_order": 1}

    frame = pd.DataFrame({"prediction": np.linspace(0, 1, len(IDS))}, index=IDS)
    buffer = io.BytesIO()
    frame.to_parquet(buffer)
    before = paths_taken()
    load_and_validate(buffer.getvalue(), IDS, filename="p.parquet")
    assert _delta(before) == {"parquet": 1, "ids_in_order": 1}


def test_the_servers_log_configuration_lets_the_library_speak() -> None:
    code = (
        "import logging, logging.config\n"
        "from crowdalpha.server.logs import log_config\n"
        "logging.config.dictConfig(log_config())\n"
        "logging.getLogger('crowdalpha.server').info('tick: opened [7]')\n"
        "logging.getLogger('crowdalpha.server').debug('not at info')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert "crowdalpha.server: tick: opened [7]" in done.stderr
    assert "INFO" in done.stderr and "not at info" not in done.stderr

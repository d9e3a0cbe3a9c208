"""Validation diagnostics: score an uploaded prediction file era by era on the validation
data of the current round, as Numerai's diagnostics do.

The file must predict every row of the round's ``validation.parquet`` (the same rules as a
live submission, checked by :func:`crowdalpha.submissions.load_and_validate`). Per-era CORR
and FNC come from :func:`crowdalpha.scoring.score_by_era`, their summaries from
:func:`crowdalpha.scoring.summarize`. Results are stored as JSON next to the round's files
(``diagnostics/<account>/<model>/<id>.json``) and read back by id or as a model's latest.
"""

from __future__ import annotations

import io
import json
import math
import uuid
from typing import Any

import numpy as np
import pandas as pd

from crowdalpha.errors import NotFoundError
from crowdalpha.scoring import score_by_era, summarize
from crowdalpha.submissions import load_and_validate
from crowdalpha.tournament import RoundInfo, Tournament

__all__ = ["latest_diagnostics", "load_diagnostics", "run_diagnostics"]

VALIDATION_FILE = "validation.parquet"


def _number(value: object) -> float | None:
    if value is None:
        return None
    number = float(value)  # type: ignore[arg-type]
    return number if math.isfinite(number) else None


def _prefix(account_id: int, model_id: int) -> str:
    return f"diagnostics/{account_id}/{model_id}/"


def _validation(tournament: Tournament, info: RoundInfo) -> pd.DataFrame:
    key = f"datasets/{info.dataset_version}/{VALIDATION_FILE}"
    if not tournament.store.exists(key):
        raise NotFoundError(
            f"round {info.number} publishes no {VALIDATION_FILE}; diagnostics need the "
            "validation data",
            details={"round": info.number},
        )
    path = tournament.store.local_path(key)
    source: Any = path if path is not None else io.BytesIO(tournament.store.get(key))
    frame = pd.read_parquet(source)
    if "id" in frame.columns:
        frame = frame.set_index("id")
    frame.index = frame.index.astype(str)
    return frame[frame["target"].notna()] if "target" in frame.columns else frame


def run_diagnostics(
    tournament: Tournament,
    info: RoundInfo,
    data: bytes,
    *,
    filename: str,
    account_id: int,
    model_id: int,
) -> dict[str, Any]:
    """Score ``data`` on round ``info``'s validation rows; store and return the result."""
    validation = _validation(tournament, info)
    if "era" not in validation.columns or "target" not in validation.columns:
        raise NotFoundError(f"round {info.number}'s validation data has no era or target")
    validated = load_and_validate(
        data,
        list(validation.index),
        filename=filename,
        max_bytes=tournament.config.max_upload_bytes,
    )
    predictions = validated.predictions.reindex(validation.index).to_frame("prediction")
    features = [c for c in validation.columns if c.startswith("feature_")]
    per_era = score_by_era(
        predictions,
        validation["target"],
        validation["era"],
        features=validation[features] if features else None,
    )
    corr = per_era["corr"]["prediction"]
    fnc = per_era["fnc"]["prediction"] if "fnc" in per_era else None
    eras = [str(e) for e in corr.index]
    rows = []
    for era in corr.index:
        c = _number(corr.loc[era])
        f = _number(fnc.loc[era]) if fnc is not None else None
        rows.append(
            {
                "era": str(era),
                "validation_corr": c,
                "validation_corr_v4": c,
                "validation_feature_neutral_corr": f,
                "validation_fnc_v4": f,
            }
        )
    summary: dict[str, float | None] = {}
    for metric, series in (("corr", corr), ("fnc", fnc)):
        if series is None:
            continue
        stats = summarize(series.to_frame(metric))[metric]
        summary[f"{metric}_mean"] = _number(stats["mean"])
        summary[f"{metric}_std"] = _number(stats["std"])
        summary[f"{metric}_sharpe"] = _number(stats["sharpe"])
        summary[f"{metric}_max_drawdown"] = _number(stats["max_drawdown"])
    now = tournament.clock.now()
    result: dict[str, Any] = {
        "id": uuid.uuid4().hex,
        "model_id": model_id,
        "round_number": info.number,
        "status": "succeeded",
        "message": f"scored {len(eras)} validation eras",
        "updated_at": now.isoformat(),
        "eras_accepted_count": len(eras),
        "per_era": rows,
        "summary": summary,
    }
    tournament.store.put(
        _prefix(account_id, model_id) + f"{result['id']}.json", json.dumps(result).encode()
    )
    return result


def load_diagnostics(
    tournament: Tournament, account_id: int, model_id: int, diagnostics_id: str
) -> dict[str, Any]:
    key = _prefix(account_id, model_id) + f"{diagnostics_id}.json"
    if not diagnostics_id.isalnum() or not tournament.store.exists(key):
        raise NotFoundError(
            f"there are no diagnostics {diagnostics_id!r} for this model",
            details={"id": diagnostics_id},
        )
    loaded: dict[str, Any] = json.loads(tournament.store.get(key))
    return loaded


def latest_diagnostics(tournament: Tournament, account_id: int, model_id: int) -> dict[str, Any]:
    found = [
        json.loads(tournament.store.get(key))
        for key in tournament.store.keys(_prefix(account_id, model_id))
        if key.endswith(".json")
    ]
    if not found:
        raise NotFoundError("this model has no diagnostics yet; upload predictions first")
    latest: dict[str, Any] = max(found, key=lambda r: (r["updated_at"], r["id"]))
    return latest


def as_float(value: object) -> float | None:
    """A JSON number (or null) as a finite float or None."""
    return _number(value) if isinstance(value, (int, float, np.floating)) else None

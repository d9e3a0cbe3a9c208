"""Validation diagnostics: score an uploaded prediction file era by era on the validation
data of the current round, as Numerai's diagnostics do.

The computation is :func:`crowdalpha.scoring.validation.validation_diagnostics` (pure):
per-era CORR, FNC and maximum feature exposure, cumulative scores and drawdowns, and the
means per market regime when the round publishes ``era_regimes.parquet``.

The file must predict every row of the round's ``validation.parquet`` (the same rules as a
live submission, checked by :func:`crowdalpha.submissions.load_and_validate`). Results are
stored as JSON next to the round's files
(``diagnostics/<account>/<model>/<id>.json``) and read back by id or as a model's latest.

Scoring is a background job (:mod:`crowdalpha.server.jobs`): ``createDiagnostics`` queues
it (:func:`enqueue_diagnostics`) and answers at once with the diagnostics' id, status
``queued``; until the result is stored, reading the diagnostics answers the job's state —
``queued``, ``running``, or ``failed`` with the reason as message (a refused file:
``invalid_submission…: …``) — from a marker ``<id>.job`` that names the job. numerapi's
``diagnostics(model_id, id)`` polls that status until it is ``succeeded`` or ``failed``.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import uuid
from typing import Any

import numpy as np
import pandas as pd

from crowdalpha.errors import NotFoundError
from crowdalpha.jobs import JobInfo, JobQueue, JobState
from crowdalpha.scoring.validation import validation_diagnostics
from crowdalpha.submissions import load_and_validate
from crowdalpha.tournament import RoundInfo, Tournament

__all__ = [
    "DIAGNOSTICS_JOB",
    "diagnostics_job",
    "enqueue_diagnostics",
    "era_regimes",
    "latest_diagnostics",
    "load_diagnostics",
    "run_diagnostics",
    "save_diagnostics",
]

VALIDATION_FILE = "validation.parquet"
REGIMES_FILE = "era_regimes.parquet"

#: The job that scores an uploaded diagnostics file (:func:`diagnostics_job`).
DIAGNOSTICS_JOB = "crowdalpha.server.graphql.diagnostics:diagnostics_job"


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


def era_regimes(tournament: Tournament, info: RoundInfo) -> pd.Series | None:
    """The era → regime labels round ``info`` publishes (None: it publishes none)."""
    key = f"datasets/{info.dataset_version}/{REGIMES_FILE}"
    if not tournament.store.exists(key):
        return None
    path = tournament.store.local_path(key)
    source: Any = path if path is not None else io.BytesIO(tournament.store.get(key))
    frame = pd.read_parquet(source)
    return pd.Series(frame["regime"].astype(str).to_numpy(), index=frame["era"].astype(str))


def run_diagnostics(
    tournament: Tournament,
    info: RoundInfo,
    data: bytes,
    *,
    filename: str,
    account_id: int,
    model_id: int,
    diagnostics_id: str | None = None,
) -> dict[str, Any]:
    """Score ``data`` on round ``info``'s validation rows; store and return the result
    (under ``diagnostics_id``, else a new id)."""
    validation = _validation(tournament, info)
    if "era" not in validation.columns or "target" not in validation.columns:
        raise NotFoundError(f"round {info.number}'s validation data has no era or target")
    validated = load_and_validate(
        data,
        list(validation.index),
        filename=filename,
        max_bytes=tournament.config.max_upload_bytes,
    )
    computed = validation_diagnostics(
        validated.predictions,
        validation,
        regimes=era_regimes(tournament, info),
    )
    eras = [row["era"] for row in computed["per_era"]]
    now = tournament.clock.now()
    result: dict[str, Any] = {
        "id": diagnostics_id or uuid.uuid4().hex,
        "model_id": model_id,
        "round_number": info.number,
        "status": "succeeded",
        "message": f"scored {len(eras)} validation eras",
        "updated_at": now.isoformat(),
        "eras_accepted_count": len(eras),
        **computed,
    }
    return save_diagnostics(tournament, account_id, model_id, result)


def save_diagnostics(
    tournament: Tournament, account_id: int, model_id: int, result: dict[str, Any]
) -> dict[str, Any]:
    """Store a diagnostics result (read back by :func:`load_diagnostics`); returns it."""
    tournament.store.put(
        _prefix(account_id, model_id) + f"{result['id']}.json", json.dumps(result).encode()
    )
    return result


def _marker_key(account_id: int, model_id: int, diagnostics_id: str) -> str:
    return _prefix(account_id, model_id) + f"{diagnostics_id}.job"


def enqueue_diagnostics(
    view: Tournament,
    jobs: JobQueue,
    info: RoundInfo,
    *,
    upload_key: str,
    upload_name: str,
    filename: str,
    account_id: int,
    model_id: int,
    max_attempts: int = 3,
) -> dict[str, Any]:
    """Queue the scoring of the staged upload ``upload_key`` on round ``info``'s validation
    data; the diagnostics record as it stands (status ``queued``).

    The id follows from the upload's name (which is unique), so numerapi's retry of the
    create call answers the diagnostics already queued instead of queueing them twice.
    """
    digest = hashlib.sha256(f"{upload_name}\n{model_id}".encode()).hexdigest()[:32]
    marker_key = _marker_key(account_id, model_id, digest)
    if view.store.exists(marker_key):
        return load_diagnostics(view, jobs, account_id, model_id, digest)
    job = jobs.enqueue(
        DIAGNOSTICS_JOB,
        {
            "id": digest,
            "competition": view.competition.slug,
            "round": info.number,
            "upload": upload_key,
            "filename": filename,
            "account_id": account_id,
            "model_id": model_id,
        },
        max_attempts=max_attempts,
    )
    marker: dict[str, Any] = {
        "id": digest,
        "job": job,
        "model_id": model_id,
        "round_number": info.number,
        "status": JobState.QUEUED.value,
        "message": "queued",
        "updated_at": view.clock.now().isoformat(),
        "eras_accepted_count": 0,
        "per_era": [],
        "summary": {},
    }
    view.store.put(marker_key, json.dumps(marker).encode())
    return _with_state(jobs, marker)


def diagnostics_job(payload: dict[str, Any], context: Any) -> dict[str, Any]:
    """The job :func:`enqueue_diagnostics` queues: score the staged upload as the request
    once did, store the result, drop the upload. ``context``: the runner's (see
    :func:`crowdalpha.server.jobs.tournament_of`).

    A refusal (or a bug) fails the job with its reason and drops the upload too; a worker
    that dies leaves the upload for the job's next attempt."""
    from crowdalpha.server.graphql.signals_diagnostics import signals_diagnostics
    from crowdalpha.server.jobs import tournament_of

    view = tournament_of(context).using(str(payload["competition"]))
    key = str(payload["upload"])
    account_id, model_id = int(payload["account_id"]), int(payload["model_id"])
    done_key = _prefix(account_id, model_id) + f"{payload['id']}.json"
    try:
        data = view.store.get(key)
    except NotFoundError:
        if view.store.exists(done_key):  # stored by an attempt whose worker then died
            return _job_result(json.loads(view.store.get(done_key)))
        raise NotFoundError(
            "the uploaded diagnostics file is gone (deleted as unused?); upload it again",
            details={"id": payload["id"]},
        ) from None
    score = run_diagnostics if view.competition.slug == "classic" else signals_diagnostics
    try:
        result = score(
            view,
            view.round(int(payload["round"])),
            data,
            filename=str(payload["filename"]),
            account_id=account_id,
            model_id=model_id,
            diagnostics_id=str(payload["id"]),
        )
    finally:
        view.store.delete(key)
    return _job_result(result)


def _job_result(result: dict[str, Any]) -> dict[str, Any]:
    """What the job records in the database: where the result is, not the result."""
    return {"id": result["id"], "eras_accepted_count": result["eras_accepted_count"]}


def _with_state(jobs: JobQueue, marker: dict[str, Any]) -> dict[str, Any]:
    """A queued diagnostics' record with its job's state: queued, running, or failed with
    the reason (a job that succeeded has its result stored; this one is read otherwise)."""
    job: JobInfo = jobs.get(int(marker["job"]))
    shown = dict(marker, status=job.state.value)
    if job.state is JobState.RUNNING:
        shown["message"] = f"running (attempt {job.attempts} of {job.max_attempts})"
    elif job.state is JobState.FAILED:
        shown["message"] = f"{job.error_code}: {job.error_message}"
    elif job.state is JobState.SUCCEEDED:  # between the job's end and its result's read
        shown["message"] = "succeeded"
    return shown


def load_diagnostics(
    tournament: Tournament,
    jobs: JobQueue,
    account_id: int,
    model_id: int,
    diagnostics_id: str,
) -> dict[str, Any]:
    """Diagnostics by id: the stored result, else the state of the job computing it."""
    key = _prefix(account_id, model_id) + f"{diagnostics_id}.json"
    if diagnostics_id.isalnum():
        if tournament.store.exists(key):
            loaded: dict[str, Any] = json.loads(tournament.store.get(key))
            return loaded
        marker = _marker_key(account_id, model_id, diagnostics_id)
        if tournament.store.exists(marker):
            return _with_state(jobs, json.loads(tournament.store.get(marker)))
    raise NotFoundError(
        f"there are no diagnostics {diagnostics_id!r} for this model",
        details={"id": diagnostics_id},
    )


def latest_diagnostics(
    tournament: Tournament, jobs: JobQueue, account_id: int, model_id: int
) -> dict[str, Any]:
    """The model's newest diagnostics: a result, or one still queued, running or failed."""
    results: dict[str, dict[str, Any]] = {}
    markers: dict[str, dict[str, Any]] = {}
    for key in tournament.store.keys(_prefix(account_id, model_id)):
        if key.endswith(".json"):
            record = json.loads(tournament.store.get(key))
            results[str(record["id"])] = record
        elif key.endswith(".job"):
            record = json.loads(tournament.store.get(key))
            markers[str(record["id"])] = record
    found = list(results.values()) + [
        _with_state(jobs, m) for ident, m in markers.items() if ident not in results
    ]
    if not found:
        raise NotFoundError("this model has no diagnostics yet; upload predictions first")
    latest: dict[str, Any] = max(found, key=lambda r: (r["updated_at"], r["id"]))
    return latest


def as_float(value: object) -> float | None:
    """A JSON number (or null) as a finite float or None."""
    return _number(value) if isinstance(value, (int, float, np.floating)) else None

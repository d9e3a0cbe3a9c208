"""Signals validation diagnostics: a dated upload scored date by date over the validation
period of a round, as Classic's diagnostics score its validation eras.

The file is a Signals submission with a ``date`` (or ``friday_date``) column and any number
of dates, checked with numerai-tools' rules in diagnostics mode
(:func:`~crowdalpha.submissions.validate_signals` with ``diagnostics=True``: at least 100
universe tickers on each date, values in [0, 1], non-constant per date), ids of any
accepted type mapped to ``numerai_ticker`` through the validation universe. Each date that
is a validation date of the round is scored as a live round would be: the signal cleaned
over that date's universe (tie-kept ranks, 0.5 where missing), then CORR and FNC (public
features) against the main target and Alpha against the published v2.1 neutralizers and
sample weights. Dates outside the validation period are counted and left out.

:func:`signals_diagnostics` returns the result in the shape of Classic's diagnostics
(``per_era`` rows with ``validation_corr``/``validation_fnc_v4``…, plus
``validation_alpha``; a ``summary`` of mean, std, Sharpe and max drawdown per metric). The
caller (the server) stores and serves it as it does Classic's.
"""

from __future__ import annotations

import io
import math
import uuid
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from crowdalpha.dataset.signals import NEUTRALIZER_FILES, NUMERIC_FEATURES, SAMPLE_WEIGHT_FILES
from crowdalpha.dataset.signals import SPLIT_FILES as SIGNALS_SPLIT_FILES
from crowdalpha.errors import NotFoundError, SubmissionDatesError
from crowdalpha.scoring import summarize
from crowdalpha.scoring.signals import clean_signals
from crowdalpha.scoring.signals_round import score_signals_round
from crowdalpha.submissions import load_and_validate

if TYPE_CHECKING:
    from crowdalpha.tournament.facade import Tournament

__all__ = ["signals_diagnostics"]

_METRICS = ("corr", "fnc", "alpha")


def _number(value: object) -> float | None:
    number = float(value)  # type: ignore[arg-type]
    return number if math.isfinite(number) else None


def _read(tournament: Tournament, number: int, name: str) -> pd.DataFrame:
    try:
        key = tournament.dataset_key(number, name)
    except NotFoundError:
        raise NotFoundError(
            f"round {number} publishes no {name}; diagnostics need the validation data",
            details={"round": number, "file": name},
        ) from None
    path = tournament.store.local_path(key)
    source: Any = path if path is not None else io.BytesIO(tournament.store.get(key))
    return pd.read_parquet(source)


def _read_optional(tournament: Tournament, number: int, name: str) -> pd.DataFrame | None:
    try:
        return _read(tournament, number, name)
    except NotFoundError:
        return None


def _universe(tournament: Tournament, number: int, validation: pd.DataFrame) -> pd.DataFrame:
    """The ids a diagnostics upload may use: the source's validation universe (every id
    type) when it has one, else the published validation file's id columns."""
    source = tournament.competition.source
    finder = getattr(source, "validation_universe", None)
    if finder is not None:
        found: pd.DataFrame = finder(number)
        return found
    ids = validation[["numerai_ticker", "composite_figi"]].astype(str)
    return ids.drop_duplicates("numerai_ticker", keep="last").reset_index(drop=True)


def signals_diagnostics(
    tournament: Tournament,
    number: int,
    data: bytes,
    *,
    filename: str,
    model_id: int,
    min_tickers: int | None = None,
) -> dict[str, Any]:
    """Score a dated Signals upload on round ``number``'s validation dates (see the module
    docstring); ``tournament`` is a Signals view. Refusals are typed
    :class:`~crowdalpha.errors.SubmissionError`\\ s; nothing is stored."""
    validation = _read(tournament, number, SIGNALS_SPLIT_FILES["validation"])
    validated = load_and_validate(
        data,
        _universe(tournament, number, validation),
        tournament="signals",
        filename=filename,
        max_bytes=tournament.config.max_upload_bytes,
        min_tickers=min_tickers,
        diagnostics=True,
    )
    predictions = validated.predictions
    submitted = pd.to_datetime(predictions.index.get_level_values(0), errors="coerce")
    dates = pd.DatetimeIndex(pd.to_datetime(validation["date"]).unique()).sort_values()
    scored = [d for d in dates if (submitted == d).any()]
    if not scored:
        raise SubmissionDatesError(
            "none of the file's dates is a validation date of this round "
            f"({dates[0]:%Y-%m-%d} … {dates[-1]:%Y-%m-%d}, weekly): predict the dates of "
            "validation.parquet",
            details={"reason": "no_validation_dates", "dates": list(validated.dates[:5])},
        )
    # Alpha needs the published neutralizers and sample weights; without them (a source
    # that publishes none) the dates are scored on CORR and FNC only
    neutralizers = _read_optional(tournament, number, NEUTRALIZER_FILES["validation"])
    weights = _read_optional(tournament, number, SAMPLE_WEIGHT_FILES["validation"])
    neutralizers_dates = None if neutralizers is None else pd.to_datetime(neutralizers["date"])
    weights_dates = None if weights is None else pd.to_datetime(weights["date"])
    rows: list[dict[str, Any]] = []
    per_date: dict[str, list[float]] = {m: [] for m in _METRICS}
    for day in scored:
        scores = _score_date(
            predictions[submitted == day].droplevel(0),
            validation[pd.to_datetime(validation["date"]) == day],
            _on_date(neutralizers, neutralizers_dates, day),
            _on_date(weights, weights_dates, day),
        )
        for metric in _METRICS:
            per_date[metric].append(scores.get(metric, math.nan))
        corr, fnc, alpha = (_number(scores.get(m, math.nan)) for m in _METRICS)
        rows.append(
            {
                "era": f"{day:%Y-%m-%d}",
                "validation_corr": corr,
                "validation_corr_v4": corr,
                "validation_feature_neutral_corr": fnc,
                "validation_fnc_v4": fnc,
                "validation_alpha": alpha,
            }
        )
    summary: dict[str, float | None] = {}
    for metric, values in per_date.items():
        stats = summarize(pd.Series(values, dtype=np.float64).to_frame(metric))[metric]
        for stat in ("mean", "std", "sharpe", "max_drawdown"):
            summary[f"{metric}_{stat}"] = _number(stats[stat])
    left_out = len(validated.dates) - len(scored)
    note = f"; {left_out} date(s) outside the validation period left out" if left_out else ""
    return {
        "id": uuid.uuid4().hex,
        "model_id": model_id,
        "round_number": number,
        "status": "succeeded",
        "message": f"scored {len(scored)} validation dates{note}",
        "updated_at": tournament.clock.now().isoformat(),
        "eras_accepted_count": len(scored),
        "per_era": rows,
        "summary": summary,
    }


def _on_date(
    frame: pd.DataFrame | None, dates: pd.Series | None, day: pd.Timestamp
) -> pd.DataFrame | None:
    """The rows of ``frame`` (dated by ``dates``) on ``day``; None stays None."""
    if frame is None or dates is None:
        return None
    return frame.iloc[np.flatnonzero((dates == day).to_numpy())]


def _score_date(
    signal: pd.Series,
    era: pd.DataFrame,
    neutralizers: pd.DataFrame | None,
    weights: pd.DataFrame | None,
) -> dict[str, float]:
    """CORR, FNC and Alpha of one date's signal, cleaned over that date's universe."""
    era = era.set_index("numerai_ticker")
    era.index = era.index.astype(str)
    frame = signal.to_frame("signal")
    frame.index = frame.index.astype(str)
    clean = clean_signals(frame, pd.Index(era.index))
    known = era["target"].reindex(clean.index).notna().to_numpy()
    clean = clean.iloc[known]
    targets = era.loc[clean.index, ["target"]].astype(np.float64)
    n = v = None
    if neutralizers is not None and weights is not None and len(neutralizers) and len(weights):
        n = neutralizers.drop(columns="date").set_index("numerai_ticker").astype(np.float64)
        v = weights.set_index("numerai_ticker")["sample_weights"].astype(np.float64)
    metrics = ["corr", "fnc"] + (["alpha"] if n is not None else [])
    features = [f for f in NUMERIC_FEATURES if f in era.columns]
    result = score_signals_round(
        clean,
        targets,
        metrics=metrics,
        features=era.loc[clean.index, features].astype(np.float64).fillna(0.0),
        neutralizers=n if "alpha" in metrics else None,
        sample_weights=v if "alpha" in metrics else None,
    )
    row = result.scores.loc["signal"].to_numpy(dtype=np.float64)
    return {m: float(row[i]) for i, m in enumerate(result.scores.columns)}

"""Validation diagnostics of one prediction column, as Numerai's ``diagnostics`` reports
them: per era CORR, MMC (with a validation meta model), FNC, the maximum feature exposure
and the correlation with the meta model; their summaries; the cumulative CORR and its
drawdown; and the means per market regime (with the operator's era → regime labels).

A pure function over frames, so it runs wherever the diagnostics are computed (in the
request or in a background job). Field names follow numerapi's ``diagnostics`` result in
snake case (``validation_corr``, ``validation_mmc``, ``validation_fnc_v4``,
``validation_feature_corr_max``…).
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from crowdalpha.errors import InvalidInputError
from crowdalpha.scoring.consistency import consistency
from crowdalpha.scoring.diagnostics import (
    corr_with_meta_model,
    max_feature_exposure_by_era,
    mean_by_regime,
)
from crowdalpha.scoring.metrics import score_by_era

__all__ = ["PER_ERA_METRICS", "validation_diagnostics"]

#: Per-era metrics (our names) that the summaries, the cumulative scores and the regime
#: means cover, when computed.
PER_ERA_METRICS: tuple[str, ...] = ("corr", "mmc", "fnc", "feature_exposure", "corr_meta")


def _number(value: object) -> float | None:
    if value is None:
        return None
    number = float(value)  # type: ignore[arg-type]
    return number if math.isfinite(number) else None


def validation_diagnostics(
    predictions: pd.Series,
    validation: pd.DataFrame,
    *,
    meta_model: pd.Series | None = None,
    regimes: pd.Series | None = None,
) -> dict[str, Any]:
    """Diagnostics of ``predictions`` (indexed by id) on ``validation`` (indexed by id, with
    ``era``, ``target`` and ``feature_*`` columns; rows without a target left out).

    ``meta_model``: a validation meta model over the same ids (MMC and the correlation with
    it are left out without one). ``regimes``: era → regime label (eras without one are in
    no regime). Returns ``per_era`` (one dict per era, in era order), ``summary``
    (``<metric>_mean``, ``_std``, ``_sharpe``, ``_max_drawdown`` and
    ``feature_exposure_max``), ``cumulative`` (per era: the running CORR and MMC sums and
    their drawdowns) and ``by_regime`` (per regime: the mean of each metric and the number
    of eras).
    """
    if "era" not in validation.columns or "target" not in validation.columns:
        raise InvalidInputError("the validation data need an era and a target column")
    rows = validation[validation["target"].notna()]
    rows = rows.sort_values("era", kind="stable")
    preds = predictions.reindex(rows.index).to_frame("prediction")
    features = [c for c in rows.columns if str(c).startswith("feature_")]
    meta = meta_model.reindex(rows.index) if meta_model is not None else None
    per_era = score_by_era(
        preds,
        rows["target"],
        rows["era"],
        meta_model=meta,
        features=rows[features] if features else None,
    )
    table = pd.DataFrame({name: frame["prediction"] for name, frame in per_era.items()})
    table.index = table.index.astype(str)
    if features:
        exposure = max_feature_exposure_by_era(preds, rows[features], rows["era"])
        table["feature_exposure"] = exposure["prediction"].set_axis(exposure.index.astype(str))
    if meta is not None:
        eras = rows["era"].astype(str)
        table["corr_meta"] = pd.Series(
            {
                era: corr_with_meta_model(preds[eras == era], meta[eras == era])["prediction"]
                for era in table.index
            }
        )
    metrics = [m for m in PER_ERA_METRICS if m in table.columns]
    table = table[metrics].astype("float64")
    return {
        "per_era": [_era_row(str(era), table.loc[era]) for era in table.index],
        "summary": _summary(table),
        "cumulative": _cumulative(table),
        "by_regime": _by_regime(table, regimes),
    }


def _era_row(era: str, row: pd.Series) -> dict[str, Any]:
    corr, fnc = _number(row.get("corr")), _number(row.get("fnc"))
    return {
        "era": era,
        "validation_corr": corr,
        "validation_corr_v4": corr,
        "validation_mmc": _number(row.get("mmc")),
        "validation_feature_neutral_corr": fnc,
        "validation_fnc_v4": fnc,
        "validation_feature_corr_max": _number(row.get("feature_exposure")),
        "validation_corr_meta": _number(row.get("corr_meta")),
    }


def _summary(table: pd.DataFrame) -> dict[str, float | None]:
    result = consistency(table)
    out: dict[str, float | None] = {}
    for metric in table.columns:
        stats = result.summary[metric]
        for stat in ("mean", "std", "sharpe", "max_drawdown"):
            out[f"{metric}_{stat}"] = _number(stats[stat])
    if "feature_exposure" in table.columns:
        out["feature_exposure_max"] = _number(table["feature_exposure"].max())
    return out


def _cumulative(table: pd.DataFrame) -> list[dict[str, Any]]:
    paid = [m for m in ("corr", "mmc", "fnc") if m in table.columns]
    result = consistency(table[paid])
    return [
        {
            "era": str(era),
            "cumulative": {m: _number(result.cumulative.at[era, m]) for m in paid},
            "drawdown": {m: _number(result.drawdown.at[era, m]) for m in paid},
        }
        for era in table.index
    ]


def _by_regime(table: pd.DataFrame, regimes: pd.Series | None) -> dict[str, dict[str, Any]]:
    if regimes is None or regimes.empty:
        return {}
    labels = pd.Series(regimes.to_numpy(), index=regimes.index.astype(str))
    means = mean_by_regime(table, labels).to_dict("index")
    return {
        str(regime): {
            "eras": int(row["count"]),
            **{str(m): _number(row[m]) for m in table.columns},
        }
        for regime, row in means.items()
    }

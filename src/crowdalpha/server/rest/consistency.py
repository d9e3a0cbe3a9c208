"""``GET /v1/models/{model_id}/consistency``: a model's scores over its resolved rounds —
per round, cumulative and in drawdown — their summary (mean, std, Sharpe, max drawdown,
share of rounds positive), the correlation with each round's meta model and the maximum
feature exposure, and the means per market regime, as the model's web page shows them
(:func:`crowdalpha.tournament.consistency.model_consistency`)."""

from __future__ import annotations

import math

from fastapi import APIRouter
from pydantic import BaseModel, Field

from crowdalpha.server.rest.common import Context, ModelId, Reader, errors, model_view
from crowdalpha.tournament.consistency import (
    CUMULATIVE_METRICS,
    DIAGNOSTIC_METRICS,
)
from crowdalpha.tournament.consistency import model_consistency as consistency_of

__all__ = ["router"]

router = APIRouter()

METRICS = CUMULATIVE_METRICS


def _number(value: object) -> float | None:
    number = float(value)  # type: ignore[arg-type]
    return None if math.isnan(number) else number


class ConsistencyRoundOut(BaseModel):
    round_number: int
    score: dict[str, float | None] = Field(
        description="The final score per metric: corr, mmc, fnc, corr_meta (the correlation "
        "with the round's meta model, Numerai's corrWMetamodel) and feature_exposure (the "
        "largest absolute correlation with one feature)"
    )
    cumulative: dict[str, float] = Field(description="The running sum up to this round")
    drawdown: dict[str, float] = Field(description="How far the running sum is below its peak")
    regime: str | None = Field(
        description="The live era's market regime over its target window (null: unlabelled)"
    )


class RegimeOut(BaseModel):
    regime: str
    rounds: int = Field(description="Resolved rounds of the model in this regime")
    mean: dict[str, float | None] = Field(description="Per metric: the mean over those rounds")


class ConsistencyOut(BaseModel):
    model_id: int
    metrics: list[str]
    diagnostics: list[str]
    summary: dict[str, dict[str, float | None]] = Field(
        description="Per metric: mean, std, sharpe, max_drawdown, positive_share (null: none)"
    )
    rounds: list[ConsistencyRoundOut]
    by_regime: list[RegimeOut]


@router.get(
    "/models/{model_id}/consistency",
    tags=["scores"],
    summary="The model's consistency over resolved rounds",
    responses=errors(401, 403, 404, 422, 429),
)
def model_consistency(model_id: ModelId, context: Context, principal: Reader) -> ConsistencyOut:
    """Final CORR, MMC and FNC of every resolved round (oldest first), their running sums
    and drawdowns, the summary Numerai's diagnostics show, each round's correlation with
    the meta model and maximum feature exposure, and the means per market regime."""
    model = context.tournament.model(model_id, owner=principal.account.id)
    found = consistency_of(model_view(context, model), model_id)
    frame, result = found.per_round, found.result
    every = (*METRICS, *DIAGNOSTIC_METRICS)
    regimes: list[str | None] = list(found.regimes)
    return ConsistencyOut(
        model_id=model_id,
        metrics=list(METRICS),
        diagnostics=list(DIAGNOSTIC_METRICS),
        summary={
            m: {str(stat): _number(v) for stat, v in result.summary[m].items()} for m in every
        },
        rounds=[
            ConsistencyRoundOut(
                round_number=int(number),
                score={m: _number(frame.at[number, m]) for m in every},
                cumulative={m: _number(result.cumulative.at[number, m]) or 0.0 for m in METRICS},
                drawdown={m: _number(result.drawdown.at[number, m]) or 0.0 for m in METRICS},
                regime=regimes[i],
            )
            for i, number in enumerate(frame.index)
        ],
        by_regime=[
            RegimeOut(
                regime=str(regime),
                rounds=int(row["count"]),
                mean={m: _number(row[m]) for m in every},
            )
            for regime, row in found.by_regime.to_dict("index").items()
        ],
    )

"""Our REST API (``/v1``): rounds, datasets, submissions, models, stakes, scores, payouts,
the leaderboard, the account and its wallet. Documented by the app's OpenAPI schema.

Amounts are strings of NMR with up to 18 decimals (``"12.5"``), never floats; times are
ISO-8601 with a time zone. Errors come in one shape (see :mod:`crowdalpha.server.errors`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from crowdalpha.ledger import format_nmr
from crowdalpha.server.context import ServerContext, get_context
from crowdalpha.tournament import RoundInfo

__all__ = ["router"]

router = APIRouter()
Context = Annotated[ServerContext, Depends(get_context)]


class RoundOut(BaseModel):
    number: int
    state: str
    opens_at: datetime
    closes_at: datetime
    resolves_at: datetime
    resolved_at: datetime | None
    live_rows: int
    submissions: int
    payout_policy: str
    total_at_risk: str | None
    payout_factor: str | None

    @classmethod
    def of(cls, info: RoundInfo) -> RoundOut:
        return cls(
            number=info.number,
            state=info.state,
            opens_at=info.opens_at,
            closes_at=info.closes_at,
            resolves_at=info.resolves_at,
            resolved_at=info.resolved_at,
            live_rows=info.live_rows,
            submissions=info.submissions,
            payout_policy=info.payout_policy,
            total_at_risk=None if info.total_at_risk is None else format_nmr(info.total_at_risk),
            payout_factor=info.payout_factor,
        )


class Health(BaseModel):
    status: str
    version: str


@router.get("/health", tags=["server"])
def health() -> Health:
    """Liveness: the server answers."""
    from crowdalpha import __version__

    return Health(status="ok", version=__version__)


@router.get("/rounds", tags=["rounds"])
def list_rounds(context: Context) -> list[RoundOut]:
    """Every round, oldest first."""
    return [RoundOut.of(r) for r in context.tournament.rounds()]

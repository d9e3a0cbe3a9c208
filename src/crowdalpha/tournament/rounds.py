"""Round rows: finding a competition's round by number, and its record.

Shared by the modules that open, close, score, resolve and read rounds.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from crowdalpha.errors import NotFoundError
from crowdalpha.tournament.competitions import COMPETITIONS, Competition
from crowdalpha.tournament.models import CompetitionState, Round
from crowdalpha.tournament.round_config import RoundConfig
from crowdalpha.tournament.views import RoundInfo

__all__ = ["get_round", "round_info", "slug_of", "state_of"]


def slug_of(competition_id: int) -> str:
    """The slug of a competition id the database holds."""
    known = COMPETITIONS.get(competition_id)
    return known.slug if known is not None else str(competition_id)


def get_round(session: Session, c: Competition, number: int, *, lock: bool = False) -> Round:
    query = select(Round).where(Round.competition_id == c.id, Round.number == number)
    if lock:
        query = query.with_for_update()
    row = session.scalar(query)
    if row is None:
        raise NotFoundError(
            f"there is no {c.name} round {number}",
            details={"round": number, "competition": c.slug},
        )
    return row


def round_info(row: Round, submissions: int = 0) -> RoundInfo:
    return RoundInfo(
        number=row.number,
        state=row.state,
        opens_at=row.opens_at,
        closes_at=row.closes_at,
        resolves_at=row.resolves_at,
        closed_at=row.closed_at,
        resolved_at=row.resolved_at,
        dataset_version=row.dataset_version,
        live_rows=row.live_rows,
        config=RoundConfig.from_json(row.config),
        total_at_risk=row.total_at_risk,
        payout_factor=row.payout_factor,
        meta_model_key=row.meta_model_key,
        submissions=submissions,
        regime=row.regime,
        competition=slug_of(row.competition_id),
    )


def state_of(session: Session, c: Competition, *, lock: bool = False) -> CompetitionState:
    """The competition's row, created on first use (a competition newer than the database's
    migrations)."""
    query = select(CompetitionState).where(CompetitionState.id == c.id)
    if lock:
        query = query.with_for_update()
    row = session.scalar(query)
    if row is None:
        row = CompetitionState(id=c.id, slug=c.slug, name=c.name, numbering_offset=None)
        session.add(row)
        session.flush()
    return row

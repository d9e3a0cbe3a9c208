"""Signals diagnostics through the API: the core scores, the server stores.

As on Numerai, a diagnostics upload for Signals has a ``date`` (or ``friday_date``) column
and one of the accepted ticker columns. The scoring — Signals' rules in diagnostics mode,
each validation date cleaned and scored as a live round would be (CORR, FNC, and Alpha
where the round publishes its neutralizers) — is the core's
(:func:`crowdalpha.tournament.signals_diagnostics.signals_diagnostics`); this module stores
the result and reads it back as Classic's (:mod:`.diagnostics`), and runs it as Classic's,
in a background job.
"""

from __future__ import annotations

from typing import Any

from crowdalpha.server.graphql.diagnostics import save_diagnostics
from crowdalpha.tournament import RoundInfo, Tournament
from crowdalpha.tournament.signals_diagnostics import signals_diagnostics as score_diagnostics

__all__ = ["signals_diagnostics"]


def signals_diagnostics(
    view: Tournament,
    info: RoundInfo,
    data: bytes,
    *,
    filename: str,
    account_id: int,
    model_id: int,
    diagnostics_id: str | None = None,
) -> dict[str, Any]:
    """Score a dated Signals upload on round ``info``'s validation dates; store and return
    the result (the same shape as Classic's diagnostics; under ``diagnostics_id`` when
    given)."""
    result = score_diagnostics(view, info.number, data, filename=filename, model_id=model_id)
    if diagnostics_id is not None:
        result["id"] = diagnostics_id
    return save_diagnostics(view, account_id, model_id, result)

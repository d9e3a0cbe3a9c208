"""What the REST routes share: callers by scope, ownership checks, idempotency keys, and
the few per-account queries the tournament core does not offer (built on its public API)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Header, Path, Query
from sqlalchemy.orm import Session

from crowdalpha.db import session_factory, transact
from crowdalpha.errors import NotFoundError, PermissionDeniedError
from crowdalpha.ledger import Entry, SqlLedger, wallet
from crowdalpha.server.auth import OptionalCaller, require
from crowdalpha.server.context import ServerContext, get_context
from crowdalpha.server.rest.schemas import ErrorBody
from crowdalpha.tournament import ModelInfo, Principal, SubmissionInfo, Tournament

__all__ = [
    "ERRORS",
    "Admin",
    "Context",
    "IdempotencyKey",
    "ModelId",
    "OptionalCaller",
    "Reader",
    "RoundFilter",
    "RoundNumber",
    "Staker",
    "Uploader",
    "errors",
    "idempotency",
    "own_model",
    "own_submission",
    "wallet_history",
]

Context = Annotated[ServerContext, Depends(get_context)]
Reader = Annotated[Principal, Depends(require("read"))]
Uploader = Annotated[Principal, Depends(require("upload"))]
Staker = Annotated[Principal, Depends(require("stake"))]
Admin = Annotated[Principal, Depends(require("admin"))]

_MAX_ID = 2**31 - 1
ModelId = Annotated[int, Path(ge=1, le=_MAX_ID, description="The model's id")]
RoundNumber = Annotated[int, Path(ge=1, le=_MAX_ID, description="The round's number")]
RoundFilter = Annotated[
    int | None, Query(alias="round", ge=1, le=_MAX_ID, description="Only this round")
]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=128,
        pattern=r"^[\x21-\x7e]+$",
        description="Any unique printable string (a UUID): a retry with the same key "
        "returns the first attempt's result instead of acting twice.",
    ),
]

_DESCRIPTIONS = {
    401: "Missing, malformed, wrong or revoked API key",
    403: "The key lacks the scope, or the object belongs to another account",
    404: "No such object",
    409: "Conflicts with the current state (insufficient funds, closed round, name taken…)",
    413: "The body is larger than the server's limit",
    422: "Invalid input (malformed amount, bad file, wrong columns…)",
    429: "Too many requests: retry after details.retry_after seconds",
}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` documenting the error shape for ``statuses``."""
    return {s: {"model": ErrorBody, "description": _DESCRIPTIONS[s]} for s in statuses}


#: The errors every authenticated route can answer.
ERRORS = errors(401, 403, 422, 429)


def idempotency(principal: Principal, key: str | None) -> str | None:
    """The caller's key, namespaced by account: one account's keys never collide with (or
    replay) another's, and never with the core's own keys."""
    return None if key is None else f"rest:{principal.account.id}:{key}"


def own_model(tournament: Tournament, principal: Principal, model_id: int) -> ModelInfo:
    """The model, if the caller's account owns it (admin keys included: operators act on
    other accounts only through the admin routes)."""
    model = tournament.model(model_id)
    if model.account_id != principal.account.id:
        raise PermissionDeniedError(
            f"model {model_id} belongs to another account", details={"model_id": model_id}
        )
    return model


def own_submission(
    tournament: Tournament, principal: Principal, submission_id: int
) -> SubmissionInfo:
    """One of the caller's submissions (core: ``Tournament.submission(id)`` would be one
    query; here, the submissions of each of the caller's models)."""
    for model in tournament.models(principal.account.id):
        for sub in tournament.submissions(model_id=model.id):
            if sub.id == submission_id:
                return sub
    if any(s.id == submission_id for s in tournament.submissions()):
        raise PermissionDeniedError(
            f"submission {submission_id} belongs to another account",
            details={"submission_id": submission_id},
        )
    raise NotFoundError(
        f"there is no submission {submission_id}", details={"submission_id": submission_id}
    )


def wallet_history(tournament: Tournament, account_id: int, limit: int) -> list[Entry]:
    """The wallet's latest ledger entries, newest first (read-only; core:
    ``Tournament.wallet_history`` would be cleaner)."""

    def op(session: Session) -> list[Entry]:
        ledger = SqlLedger(session, mint_cap=tournament.config.mint_cap, now=tournament.clock.now)
        return ledger.history(wallet(account_id), limit=limit)

    return transact(session_factory(tournament.engine), op)

"""What the REST routes share: callers by scope, path and header parameters, error docs.

Ownership and idempotency are the core's rules: routes pass ``owner=`` (the caller's
account) and the caller's ``Idempotency-Key`` as given, and the core refuses other
accounts' objects and namespaces keys by account."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Header, Path, Query

from crowdalpha.server.auth import OptionalCaller, require
from crowdalpha.server.context import ServerContext, get_context
from crowdalpha.server.rest.schemas import ErrorBody
from crowdalpha.tournament import ModelInfo, Principal, Tournament

__all__ = [
    "ERRORS",
    "Admin",
    "CompetitionRef",
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
    "model_view",
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

CompetitionRef = Annotated[
    str,
    Query(
        alias="competition",
        min_length=1,
        max_length=32,
        description="The competition: classic (8, the default) or signals (11)",
    ),
]


def model_view(context: ServerContext, model: ModelInfo) -> Tournament:
    """The view of the model's own competition (its rounds, submissions, scores)."""
    return context.tournament.using(model.competition)


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

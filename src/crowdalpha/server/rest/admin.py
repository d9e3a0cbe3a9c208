"""Operators' routes under ``/v1/admin`` (``admin`` scope): grant NMR from the treasury,
every submission's state, the ledger check, and one run of the round clock."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from crowdalpha.errors import InvalidParameterError
from crowdalpha.ledger import format_nmr, to_base_units
from crowdalpha.server.rest.common import (
    Admin,
    Context,
    IdempotencyKey,
    RoundFilter,
    errors,
    idempotency,
)
from crowdalpha.server.rest.schemas import (
    GrantIn,
    GrantOut,
    LedgerCheckOut,
    SubmissionOut,
    TickOut,
)

__all__ = ["router"]

router = APIRouter(prefix="/admin", tags=["admin"])

_ERRORS = errors(401, 403, 422, 429)


@router.post(
    "/grants",
    summary="Grant NMR from the treasury",
    status_code=201,
    responses=errors(401, 403, 404, 409, 422, 429),
)
def grant(
    body: GrantIn,
    context: Context,
    principal: Admin,
    idempotency_key: IdempotencyKey = None,
) -> GrantOut:
    """Move ``amount`` NMR from the treasury to an account's wallet (name the account by
    ``account_id`` or ``username``, not both)."""
    t = context.tournament
    if (body.account_id is None) == (body.username is None):
        raise InvalidParameterError("name the account by exactly one of account_id, username")
    account = (
        t.account(body.account_id)
        if body.account_id is not None
        else t.account_by_username(str(body.username))
    )
    amount = to_base_units(body.amount)
    entry = t.grant(account.id, amount, key=idempotency(principal, idempotency_key))
    return GrantOut(
        entry_id=entry,
        account_id=account.id,
        amount=format_nmr(amount),
        balance=format_nmr(t.wallet_balance(account.id)),
    )


@router.get("/submissions", summary="Every submission's state", responses=_ERRORS)
def all_submissions(
    context: Context,
    _principal: Admin,
    round_number: RoundFilter = None,
    model_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    state: Annotated[
        Literal["received", "validated", "scored", "resolved", "failed"] | None, Query()
    ] = None,
) -> list[SubmissionOut]:
    """All submissions of every account (filter by round, model, state), oldest first."""
    subs = context.tournament.submissions(model_id=model_id, round_number=round_number)
    return [SubmissionOut.of(s) for s in subs if state is None or s.state == state]


@router.get("/ledger/check", summary="Check the ledger", responses=_ERRORS)
def ledger_check(context: Context, _principal: Admin) -> LedgerCheckOut:
    """Recompute every balance and the supply from the postings (read-only); ``ok`` is
    false, with the problems listed, when anything does not add up."""
    return LedgerCheckOut.of(context.tournament.check_ledger())


@router.post("/tick", summary="Run the round clock once", responses=_ERRORS)
def tick(context: Context, _principal: Admin) -> TickOut:
    """Open, close, score and resolve whatever rounds are due now (what the server's
    clock does every ``tick_interval``)."""
    return TickOut.of(context.tournament.tick())

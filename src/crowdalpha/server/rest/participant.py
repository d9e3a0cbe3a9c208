"""Participants' routes: sign-up, keys, account and wallet, models, rounds, datasets,
submissions, stakes, scores, payouts and the leaderboard.

Scopes: ``read`` to look, ``upload`` to create models and submit, ``stake`` to move NMR.
A key acts only on its own account's models and NMR — even an operator's admin key (the
operator acts on other accounts through ``/v1/admin``).
"""

from __future__ import annotations

import threading
from typing import Annotated, Literal

import anyio.to_thread
from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import RedirectResponse

from crowdalpha import __version__
from crowdalpha.errors import (
    NotFoundError,
    PermissionDeniedError,
    SubmissionFileError,
)
from crowdalpha.ledger import format_nmr, to_base_units, wallet
from crowdalpha.server.context import read_body
from crowdalpha.server.rest.common import (
    ERRORS,
    CompetitionRef,
    Context,
    IdempotencyKey,
    ModelId,
    OptionalCaller,
    Reader,
    RoundFilter,
    RoundNumber,
    Staker,
    Uploader,
    errors,
    model_view,
)
from crowdalpha.server.rest.schemas import (
    AccountOut,
    AmountIn,
    ApiKeyCreated,
    ApiKeyIn,
    ApiKeyOut,
    DatasetFileOut,
    Health,
    LeaderboardRowOut,
    LedgerEntryOut,
    LinkOut,
    ModelIn,
    ModelOut,
    PayoutOut,
    RoundOut,
    ScoreOut,
    SignUpIn,
    SignUpOut,
    StakeOut,
    SubmissionOut,
    WalletOut,
)
from crowdalpha.storage import FileStore
from crowdalpha.submissions import file_sha256
from crowdalpha.tournament import Principal

__all__ = ["router"]

router = APIRouter()

_PUBLIC = errors(401, 429)
_FILENAME = r"^[^\x00-\x1f\x7f/\\]+$"


# -- server ------------------------------------------------------------------------------


@router.get("/health", tags=["server"], summary="Liveness")
def health() -> Health:
    """The server answers (no key needed, no rate limit)."""
    return Health(status="ok", version=__version__)


# -- sign-up, account, keys --------------------------------------------------------------


@router.post(
    "/accounts",
    tags=["account"],
    summary="Sign up",
    status_code=201,
    responses=errors(409, 422, 429),
)
def sign_up(body: SignUpIn, context: Context, _anonymous: OptionalCaller) -> SignUpOut:
    """Create an account and its first API key (scopes read, upload, stake).

    The key's secret is in this response only — the server keeps a hash. Send it as
    ``Authorization: Token PUBLIC_ID$SECRET_KEY`` (the ``token`` field)."""
    t = context.tournament
    account = t.create_account(body.username, body.email, wallet_address=body.wallet_address)
    info, secret = t.create_api_key(account.id, name="first key")
    return SignUpOut(account=AccountOut.of(account), api_key=ApiKeyCreated.created(info, secret))


@router.get("/account", tags=["account"], summary="The caller's account", responses=ERRORS)
def get_account(context: Context, principal: Reader) -> AccountOut:
    """The account behind the key, with its stake-weighted reputation."""
    t = context.tournament
    account = t.account(principal.account.id)
    return AccountOut.of(account, t.account_reputation(account.id))


@router.get("/account/keys", tags=["account"], summary="List API keys", responses=ERRORS)
def list_keys(context: Context, principal: Reader) -> list[ApiKeyOut]:
    """Every key of the account, revoked ones included; secrets are never shown again."""
    return [ApiKeyOut.of(k) for k in context.tournament.api_keys(principal.account.id)]


def _may_grant(principal: Principal, scopes: set[str]) -> None:
    if "admin" in principal.key.scopes:
        return
    extra = scopes - principal.key.scopes
    if extra:
        raise PermissionDeniedError(
            f"this key cannot give scopes it does not hold: {', '.join(sorted(extra))}",
            details={"scopes": sorted(extra)},
        )


@router.post(
    "/account/keys",
    tags=["account"],
    summary="Create an API key",
    status_code=201,
    responses=ERRORS,
)
def create_key(body: ApiKeyIn, context: Context, principal: Reader) -> ApiKeyCreated:
    """A new key with the given scopes — at most the calling key's own (``admin`` only on
    operator accounts). The secret is in this response only."""
    _may_grant(principal, set(body.scopes))
    info, secret = context.tournament.create_api_key(
        principal.account.id, scopes=body.scopes, name=body.name
    )
    return ApiKeyCreated.created(info, secret)


@router.delete(
    "/account/keys/{public_id}",
    tags=["account"],
    summary="Revoke an API key",
    responses=errors(401, 403, 404, 422, 429),
)
def revoke_key(
    public_id: Annotated[str, Path(min_length=1, max_length=64)],
    context: Context,
    principal: Reader,
) -> ApiKeyOut:
    """Revoke one of the account's keys, at once. A key may revoke itself, or a key whose
    scopes it holds all of."""
    t = context.tournament
    target = next((k for k in t.api_keys(principal.account.id) if k.public_id == public_id), None)
    if target is None:
        raise NotFoundError(f"the account has no API key {public_id!r}")
    if target.public_id != principal.key.public_id:
        _may_grant(principal, set(target.scopes))
    return ApiKeyOut.of(t.revoke_api_key(principal.account.id, public_id))


@router.get("/account/wallet", tags=["wallet"], summary="Wallet balance", responses=ERRORS)
def get_wallet(context: Context, principal: Reader) -> WalletOut:
    """NMR in the wallet, staked on the account's models, and pending release."""
    t = context.tournament
    account_id = principal.account.id
    balance = t.wallet_balance(account_id)
    stakes = [t.stake_info(m.id) for m in t.models(account_id)]
    staked = sum(s.stake for s in stakes)
    pending = sum(s.pending for s in stakes)
    return WalletOut(
        account_id=account_id,
        balance=format_nmr(balance),
        staked=format_nmr(staked),
        pending=format_nmr(pending),
        total=format_nmr(balance + staked + pending),
    )


@router.get(
    "/account/wallet/history", tags=["wallet"], summary="Wallet ledger history", responses=ERRORS
)
def get_wallet_history(
    context: Context,
    principal: Reader,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[LedgerEntryOut]:
    """The wallet's ledger entries (grants, deposits, stakes, releases…), newest first."""
    account = wallet(principal.account.id)
    return [
        LedgerEntryOut(
            id=e.id,
            kind=e.kind,
            amount=format_nmr(e.amount_for(account)),
            created_at=e.created_at,
            memo=e.memo,
        )
        for e in context.tournament.wallet_history(principal.account.id, limit=limit)
    ]


# -- models and stakes -------------------------------------------------------------------


@router.get("/models", tags=["models"], summary="The account's models", responses=ERRORS)
def list_models(
    context: Context, principal: Reader, competition: CompetitionRef | None = None
) -> list[ModelOut]:
    """The account's models of every competition (of one, with ``competition``)."""
    t = context.tournament
    views = [t.using(competition)] if competition else [t.using(c) for c in t.competitions]
    return [ModelOut.of(m) for v in views for m in v.models(principal.account.id)]


@router.post(
    "/models",
    tags=["models"],
    summary="Create a model",
    status_code=201,
    responses=errors(401, 403, 409, 422, 429),
)
def create_model(body: ModelIn, context: Context, principal: Uploader) -> ModelOut:
    """A new model of ``competition`` (Classic by default); names (lowercase letters,
    digits, underscores) are unique across competitions."""
    view = context.tournament.using(body.competition)
    return ModelOut.of(view.create_model(principal.account.id, body.name))


_OWN = errors(401, 403, 404, 422, 429)


@router.get("/models/{model_id}", tags=["models"], summary="One model", responses=_OWN)
def get_model(model_id: ModelId, context: Context, principal: Reader) -> ModelOut:
    return ModelOut.of(context.tournament.model(model_id, owner=principal.account.id))


@router.get("/models/{model_id}/stake", tags=["stakes"], summary="Stake", responses=_OWN)
def get_stake(model_id: ModelId, context: Context, principal: Reader) -> StakeOut:
    """The model's stake and its pending releases (NMR taken off the stake, paid back to
    the wallet when the last round it is at risk in resolves)."""
    context.tournament.model(model_id, owner=principal.account.id)
    return StakeOut.of(context.tournament.stake_info(model_id))


_STAKE = errors(401, 403, 404, 409, 422, 429)


@router.post(
    "/models/{model_id}/stake/increase",
    tags=["stakes"],
    summary="Increase the stake",
    responses=_STAKE,
)
def increase_stake(
    model_id: ModelId,
    body: AmountIn,
    context: Context,
    principal: Staker,
    idempotency_key: IdempotencyKey = None,
) -> StakeOut:
    """Move ``amount`` NMR from the wallet to the model's stake, at once."""
    info = context.tournament.increase_stake(
        model_id,
        to_base_units(body.amount),
        key=idempotency_key,
        owner=principal.account.id,
    )
    return StakeOut.of(info)


@router.post(
    "/models/{model_id}/stake/decrease",
    tags=["stakes"],
    summary="Decrease the stake",
    responses=_STAKE,
)
def decrease_stake(
    model_id: ModelId,
    body: AmountIn,
    context: Context,
    principal: Staker,
    idempotency_key: IdempotencyKey = None,
) -> StakeOut:
    """Take ``amount`` NMR off the stake: it is a pending release until the last round it
    is at risk in resolves (immediate when none is)."""
    info = context.tournament.decrease_stake(
        model_id,
        to_base_units(body.amount),
        key=idempotency_key,
        owner=principal.account.id,
    )
    return StakeOut.of(info)


@router.put("/models/{model_id}/stake", tags=["stakes"], summary="Set the stake", responses=_STAKE)
def set_stake(
    model_id: ModelId,
    body: AmountIn,
    context: Context,
    principal: Staker,
    idempotency_key: IdempotencyKey = None,
) -> StakeOut:
    """Increase or decrease the stake to exactly ``amount`` NMR."""
    info = context.tournament.set_stake(
        model_id,
        to_base_units(body.amount),
        key=idempotency_key,
        owner=principal.account.id,
    )
    return StakeOut.of(info)


# -- rounds and datasets -----------------------------------------------------------------


@router.get("/rounds", tags=["rounds"], summary="List rounds", responses=_PUBLIC)
def list_rounds(
    context: Context, _caller: OptionalCaller, competition: CompetitionRef = "classic"
) -> list[RoundOut]:
    """Every round of the competition, oldest first."""
    return [RoundOut.of(r) for r in context.tournament.using(competition).rounds()]


@router.get(
    "/rounds/current",
    tags=["rounds"],
    summary="The open round",
    responses=errors(401, 404, 429),
)
def current_round(
    context: Context, _caller: OptionalCaller, competition: CompetitionRef = "classic"
) -> RoundOut:
    """The competition's round open for submissions; 404 ``not_found`` while none is."""
    info = context.tournament.using(competition).current_round()
    if info is None:
        raise NotFoundError("no round is open right now")
    return RoundOut.of(info)


@router.get(
    "/rounds/{number}", tags=["rounds"], summary="One round", responses=errors(401, 404, 429)
)
def get_round(
    number: RoundNumber,
    context: Context,
    _caller: OptionalCaller,
    competition: CompetitionRef = "classic",
) -> RoundOut:
    return RoundOut.of(context.tournament.using(competition).round(number))


_DIGESTS: dict[tuple[str, int, int], str] = {}
_DIGESTS_LOCK = threading.Lock()


def stored_sha256(store: FileStore, key: str) -> str:
    """A stored file's SHA-256, computed once per file version (datasets never change)."""
    path = store.local_path(key)
    if path is None:  # a bucket: its size and write time name the version
        version: tuple[str, int, int] = (
            f"{store!r}/{key}",
            store.size(key),
            int(store.modified(key).timestamp() * 1e9),
        )
    else:
        stat = path.stat()
        version = (str(path), stat.st_size, stat.st_mtime_ns)
    with _DIGESTS_LOCK:
        known = _DIGESTS.get(version)
    if known is not None:
        return known
    digest = file_sha256(path) if path is not None else store.sha256(key)  # read in chunks
    with _DIGESTS_LOCK:
        if len(_DIGESTS) > 10_000:
            _DIGESTS.clear()
        _DIGESTS[version] = digest
    return digest


@router.get(
    "/rounds/{number}/datasets",
    tags=["datasets"],
    summary="The round's dataset files",
    responses=errors(401, 404, 429),
)
def list_datasets(
    number: RoundNumber,
    context: Context,
    _caller: OptionalCaller,
    competition: CompetitionRef = "classic",
) -> list[DatasetFileOut]:
    """Each file of the round's dataset with its size and a signed, expiring download URL
    (plain GET; ``Range`` requests resume an interrupted download)."""
    view = context.tournament.using(competition)
    store = view.store
    return [
        DatasetFileOut(
            name=item.name,
            size_bytes=item.size_bytes,
            # the hash recorded at publish: a file damaged since fails the client's check
            sha256=item.sha256 or stored_sha256(store, item.key),
            url=context.download_url(item.key),
        )
        for item in view.dataset_files(number)
    ]


@router.get(
    "/rounds/{number}/datasets/{name:path}",
    tags=["datasets"],
    summary="Download a dataset file",
    response_model=LinkOut,
    responses={
        307: {"description": "Redirect to the file's signed URL"},
        **errors(401, 404, 422, 429),
    },
)
def download_dataset(
    number: RoundNumber,
    name: str,
    context: Context,
    _caller: OptionalCaller,
    redirect: Annotated[
        bool, Query(description="false: answer the signed link as JSON instead")
    ] = True,
    competition: CompetitionRef = "classic",
) -> Response | LinkOut:
    """Redirects (307) to the file's signed URL, or with ``redirect=false`` returns it."""
    view = context.tournament.using(competition)
    url = context.download_url(view.dataset_file(number, name).key)
    if redirect:
        return RedirectResponse(url, status_code=307)
    return LinkOut(url=url, expires_in=context.settings.signed_url_ttl)


# -- submissions -------------------------------------------------------------------------

_BINARY = {"type": "string", "format": "binary"}


@router.post(
    "/models/{model_id}/submissions",
    tags=["submissions"],
    summary="Upload predictions",
    status_code=201,
    responses=errors(401, 403, 404, 409, 413, 422, 429),
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "The prediction file itself as the raw body (CSV or Parquet; "
            "columns id and prediction). Not multipart.",
            "content": {
                "application/octet-stream": {"schema": _BINARY},
                "text/csv": {"schema": {"type": "string"}},
                "application/vnd.apache.parquet": {"schema": _BINARY},
            },
        }
    },
)
async def upload_submission(
    model_id: ModelId,
    request: Request,
    context: Context,
    principal: Uploader,
    idempotency_key: IdempotencyKey = None,
    filename: Annotated[
        str, Query(min_length=1, max_length=255, pattern=_FILENAME)
    ] = "predictions.csv",
    round_number: RoundFilter = None,
) -> SubmissionOut:
    """Submit a prediction file for the open round (or ``round``): the raw file is the body
    (``Content-Type: application/octet-stream``; any client can stream it and show
    progress). It is validated at once — a bad file is refused with the rule it breaks
    and nothing is stored. After the close, files are accepted as late (scored, not
    staked). With ``Idempotency-Key``, a retried upload returns the first one's record."""
    tournament = context.tournament
    limit = context.settings.max_upload_bytes
    body = await read_body(
        request,
        limit,
        lambda: SubmissionFileError(
            f"the upload is larger than the {limit:,}-byte limit",
            details={"reason": "too_large", "max_bytes": limit},
        ),
    )
    info = await anyio.to_thread.run_sync(
        lambda: tournament.submit(
            model_id,
            body,
            filename=filename,
            round_number=round_number,
            key=idempotency_key,
            owner=principal.account.id,
        ),
        limiter=context.uploads,
    )
    return SubmissionOut.of(info)


@router.get(
    "/models/{model_id}/submissions",
    tags=["submissions"],
    summary="The model's submissions",
    responses=_OWN,
)
def list_submissions(
    model_id: ModelId,
    context: Context,
    principal: Reader,
    round_number: RoundFilter = None,
    latest: Annotated[
        int | None,
        Query(ge=1, le=1000, description="Only the newest this many (still oldest first)"),
    ] = None,
) -> list[SubmissionOut]:
    """Every file the model submitted (oldest first), with its state and SHA-256; with
    ``latest``, only the newest ones — what a script polling its last upload needs."""
    model = context.tournament.model(model_id, owner=principal.account.id)
    subs = model_view(context, model).submissions(
        model_id=model_id, round_number=round_number, latest=latest
    )
    return [SubmissionOut.of(s) for s in subs]


SubmissionId = Annotated[int, Path(ge=1, le=2**31 - 1, description="The submission's id")]


@router.get(
    "/submissions/{submission_id}",
    tags=["submissions"],
    summary="One submission",
    responses=_OWN,
)
def get_submission(
    submission_id: SubmissionId,
    context: Context,
    principal: Reader,
) -> SubmissionOut:
    """The submission's state (validated, scored, resolved, failed with a reason)."""
    return SubmissionOut.of(
        context.tournament.submission(submission_id, owner=principal.account.id)
    )


@router.get(
    "/submissions/{submission_id}/file",
    tags=["submissions"],
    summary="Download a submitted file",
    response_class=Response,
    responses={
        200: {
            "description": "The file exactly as uploaded",
            "content": {"application/octet-stream": {"schema": _BINARY}},
        },
        **_OWN,
        409: errors(409)[409],
    },
)
def get_submission_file(
    submission_id: SubmissionId,
    context: Context,
    principal: Reader,
) -> Response:
    """The file as uploaded, checked against its recorded SHA-256 (sent as the
    ``X-Content-SHA256`` header)."""
    sub = context.tournament.submission(submission_id, owner=principal.account.id)
    data = context.tournament.submission_file(sub.id)
    return Response(
        data,
        media_type="application/octet-stream",
        headers={
            "X-Content-SHA256": sub.sha256,
            "Content-Disposition": f'attachment; filename="submission-{sub.id}"',
        },
    )


# -- scores, payouts, leaderboard --------------------------------------------------------


@router.get(
    "/models/{model_id}/scores", tags=["scores"], summary="The model's scores", responses=_OWN
)
def list_scores(
    model_id: ModelId, context: Context, principal: Reader, round_number: RoundFilter = None
) -> list[ScoreOut]:
    """Scores per round (CORR, MMC, FNC, BMC): provisional while the round scores, final
    once it resolves. Each round scores one live era, so a round's row is its era's."""
    model = context.tournament.model(model_id, owner=principal.account.id)
    rows = model_view(context, model).scores(model_id=model_id, round_number=round_number)
    return [ScoreOut.of(s) for s in rows]


@router.get(
    "/models/{model_id}/payouts", tags=["payouts"], summary="The model's payouts", responses=_OWN
)
def list_payouts(
    model_id: ModelId, context: Context, principal: Reader, round_number: RoundFilter = None
) -> list[PayoutOut]:
    """NMR paid (positive) or burned (negative) per resolved round."""
    model = context.tournament.model(model_id, owner=principal.account.id)
    rows = model_view(context, model).payouts(model_id=model_id, round_number=round_number)
    return [PayoutOut.of(p) for p in rows]


@router.get(
    "/leaderboard", tags=["leaderboard"], summary="The leaderboard", responses=errors(401, 422, 429)
)
def leaderboard(
    context: Context,
    _caller: OptionalCaller,
    by: Annotated[Literal["reputation", "stake"], Query()] = "reputation",
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=10**9, description="Rows to skip")] = 0,
    competition: CompetitionRef = "classic",
) -> list[LeaderboardRowOut]:
    """A competition's models ranked by reputation (mean final CORR over the reputation
    window) or stake; page through it with ``offset`` (each row keeps its overall rank)."""
    view = context.tournament.using(competition)
    rows = view.leaderboard(by=by, limit=limit, offset=offset)
    return [LeaderboardRowOut.of(r) for r in rows]

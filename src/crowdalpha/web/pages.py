"""The web UI's routes: server-rendered pages for visitors, participants and operators.

Pages: the leaderboard (``/``, by reputation or stake) and rounds (``/rounds``,
``/rounds/{n}``) of Classic, and of Signals under ``/signals`` (``/signals``,
``/signals/rounds``, ``/signals/rounds/{n}``) where the server runs it, with a competition
switch in the navigation; a model (``/models/{id}``, in its own competition), the
signed-in account (``/account``: wallet, stakes, pending releases, payouts and burns, API
keys) and the operator's dashboard (``/operator``, admin keys) with its fund page
(``/operator/fund``: equity curve, figures, today's book, and the full report at
``/operator/fund/report``), and governance (``/governance``: proposals, live tallies,
history; ``/governance/{id}``: votes, audit trail, a vote form). Errors are pages in the
site's layout, never JSON.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Coroutine
from datetime import datetime
from importlib import resources
from typing import Annotated, Any, TypeVar
from urllib.parse import parse_qs, quote, urlsplit

import pandas as pd
from fastapi import APIRouter, FastAPI, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from crowdalpha.errors import (
    AuthenticationError,
    CrowdAlphaError,
    InvalidParameterError,
    NotFoundError,
    PermissionDeniedError,
)
from crowdalpha.server.context import ServerContext
from crowdalpha.server.errors import http_status
from crowdalpha.tournament import SCOPES, ModelInfo, Principal, Tournament
from crowdalpha.tournament.consistency import model_consistency
from crowdalpha.units import NMR, display_factor, display_nmr, format_nmr
from crowdalpha.web.charts import Series, line_chart, time_value
from crowdalpha.web.fund import read_fund_folder
from crowdalpha.web.queries import (
    MetaModelScores,
    principal_for_key,
    stake_history,
    supply_history,
)
from crowdalpha.web.session import (
    CSRF_COOKIE,
    CSRF_FIELD,
    SESSION_COOKIE,
    SessionKeys,
)

__all__ = ["WebState", "mount_web", "router"]

_MAX_FORM_BYTES = 64 * 1024
_CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)


_UNSET = object()


class SignInRequired(Exception):
    """Raised by pages that need a signed-in participant; answered with the sign-in page."""


class WebState:
    """What the pages share: templates, session keys, the meta model's score cache."""

    def __init__(self, context: ServerContext) -> None:
        self.context = context
        self.keys = SessionKeys(context.signer.key)
        self.meta = MetaModelScores()
        self.env = Environment(
            loader=PackageLoader("crowdalpha.web", "templates"),
            autoescape=select_autoescape(default=True, default_for_string=True),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters.update(nmr=_nmr, factor=_factor, score=_score, when=_when, day=_day)

    @property
    def tournament(self) -> Tournament:
        return self.context.tournament


def _nmr(units: int | None) -> Markup:
    """An amount as people read it (``375.90``), the exact value in the element's ``value``
    and tooltip (``375.903877417278943006 NMR``); ``—`` for none."""
    if units is None:
        return Markup("—")
    exact = format_nmr(units)
    return Markup('<data class="nmr" value="{0}" title="{0} NMR">{1}</data>').format(
        exact, display_nmr(units)
    )


def _factor(value: str | None) -> Markup:
    """A payout factor rounded to read, exact in the element's ``value`` and tooltip."""
    if not value:
        return Markup("—")
    return Markup('<data class="factor-value" value="{0}" title="{0}">{1}</data>').format(
        value, display_factor(value)
    )


def _score(value: float | None, digits: int = 4) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _when(moment: datetime | None) -> str:
    return "—" if moment is None else moment.strftime("%Y-%m-%d %H:%M UTC")


def _day(seconds: float) -> str:
    return datetime.fromtimestamp(seconds).strftime("%m-%d")


def _as_nmr(units: int) -> float:
    return float(units) / float(NMR)


# -- the route class: errors become pages --------------------------------------------------


class PageRoute(APIRoute):
    """Routes whose errors are pages in the site's layout (404, 403, …), not JSON."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            try:
                return await handler(request)
            except SignInRequired:
                target = quote(request.url.path, safe="/")
                return RedirectResponse(f"/signin?next={target}", status_code=303)
            except CrowdAlphaError as exc:
                status = http_status(exc)
                return await run_in_threadpool(_error_page, request, status, exc.message)
            except RequestValidationError:
                return await run_in_threadpool(
                    _error_page, request, 404, "There is no such page: check the address."
                )
            except StarletteHTTPException as exc:
                return await run_in_threadpool(
                    _error_page, request, exc.status_code, str(exc.detail)
                )

        return guarded


router = APIRouter(route_class=PageRoute, include_in_schema=False)

_TITLES = {
    401: "Sign-in needed",
    403: "Not allowed",
    404: "Not found",
    409: "Conflict",
    413: "Too large",
    422: "Invalid request",
    429: "Too many requests",
}


def _error_page(request: Request, status: int, message: str) -> HTMLResponse:
    return render(
        request,
        "error.html",
        status=status,
        title=_TITLES.get(status, "Error"),
        message=message,
    )


# -- plumbing: state, caller, rendering ----------------------------------------------------


def web_state(request: Request) -> WebState:
    state: WebState = request.app.state.web
    return state


def current_user(request: Request) -> Principal | None:
    """The signed-in participant, re-checked against the key (revoked: signed out)."""
    cached = getattr(request.state, "user", _UNSET)
    if cached is not _UNSET:
        return cached if isinstance(cached, Principal) else None
    web = web_state(request)
    session = web.keys.read_session(request.cookies.get(SESSION_COOKIE))
    user = (
        None
        if session is None
        else principal_for_key(web.tournament, session.account_id, session.public_id)
    )
    request.state.user = user
    request.state.stale_session = session is not None and user is None
    _rate_limit(request, user)
    return user


def _rate_limit(request: Request, user: Principal | None) -> None:
    limiter = web_state(request).context.limiter
    if user is not None:
        limiter.check(f"key:{user.key.public_id}")
    else:
        limiter.check(f"ip:{request.client.host if request.client else 'unknown'}")


def require_user(request: Request) -> Principal:
    user = current_user(request)
    if user is None:
        raise SignInRequired
    return user


def _csrf_nonce(request: Request) -> tuple[str, bool]:
    """The request's CSRF nonce, and whether it is new (to be set as a cookie)."""
    known = getattr(request.state, "csrf_nonce", None)
    if known is not None:
        return str(known), bool(request.state.csrf_new)
    existing = request.cookies.get(CSRF_COOKIE)
    nonce, new = (existing, False) if existing else (SessionKeys.new_nonce(), True)
    request.state.csrf_nonce, request.state.csrf_new = nonce, new
    return nonce, new


def _secure(request: Request) -> bool:
    public = web_state(request).context.settings.resolved_public_url
    return request.url.scheme == "https" or public.startswith("https://")


def _cookie(response: Response, request: Request, name: str, value: str, max_age: int) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="strict",
        secure=_secure(request),
    )


def _harden(response: Response, *, private: bool) -> None:
    response.headers["Content-Security-Policy"] = _CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "same-origin"
    if private:
        response.headers["Cache-Control"] = "no-store"


def render(request: Request, template: str, *, status: int = 200, **values: Any) -> HTMLResponse:
    """A page: the template with the caller, a CSRF token for its forms, hardened headers."""
    web = web_state(request)
    try:
        user = current_user(request)
    except CrowdAlphaError:  # rate-limited while rendering an error page: render anonymously
        user = None
    nonce, new = _csrf_nonce(request)
    html = web.env.get_template(template).render(
        user=user,
        is_admin=user is not None and "admin" in user.key.scopes,
        competitions=[(c.slug, c.name, _base(c.slug)) for c in web.tournament.competitions],
        **({"competition": "classic", "base": ""} | values),
        csrf_field=Markup('<input type="hidden" name="{}" value="{}">').format(
            CSRF_FIELD, web.keys.csrf_token(nonce)
        ),
        path=request.url.path,
        status_code=status,
    )
    response = HTMLResponse(html, status_code=status)
    if new:
        _cookie(response, request, CSRF_COOKIE, nonce, max_age=web.keys.ttl)
    if getattr(request.state, "stale_session", False):
        response.delete_cookie(SESSION_COOKIE, path="/")
    _harden(response, private=user is not None or template in ("signin.html", "account.html"))
    return response


async def read_form(request: Request) -> dict[str, list[str]]:
    """A POSTed urlencoded form, after the CSRF check (403 when it fails)."""
    body = await request.body()
    if len(body) > _MAX_FORM_BYTES:
        raise InvalidParameterError("the form is too large")
    try:
        form = parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=50)
    except (UnicodeDecodeError, ValueError):
        raise InvalidParameterError("the form could not be read") from None
    web = web_state(request)
    token = (form.get(CSRF_FIELD) or [""])[0]
    if not web.keys.csrf_ok(request.cookies.get(CSRF_COOKIE), token) or not _same_origin(request):
        raise PermissionDeniedError(
            "this form expired or was sent from another site (CSRF check failed): "
            "reload the page and try again"
        )
    return form


def _same_origin(request: Request) -> bool:
    origin = request.headers.get("origin")
    if origin is None:  # not every client sends it; the CSRF token is the real check
        return True
    netloc = urlsplit(origin).netloc
    public = urlsplit(web_state(request).context.settings.resolved_public_url).netloc
    return netloc in (request.headers.get("host"), public)


def _field(form: dict[str, list[str]], name: str, limit: int = 200) -> str:
    return (form.get(name) or [""])[0].strip()[:limit]


def _local(target: str) -> str:
    """``target`` if it is a path on this site, else ``/`` (no open redirects)."""
    if target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


def _redirect(location: str) -> RedirectResponse:
    return RedirectResponse(location, status_code=303)


# -- public pages --------------------------------------------------------------------------


@router.get("/static/crowdalpha.css")
def stylesheet() -> Response:
    css = resources.files("crowdalpha.web").joinpath("static/crowdalpha.css").read_bytes()
    return Response(
        css,
        media_type="text/css",
        headers={"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"},
    )


T = TypeVar("T")

#: Rows per page of the leaderboard and of a round's results: a tournament of 10,000
#: models is a 2 MB page otherwise.
PAGE_ROWS = 100


def _view(request: Request, slug: str) -> Tournament:
    """The view of competition ``slug``; a 404 page where the server does not run it."""
    try:
        return web_state(request).tournament.using(slug)
    except InvalidParameterError:
        raise NotFoundError(f"this server does not run {slug.capitalize()}") from None


def _base(slug: str) -> str:
    """Where a competition's pages live: Classic at the root, the others under their slug."""
    return "" if slug == "classic" else f"/{slug}"


#: The scores a round's results show, by competition (others: the round's own metrics).
_RESULT_METRICS = {"classic": ("corr", "mmc", "fnc")}


def _result_metrics(slug: str, metrics: tuple[str, ...], gate: tuple[str, ...]) -> list[str]:
    if slug in _RESULT_METRICS:
        return list(_RESULT_METRICS[slug])
    return [*metrics, *(g for g in gate if g not in metrics)]


def _leaderboard(request: Request, slug: str, by: str, page: int) -> HTMLResponse:
    if by not in ("reputation", "stake"):
        raise NotFoundError("the leaderboard is ranked by reputation or by stake")
    t = _view(request, slug)
    base = _base(slug)
    board = t.leaderboard(by=by)
    rows, pages = _page_of(board, page, "leaderboard")
    return render(
        request,
        "leaderboard.html",
        title="Leaderboard" if slug == "classic" else f"{t.competition.name} leaderboard",
        competition=slug,
        base=base,
        rows=rows,
        models=len(board),
        page=page,
        pages=pages,
        page_url=f"{base or '/'}?by={by}&page=",
        by=by,
        current=t.current_round(),
        total_staked=sum(r.stake for r in board),
    )


@router.get("/")
@router.get("/leaderboard")
def leaderboard(
    request: Request, by: str = "reputation", page: Annotated[int, Query(ge=1)] = 1
) -> HTMLResponse:
    return _leaderboard(request, "classic", by, page)


@router.get("/signals")
@router.get("/signals/leaderboard")
def signals_leaderboard(
    request: Request, by: str = "reputation", page: Annotated[int, Query(ge=1)] = 1
) -> HTMLResponse:
    return _leaderboard(request, "signals", by, page)


def _rounds(request: Request, slug: str) -> HTMLResponse:
    t = _view(request, slug)
    title = "Rounds" if slug == "classic" else f"{t.competition.name} rounds"
    return render(
        request,
        "rounds.html",
        title=title,
        competition=slug,
        base=_base(slug),
        rounds=list(reversed(t.rounds())),
    )


@router.get("/rounds")
def rounds(request: Request) -> HTMLResponse:
    return _rounds(request, "classic")


@router.get("/signals/rounds")
def signals_rounds(request: Request) -> HTMLResponse:
    return _rounds(request, "signals")


def _page_of(rows: list[T], page: int, what: str) -> tuple[list[T], int]:
    """Page ``page`` (from 1) of ``rows``, and how many pages there are."""
    pages = max(1, -(-len(rows) // PAGE_ROWS))
    if page > pages:
        raise NotFoundError(f"the {what} has {pages} page(s)")
    return rows[(page - 1) * PAGE_ROWS : page * PAGE_ROWS], pages


def _round_page(request: Request, slug: str, number: int, page: int) -> HTMLResponse:
    t = _view(request, slug)
    base = _base(slug)
    info = t.round(number)
    models = {m.id: m for m in t.models()}
    payouts = {p.model_id: p for p in t.payouts(round_number=number)}
    metrics = _result_metrics(
        slug, info.config.metrics, tuple(g for g, _ in info.config.gate_thresholds)
    )
    first = metrics[0]
    results, pages = _page_of(
        sorted(
            t.scores(round_number=number),
            key=lambda s: (s.get(first) is None, -(s.get(first) or 0.0), s.model_id),
        ),
        page,
        "round's results",
    )
    return render(
        request,
        "round.html",
        title=f"Round {number}" if slug == "classic" else f"{t.competition.name} round {number}",
        competition=slug,
        base=base,
        round=info,
        metrics=metrics,
        paid=set(info.config.paid_metrics),
        results=results,
        models=models,
        payouts=payouts,
        page=page,
        pages=pages,
        page_url=f"{base}/rounds/{number}?page=",
        onchain=_onchain_round(request, number) if slug == "classic" else None,
    )


@router.get("/rounds/{number}")
def round_page(
    request: Request, number: int, page: Annotated[int, Query(ge=1)] = 1
) -> HTMLResponse:
    return _round_page(request, "classic", number, page)


@router.get("/signals/rounds/{number}")
def signals_round_page(
    request: Request, number: int, page: Annotated[int, Query(ge=1)] = 1
) -> HTMLResponse:
    return _round_page(request, "signals", number, page)


def _onchain_round(request: Request, number: int) -> Any:
    """The round on chain (root, totals, each model's claim state) when the chain is on
    and the round was opened there; None otherwise."""
    chain = web_state(request).context.chain
    if chain is None:
        return None
    summary = chain.round_summary(chain.round_id(number))
    return None if summary.state == "unknown" else summary


@router.get("/models/{model_id}")
def model_page(request: Request, model_id: int) -> HTMLResponse:
    model = web_state(request).tournament.model(model_id)
    t = web_state(request).tournament.using(model.competition)  # the model's competition
    owner = t.account(model.account_id)
    scores = t.scores(model_id=model_id)
    payouts = t.payouts(model_id=model_id)
    stake = t.stake_info(model_id)
    board = {r.model_id: r for r in t.leaderboard()}
    cumulative = list(itertools.accumulate(p.amount for p in payouts))
    history = stake_history(t, model_id)
    rounds_x = [float(s.round_number) for s in scores]
    score_chart = line_chart(
        "Scores per round (final where resolved)",
        [
            Series("CORR", list(zip(rounds_x, [s.corr for s in scores], strict=True))),
            Series("MMC", list(zip(rounds_x, [s.mmc for s in scores], strict=True))),
            Series("FNC", list(zip(rounds_x, [s.fnc for s in scores], strict=True))),
        ],
        x_label=lambda x: f"R{x:.0f}",
        integer_x=True,
    )
    payout_chart = line_chart(
        "Cumulative payout (NMR)",
        [
            Series(
                "cumulative payout",
                [
                    (float(p.round_number), _as_nmr(c))
                    for p, c in zip(payouts, cumulative, strict=True)
                ],
            )
        ],
        x_label=lambda x: f"R{x:.0f}",
        integer_x=True,
    )
    stake_chart = line_chart(
        "Stake (NMR)",
        [Series("stake", [(time_value(at), _as_nmr(v)) for at, v in history], step=True)],
        x_label=_day,
    )
    found = model_consistency(t, model_id)
    steady = found.result
    final_x = [float(n) for n in found.per_round.index]

    def series(frame: pd.DataFrame, metric: str, label: str | None = None) -> Series:
        values = frame[metric].tolist()
        return Series(label or metric.upper(), list(zip(final_x, values, strict=True)))

    cumulative_chart = line_chart(
        "Cumulative score (resolved rounds)",
        [series(steady.cumulative, m) for m in ("corr", "mmc", "fnc")],
        x_label=lambda x: f"R{x:.0f}",
        integer_x=True,
    )
    drawdown_chart = line_chart(
        "Drawdown of the cumulative score",
        [series(steady.drawdown, m) for m in ("corr", "mmc")],
        x_label=lambda x: f"R{x:.0f}",
        integer_x=True,
    )
    exposure_chart = line_chart(
        "Correlation with the meta model and maximum feature exposure",
        [
            series(found.per_round, m, _DIAGNOSTIC_LABELS[m])
            for m in ("corr_meta", "feature_exposure")
        ],
        x_label=lambda x: f"R{x:.0f}",
        integer_x=True,
    )
    payout_by_round = {p.round_number: p for p in payouts}
    rows = [(s, payout_by_round.get(s.round_number)) for s in reversed(scores)]
    return render(
        request,
        "model.html",
        title=f"Model {model.name}",
        competition=model.competition,
        base=_base(model.competition),
        model=model,
        owner=owner.username,
        profile=t.profiles.profile(model_id),
        stake=stake,
        standing=board.get(model_id),
        rows=rows,
        total_payout=cumulative[-1] if cumulative else 0,
        score_chart=score_chart,
        payout_chart=payout_chart,
        stake_chart=stake_chart,
        cumulative_chart=cumulative_chart,
        drawdown_chart=drawdown_chart,
        exposure_chart=exposure_chart,
        summary=_summary_rows(steady.summary) if len(found.per_round) else [],
        regimes=_regime_rows(found.by_regime),
    )


#: How the model page names the per-round diagnostics.
_DIAGNOSTIC_LABELS = {"corr_meta": "Corr w/ meta model", "feature_exposure": "Max feature exposure"}


def _summary_rows(summary: pd.DataFrame) -> list[tuple[str, str, list[float | None]]]:
    """(metric, label, [mean, std, sharpe, max drawdown, share positive]) per metric (a
    diagnostic only when it has a value); None: NaN."""
    return [
        (
            str(metric),
            _DIAGNOSTIC_LABELS.get(str(metric), str(metric).upper()),
            [None if pd.isna(v) else float(v) for v in summary[metric]],
        )
        for metric in summary.columns
        if metric not in _DIAGNOSTIC_LABELS or summary[metric].notna().any()
    ]


def _regime_rows(by_regime: pd.DataFrame) -> list[tuple[str, int, list[float | None]]]:
    """(regime, rounds, [mean CORR, MMC, FNC, corr w/ meta model, max feature exposure])."""
    metrics = ("corr", "mmc", "fnc", "corr_meta", "feature_exposure")
    return [
        (
            str(regime),
            int(row["count"]),
            [None if pd.isna(row[m]) else float(row[m]) for m in metrics],
        )
        for regime, row in by_regime.to_dict("index").items()
    ]


# -- signing in and out --------------------------------------------------------------------


@router.get("/signin")
def signin_form(request: Request, next: str = "/account") -> HTMLResponse:
    return render(request, "signin.html", title="Sign in", next=_local(next), error=None)


@router.post("/signin")
async def signin(request: Request) -> Response:
    form = await read_form(request)
    public_id = _field(form, "public_id", 64)
    secret = _field(form, "secret", 200)
    target = _local(_field(form, "next", 500) or "/account")
    web = web_state(request)

    def attempt() -> Principal:
        ip = request.client.host if request.client else "unknown"
        web.context.limiter.check(f"ip:{ip}")
        principal = web.tournament.authenticate(public_id, secret)
        if not principal.has("read"):
            raise AuthenticationError("this API key lacks the 'read' scope: sign in with one")
        return principal

    try:
        principal = await run_in_threadpool(attempt)
    except AuthenticationError as exc:
        message = exc.message
        return await run_in_threadpool(
            lambda: render(
                request,
                "signin.html",
                status=401,
                title="Sign in",
                next=target,
                error=message,
                public_id=public_id,
            )
        )
    response = _redirect(target)
    _cookie(response, request, SESSION_COOKIE, web.keys.session_token(principal), web.keys.ttl)
    _cookie(response, request, CSRF_COOKIE, web.keys.new_nonce(), web.keys.ttl)  # rotate
    return response


@router.post("/signout")
async def signout(request: Request) -> Response:
    await read_form(request)
    response = _redirect("/")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


# -- the account ---------------------------------------------------------------------------


def _account_page(
    request: Request,
    user: Principal,
    *,
    created: tuple[str, str] | None = None,
    notice: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    t = web_state(request).tournament
    account_id = user.account.id
    models = t.models(account_id)
    stakes = {m.id: t.stake_info(m.id) for m in models}
    names = {m.id: m.name for m in models}
    payouts = sorted(
        (p for m in models for p in t.payouts(model_id=m.id)),
        key=lambda p: (-p.round_number, names[p.model_id]),
    )
    releases = [
        (names[m_id], r) for m_id, info in stakes.items() for r in info.releases if r.remaining
    ]
    wallet = t.wallet_balance(account_id)
    staked = sum(s.stake for s in stakes.values())
    pending = sum(s.pending for s in stakes.values())
    keys = t.api_keys(account_id)
    grantable = [s for s in SCOPES if user.has(s) and (s != "admin" or user.account.is_operator)]
    return render(
        request,
        "account.html",
        status=status,
        title="Your account",
        account=user.account,
        reputation=t.account_reputation(account_id),
        wallet=wallet,
        staked=staked,
        pending=pending,
        total=wallet + staked + pending,
        models=models,
        stakes=stakes,
        names=names,
        payouts=payouts,
        paid=sum(p.amount for p in payouts if p.amount > 0),
        burned=-sum(p.amount for p in payouts if p.amount < 0),
        releases=releases,
        keys=keys,
        grantable=grantable,
        created=created,
        notice=notice,
    )


@router.get("/account")
def account(request: Request, revoked: str | None = None) -> HTMLResponse:
    user = require_user(request)
    notice = None
    if revoked:
        keys = web_state(request).tournament.api_keys(user.account.id)
        if any(k.public_id == revoked and k.revoked_at for k in keys):
            notice = f"API key {revoked} was revoked."
    return _account_page(request, user, notice=notice)


@router.post("/account/keys")
async def create_key(request: Request) -> Response:
    form = await read_form(request)
    name = _field(form, "name", 100)
    scopes = sorted(set(form.get("scope", [])))
    web = web_state(request)

    def create() -> Response:
        user = require_user(request)
        if not scopes:
            raise InvalidParameterError("choose at least one scope for the new key")
        unknown = set(scopes) - set(SCOPES)
        if unknown:
            raise InvalidParameterError(f"unknown scopes: {', '.join(sorted(unknown))}")
        extra = [s for s in scopes if not user.has(s)]
        if extra and "admin" not in user.key.scopes:
            raise PermissionDeniedError(
                f"the key you signed in with cannot give scopes it does not hold: "
                f"{', '.join(extra)}"
            )
        info, secret = web.tournament.create_api_key(user.account.id, scopes=scopes, name=name)
        return _account_page(request, user, created=(info.public_id, secret), status=201)

    return await run_in_threadpool(create)


@router.post("/account/keys/{public_id}/revoke")
async def revoke_key(request: Request, public_id: str) -> Response:
    await read_form(request)
    web = web_state(request)

    def revoke() -> Response:
        user = require_user(request)
        keys = web.tournament.api_keys(user.account.id)
        target = next((k for k in keys if k.public_id == public_id), None)
        if target is None:
            raise NotFoundError("your account has no such API key")
        if target.public_id != user.key.public_id and "admin" not in user.key.scopes:
            extra = target.scopes - user.key.scopes
            if extra:
                raise PermissionDeniedError(
                    "the key you signed in with cannot revoke a key with scopes it does not "
                    f"hold: {', '.join(sorted(extra))}"
                )
        web.tournament.revoke_api_key(user.account.id, public_id)
        return _redirect(f"/account?revoked={quote(public_id)}")

    return await run_in_threadpool(revoke)


# -- governance ------------------------------------------------------------------------------


@router.get("/governance")
def governance(request: Request) -> HTMLResponse:
    """Proposals with their live (or final) tallies, newest first, and the settings."""
    context = web_state(request).context
    gov = context.governance
    proposals = gov.proposals()
    return render(
        request,
        "governance.html",
        title="Governance",
        open=[p for p in proposals if p.state == "voting"],
        history=[p for p in proposals if p.state != "voting"],
        rules=gov.rules(),
        configs={c.slug: gov.current_config(c) for c in context.tournament.competitions},
    )


@router.get("/governance/{proposal_id}")
def proposal_page(request: Request, proposal_id: int, voted: str | None = None) -> HTMLResponse:
    """One proposal: what it changes, its rules, the tally, every vote, the audit trail."""
    gov = web_state(request).context.governance
    info = gov.proposal(proposal_id)
    user = current_user(request)
    return render(
        request,
        "proposal.html",
        title=f"Proposal {proposal_id}",
        proposal=info,
        votes=gov.votes(proposal_id),
        events=gov.events(proposal_id),
        power=gov.power(proposal_id, user.account.id) if user is not None else None,
        notice=f"Your vote ({voted}) is recorded." if voted else None,
    )


@router.post("/governance/{proposal_id}/vote")
async def vote(request: Request, proposal_id: int) -> Response:
    form = await read_form(request)
    choice = _field(form, "choice", 16)
    web = web_state(request)

    def cast() -> Response:
        user = require_user(request)
        if not user.has("stake"):
            raise PermissionDeniedError("voting needs a key with the stake scope")
        web.context.governance.vote(proposal_id, user.account.id, choice)
        return _redirect(f"/governance/{proposal_id}?voted={quote(choice)}")

    return await run_in_threadpool(cast)


# -- the operator's dashboard --------------------------------------------------------------


def require_operator(request: Request) -> Principal:
    user = require_user(request)
    if "admin" not in user.key.scopes:
        raise PermissionDeniedError(
            "the operator's dashboard needs an API key with the admin scope"
        )
    return user


#: Clusters of near-identical submissions the dashboard lists (newest rounds first).
DUPLICATES_SHOWN = 50


@router.get("/operator")
def operator(request: Request) -> HTMLResponse:
    require_operator(request)
    web = web_state(request)
    t = web.tournament
    meta = web.meta.rounds(t)
    supply = t.supply()
    history = supply_history(t)
    check = t.check_ledger()
    submissions = list(reversed(t.submissions()))
    models: dict[int, ModelInfo] = {m.id: m for m in t.models()}
    meta_chart = line_chart(
        "Meta model CORR per resolved round",
        [
            Series("meta model", [(float(r.round_number), r.meta_corr) for r in meta]),
            Series("mean model", [(float(r.round_number), r.mean_corr) for r in meta]),
            Series("best model", [(float(r.round_number), r.best_corr) for r in meta]),
        ],
        x_label=lambda x: f"R{x:.0f}",
        integer_x=True,
    )
    supply_chart = line_chart(
        "NMR supply over time",
        [
            Series("minted", [(time_value(p.at), _as_nmr(p.minted)) for p in history], True),
            Series("burned", [(time_value(p.at), _as_nmr(p.burned)) for p in history], True),
            Series(
                "circulating",
                [(time_value(p.at), _as_nmr(p.circulating)) for p in history],
                True,
            ),
        ],
        x_label=_day,
    )
    states: dict[str, int] = {}
    for s in submissions:
        states[s.state] = states.get(s.state, 0) + 1
    return render(
        request,
        "operator.html",
        title="Operator's dashboard",
        meta=list(reversed(meta)),
        meta_chart=meta_chart,
        supply=supply,
        supply_chart=supply_chart,
        check=check,
        submissions=submissions,
        states=sorted(states.items()),
        models=models,
        duplicates=t.duplicates()[:DUPLICATES_SHOWN],
        fund=read_fund_folder(web.context.settings.resolved_fund_dir),
        fund_dir=str(web.context.settings.resolved_fund_dir),
    )


# -- the operator's fund page ----------------------------------------------------------------


@router.get("/operator/fund")
def operator_fund(request: Request) -> HTMLResponse:
    """The fund the meta model runs: its equity curve, headline figures, comparisons and
    today's book (operator only: the book names tickers)."""
    require_operator(request)
    web = web_state(request)
    fund = read_fund_folder(web.context.settings.resolved_fund_dir)
    chart = None
    if fund is not None:
        xs = [time_value(d.to_pydatetime()) for d in fund.equity["date"]]
        chart = line_chart(
            "The fund's equity (1 = start)",
            [
                Series("net", list(zip(xs, fund.equity["nav"].tolist(), strict=True))),
                Series(
                    "gross (before costs and borrow)",
                    list(zip(xs, fund.equity["gross_nav"].tolist(), strict=True)),
                ),
            ],
            x_label=lambda x: datetime.fromtimestamp(x).strftime("%Y-%m-%d"),
            zero_line=False,
        )
    return render(
        request,
        "fund.html",
        title="The fund",
        fund=fund,
        chart=chart,
        folder=str(web.context.settings.resolved_fund_dir),
    )


@router.get("/operator/fund/report")
def operator_fund_report(request: Request) -> HTMLResponse:
    """The fund's full, self-contained report (inline SVG and styles, no scripts)."""
    require_operator(request)
    folder = web_state(request).context.settings.resolved_fund_dir
    path = folder / "report.html"
    if not path.is_file():
        raise NotFoundError(
            "there is no fund report yet: run `crowdalpha fund backtest --tournament`"
        )
    response = HTMLResponse(path.read_text(encoding="utf-8"))
    _harden(response, private=True)
    # the report carries its own stylesheet inline; nothing else may load
    response.headers["Content-Security-Policy"] = _CSP.replace(
        "style-src 'self'", "style-src 'unsafe-inline'"
    )
    return response


def mount_web(app: FastAPI) -> None:
    """Serve the web UI from ``app`` (after ``app.state.context`` is set)."""
    app.state.web = WebState(app.state.context)
    app.include_router(router)

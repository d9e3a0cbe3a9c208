"""The server: one FastAPI app with our REST API, Numerai's GraphQL API and signed files.

``create_app(tournament, settings)`` builds it around a :class:`~crowdalpha.tournament.
Tournament`; ``crowdalpha serve`` runs it with uvicorn on the configured database and
folder. The app runs the round clock itself (``Tournament.tick`` every
``settings.tick_interval`` seconds, in a worker thread) so one process is a working
tournament, and hourly housekeeping (see :func:`run_housekeeping`); ``background=False``
runs neither.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from crowdalpha import __version__
from crowdalpha.server.context import ServerContext
from crowdalpha.server.errors import error_body, install_error_handlers
from crowdalpha.server.ratelimit import RateLimiter
from crowdalpha.server.signing import Signer
from crowdalpha.settings import Settings
from crowdalpha.tournament import Tournament

__all__ = ["create_app", "run_clock", "run_housekeeping"]

log = logging.getLogger("crowdalpha.server")


async def run_clock(tournament: Tournament, interval: float) -> None:
    """Tick forever; a failing tick is logged and retried at the next interval."""
    while True:
        try:
            report = await asyncio.to_thread(tournament.tick)
            if report.changed:
                log.info(
                    "tick: opened %s closed %s scored %s resolved %s",
                    report.opened,
                    report.closed,
                    report.scored,
                    [r.round_number for r in report.resolved],
                )
        except Exception:
            log.exception("the round clock failed; retrying in %.0f s", interval)
        await asyncio.sleep(interval)


async def run_housekeeping(context: ServerContext, interval: float = 3600.0) -> None:
    """Hourly chores: delete staged uploads (numerapi's PUT-then-mutation) that no mutation
    used within a day after their upload URL expired. Failures are logged and retried."""
    from crowdalpha.server.graphql.context import sweep_staged_uploads

    keep = timedelta(seconds=context.settings.signed_url_ttl) + timedelta(days=1)
    while True:
        try:
            swept = await asyncio.to_thread(
                sweep_staged_uploads,
                context.tournament.store,
                older_than=keep,
                now=datetime.now(UTC),
            )
            if swept:
                log.info("deleted %d staged upload(s) that no mutation used", swept)
        except Exception:
            log.exception("housekeeping failed; retrying in %.0f s", interval)
        await asyncio.sleep(interval)


class BodyLimit:
    """Refuse a request whose declared body is over the limit with 413, before reading it.

    Pure ASGI (no per-request task or body buffering); bodies sent without a length are
    counted by the routes that read them.
    """

    def __init__(self, app: ASGIApp, *, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            for name, value in scope["headers"]:
                if name == b"content-length":
                    if not value.isdigit() or int(value) > self.limit:
                        response = JSONResponse(
                            error_body(
                                "limit_exceeded",
                                f"the request body is larger than the {self.limit:,}-byte limit",
                                {"limit": self.limit},
                            ),
                            status_code=413,
                        )
                        await response(scope, receive, send)
                        return
                    break
        await self.app(scope, receive, send)


def create_app(
    tournament: Tournament, settings: Settings | None = None, *, background: bool = True
) -> FastAPI:
    settings = settings or Settings()
    context = ServerContext(
        tournament=tournament,
        settings=settings,
        signer=Signer(settings.resolved_signing_key(), ttl=settings.signed_url_ttl),
        limiter=RateLimiter(settings.rate_limit_per_minute),
    )

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        tasks = []
        if background:
            tasks.append(asyncio.create_task(run_housekeeping(context)))
            if settings.tick_interval > 0:
                tasks.append(asyncio.create_task(run_clock(tournament, settings.tick_interval)))
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    app = FastAPI(
        title="crowdalpha",
        version=__version__,
        description="A self-hostable, Numerai-style tournament: our REST API under /v1, "
        "Numerai's GraphQL API under /graphql.",
        lifespan=lifespan,
    )
    app.state.context = context
    install_error_handlers(app)

    app.add_middleware(BodyLimit, limit=settings.max_upload_bytes)

    from crowdalpha import web
    from crowdalpha.server import files, graphql, rest

    app.include_router(files.router)
    app.include_router(rest.router, prefix="/v1")
    app.include_router(graphql.make_router(settings.dataset_folder))
    web.mount_web(app)  # the web UI's pages
    return app

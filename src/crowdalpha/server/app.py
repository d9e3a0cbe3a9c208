"""The server: one FastAPI app with our REST API, Numerai's GraphQL API and signed files.

``create_app(tournament, settings)`` builds it around a :class:`~crowdalpha.tournament.
Tournament`; ``crowdalpha serve`` runs it with uvicorn on the configured database and
folder. The app runs the round clock itself (``Tournament.tick`` every
``settings.tick_interval`` seconds, in a worker thread) so one process is a working
tournament, sends the submission webhooks (:mod:`crowdalpha.server.webhooks`), runs the
background jobs (validation diagnostics: :mod:`crowdalpha.server.jobs`) and runs hourly
housekeeping (see :func:`run_housekeeping`); ``background=False`` runs none of them
(``jobs=True`` still runs the jobs).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from crowdalpha import __version__
from crowdalpha.db.locks import DatabaseLock
from crowdalpha.errors import SchedulerBusyError
from crowdalpha.governance import Governance
from crowdalpha.server.context import ServerContext
from crowdalpha.server.errors import error_body, install_error_handlers
from crowdalpha.server.jobs import RunnerThread, open_job_runner
from crowdalpha.server.ratelimit import RateLimiter
from crowdalpha.server.signing import Signer
from crowdalpha.server.webhooks import WebhookSender, run_webhooks
from crowdalpha.settings import Settings
from crowdalpha.submissions.paths import paths_taken
from crowdalpha.tournament import Tournament

if TYPE_CHECKING:
    from crowdalpha.chain.platform import ChainPlatform

__all__ = ["create_app", "run_clock", "run_housekeeping"]

log = logging.getLogger("crowdalpha.server")

#: The database lock the process that runs the round clock holds for its life.
LEADER_LOCK = "clock-leader"


async def run_clock(
    tournament: Tournament,
    interval: float,
    chain: ChainPlatform | None = None,
    *,
    governance: Governance | None = None,
) -> None:
    """Tick forever; a failing tick is logged and retried at the next interval. With the
    chain on, each tick is followed by the chain's (index, open rounds, settle); then the
    governance proposals that are due are tallied and executed (a failure there never
    stops the clock).

    Of several server processes on one database exactly one runs the clock: the one that
    holds the database's clock-leader lock (:data:`LEADER_LOCK`, a session advisory lock
    on PostgreSQL, a file lock beside a SQLite file), taken at its first free interval and
    kept for the process's life. The others try to take it every interval, so when the
    leader dies (its database session ends and the lock with it) another takes over
    within one interval. Each tick still holds the clock lock, which keeps a cron
    ``crowdalpha tick`` apart."""
    leader = DatabaseLock(tournament.engine, LEADER_LOCK)
    leading = False
    try:
        while True:
            try:
                if not leading:
                    leading = await asyncio.to_thread(leader.acquire, 0)
                    if leading:
                        log.info("this process runs the round clock")
                if leading:
                    await _tick(tournament, chain)
            except SchedulerBusyError:
                log.debug("another scheduler is ticking; next try in %.0f s", interval)
            except Exception:
                log.exception("the round clock failed; retrying in %.0f s", interval)
            if leading and governance is not None:
                await _govern(governance, interval)
            await asyncio.sleep(interval)
    finally:
        if leading:
            leader.release()


async def _govern(governance: Governance, interval: float) -> None:
    try:
        governed = await asyncio.to_thread(governance.process)
        if governed:
            log.info("governance: tallied or executed proposals %s", governed)
    except Exception:
        log.exception("governance failed; retrying in %.0f s", interval)


async def _tick(tournament: Tournament, chain: ChainPlatform | None) -> None:
    report = await asyncio.to_thread(tournament.tick, wait=0)
    if report.changed:
        log.info(
            "tick: opened %s closed %s scored %s resolved %s",
            report.opened,
            report.closed,
            report.scored,
            [r.round_number for r in report.resolved],
        )
    if chain is not None:
        done = await asyncio.to_thread(chain.after_tick, report)
        if done.opened or done.settled or done.deposits or done.orphaned:
            log.info(
                "chain: opened %s settled %s deposits %d orphaned events %d",
                done.opened,
                done.settled,
                len(done.deposits),
                done.orphaned,
            )


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
    tournament: Tournament,
    settings: Settings | None = None,
    *,
    background: bool = True,
    chain: ChainPlatform | None = None,
    jobs: bool | None = None,
) -> FastAPI:
    """``chain``: the chain integration (:func:`crowdalpha.runtime.open_chain`), when on.
    ``jobs``: whether this process runs background jobs (default: with ``background``);
    their worker processes open the tournament from ``settings``, unless
    ``settings.jobs_workers`` is 0 (then they run here, on ``tournament``)."""
    run_jobs = background if jobs is None else jobs
    settings = settings or Settings()
    context = ServerContext(
        tournament=tournament,
        settings=settings,
        signer=Signer(settings.resolved_signing_key(), ttl=settings.signed_url_ttl),
        limiter=RateLimiter(settings.rate_limit_per_minute),
        chain=chain,
    )

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        tasks = []
        if background:
            tasks.append(asyncio.create_task(run_housekeeping(context)))
            if settings.tick_interval > 0:
                tasks.append(
                    asyncio.create_task(
                        run_clock(
                            tournament,
                            settings.tick_interval,
                            chain,
                            governance=context.governance,
                        )
                    )
                )
            if settings.webhook_interval > 0:
                sender = WebhookSender(
                    tournament,
                    max_attempts=settings.webhook_max_attempts,
                    backoff=timedelta(seconds=settings.webhook_backoff),
                    allow_private=settings.webhook_allow_private,
                )
                tasks.append(asyncio.create_task(run_webhooks(sender, settings.webhook_interval)))
        runner = None
        if run_jobs:
            runner = RunnerThread(
                open_job_runner(tournament, settings), poll=settings.jobs_poll_interval
            ).start()
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            if runner is not None:
                await asyncio.to_thread(runner.stop, settings.jobs_shutdown_grace)
            taken = paths_taken()
            if taken:
                log.info(
                    "upload paths taken by this process: %s",
                    ", ".join(f"{path} {n}" for path, n in taken.items()),
                )

    app = FastAPI(
        title="crowdalpha",
        version=__version__,
        description="A self-hostable, Numerai-style tournament: our REST API under /v1, "
        "Numerai's GraphQL API under /graphql.",
        lifespan=lifespan,
    )
    app.state.context = context
    context.governance  # noqa: B018 - installed now: rounds the clock opens ask it
    install_error_handlers(app)

    from crowdalpha import web
    from crowdalpha.server import files, graphql, health, metrics, rest
    from crowdalpha.server.request_ids import RequestIds

    # the last added is the outermost: every request gets its id, then is counted (a
    # refusal by the body limit too)
    app.add_middleware(BodyLimit, limit=settings.max_upload_bytes)
    if settings.metrics != "off":
        metrics.install()
        app.add_middleware(metrics.RequestMetrics)
    app.add_middleware(RequestIds)

    app.include_router(health.router)
    if settings.metrics != "off":
        app.include_router(metrics.make_router(settings.metrics))
    app.include_router(files.router)
    app.include_router(rest.router, prefix="/v1")
    app.include_router(graphql.make_router(settings.dataset_folder))
    web.mount_web(app)  # the web UI's pages
    return app

"""What every request handler shares: the tournament, settings, URL signer, rate limiter."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING
from urllib.parse import quote

import anyio
from fastapi import Request

from crowdalpha.errors import CrowdAlphaError
from crowdalpha.governance import Governance
from crowdalpha.jobs import JobQueue
from crowdalpha.server.ratelimit import RateLimiter
from crowdalpha.server.signing import Signer
from crowdalpha.settings import Settings
from crowdalpha.tournament import Tournament

if TYPE_CHECKING:
    from crowdalpha.chain.platform import ChainPlatform

__all__ = ["ServerContext", "context_of", "get_context", "read_body"]


@dataclass
class ServerContext:
    tournament: Tournament
    settings: Settings
    signer: Signer
    limiter: RateLimiter
    #: The chain integration when the operator turned it on (CROWDALPHA_CHAIN_URL).
    chain: ChainPlatform | None = None
    #: Bounds the uploads being validated at once (``settings.upload_concurrency``).
    uploads: anyio.CapacityLimiter = field(init=False)

    def __post_init__(self) -> None:
        self.uploads = anyio.CapacityLimiter(self.settings.upload_concurrency)

    @functools.cached_property
    def governance(self) -> Governance:
        """Governance of the tournament, installed so that passed proposals reach the
        rounds it opens (see :mod:`crowdalpha.governance`)."""
        return Governance(self.tournament).install()

    @functools.cached_property
    def jobs(self) -> JobQueue:
        """The background jobs (diagnostics) of the tournament's database."""
        return JobQueue(self.tournament.engine)

    def download_url(self, key: str, filename: str | None = None) -> str:
        """A signed, expiring URL that serves the stored file ``key`` (Range supported):
        the bucket's own presigned URL when the store has one, else this server's."""
        ttl = timedelta(seconds=self.settings.signed_url_ttl)
        direct = self.tournament.store.presigned_get(key, ttl)
        if direct is not None:
            return direct
        token = self.signer.sign("download", key=key)
        name = quote(filename or key.rsplit("/", 1)[-1])
        return f"{self.settings.resolved_public_url}/files/{token}/{name}"

    def upload_url(self, key: str, account_id: int) -> str:
        """A signed, expiring URL that accepts one PUT of a file into ``key``: the bucket's
        presigned URL when the store has one (the size is then checked when the file is
        used), else this server's (which refuses a body over the limit as it arrives)."""
        ttl = timedelta(seconds=self.settings.signed_url_ttl)
        direct = self.tournament.store.presigned_put(key, ttl)
        if direct is not None:
            return direct
        token = self.signer.sign("upload", key=key, account=account_id)
        return f"{self.settings.resolved_public_url}/uploads/{token}"


async def read_body(
    request: Request, limit: int, too_large: Callable[[], CrowdAlphaError]
) -> bytes:
    """The request's body, refused with ``too_large()`` once it passes ``limit`` bytes
    (a body sent without a Content-Length, which BodyLimit cannot refuse up front)."""
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > limit:
            raise too_large()
    return bytes(body)


def context_of(request: Request) -> ServerContext:
    context: ServerContext = request.app.state.context
    return context


async def get_context(request: Request) -> ServerContext:
    """The request's context, as a dependency (``async``: FastAPI runs a plain ``def``
    dependency in a worker thread, a needless hop for reading an attribute)."""
    return context_of(request)

"""``Authorization: Token PUBLIC_ID$SECRET_KEY`` on both APIs, scopes and rate limits."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request

from crowdalpha.errors import AuthenticationError, PermissionDeniedError
from crowdalpha.server.context import ServerContext, get_context
from crowdalpha.tournament import Principal

__all__ = ["Caller", "OptionalCaller", "parse_authorization", "principal_from", "require"]


def parse_authorization(header: str | None) -> tuple[str, str] | None:
    """``(public_id, secret)`` from ``Token PUBLIC$SECRET``; None when absent."""
    if header is None or not header.strip():
        return None
    scheme, _, credentials = header.strip().partition(" ")
    public_id, sep, secret = credentials.strip().partition("$")
    if scheme.lower() != "token" or not sep or not public_id or not secret:
        raise AuthenticationError(
            "malformed Authorization header: send 'Authorization: Token PUBLIC_ID$SECRET_KEY'"
        )
    return public_id, secret


def principal_from(request: Request, context: ServerContext) -> Principal | None:
    """The caller of a request (None when anonymous), after the rate limit."""
    credentials = parse_authorization(request.headers.get("authorization"))
    if credentials is None:
        client = request.client.host if request.client else "unknown"
        context.limiter.check(f"ip:{client}")
        return None
    principal = context.tournament.authenticate(*credentials)
    context.limiter.check(f"key:{principal.key.public_id}")
    return principal


def _optional(
    request: Request, context: Annotated[ServerContext, Depends(get_context)]
) -> Principal | None:
    return principal_from(request, context)


def require(scope: str) -> Callable[..., Principal]:
    """A dependency that demands a key holding ``scope`` (or ``admin``)."""

    def dependency(
        request: Request, context: Annotated[ServerContext, Depends(get_context)]
    ) -> Principal:
        principal = principal_from(request, context)
        if principal is None:
            raise AuthenticationError(
                "this needs an API key: send 'Authorization: Token PUBLIC_ID$SECRET_KEY'"
            )
        if not principal.has(scope):
            raise PermissionDeniedError(
                f"this API key lacks the {scope!r} scope; create a key that has it",
                details={"scope": scope},
            )
        return principal

    return dependency


OptionalCaller = Annotated[Principal | None, Depends(_optional)]
Caller = Annotated[Principal, Depends(require("read"))]

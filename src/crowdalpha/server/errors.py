"""The one place where crowdalpha's errors become HTTP and GraphQL errors.

REST: the status comes from the error's category, the body is always
``{"error": {"code", "message", "details"}}``. GraphQL (Numerai's API): HTTP 200 with
``{"errors": [{"message": "code: message", "extensions": {"code": …}}]}`` — what numerapi
expects (it raises ``ValueError(message)``).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from crowdalpha.errors import (
    AuthenticationError,
    ConflictError,
    CrowdAlphaError,
    InvalidInputError,
    LimitExceededError,
    NotFoundError,
    NotSupportedError,
    PermissionDeniedError,
    ServiceUnavailableError,
    StakeLimitError,
    StorageWriteError,
    SubmissionFileError,
)

__all__ = ["error_body", "graphql_error", "http_status", "install_error_handlers"]

log = logging.getLogger("crowdalpha.server")

_STATUS: tuple[tuple[type[CrowdAlphaError], int], ...] = (
    (StakeLimitError, 409),  # a configured risk limit: retrying will not help
    (AuthenticationError, 401),
    (PermissionDeniedError, 403),
    (NotFoundError, 404),
    (ConflictError, 409),
    (LimitExceededError, 429),
    (InvalidInputError, 422),
    (StorageWriteError, 507),  # the file store is full or read-only: the operator acts
    (ServiceUnavailableError, 503),
    (NotSupportedError, 501),
)


def http_status(exc: CrowdAlphaError) -> int:
    """The HTTP status of an error: by category, most specific first."""
    if isinstance(exc, SubmissionFileError | LimitExceededError) and exc.details.get("reason") in (
        "too_large",
        "body_too_large",
    ):
        return 413
    for cls, status in _STATUS:
        if isinstance(exc, cls):
            return status
    return 500


def error_body(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details or {}}}


def graphql_error(exc: CrowdAlphaError) -> dict[str, Any]:
    """One entry of a GraphQL ``errors`` list."""
    return {"message": f"{exc.code}: {exc.message}", "extensions": {"code": exc.code}}


def install_error_handlers(app: FastAPI) -> None:
    """Typed errors, validation errors and HTTP errors all leave in one shape; anything
    unexpected is logged by the server and answered 500 without internals."""

    async def crowdalpha_error(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, CrowdAlphaError)
        headers = {"WWW-Authenticate": "Token"} if isinstance(exc, AuthenticationError) else None
        return JSONResponse(
            error_body(exc.code, exc.message, exc.details),
            status_code=http_status(exc),
            headers=headers,
        )

    async def validation_error(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        problems = [
            {"where": ".".join(str(p) for p in e.get("loc", ())), "problem": e.get("msg", "")}
            for e in exc.errors()
        ]
        first = problems[0] if problems else {"where": "request", "problem": "invalid"}
        return JSONResponse(
            error_body(
                "invalid_request",
                f"{first['where']}: {first['problem']}",
                {"problems": problems},
            ),
            status_code=422,
        )

    async def http_error(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return JSONResponse(
            error_body(code, str(exc.detail)), status_code=exc.status_code, headers=exc.headers
        )

    async def database_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, DBAPIError)
        if not (exc.connection_invalidated or isinstance(exc, OperationalError | InterfaceError)):
            return await unexpected(request, exc)
        # the connection died (the database restarted, a backend was terminated): the
        # transaction rolled back with it, the pool replaces the connection, and a retry
        # (with the same Idempotency-Key) is safe
        log.warning("the database connection failed during a request", exc_info=exc)
        return JSONResponse(
            error_body(
                "service_unavailable",
                "the database did not answer; nothing was changed — retry in a moment",
                {"service": "database", "retryable": True},
            ),
            status_code=503,
            headers={"Retry-After": "1"},
        )

    async def unexpected(_request: Request, _exc: Exception) -> JSONResponse:
        return JSONResponse(
            error_body("internal_error", "the server failed; the operator's log has the details"),
            status_code=500,
        )

    app.add_exception_handler(CrowdAlphaError, crowdalpha_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(DBAPIError, database_error)
    app.add_exception_handler(Exception, unexpected)

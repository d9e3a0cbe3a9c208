"""The server's errors, reconstructed: one mapping from wire code to exception class.

The server sends ``{"error": {"code", "message", "details"}}``; the client raises the
:mod:`crowdalpha.errors` class whose ``code`` matches, so ``except InsufficientFundsError``
works the same against the library and against a server. Three client-side classes
(same hierarchy) cover what has no library class: the server failing (:class:`ServerError`),
the server not answering (:class:`ServerUnreachableError`) and a download whose bytes
do not check out (:class:`CorruptDownloadError`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, ClassVar

from crowdalpha import errors as _errors
from crowdalpha.errors import (
    AuthenticationError,
    ConflictError,
    CrowdAlphaError,
    InvalidInputError,
    LimitExceededError,
    NotFoundError,
    PermissionDeniedError,
    SubmissionFileError,
)

__all__ = [
    "ERROR_CLASSES",
    "CorruptDownloadError",
    "ServerError",
    "ServerUnreachableError",
    "error_from_response",
]


class ServerError(CrowdAlphaError):
    """The server failed (5xx) or answered something that is not its error shape."""

    code: ClassVar[str] = "server_error"

    def __init__(
        self, message: str, *, status: int = 500, details: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(message, details=details)
        self.status = status


class ServerUnreachableError(CrowdAlphaError):
    """No answer: the connection failed or broke (after the retries)."""

    code: ClassVar[str] = "server_unreachable"


class CorruptDownloadError(CrowdAlphaError):
    """A downloaded file's size or SHA-256 is not what the server announced; the partial
    file was discarded and the destination left as it was."""

    code: ClassVar[str] = "corrupt_download"


def _all_classes() -> dict[str, type[CrowdAlphaError]]:
    found: dict[str, type[CrowdAlphaError]] = {}
    for name in _errors.__all__:
        cls = getattr(_errors, name)
        if isinstance(cls, type) and issubclass(cls, CrowdAlphaError):
            found[cls.code] = cls
    found[CrowdAlphaError.code] = CrowdAlphaError
    for cls in (ServerError, ServerUnreachableError, CorruptDownloadError):
        found[cls.code] = cls
    return found


#: Every wire code → its class: the library's hierarchy plus the server's own codes for
#: requests it could not parse (``invalid_request``) or route, and its failures.
ERROR_CLASSES: dict[str, type[CrowdAlphaError]] = {
    **_all_classes(),
    "invalid_request": InvalidInputError,
    "method_not_allowed": InvalidInputError,
    "internal_error": ServerError,
}

#: When a code is unknown (a newer server), the category follows the status.
_BY_STATUS: dict[int, type[CrowdAlphaError]] = {
    400: InvalidInputError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    405: InvalidInputError,
    409: ConflictError,
    413: SubmissionFileError,
    422: InvalidInputError,
    429: LimitExceededError,
}


def error_from_response(status: int, body: bytes) -> CrowdAlphaError:
    """The exception for an error response (status ≥ 400)."""
    try:
        error = json.loads(body)["error"]
        code, message = str(error["code"]), str(error["message"])
        details = error.get("details") or {}
        if not isinstance(details, dict):
            details = {"details": details}
    except (ValueError, KeyError, TypeError):
        text = body[:200].decode("utf-8", "replace").strip()
        return ServerError(f"HTTP {status}: {text or 'no body'}", status=status)
    cls = ERROR_CLASSES.get(code) or _BY_STATUS.get(status)
    if cls is None or issubclass(cls, ServerError) or status >= 500:
        return ServerError(message, status=status, details={**details, "code": code})
    if cls.code != code:
        details = {**details, "code": code}
    return cls(message, details=details)

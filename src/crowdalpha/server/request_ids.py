"""A request id for every request: in the response's ``X-Request-ID`` and on every log line
written while the request is handled.

An incoming ``X-Request-ID`` (a proxy's or the client's) is kept when it is a plain token
(letters, digits, ``-_.:``, at most 128 characters: nothing that could forge a log line),
else a new one is made (32 hex digits). The id lives in a context variable for the
request's life (:data:`crowdalpha.jsonlog.request_id_var`); context variables follow the
request into the worker threads that FastAPI and ``asyncio.to_thread`` run code in, so the
JSON log formatter finds it on every line, uvicorn's access line included.
"""

from __future__ import annotations

import re
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from crowdalpha.jsonlog import current_request_id, request_id_var

__all__ = ["HEADER", "RequestIds", "current_request_id"]

HEADER = "X-Request-ID"
_HEADER_KEY = HEADER.lower().encode("latin-1")
_VALID = re.compile(r"[A-Za-z0-9._:\-]{1,128}")


def _incoming(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == _HEADER_KEY:
            text = value.decode("latin-1")
            return text if _VALID.fullmatch(text) else None
    return None


class RequestIds:
    """Pure ASGI middleware: set the request's id, echo it in the response's headers."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _incoming(scope) or uuid.uuid4().hex
        header = (_HEADER_KEY, request_id.encode("latin-1"))

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [h for h in message.get("headers", []) if h[0].lower() != _HEADER_KEY]
                message = {**message, "headers": [*headers, header]}
            await send(message)

        token = request_id_var.set(request_id)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            request_id_var.reset(token)

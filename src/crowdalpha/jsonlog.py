"""JSON log lines and the request id they carry (standard library only).

Kept outside :mod:`crowdalpha.server` on purpose: uvicorn imports the formatter named in
its logging configuration in every worker process *before* that worker answers its
supervisor's health checks, so the formatter must import in milliseconds (importing the
server package would import the whole app, and a loaded machine's workers would be
killed as unresponsive). :mod:`crowdalpha.server.request_ids` sets the id;
:mod:`crowdalpha.server.logs` configures the format.
"""

from __future__ import annotations

import json
import logging
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

__all__ = ["JsonFormatter", "current_request_id", "request_id_var"]

#: The id of the request being handled, for every log line written meanwhile.
request_id_var: ContextVar[str | None] = ContextVar("crowdalpha_request_id", default=None)


def current_request_id() -> str | None:
    """The id of the request being handled (None outside a request)."""
    return request_id_var.get()


class JsonFormatter(logging.Formatter):
    """One JSON object a line: ``time`` (UTC, ISO 8601), ``level``, ``logger``,
    ``message``, ``process``, ``request_id`` while a request is handled, ``exception``
    and ``stack`` when there are, and ``http`` (client, method, path, status) on uvicorn's
    access lines."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "process": record.process,
        }
        request_id = current_request_id()
        if request_id is not None:
            entry["request_id"] = request_id
        args = record.args
        if record.name == "uvicorn.access" and isinstance(args, tuple) and len(args) == 5:
            client, method, path, _version, status = args
            entry["http"] = {"client": client, "method": method, "path": path, "status": status}
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str, ensure_ascii=False)

"""How the server's processes log.

uvicorn configures its own loggers only, so what the library logs under ``crowdalpha``
(the round clock's ticks, housekeeping, webhook deliveries, the upload paths a process
took) would never reach an operator's terminal. :func:`log_config` is uvicorn's
configuration plus a ``crowdalpha`` logger on standard error, with a timestamp and the
logger's name; ``crowdalpha serve`` (one process or several) and the server benchmark
pass it to uvicorn.

With ``fmt="json"`` (``CROWDALPHA_LOG_FORMAT=json``, ``crowdalpha serve --log-format
json``) every line — crowdalpha's, uvicorn's errors and its access lines — is one JSON
object (:class:`~crowdalpha.jsonlog.JsonFormatter`): ``time`` (UTC, ISO 8601),
``level``, ``logger``, ``message``, ``process``, ``request_id`` on every line written
while a request is handled (:mod:`crowdalpha.server.request_ids`), ``exception`` when
there is one, and for access lines ``http`` (client, method, path, status). The message
is the same text as in the text format: what never reaches a text line (secrets) never
reaches a JSON one either.
"""

from __future__ import annotations

import copy
from typing import Any, Literal

from crowdalpha.jsonlog import JsonFormatter

__all__ = ["JsonFormatter", "log_config"]

#: imported by uvicorn in each worker before it answers health checks: a light module
_JSON = "crowdalpha.jsonlog.JsonFormatter"


def log_config(level: str = "info", fmt: Literal["text", "json"] = "text") -> dict[str, Any]:
    """uvicorn's logging configuration with the ``crowdalpha`` loggers at ``level``, in
    ``fmt`` (text, or one JSON object a line for every logger)."""
    from uvicorn.config import LOGGING_CONFIG

    config: dict[str, Any] = copy.deepcopy(LOGGING_CONFIG)
    config["formatters"]["crowdalpha"] = {
        "()": "uvicorn.logging.DefaultFormatter",
        "fmt": "%(levelprefix)s %(asctime)s %(name)s: %(message)s",
        "use_colors": None,
    }
    if fmt == "json":
        for name in ("crowdalpha", "default", "access"):
            config["formatters"][name] = {"()": _JSON}
    config["handlers"]["crowdalpha"] = {
        "formatter": "crowdalpha",
        "class": "logging.StreamHandler",
        "stream": "ext://sys.stderr",
    }
    config["loggers"]["crowdalpha"] = {
        "handlers": ["crowdalpha"],
        "level": level.upper(),
        "propagate": False,
    }
    return config

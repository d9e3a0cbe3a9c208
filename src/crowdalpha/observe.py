"""How long the core's operations take, told to whoever listens (the server's metrics).

The core (ticks, resolutions, upload validation, ledger checks) wraps an operation in
:func:`timed`; every listener installed with :func:`listen` is then called with the
event's name, its duration in seconds and its labels (``outcome`` is always one of them:
``ok``, ``refused`` — a typed :class:`~crowdalpha.errors.CrowdAlphaError` — or
``error``). Nothing here knows Prometheus: :mod:`crowdalpha.server.metrics` listens and
records, so imports keep going one way (the core below the server). With no listener
(the CLI, the tests) an event costs a clock read.

Events: ``tick`` (one run of the round clock over every competition), ``resolution``
(one round resolved; label ``competition``), ``upload_validation`` (one prediction file
parsed and checked; label ``competition``), ``ledger_check`` (the books recomputed;
``outcome`` ``ok`` or ``failed``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager

from crowdalpha.errors import CrowdAlphaError

__all__ = ["Listener", "listen", "report", "timed"]

log = logging.getLogger("crowdalpha.observe")

#: ``listener(event, seconds, labels)``
Listener = Callable[[str, float, Mapping[str, str]], None]

_listeners: list[Listener] = []


def listen(listener: Listener) -> Callable[[], None]:
    """Call ``listener`` for every event from now on; returns what stops it."""
    _listeners.append(listener)

    def stop() -> None:
        if listener in _listeners:
            _listeners.remove(listener)

    return stop


def report(event: str, seconds: float, labels: Mapping[str, str]) -> None:
    """Tell every listener; a failing listener is logged, never the operation's failure."""
    for listener in tuple(_listeners):
        try:
            listener(event, seconds, labels)
        except Exception:
            log.exception("a listener of %r failed", event)


@contextmanager
def timed(event: str, **labels: str) -> Iterator[dict[str, str]]:
    """Time the block and report it as ``event``; the block may set ``outcome`` (and other
    labels) in the dictionary it receives. An exception sets ``refused`` (typed errors) or
    ``error`` and goes on."""
    found = dict(labels)
    start = time.perf_counter()
    try:
        yield found
    except CrowdAlphaError:
        found.setdefault("outcome", "refused")
        raise
    except BaseException:
        found.setdefault("outcome", "error")
        raise
    finally:
        found.setdefault("outcome", "ok")
        report(event, time.perf_counter() - start, found)

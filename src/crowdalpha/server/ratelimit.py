"""Requests per minute per API key (or per client address), in memory, token-bucket style."""

from __future__ import annotations

import threading
import time

from crowdalpha.errors import LimitExceededError

__all__ = ["RateLimiter"]


class RateLimiter:
    """Allows ``per_minute`` requests per caller, refilled continuously; 0 disables it."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def check(self, caller: str) -> None:
        if self.per_minute <= 0:
            return
        now = time.monotonic()
        rate = self.per_minute / 60.0
        with self._lock:
            tokens, last = self._buckets.get(caller, (float(self.per_minute), now))
            tokens = min(float(self.per_minute), tokens + (now - last) * rate)
            if tokens < 1.0:
                wait = (1.0 - tokens) / rate
                self._buckets[caller] = (tokens, now)
                raise LimitExceededError(
                    f"too many requests: the limit is {self.per_minute} per minute; "
                    f"retry in {wait:.1f} s",
                    details={"retry_after": round(wait, 1), "limit": self.per_minute},
                )
            self._buckets[caller] = (tokens - 1.0, now)
            if len(self._buckets) > 100_000:  # forget idle callers
                self._buckets = {k: v for k, v in self._buckets.items() if now - v[1] < 120}

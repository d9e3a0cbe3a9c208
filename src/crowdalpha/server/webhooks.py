"""The webhook sender: POSTs the queued ``round.opened`` calls, signed, with retries.

Each call is a JSON body (``event``, ``triggerId``, ``tournament``, ``competition``,
``roundNumber``, ``modelId``, ``modelName``, ``openTime``, ``closeTime``) with headers

- ``X-CrowdAlpha-Event: round.opened`` and ``X-CrowdAlpha-Delivery: <triggerId>``;
- ``X-CrowdAlpha-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>`` over
  ``"<t>.<body>"`` with the model's webhook secret (the owner reads it through the API:
  ``model(modelId) { submissionWebhook webhookSecret }``). :func:`verify` checks one.

Before each call the URL's host is resolved and refused if it is an internal address
(:mod:`crowdalpha.server.destinations`; ``allow_private`` allows it). A 2xx answer is a
delivery; anything else (an error status, a refused connection, a
timeout) is retried after ``backoff``, ``2 × backoff``, ``4 × backoff``… until
``max_attempts``, then the delivery is ``failed``; every failure is logged. The server runs
:func:`run_webhooks` beside the round clock, so a slow receiver never holds a round up.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

import httpx

from crowdalpha.errors import InvalidParameterError
from crowdalpha.server.destinations import Resolver, check_destination, resolve_host
from crowdalpha.tournament import Tournament
from crowdalpha.tournament.webhooks import EVENT, DeliveryInfo

__all__ = ["SendReport", "WebhookSender", "run_webhooks", "sign", "verify"]

log = logging.getLogger("crowdalpha.server.webhooks")

#: How far a signature's timestamp may be from the receiver's clock (replay window).
TOLERANCE = timedelta(minutes=5)


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The ``X-CrowdAlpha-Signature`` header of ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(
    secret: str,
    header: str,
    body: bytes,
    *,
    now: float | None = None,
    tolerance: timedelta = TOLERANCE,
) -> bool:
    """Whether ``header`` signs ``body`` with ``secret``, within ``tolerance`` of ``now``
    (for receivers; constant-time comparison)."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance.total_seconds():
        return False
    expected = sign(secret, body, timestamp).split("v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))


@dataclass
class SendReport:
    """What one pass did: delivery ids delivered, to be retried, and given up."""

    delivered: list[int] = field(default_factory=list)
    retrying: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)


class WebhookSender:
    """Sends due deliveries. ``client`` is any ``httpx.Client`` (tests pass one with a
    mock transport or point webhooks at a receiver on 127.0.0.1)."""

    def __init__(
        self,
        tournament: Tournament,
        *,
        timeout: float = 10.0,
        max_attempts: int = 5,
        backoff: timedelta = timedelta(seconds=30),
        client: httpx.Client | None = None,
        clock: Callable[[], float] = time.time,
        allow_private: bool = False,
        resolve: Resolver = resolve_host,
    ) -> None:
        self.tournament = tournament
        self.allow_private = allow_private
        self.resolve = resolve
        self.timeout = timeout
        self.max_attempts = max_attempts
        self.backoff = backoff
        self.client = client or httpx.Client(timeout=timeout, follow_redirects=False)
        self.clock = clock

    def close(self) -> None:
        self.client.close()

    def send_due(self, limit: int = 100) -> SendReport:
        """One pass over the due deliveries (each attempted once). Several senders (one
        per server process) may run at once: each delivery is claimed by one of them."""
        report = SendReport()
        webhooks = self.tournament.webhooks
        lease = timedelta(seconds=self.timeout * 3)  # longer than one call can take
        for delivery in webhooks.claim(self.tournament.clock.now(), lease, limit):
            error = self._post(delivery)
            after = webhooks.record(
                delivery.id, error=error, max_attempts=self.max_attempts, backoff=self.backoff
            )
            if error is None:
                report.delivered.append(delivery.id)
                continue
            log.warning(
                "webhook delivery %s (model %s, round %s) to %s failed, attempt %s of %s: %s",
                delivery.id,
                delivery.model_id,
                delivery.round_number,
                delivery.url,
                after.attempts,
                self.max_attempts,
                error,
            )
            (report.failed if after.state == "failed" else report.retrying).append(delivery.id)
        return report

    def _post(self, delivery: DeliveryInfo) -> str | None:
        """None on a 2xx answer, else why not."""
        if delivery.secret is None:
            return "the model's webhook was removed"
        try:
            check_destination(
                delivery.url,
                allow_private=self.allow_private,
                resolve=self.resolve,
                unresolved_ok=False,
            )
        except InvalidParameterError as exc:
            return f"refused: {exc}"
        body = delivery.payload.encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "crowdalpha-webhooks",
            "X-CrowdAlpha-Event": EVENT,
            "X-CrowdAlpha-Delivery": str(delivery.id),
            "X-CrowdAlpha-Signature": sign(delivery.secret, body, int(self.clock())),
        }
        try:
            response = self.client.post(delivery.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            return f"{type(exc).__name__}: {exc}"
        if 200 <= response.status_code < 300:
            return None
        return f"HTTP {response.status_code}"


async def run_webhooks(sender: WebhookSender, interval: float) -> None:
    """Send due deliveries forever, off the event loop; a failing pass is logged."""
    try:
        while True:
            try:
                await asyncio.to_thread(sender.send_due)
            except Exception:
                log.exception("webhook pass failed; retrying in %ss", interval)
            await asyncio.sleep(interval)
    finally:
        sender.close()

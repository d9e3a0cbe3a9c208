"""Submission webhooks: a URL per model, called when a round of its competition opens.

The core keeps the configuration and a *delivery queue*; it never makes an HTTP call.
Opening a round only inserts rows into ``webhook_deliveries`` (after the round is
committed, in a unit of work of its own, so a failure here cannot undo or stop the
opening); a sender (``crowdalpha.server.webhooks``) claims due rows, POSTs the signed
payload and records each outcome here, retrying with exponential backoff until
``max_attempts``, after which the delivery is ``failed`` with its last error kept.
Delivery is at least once: a receiver dedupes on ``triggerId``.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from crowdalpha.errors import NotFoundError
from crowdalpha.tournament.competitions import Competition
from crowdalpha.tournament.models import Model, Round
from crowdalpha.tournament.participant_models import DeliveryState, ModelWebhook, WebhookDelivery
from crowdalpha.tournament.profiles import check_url
from crowdalpha.tournament.roster import ensure_owner, get_model
from crowdalpha.tournament.rounds import get_round
from crowdalpha.tournament.unit_of_work import UnitOfWork
from crowdalpha.tournament.views import TickReport

__all__ = ["EVENT", "DeliveryInfo", "WebhookInfo", "Webhooks"]

log = logging.getLogger("crowdalpha.tournament")

#: The event name every payload carries.
EVENT = "round.opened"


@dataclass(frozen=True)
class WebhookInfo:
    model_id: int
    url: str
    secret: str
    updated_at: datetime


@dataclass(frozen=True)
class DeliveryInfo:
    """One delivery: ``secret`` is the model's current webhook secret (None once the
    webhook was removed)."""

    id: int
    model_id: int
    round_number: int
    url: str
    payload: str
    state: str
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    delivered_at: datetime | None
    secret: str | None = None


def _delivery(row: WebhookDelivery, number: int, secret: str | None = None) -> DeliveryInfo:
    return DeliveryInfo(
        id=row.id,
        model_id=row.model_id,
        round_number=number,
        url=row.url,
        payload=row.payload,
        state=row.state,
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at,
        last_error=row.last_error,
        delivered_at=row.delivered_at,
        secret=secret,
    )


class Webhooks:
    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow

    # -- configuration --------------------------------------------------------------------

    def set(
        self, model_id: int, url: str | None, *, owner: int | None = None
    ) -> WebhookInfo | None:
        """Set (or with ``None``/empty, remove) a model's webhook. A new URL gets a new
        signing secret; setting the same URL again keeps it."""
        clean = check_url(url, "the webhook") if url and url.strip() else None

        def op(session: Session) -> WebhookInfo | None:
            model = get_model(session, model_id)
            ensure_owner("model", model_id, model.account_id, owner)
            row = session.get(ModelWebhook, model_id)
            if clean is None:
                if row is not None:
                    session.delete(row)
                return None
            if row is None:
                row = ModelWebhook(model_id=model_id, secret=secrets.token_hex(32))
                session.add(row)
            elif row.url != clean:
                row.secret = secrets.token_hex(32)
            row.url = clean
            row.updated_at = self.uow.clock.now()
            session.flush()
            return WebhookInfo(model_id, row.url, row.secret, row.updated_at)

        return self.uow.run(op)

    def get(self, model_id: int, *, owner: int | None = None) -> WebhookInfo | None:
        def op(session: Session) -> WebhookInfo | None:
            model = get_model(session, model_id)
            ensure_owner("model", model_id, model.account_id, owner)
            row = session.get(ModelWebhook, model_id)
            return (
                None if row is None else WebhookInfo(model_id, row.url, row.secret, row.updated_at)
            )

        return self.uow.read(op)

    # -- the queue ------------------------------------------------------------------------

    def enqueue(self, c: Competition, number: int) -> list[DeliveryInfo]:
        """Queue one delivery per model of ``c`` with a webhook, for round ``number``;
        idempotent (a model gets at most one delivery per round)."""

        def op(session: Session) -> list[DeliveryInfo]:
            round_row = get_round(session, c, number)
            hooks = session.execute(
                select(ModelWebhook, Model)
                .join(Model, Model.id == ModelWebhook.model_id)
                .where(Model.competition_id == c.id)
                .order_by(Model.id)
            ).all()
            done = set(
                session.scalars(
                    select(WebhookDelivery.model_id).where(WebhookDelivery.round_id == round_row.id)
                )
            )
            now = self.uow.clock.now()
            out = []
            for hook, model in hooks:
                if model.id in done:
                    continue
                row = WebhookDelivery(
                    model_id=model.id,
                    round_id=round_row.id,
                    url=hook.url,
                    payload="",
                    state=DeliveryState.PENDING.value,
                    attempts=0,
                    next_attempt_at=now,
                    created_at=now,
                )
                session.add(row)
                session.flush()
                row.payload = json.dumps(
                    {
                        "event": EVENT,
                        "triggerId": str(row.id),
                        "tournament": c.id,
                        "competition": c.slug,
                        "roundNumber": number,
                        "modelId": str(model.id),
                        "modelName": model.name,
                        "openTime": round_row.opens_at.isoformat(),
                        "closeTime": round_row.closes_at.isoformat(),
                    },
                    sort_keys=True,
                )
                out.append(_delivery(row, number))
            return out

        return self.uow.run(op)

    def enqueue_opened(
        self, competitions: Iterable[Competition], reports: Mapping[str, TickReport]
    ) -> None:
        """Queue the deliveries of the rounds a tick just opened (``reports`` by slug). The
        rounds are committed already; a failure here is logged and never undoes or stops
        the tick."""
        for c in competitions:
            report = reports.get(c.slug)
            for number in report.opened if report is not None else ():
                try:
                    self.enqueue(c, number)
                except Exception:  # the opening stands; the operator's log says why
                    log.exception("could not queue the webhooks of %s round %s", c.slug, number)

    def claim(self, now: datetime, lease: timedelta, limit: int = 100) -> list[DeliveryInfo]:
        """Take the pending deliveries due at ``now`` (oldest first, with the model's
        secret) for ``lease``: their next attempt moves to ``now + lease``, so another
        sender (another server process) does not take them meanwhile; :meth:`record`
        then sets the real outcome. A sender that dies mid-call leaves them to be retried
        once the lease ends."""

        def op(session: Session) -> list[DeliveryInfo]:
            rows = session.execute(
                select(WebhookDelivery, Round.number, ModelWebhook.secret)
                .join(Round, Round.id == WebhookDelivery.round_id)
                .outerjoin(ModelWebhook, ModelWebhook.model_id == WebhookDelivery.model_id)
                .where(
                    WebhookDelivery.state == DeliveryState.PENDING.value,
                    WebhookDelivery.next_attempt_at <= now,
                )
                .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
                .limit(limit)
                .with_for_update(of=WebhookDelivery, skip_locked=True)
            ).all()
            out = [_delivery(row, number, secret) for row, number, secret in rows]
            for row, _, _ in rows:
                row.next_attempt_at = now + lease
            return out

        return self.uow.run(op)

    def deliveries(self, *, model_id: int | None = None) -> list[DeliveryInfo]:
        def op(session: Session) -> list[DeliveryInfo]:
            query = (
                select(WebhookDelivery, Round.number)
                .join(Round, Round.id == WebhookDelivery.round_id)
                .order_by(WebhookDelivery.id)
            )
            if model_id is not None:
                query = query.where(WebhookDelivery.model_id == model_id)
            return [_delivery(row, number) for row, number in session.execute(query).all()]

        return self.uow.read(op)

    def record(
        self,
        delivery_id: int,
        *,
        error: str | None,
        max_attempts: int,
        backoff: timedelta,
    ) -> DeliveryInfo:
        """Record one attempt: delivered when ``error`` is None; else retried after
        ``backoff * 2 ** (attempts - 1)``, or failed once ``max_attempts`` are spent."""

        def op(session: Session) -> DeliveryInfo:
            row = session.get(WebhookDelivery, delivery_id, with_for_update=True)
            if row is None:
                raise NotFoundError(f"there is no webhook delivery {delivery_id}")
            number = session.scalar(select(Round.number).where(Round.id == row.round_id))
            now = self.uow.clock.now()
            row.attempts += 1
            if error is None:
                row.state = DeliveryState.DELIVERED.value
                row.delivered_at = now
                row.last_error = None
            else:
                row.last_error = error[:2000]
                if row.attempts >= max_attempts:
                    row.state = DeliveryState.FAILED.value
                else:
                    row.next_attempt_at = now + backoff * 2 ** (row.attempts - 1)
            session.flush()
            return _delivery(row, int(number or 0))

        return self.uow.run(op)

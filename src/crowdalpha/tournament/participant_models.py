"""Tables of what participants set on their models through numerapi: the public profile
(bio and link) and the submission webhook, and the queue of webhook deliveries."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from crowdalpha.db.base import Base
from crowdalpha.db.types import UtcDateTime

__all__ = ["DeliveryState", "ModelProfile", "ModelWebhook", "WebhookDelivery"]


class DeliveryState(StrEnum):
    """pending → delivered, or pending → failed after the last retry."""

    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


class ModelProfile(Base):
    """A model's public bio and link (numerapi's ``set_bio`` / ``set_link``)."""

    __tablename__ = "model_profiles"

    model_id: Mapped[int] = mapped_column(ForeignKey("models.id"), primary_key=True)
    bio: Mapped[str | None] = mapped_column(Text)
    link_text: Mapped[str | None] = mapped_column(String(200))
    link_url: Mapped[str | None] = mapped_column(String(2000))
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())


class ModelWebhook(Base):
    """The URL called when a round of the model's competition opens, and the secret its
    payloads are signed with (HMAC-SHA256; the owner reads it through the API)."""

    __tablename__ = "model_webhooks"

    model_id: Mapped[int] = mapped_column(ForeignKey("models.id"), primary_key=True)
    url: Mapped[str] = mapped_column(String(2000))
    secret: Mapped[str] = mapped_column(String(128))
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())


class WebhookDelivery(Base):
    """One call owed to one model's webhook for one opened round, retried with backoff."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("model_id", "round_id", name="uq_webhook_deliveries_model_round"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id"), index=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id"))
    url: Mapped[str] = mapped_column(String(2000))
    payload: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16), index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime())

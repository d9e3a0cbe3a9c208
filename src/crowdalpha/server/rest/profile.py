"""A model's webhook and public profile over REST: numerapi's ``set_submission_webhook``,
``set_bio`` and ``set_link`` (GraphQL's ``setSubmissionWebhook``, ``setUserBio``,
``setUserLink``) as routes.

Setting needs the ``upload`` scope, reading ``read``, and only on the caller's own models —
except the webhook, whose answer carries the secret that signs its calls: reading it needs
``upload`` too (a read-only key that could read it could forge the calls).
The rules are the core's and the server's one path: a webhook goes through
:func:`crowdalpha.server.destinations.set_webhook` (never to an internal address, unless
the operator allows it), a bio and a link through the core's profile checks.
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, StrictStr

from crowdalpha.server.destinations import set_webhook
from crowdalpha.server.rest.common import Context, ModelId, Reader, Uploader, errors
from crowdalpha.tournament.profiles import MAX_BIO, MAX_LINK_TEXT, MAX_URL, ProfileInfo
from crowdalpha.tournament.webhooks import WebhookInfo

__all__ = ["BioIn", "LinkIn", "ProfileOut", "WebhookIn", "WebhookOut", "router"]

router = APIRouter()

_OWN = errors(401, 403, 404, 422, 429)


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class WebhookIn(_In):
    url: StrictStr = Field(
        min_length=1,
        max_length=MAX_URL + 100,  # the core says what is wrong with a long one
        description="An http:// or https:// URL on a public address, POSTed to (signed) "
        "when a round of the model's competition opens",
        examples=["https://example.org/crowdalpha-hook"],
    )


class WebhookOut(BaseModel):
    model_id: int
    url: str | None = Field(description="The webhook's URL; null: none is set")
    secret: str | None = Field(
        description="HMAC-SHA256 key of the X-CrowdAlpha-Signature header of every call"
    )
    updated_at: datetime | None

    @classmethod
    def of(cls, model_id: int, info: WebhookInfo | None) -> WebhookOut:
        if info is None:
            return cls(model_id=model_id, url=None, secret=None, updated_at=None)
        return cls(model_id=model_id, url=info.url, secret=info.secret, updated_at=info.updated_at)


class BioIn(_In):
    bio: StrictStr = Field(
        max_length=MAX_BIO + 100,
        description=f"Public text (at most {MAX_BIO} characters); empty removes it",
    )


class LinkIn(_In):
    url: StrictStr = Field(
        max_length=MAX_URL + 100,
        description="An http:// or https:// URL; empty removes the link",
    )
    text: StrictStr | None = Field(
        default=None,
        max_length=MAX_LINK_TEXT + 100,
        description=f"The link's text (at most {MAX_LINK_TEXT} characters)",
    )


class ProfileOut(BaseModel):
    model_id: int
    bio: str | None
    link_url: str | None
    link_text: str | None
    updated_at: datetime | None

    @classmethod
    def of(cls, info: ProfileInfo) -> ProfileOut:
        return cls(
            model_id=info.model_id,
            bio=info.bio,
            link_url=info.link_url,
            link_text=info.link_text,
            updated_at=info.updated_at,
        )


# -- the webhook -------------------------------------------------------------------------


@router.get(
    "/models/{model_id}/webhook", tags=["models"], summary="The model's webhook", responses=_OWN
)
def get_webhook(model_id: ModelId, context: Context, principal: Uploader) -> WebhookOut:
    """The webhook's URL and the secret its calls are signed with (nulls: none is set).
    Needs the ``upload`` scope, as setting it does: the secret lets its holder sign calls."""
    hook = context.tournament.webhooks.get(model_id, owner=principal.account.id)
    return WebhookOut.of(model_id, hook)


@router.put(
    "/models/{model_id}/webhook", tags=["models"], summary="Set the webhook", responses=_OWN
)
def put_webhook(
    model_id: ModelId, body: WebhookIn, context: Context, principal: Uploader
) -> WebhookOut:
    """Set the URL POSTed to, signed, when a round of the model's competition opens. A
    new URL gets a new signing secret; an internal address (loopback, private,
    link-local…) is refused (422 ``invalid_parameter``, reason ``internal_destination``)."""
    context.tournament.model(model_id, owner=principal.account.id)  # others' models: 403
    hook = set_webhook(
        context.tournament,
        model_id,
        body.url,
        owner=principal.account.id,
        allow_private=context.settings.webhook_allow_private,
    )
    return WebhookOut.of(model_id, hook)


@router.delete(
    "/models/{model_id}/webhook", tags=["models"], summary="Remove the webhook", responses=_OWN
)
def delete_webhook(model_id: ModelId, context: Context, principal: Uploader) -> WebhookOut:
    """No more calls for this model (removing none is no error)."""
    hook = set_webhook(
        context.tournament,
        model_id,
        None,
        owner=principal.account.id,
        allow_private=context.settings.webhook_allow_private,
    )
    return WebhookOut.of(model_id, hook)


# -- the public profile ------------------------------------------------------------------


@router.get(
    "/models/{model_id}/profile",
    tags=["models"],
    summary="The model's public profile",
    responses=_OWN,
)
def get_profile(model_id: ModelId, context: Context, principal: Reader) -> ProfileOut:
    """The bio and link shown on the model's public page."""
    t = context.tournament
    t.model(model_id, owner=principal.account.id)
    return ProfileOut.of(t.profiles.profile(model_id))


@router.put(
    "/models/{model_id}/profile/bio", tags=["models"], summary="Set the bio", responses=_OWN
)
def put_bio(model_id: ModelId, body: BioIn, context: Context, principal: Uploader) -> ProfileOut:
    """Set the model's public bio (numerapi's ``set_bio``)."""
    info = context.tournament.profiles.set_bio(model_id, body.bio, owner=principal.account.id)
    return ProfileOut.of(info)


@router.put(
    "/models/{model_id}/profile/link", tags=["models"], summary="Set the link", responses=_OWN
)
def put_link(model_id: ModelId, body: LinkIn, context: Context, principal: Uploader) -> ProfileOut:
    """Set the model's public link and its text (numerapi's ``set_link``); an empty
    ``url`` removes it."""
    info = context.tournament.profiles.set_link(
        model_id, body.url, body.text, owner=principal.account.id
    )
    return ProfileOut.of(info)

"""numerapi's remaining participant calls: ``download_submission``
(``submissionDownloadAuth``), ``set_submission_webhook``, ``set_bio``, ``set_link`` and
``pipeline_status``, plus crowdalpha's ``submissionWebhook`` (the webhook's URL and the
secret its calls are signed with; see :mod:`crowdalpha.server.webhooks`).

Setting a bio, a link or a webhook needs the ``upload`` scope, and so does reading the
webhook (its answer carries the signing secret: a read-only key must not be able to forge
its calls); downloading one's own submissions needs ``read``. ``pipelineStatus`` is
public, as on Numerai.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import PurePosixPath
from typing import Annotated

import strawberry

from crowdalpha.errors import InvalidParameterError, NotFoundError
from crowdalpha.server.destinations import set_webhook
from crowdalpha.server.graphql.context import GraphQLContext, utc
from crowdalpha.server.graphql.types import UploadAuth
from crowdalpha.tournament import RoundState

__all__ = ["ParticipantMutation", "ParticipantQuery"]

Info = strawberry.Info[GraphQLContext, None]


@strawberry.type(description="What the tournament's pipeline did on one day (UTC).")
class PipelineStatus:
    tournament: str
    is_scoring_day: bool = strawberry.field(
        description="Whether some round was being scored (closed, not yet resolved) that day."
    )
    data_ready_at: str | None = strawberry.field(
        description="When the round opened that day published its data."
    )
    started_at: str | None = strawberry.field(description="The day's first scoring run.")
    scored_at: str | None = strawberry.field(description="The day's last scoring run.")
    resolved_at: str | None = strawberry.field(description="When a round resolved that day.")


@strawberry.type(description="crowdalpha: a model's submission webhook.")
class SubmissionWebhook:
    model_id: strawberry.ID
    url: str
    secret: str = strawberry.field(
        description="HMAC-SHA256 key of the X-CrowdAlpha-Signature header of every call"
    )
    updated_at: datetime


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else utc(moment).isoformat()


def _pipeline_status(
    info: Info,
    tournament: str,
    date_: Annotated[str | None, strawberry.argument(name="date")] = None,
) -> PipelineStatus:
    context = info.context
    slug = tournament.strip().lower()
    t = context.tournament
    known = {c.slug: c for c in t.competitions}
    if slug not in known:
        raise NotFoundError(
            f"there is no tournament {tournament!r}; this server runs {', '.join(known)}",
            details={"tournament": tournament},
        )
    t = t.using(known[slug])
    try:
        day = date.fromisoformat(date_) if date_ else t.clock.now().astimezone(UTC).date()
    except ValueError:
        raise InvalidParameterError(
            f"date must be YYYY-MM-DD, not {date_!r}", details={"date": date_}
        ) from None
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    end = start + timedelta(days=1)

    def on_day(moment: datetime | None) -> bool:
        return moment is not None and start <= utc(moment) < end

    rounds = t.rounds()
    opened = [r.opens_at for r in rounds if on_day(r.opens_at)]
    resolved = [r.resolved_at for r in rounds if r.resolved_at and on_day(r.resolved_at)]
    scoring = [
        r
        for r in rounds
        if r.closed_at is not None
        and utc(r.closed_at) < end
        and (r.resolved_at is None or utc(r.resolved_at) >= start)
        and r.state != RoundState.OPEN.value
    ]
    runs = sorted(
        utc(s.scored_at)
        for r in scoring
        for s in t.scores(round_number=r.number)
        if on_day(s.scored_at)
    )
    return PipelineStatus(
        tournament=slug,
        is_scoring_day=bool(scoring),
        data_ready_at=_iso(min(opened)) if opened else None,
        started_at=_iso(runs[0]) if runs else None,
        scored_at=_iso(runs[-1]) if runs else None,
        resolved_at=_iso(max(resolved)) if resolved else None,
    )


def _submission_download_auth(info: Info, id: str | None = None) -> UploadAuth:
    context = info.context
    principal = context.require("read")
    text = (id or "").strip()
    if not text.isdigit():
        raise NotFoundError(
            f"there is no submission {id!r}; napi.submission_ids(model_id) lists yours",
            details={"id": id},
        )
    t = context.tournament
    owner = principal.account.id
    submission = t.submission(int(text), owner=owner)
    key = t.submission_key(submission.id, owner=owner)
    name = PurePosixPath(submission.filename).name or f"submission_{submission.id}.csv"
    return UploadAuth(filename=name, url=context.server.download_url(key, filename=name))


def _submission_webhook(info: Info, model_id: str | None = None) -> SubmissionWebhook | None:
    context = info.context
    principal, model = context.own_model(model_id, "upload")
    hook = context.tournament.webhooks.get(model.id, owner=principal.account.id)
    if hook is None:
        return None
    return SubmissionWebhook(
        model_id=strawberry.ID(str(model.id)),
        url=hook.url,
        secret=hook.secret,
        updated_at=utc(hook.updated_at),
    )


def _set_submission_webhook(
    info: Info, model_id: str, new_submission_webhook: str | None = None
) -> str:
    context = info.context
    principal, model = context.own_model(model_id, "upload")
    set_webhook(
        context.tournament,
        model.id,
        new_submission_webhook,
        owner=principal.account.id,
        allow_private=context.server.settings.webhook_allow_private,
    )
    return "true"  # numerapi compares with the string "true"


def _set_user_bio(info: Info, value: str, model_id: str | None = None) -> bool:
    context = info.context
    principal, model = context.own_model(model_id, "upload")
    context.tournament.profiles.set_bio(model.id, value, owner=principal.account.id)
    return True


def _set_user_link(
    info: Info, link_url: str, link_text: str | None = None, model_id: str | None = None
) -> bool:
    context = info.context
    principal, model = context.own_model(model_id, "upload")
    context.tournament.profiles.set_link(model.id, link_url, link_text, owner=principal.account.id)
    return True


@strawberry.type
class ParticipantQuery:
    submission_download_auth: UploadAuth = strawberry.field(
        resolver=_submission_download_auth,
        name="submissionDownloadAuth",
        description="A signed URL to GET one of the caller's submissions as uploaded.",
    )
    pipeline_status: PipelineStatus = strawberry.field(
        resolver=_pipeline_status,
        name="pipelineStatus",
        description="What the pipeline did on a day: data published, scoring, resolution.",
    )
    submission_webhook: SubmissionWebhook | None = strawberry.field(
        resolver=_submission_webhook,
        name="submissionWebhook",
        description="crowdalpha: a model's webhook and its signing secret (upload scope).",
    )


@strawberry.type
class ParticipantMutation:
    set_submission_webhook: str = strawberry.mutation(
        resolver=_set_submission_webhook,
        name="setSubmissionWebhook",
        description="Set (null: remove) the URL POSTed to, signed, when a round opens.",
    )
    set_user_bio: bool = strawberry.mutation(
        resolver=_set_user_bio, name="setUserBio", description="Set a model's public bio."
    )
    set_user_link: bool = strawberry.mutation(
        resolver=_set_user_link,
        name="setUserLink",
        description="Set a model's public link (an empty linkUrl removes it).",
    )

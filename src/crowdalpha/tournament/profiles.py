"""A model's public profile: its bio and its link (numerapi's ``set_bio`` / ``set_link``).

Both are public text shown on the model's profile; they are checked for length and the
link for its scheme (http or https only, so a profile never carries ``javascript:``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from sqlalchemy.orm import Session

from crowdalpha.errors import InvalidParameterError
from crowdalpha.tournament.participant_models import ModelProfile
from crowdalpha.tournament.roster import ensure_owner, get_model
from crowdalpha.tournament.unit_of_work import UnitOfWork

__all__ = ["MAX_BIO", "MAX_LINK_TEXT", "MAX_URL", "ProfileInfo", "Profiles", "check_url"]

MAX_BIO = 2000
MAX_LINK_TEXT = 200
MAX_URL = 2000


@dataclass(frozen=True)
class ProfileInfo:
    model_id: int
    bio: str | None
    link_text: str | None
    link_url: str | None
    updated_at: datetime | None


def check_url(value: str, what: str) -> str:
    """``value`` stripped, if it is an absolute http(s) URL of at most :data:`MAX_URL`
    characters; else an InvalidParameterError that says what is wrong."""
    url = value.strip()
    parts = urlsplit(url)
    if len(url) > MAX_URL or parts.scheme not in ("http", "https") or not parts.netloc:
        raise InvalidParameterError(
            f"{what} must be an http:// or https:// URL of at most {MAX_URL} characters, "
            f"not {value[:100]!r}",
            details={"url": value[:MAX_URL]},
        )
    return url


def _text(value: str | None, limit: int, what: str) -> str | None:
    if value is None:
        return None
    text = value.strip()
    if len(text) > limit:
        raise InvalidParameterError(
            f"{what} is {len(text)} characters long; at most {limit} are kept",
            details={"length": len(text), "limit": limit},
        )
    return text or None


class Profiles:
    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow

    def profile(self, model_id: int) -> ProfileInfo:
        def op(session: Session) -> ProfileInfo:
            get_model(session, model_id)
            row = session.get(ModelProfile, model_id)
            if row is None:
                return ProfileInfo(model_id, None, None, None, None)
            return ProfileInfo(model_id, row.bio, row.link_text, row.link_url, row.updated_at)

        return self.uow.read(op)

    def set_bio(self, model_id: int, bio: str, *, owner: int | None = None) -> ProfileInfo:
        clean = _text(bio, MAX_BIO, "the bio")
        return self._update(model_id, owner, bio=clean)

    def set_link(
        self, model_id: int, url: str, text: str | None = None, *, owner: int | None = None
    ) -> ProfileInfo:
        """Set the link (an empty ``url`` removes it)."""
        link = check_url(url, "the link") if url.strip() else None
        label = _text(text, MAX_LINK_TEXT, "the link text") if link else None
        return self._update(model_id, owner, link_url=link, link_text=label)

    def _update(self, model_id: int, owner: int | None, **values: str | None) -> ProfileInfo:
        def op(session: Session) -> ProfileInfo:
            model = get_model(session, model_id)
            ensure_owner("model", model_id, model.account_id, owner)
            row = session.get(ModelProfile, model_id)
            if row is None:
                row = ModelProfile(model_id=model_id)
                session.add(row)
            for name, value in values.items():
                setattr(row, name, value)
            row.updated_at = self.uow.clock.now()
            session.flush()
            return ProfileInfo(model_id, row.bio, row.link_text, row.link_url, row.updated_at)

        return self.uow.run(op)

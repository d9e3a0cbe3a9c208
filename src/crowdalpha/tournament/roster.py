"""The models taking part, and who owns them.

Ownership is one rule, kept here: :func:`ensure_owner` refuses an object of another
account with the same ``PermissionDeniedError`` wherever a caller acts on a model or a
submission (REST, GraphQL, the web UI and the core's own ``submit`` all come here).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from crowdalpha.errors import ConflictError, InvalidInputError, NotFoundError, PermissionDeniedError
from crowdalpha.tournament.accounts import NAME_CHARS, get_account
from crowdalpha.tournament.competitions import Competition
from crowdalpha.tournament.models import Model
from crowdalpha.tournament.rounds import slug_of
from crowdalpha.tournament.unit_of_work import UnitOfWork
from crowdalpha.tournament.views import ModelInfo

__all__ = ["Roster", "ensure_owner", "get_model", "model_info"]


def model_info(row: Model) -> ModelInfo:
    return ModelInfo(
        id=row.id,
        account_id=row.account_id,
        name=row.name,
        created_at=row.created_at,
        competition=slug_of(row.competition_id),
    )


def get_model(session: Session, model_id: int) -> Model:
    row = session.get(Model, model_id)
    if row is None:
        raise NotFoundError(f"there is no model {model_id}", details={"model_id": model_id})
    return row


def ensure_owner(what: str, ident: object, owner_id: int, account_id: int | None) -> None:
    """Refuse ``what`` ``ident`` (owned by ``owner_id``) to any account but its owner;
    ``account_id=None`` is the operator acting on anyone's objects."""
    if account_id is not None and owner_id != account_id:
        raise PermissionDeniedError(
            f"{what} {ident} belongs to another account; an API key acts only on its own "
            "account's models and submissions",
            details={f"{what}_id": ident},
        )


class Roster:
    """Create and find models. A model belongs to one competition; its id and name are
    unique across the platform, so lookups by id or name need no competition."""

    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow

    def create(self, c: Competition, account_id: int, name: str) -> ModelInfo:
        """A new model of ``account_id`` in competition ``c``; names are unique across the
        platform."""
        clean = name.strip().lower()
        if not (1 <= len(clean) <= 64) or not set(clean) <= NAME_CHARS:
            raise InvalidInputError(
                f"model name {name!r} must be 1–64 lowercase letters, digits or underscores"
            )

        def op(session: Session) -> ModelInfo:
            get_account(session, account_id)
            if session.scalar(select(Model.id).where(Model.name == clean)) is not None:
                raise ConflictError(f"a model named {clean!r} already exists")
            row = Model(
                account_id=account_id,
                competition_id=c.id,
                name=clean,
                created_at=self.uow.clock.now(),
            )
            session.add(row)
            session.flush()
            return model_info(row)

        return self.uow.run(op)

    def get(self, model_id: int, *, owner: int | None = None) -> ModelInfo:
        """Model ``model_id``; with ``owner`` (an account id), refused unless it owns it."""
        info = self.uow.read(lambda s: model_info(get_model(s, model_id)))
        ensure_owner("model", model_id, info.account_id, owner)
        return info

    def by_name(self, name: str) -> ModelInfo:
        def op(session: Session) -> ModelInfo:
            row = session.scalar(select(Model).where(Model.name == name.strip().lower()))
            if row is None:
                raise NotFoundError(f"there is no model named {name!r}")
            return model_info(row)

        return self.uow.read(op)

    def list(self, c: Competition, account_id: int | None = None) -> list[ModelInfo]:
        """The competition's models (of one account, with ``account_id``)."""

        def op(session: Session) -> list[ModelInfo]:
            query = select(Model).where(Model.competition_id == c.id).order_by(Model.id)
            if account_id is not None:
                query = query.where(Model.account_id == account_id)
            return [model_info(m) for m in session.scalars(query)]

        return self.uow.read(op)

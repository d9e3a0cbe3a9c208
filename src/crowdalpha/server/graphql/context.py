"""What every GraphQL resolver shares: the server, the caller, and the checks on both."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from crowdalpha.errors import (
    AuthenticationError,
    InvalidParameterError,
    NotFoundError,
    PermissionDeniedError,
)
from crowdalpha.server.context import ServerContext
from crowdalpha.storage import FileStore
from crowdalpha.tournament import ModelInfo, Principal, RoundInfo, Tournament

__all__ = ["CLASSIC", "UPLOADS_PREFIX", "GraphQLContext", "sweep_staged_uploads", "utc"]

#: Numerai's id of the Classic tournament, the one crowdalpha runs (Signals is 11, Crypto 12).
CLASSIC = 8

_UPLOAD_NAME = re.compile(r"^(\d+)/([0-9a-f]{32})/([A-Za-z0-9._-]{1,100})$")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
#: Where files PUT to an upload URL wait for the mutation that uses them.
UPLOADS_PREFIX = "uploads/numerai/"


def sweep_staged_uploads(store: FileStore, *, older_than: timedelta, now: datetime) -> int:
    """Delete staged uploads no mutation used (a client that PUT a file and stopped):
    those written more than ``older_than`` before ``now``. Returns how many went."""
    swept = 0
    for key in list(store.keys(UPLOADS_PREFIX)):
        try:
            stale = now - store.modified(key) > older_than
        except NotFoundError:  # used (and deleted) meanwhile
            continue
        if stale:
            store.delete(key)
            swept += 1
    return swept


def utc(moment: datetime) -> datetime:
    """``moment`` with its time zone (UTC when the database returned a naive time)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


@dataclass(frozen=True)
class GraphQLContext:
    server: ServerContext
    principal: Principal | None
    dataset_folder: str

    @property
    def tournament(self) -> Tournament:
        return self.server.tournament

    # -- who is asking ------------------------------------------------------------------

    def require(self, scope: str) -> Principal:
        """The caller, who must hold ``scope`` (or ``admin``)."""
        if self.principal is None:
            raise AuthenticationError(
                "this needs an API key: send 'Authorization: Token PUBLIC_ID$SECRET_KEY' "
                "(NumerAPI(public_id, secret_key))"
            )
        if not self.principal.has(scope):
            raise PermissionDeniedError(
                f"this API key lacks the {scope!r} scope; create a key that has it",
                details={"scope": scope},
            )
        return self.principal

    @staticmethod
    def check_tournament(tournament: int | None) -> None:
        if tournament is not None and tournament != CLASSIC:
            raise InvalidParameterError(
                f"this server runs the Classic tournament ({CLASSIC}) only; there is no "
                f"tournament {tournament} here",
                details={"tournament": tournament},
            )

    # -- models -------------------------------------------------------------------------

    def find_model(self, ref: str) -> ModelInfo:
        """A model by id (as numerapi passes it, a string) or, for convenience, by name."""
        text = ref.strip()
        if not text:
            raise InvalidParameterError("a model id is required")
        if text.isdigit():
            try:
                return self.tournament.model(int(text))
            except NotFoundError:
                pass
        try:
            return self.tournament.model_by_name(text)
        except NotFoundError:
            raise NotFoundError(
                f"there is no model {ref!r}; napi.get_models() lists your models' ids",
                details={"model_id": ref},
            ) from None

    def own_model(self, ref: str | None, scope: str) -> tuple[Principal, ModelInfo]:
        """The caller (holding ``scope``) and one of its own models.

        Without a model id an account with exactly one model means that one, as on Numerai.
        """
        principal = self.require(scope)
        account_id = principal.account.id
        if ref is None or not ref.strip():
            mine = self.tournament.models(account_id)
            if len(mine) == 1:
                return principal, mine[0]
            raise InvalidParameterError(
                f"modelId is required: this account has {len(mine)} models; "
                "napi.get_models() maps their names to ids",
            )
        model = self.find_model(ref)
        if model.account_id != account_id:
            raise PermissionDeniedError(
                f"model {ref!r} belongs to another account; this API key acts only on its own "
                "account's models",
                details={"model_id": ref},
            )
        return principal, model

    # -- rounds -------------------------------------------------------------------------

    def current_or_latest_round(self) -> RoundInfo | None:
        current = self.tournament.current_round()
        if current is not None:
            return current
        rounds = self.tournament.rounds()
        return rounds[-1] if rounds else None

    def round_or_current(self, number: int | None) -> RoundInfo:
        if number is not None and number > 0:
            return self.tournament.round(number)
        info = self.current_or_latest_round()
        if info is None:
            raise NotFoundError("no round has opened yet")
        return info

    # -- staged uploads -----------------------------------------------------------------

    @staticmethod
    def upload_name(account_id: int, filename: str) -> str:
        """An opaque, account-bound name for a file a client is about to PUT."""
        base = filename.replace("\\", "/").rsplit("/", 1)[-1]
        safe = _UNSAFE.sub("_", base).strip("._")[-100:] or "predictions.csv"
        return f"{account_id}/{uuid.uuid4().hex}/{safe}"

    @staticmethod
    def upload_key(kind: str, name: str) -> str:
        return f"{UPLOADS_PREFIX}{kind}/{name}"

    def staged_upload(self, kind: str, name: str, account_id: int) -> tuple[str, str]:
        """The storage key and original file name of a staged upload of ``account_id``."""
        match = _UPLOAD_NAME.match(name)
        if match is None:
            raise InvalidParameterError(
                f"{name!r} is not an upload name; pass the filename that the upload "
                "authorization returned",
                details={"filename": name},
            )
        if int(match.group(1)) != account_id:
            raise PermissionDeniedError("this upload belongs to another account")
        key = self.upload_key(kind, name)
        if not self.tournament.store.exists(key):
            raise NotFoundError(
                "nothing was uploaded under this name: PUT the file to the URL from the upload "
                "authorization first (or it was already used)",
                details={"filename": name},
            )
        return key, match.group(3)

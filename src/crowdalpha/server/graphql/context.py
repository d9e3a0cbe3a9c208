"""What every GraphQL resolver shares: the server, the caller, and the checks on both."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from crowdalpha.errors import (
    AuthenticationError,
    InvalidParameterError,
    LimitExceededError,
    NotFoundError,
    PermissionDeniedError,
)
from crowdalpha.server.context import ServerContext
from crowdalpha.storage import FileStore
from crowdalpha.tournament import ModelInfo, Principal, RoundInfo, SubmissionInfo, Tournament

__all__ = ["CLASSIC", "UPLOADS_PREFIX", "GraphQLContext", "sweep_staged_uploads", "utc"]

#: Numerai's id of the Classic tournament, the default one (Signals is 11, Crypto 12).
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

    def view(self, tournament: int | None) -> Tournament:
        """The view of competition ``tournament`` (Numerai's id: 8 Classic, 11 Signals;
        None: Classic); InvalidParameterError naming the competitions run if not run here."""
        if tournament is None:
            return self.tournament
        running = {c.id: c for c in self.tournament.competitions}
        if tournament not in running:
            names = " and the ".join(f"{c.name} tournament ({c.id})" for c in running.values())
            raise InvalidParameterError(
                f"this server runs the {names} only; there is no tournament {tournament} here",
                details={"tournament": tournament},
            )
        return self.tournament.using(tournament)

    def check_tournament(self, tournament: int | None) -> None:
        """Refuse a tournament this server does not run."""
        self.view(tournament)

    def view_of(self, model: ModelInfo) -> Tournament:
        """The view of the model's own competition."""
        return self.tournament.using(model.competition)

    def check_model_in(self, model: ModelInfo, tournament: int | None) -> None:
        """Refuse a model of another competition than ``tournament`` (when one is named)."""
        if tournament is None:
            return
        view = self.view(tournament)
        if view.competition.slug != model.competition:
            raise InvalidParameterError(
                f"model {model.name!r} is a {self.view_of(model).competition.name} model, "
                f"not a {view.competition.name} one (tournament {tournament}); "
                "napi.get_models() lists this tournament's models",
                details={"model_id": str(model.id), "tournament": tournament},
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

    def own_model(
        self, ref: str | None, scope: str, tournament: int | None = None
    ) -> tuple[Principal, ModelInfo]:
        """The caller (holding ``scope``) and one of its own models (of competition
        ``tournament`` when one is named: another competition's model is refused).

        Without a model id an account with exactly one model (in ``tournament``, Classic
        by default) means that one, as on Numerai.
        """
        principal = self.require(scope)
        account_id = principal.account.id
        if ref is None or not ref.strip():
            mine = self.view(tournament).models(account_id)
            if len(mine) == 1:
                return principal, mine[0]
            raise InvalidParameterError(
                f"modelId is required: this account has {len(mine)} models; "
                "napi.get_models() maps their names to ids",
            )
        model = self.find_model(ref)
        owned = self.tournament.model(model.id, owner=account_id)
        self.check_model_in(owned, tournament)
        return principal, owned

    # -- rounds -------------------------------------------------------------------------

    def current_or_latest_round(self, view: Tournament | None = None) -> RoundInfo | None:
        """The open round of ``view``'s competition (Classic by default), else its newest."""
        t = view or self.tournament
        current = t.current_round()
        if current is not None:
            return current
        rounds = t.rounds()
        return rounds[-1] if rounds else None

    def round_or_current(self, number: int | None, view: Tournament | None = None) -> RoundInfo:
        if number is not None and number > 0:
            return (view or self.tournament).round(number)
        info = self.current_or_latest_round(view)
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
        store = self.tournament.store
        try:
            size = store.size(key)
        except NotFoundError:
            raise NotFoundError(
                "nothing was uploaded under this name: PUT the file to the URL from the upload "
                "authorization first (or it was already used)",
                details={"filename": name},
            ) from None
        # A PUT straight to a bucket has no size limit: it is enforced here, before reading.
        limit = self.server.settings.max_upload_bytes
        if size > limit:
            store.delete(key)
            raise LimitExceededError(
                f"the upload is {size:,} bytes, over the {limit:,}-byte limit",
                details={"limit": limit, "size": size, "reason": "too_large"},
            )
        return key, match.group(3)

    def submit_staged(
        self,
        view: Tournament,
        model: ModelInfo,
        principal: Principal,
        filename: str,
        round_number: int | None,
    ) -> SubmissionInfo:
        """Submit the staged upload ``filename`` (numerapi's PUT) for ``model`` through
        ``view``, then drop the staged copy. Keyed by the upload's name, so numerapi's retry
        of the create call records the submission once."""
        key, original = self.staged_upload("submissions", filename, principal.account.id)
        submission = view.submit(
            model.id,
            view.store.get(key),
            filename=original,
            round_number=round_number,
            key=f"numerai-upload:{filename}:{model.id}",
        )
        view.store.delete(key)
        return submission

"""The tournament: every operation the server, the CLI and the web UI call.

:class:`Tournament` composes the pure stages (submissions, scoring, payouts, the ledger,
the meta model) over the database and the file store. Each public method is one unit of
work — one transaction, retried whole on a transient conflict — so an operation either
happens completely or not at all. Operations that move NMR accept an idempotency key: a
retry with the same key changes nothing the second time.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import io
import json
import secrets
import threading
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Final, TypeVar

import numpy as np
import pandas as pd
from sqlalchemy import Engine, Row, bindparam, delete, func, insert, select, update
from sqlalchemy.orm import Session

from crowdalpha.db import read_engine, session_factory, transact
from crowdalpha.errors import (
    AuthenticationError,
    ConflictError,
    IdempotencyKeyReusedError,
    InsufficientFundsError,
    InvalidInputError,
    InvalidParameterError,
    NotFoundError,
    PermissionDeniedError,
    RoundStateError,
    StakeLimitError,
)
from crowdalpha.ledger import (
    BURNED,
    REWARD_POOL,
    TREASURY,
    LedgerCheckReport,
    Posting,
    SqlLedger,
    Supply,
    check_ledger,
    format_nmr,
    pending,
    stake,
    wallet,
)
from crowdalpha.metamodel import META_MODEL_COLUMN, build_meta_model
from crowdalpha.payouts import PayoutRules, payout, payout_factor
from crowdalpha.scoring import score_round
from crowdalpha.storage import FileStore
from crowdalpha.submissions import load_and_validate
from crowdalpha.tournament.clock import Clock, SystemClock
from crowdalpha.tournament.config import TournamentConfig
from crowdalpha.tournament.data import Outcome, RoundData
from crowdalpha.tournament.models import (
    Account,
    ApiKey,
    IdempotencyRecord,
    Model,
    Payout,
    PendingRelease,
    Round,
    RoundStake,
    RoundState,
    Score,
    Submission,
    SubmissionState,
)
from crowdalpha.tournament.views import (
    AccountInfo,
    ApiKeyInfo,
    LeaderboardRow,
    ModelInfo,
    PayoutInfo,
    PendingReleaseInfo,
    Principal,
    ResolutionReport,
    RoundInfo,
    ScoreInfo,
    StakeInfo,
    SubmissionInfo,
    TickReport,
)

__all__ = ["SCOPES", "Tournament"]

#: What an API key may do: read, upload predictions, change stakes, or (operators) anything.
SCOPES = ("read", "upload", "stake", "admin")

T = TypeVar("T")
_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789_")


def _account_info(row: Account) -> AccountInfo:
    return AccountInfo(
        id=row.id,
        username=row.username,
        email=row.email,
        wallet_address=row.wallet_address,
        is_operator=row.is_operator,
        max_stake=row.max_stake,
        max_stake_share_ppm=row.max_stake_share_ppm,
        created_at=row.created_at,
    )


def _key_info(row: ApiKey | Row[*tuple[Any, ...]]) -> ApiKeyInfo:
    """From a key's ORM object, or from a Core row holding its columns."""
    return ApiKeyInfo(
        public_id=row.public_id,
        account_id=row.account_id,
        name=row.name,
        scopes=frozenset(row.scopes.split()),
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
    )


# The statements every request runs, built once: SQLAlchemy keeps a statement object's
# cache key, so executing the same object with new parameters skips rebuilding it.
# An API key with its account, for authenticate.
_PRINCIPAL: Final = (
    select(
        ApiKey.public_id,
        ApiKey.account_id,
        ApiKey.name,
        ApiKey.scopes,
        ApiKey.secret_hash,
        ApiKey.created_at,
        ApiKey.last_used_at,
        ApiKey.revoked_at,
        Account.username,
        Account.email,
        Account.wallet_address,
        Account.is_operator,
        Account.max_stake,
        Account.max_stake_share_ppm,
        Account.created_at.label("account_created_at"),
    )
    .join(Account, Account.id == ApiKey.account_id)
    .where(ApiKey.public_id == bindparam("public_id"))
)
# A model's owner, and a round (or the newest open one) to submit to.
_MODEL_OWNER: Final = select(Model.account_id).where(Model.id == bindparam("model_id"))
_ROUND_TARGET: Final = select(Round.number, Round.state, Round.live_ids_key)
_ROUND_NUMBERED: Final = _ROUND_TARGET.where(Round.number == bindparam("number"))
_ROUND_OPEN: Final = (
    _ROUND_TARGET.where(Round.state == RoundState.OPEN.value).order_by(Round.number.desc()).limit(1)
)

# Recording an upload: the round (locked), unselecting the model's earlier files, the row.
_ROUND_TO_RECORD: Final = (
    select(Round.id, Round.state, Round.closes_at)
    .where(Round.number == bindparam("number"))
    .with_for_update()
)
_UNSELECT: Final = (
    update(Submission)
    .where(Submission.round_id == bindparam("round"), Submission.model_id == bindparam("model"))
    .values(selected=False)
)
_INSERT_SUBMISSION: Final = insert(Submission).returning(Submission.id)


def _secret_hash(secret: str) -> str:
    # Secrets are 256 random bits, so one SHA-256 is enough (no password stretching needed).
    return hashlib.sha256(secret.encode()).hexdigest()


def _model_info(row: Model) -> ModelInfo:
    return ModelInfo(id=row.id, account_id=row.account_id, name=row.name, created_at=row.created_at)


def _round_info(row: Round, submissions: int = 0) -> RoundInfo:
    return RoundInfo(
        number=row.number,
        state=row.state,
        opens_at=row.opens_at,
        closes_at=row.closes_at,
        resolves_at=row.resolves_at,
        closed_at=row.closed_at,
        resolved_at=row.resolved_at,
        dataset_version=row.dataset_version,
        live_rows=row.live_rows,
        payout_policy=row.payout_policy,
        total_at_risk=row.total_at_risk,
        payout_factor=row.payout_factor,
        meta_model_key=row.meta_model_key,
        submissions=submissions,
    )


def _submission_info(row: Submission, round_number: int) -> SubmissionInfo:
    return SubmissionInfo(
        id=row.id,
        model_id=row.model_id,
        round_number=round_number,
        created_at=row.created_at,
        filename=row.filename,
        sha256=row.sha256,
        size_bytes=row.size_bytes,
        rows=row.rows,
        unknown_ids=row.unknown_ids,
        state=row.state,
        late=row.late,
        selected=row.selected,
        error_code=row.error_code,
        error_message=row.error_message,
    )


def _release_info(row: PendingRelease) -> PendingReleaseInfo:
    return PendingReleaseInfo(
        id=row.id,
        requested=row.requested,
        remaining=row.remaining,
        requested_at=row.requested_at,
        release_round=row.release_round,
        released_at=row.released_at,
    )


def _check_amount(amount: int) -> int:
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise InvalidParameterError(f"amount must be a positive int of base units, got {amount!r}")
    return amount


def _scoped(key: str | None, account_id: int) -> str | None:
    """Participants' idempotency keys live in their account's namespace: one account's key
    can neither replay nor block another's."""
    return None if key is None else f"account:{account_id}:{key}"


def _fingerprint(*parts: object) -> str:
    return hashlib.sha256(json.dumps([str(p) for p in parts]).encode()).hexdigest()


def _round_key(number: int, name: str) -> str:
    return f"rounds/{number:05d}/{name}"


def _predictions_bytes(values: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, values.astype(np.float64), allow_pickle=False)
    return buffer.getvalue()


def _predictions_from(data: bytes) -> np.ndarray:
    array: np.ndarray = np.load(io.BytesIO(data), allow_pickle=False)
    return array


class Tournament:
    """A tournament over a database, a file store and a source of round data."""

    def __init__(
        self,
        engine: Engine,
        store: FileStore,
        data: RoundData,
        *,
        config: TournamentConfig | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.engine = engine
        self.store = store
        self.data = data
        self.config = config or TournamentConfig()
        self.clock = clock or SystemClock()
        self._factory = session_factory(engine)
        # reads take no write lock on SQLite (see crowdalpha.db.read_engine)
        self._read_engine = read_engine(engine)
        self._read_factory = session_factory(self._read_engine)
        self._live_cache: dict[int, pd.Index] = {}
        self._cache_lock = threading.Lock()

    def close(self) -> None:
        """Close the database connections (the read engine's too); the object is done."""
        if self._read_engine is not self.engine:
            self._read_engine.dispose()
        self.engine.dispose()

    def __enter__(self) -> Tournament:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- plumbing -----------------------------------------------------------------------

    def _run(self, operation: Callable[[Session], T]) -> T:
        return transact(self._factory, operation)

    def _read(self, operation: Callable[[Session], T]) -> T:
        """A unit of work that only reads."""
        return transact(self._read_factory, operation)

    def _ledger(self, session: Session) -> SqlLedger:
        return SqlLedger(session, mint_cap=self.config.mint_cap, now=self.clock.now)

    def _once(
        self,
        session: Session,
        key: str | None,
        operation: str,
        fingerprint: str,
        body: Callable[[], dict[str, object]],
    ) -> dict[str, object]:
        """Run ``body`` once per idempotency key, returning the first run's result."""
        if key is None:
            return body()
        record = session.scalar(select(IdempotencyRecord).where(IdempotencyRecord.key == key))
        if record is not None:
            if record.operation != operation or record.fingerprint != fingerprint:
                raise IdempotencyKeyReusedError(
                    f"idempotency key {key!r} was already used for another {record.operation}; "
                    "use a new key for a new operation",
                    details={"key": key},
                )
            result: dict[str, object] = json.loads(record.result)
            return result
        result = body()
        session.add(
            IdempotencyRecord(
                key=key,
                operation=operation,
                fingerprint=fingerprint,
                result=json.dumps(result),
                created_at=self.clock.now(),
            )
        )
        session.flush()
        return result

    @staticmethod
    def _model(session: Session, model_id: int) -> Model:
        row = session.get(Model, model_id)
        if row is None:
            raise NotFoundError(f"there is no model {model_id}", details={"model_id": model_id})
        return row

    @staticmethod
    def _account(session: Session, account_id: int) -> Account:
        row = session.get(Account, account_id)
        if row is None:
            raise NotFoundError(
                f"there is no account {account_id}", details={"account_id": account_id}
            )
        return row

    @staticmethod
    def _round(session: Session, number: int, *, lock: bool = False) -> Round:
        query = select(Round).where(Round.number == number)
        if lock:
            query = query.with_for_update()
        row = session.scalar(query)
        if row is None:
            raise NotFoundError(f"there is no round {number}", details={"round": number})
        return row

    # -- accounts and models ------------------------------------------------------------

    def create_account(
        self,
        username: str,
        email: str,
        *,
        wallet_address: str | None = None,
        is_operator: bool = False,
    ) -> AccountInfo:
        """A new participant (or operator) account with an empty wallet."""
        name = username.strip()
        if not (3 <= len(name) <= 64) or not set(name.lower()) <= _NAME_CHARS:
            raise InvalidInputError(
                f"username {username!r} must be 3–64 letters, digits or underscores"
            )
        if "@" not in email or len(email) > 254 or email != email.strip():
            raise InvalidInputError(f"{email!r} is not an email address")

        def op(session: Session) -> AccountInfo:
            taken = session.scalar(
                select(Account).where(
                    (func.lower(Account.username) == name.lower())
                    | (func.lower(Account.email) == email.lower())
                )
            )
            if taken is not None:
                what = "username" if taken.username.lower() == name.lower() else "email"
                raise ConflictError(f"that {what} is already registered", details={"field": what})
            row = Account(
                username=name,
                email=email,
                wallet_address=wallet_address,
                is_operator=is_operator,
                created_at=self.clock.now(),
            )
            session.add(row)
            session.flush()
            return _account_info(row)

        return self._run(op)

    def account(self, account_id: int) -> AccountInfo:
        return self._read(lambda s: _account_info(self._account(s, account_id)))

    def account_by_username(self, username: str) -> AccountInfo:
        def op(session: Session) -> AccountInfo:
            row = session.scalar(
                select(Account).where(func.lower(Account.username) == username.lower())
            )
            if row is None:
                raise NotFoundError(f"there is no account {username!r}")
            return _account_info(row)

        return self._read(op)

    def set_limits(
        self,
        account_id: int,
        *,
        max_stake: int | None = None,
        max_stake_share: Decimal | str | None = None,
    ) -> AccountInfo:
        """Risk limits: the largest stake per model, and the largest share of the account's
        holdings (wallet + stakes + pending) one model may stake. ``None`` lifts a limit."""
        ppm: int | None = None
        if max_stake_share is not None:
            share = Decimal(str(max_stake_share))
            if not (0 < share <= 1):
                raise InvalidParameterError("max_stake_share must be in (0, 1]")
            ppm = int(share * 1_000_000)
        if max_stake is not None and max_stake < 0:
            raise InvalidParameterError("max_stake must not be negative")

        def op(session: Session) -> AccountInfo:
            row = self._account(session, account_id)
            row.max_stake = max_stake
            row.max_stake_share_ppm = ppm
            return _account_info(row)

        return self._run(op)

    # -- API keys -----------------------------------------------------------------------

    def create_api_key(
        self,
        account_id: int,
        *,
        scopes: Sequence[str] = ("read", "upload", "stake"),
        name: str = "",
    ) -> tuple[ApiKeyInfo, str]:
        """A new key for ``account_id``: its record and its secret (shown this once only).

        Clients send ``Authorization: Token PUBLIC_ID$SECRET_KEY``; only a hash of the secret
        is stored, so a lost secret cannot be recovered — create a new key instead.
        """
        wanted = frozenset(scopes)
        unknown = wanted - set(SCOPES)
        if not wanted or unknown:
            raise InvalidParameterError(
                f"scopes must be a non-empty subset of {', '.join(SCOPES)}; got {sorted(wanted)}"
            )
        public_id = secrets.token_hex(16).upper()
        secret = secrets.token_urlsafe(32)

        def op(session: Session) -> ApiKeyInfo:
            account = self._account(session, account_id)
            if "admin" in wanted and not account.is_operator:
                raise PermissionDeniedError("only operator accounts may hold admin keys")
            row = ApiKey(
                account_id=account_id,
                public_id=public_id,
                secret_hash=_secret_hash(secret),
                name=name[:100],
                scopes=" ".join(sorted(wanted)),
                created_at=self.clock.now(),
            )
            session.add(row)
            session.flush()
            return _key_info(row)

        return self._run(op), secret

    def api_keys(self, account_id: int) -> list[ApiKeyInfo]:
        def op(session: Session) -> list[ApiKeyInfo]:
            rows = session.scalars(
                select(ApiKey).where(ApiKey.account_id == account_id).order_by(ApiKey.id)
            )
            return [_key_info(r) for r in rows]

        return self._read(op)

    def revoke_api_key(self, account_id: int, public_id: str) -> ApiKeyInfo:
        """Revoke one of the account's keys (at once, for every later request)."""

        def op(session: Session) -> ApiKeyInfo:
            row = session.scalar(select(ApiKey).where(ApiKey.public_id == public_id))
            if row is None or row.account_id != account_id:
                raise NotFoundError(f"the account has no API key {public_id!r}")
            if row.revoked_at is None:
                row.revoked_at = self.clock.now()
            return _key_info(row)

        return self._run(op)

    def authenticate(self, public_id: str, secret: str) -> Principal:
        """The account and key behind a public id and secret; AuthenticationError if none."""
        if not public_id or not secret:
            raise AuthenticationError("missing API key: send 'Authorization: Token PUBLIC$SECRET'")
        now = self.clock.now()

        # Every request comes here: one statement on a plain connection (an ORM session's
        # bookkeeping would cost more than the query), taking no write lock.
        with self._read_engine.connect() as conn:
            found = conn.execute(_PRINCIPAL, {"public_id": public_id}).first()
        # Compare even when the key is unknown, so timing does not tell which ids exist.
        expected = found.secret_hash if found is not None else _secret_hash("")
        if not hmac.compare_digest(expected, _secret_hash(secret)) or found is None:
            raise AuthenticationError("wrong API key: check the public id and the secret")
        if found.revoked_at is not None:
            raise AuthenticationError("this API key was revoked; create a new one")
        principal = Principal(
            AccountInfo(
                id=found.account_id,
                username=found.username,
                email=found.email,
                wallet_address=found.wallet_address,
                is_operator=found.is_operator,
                max_stake=found.max_stake,
                max_stake_share_ppm=found.max_stake_share_ppm,
                created_at=found.account_created_at,
            ),
            _key_info(found),
        )
        last = principal.key.last_used_at
        if last is None or now - last > timedelta(minutes=1):  # at most once a minute

            def touch(session: Session) -> None:
                session.execute(
                    update(ApiKey).where(ApiKey.public_id == public_id).values(last_used_at=now)
                )

            self._run(touch)
        return principal

    def create_model(self, account_id: int, name: str) -> ModelInfo:
        """A new model of ``account_id``; names are unique across the tournament."""
        clean = name.strip().lower()
        if not (1 <= len(clean) <= 64) or not set(clean) <= _NAME_CHARS:
            raise InvalidInputError(
                f"model name {name!r} must be 1–64 lowercase letters, digits or underscores"
            )

        def op(session: Session) -> ModelInfo:
            self._account(session, account_id)
            if session.scalar(select(Model.id).where(Model.name == clean)) is not None:
                raise ConflictError(f"a model named {clean!r} already exists")
            row = Model(account_id=account_id, name=clean, created_at=self.clock.now())
            session.add(row)
            session.flush()
            return _model_info(row)

        return self._run(op)

    def model(self, model_id: int) -> ModelInfo:
        return self._read(lambda s: _model_info(self._model(s, model_id)))

    def model_by_name(self, name: str) -> ModelInfo:
        def op(session: Session) -> ModelInfo:
            row = session.scalar(select(Model).where(Model.name == name.strip().lower()))
            if row is None:
                raise NotFoundError(f"there is no model named {name!r}")
            return _model_info(row)

        return self._read(op)

    def models(self, account_id: int | None = None) -> list[ModelInfo]:
        def op(session: Session) -> list[ModelInfo]:
            query = select(Model).order_by(Model.id)
            if account_id is not None:
                query = query.where(Model.account_id == account_id)
            return [_model_info(m) for m in session.scalars(query)]

        return self._read(op)

    # -- NMR ----------------------------------------------------------------------------

    def mint(self, amount: int, *, to: str = TREASURY, key: str | None = None) -> int:
        """Create NMR into the treasury or the reward pool (under the mint cap)."""
        _check_amount(amount)
        if to not in (TREASURY, REWARD_POOL):
            raise InvalidParameterError("NMR is minted into the treasury or the reward pool")
        return self._run(lambda s: self._ledger(s).mint(to, amount, key=key).id)

    def fund_reward_pool(self, amount: int, *, key: str | None = None) -> int:
        _check_amount(amount)
        return self._run(
            lambda s: (
                self._ledger(s)
                .transfer(TREASURY, REWARD_POOL, amount, kind="fund_pool", key=key)
                .id
            )
        )

    def grant(self, account_id: int, amount: int, *, key: str | None = None) -> int:
        """The operator gives NMR from the treasury to an account's wallet."""
        _check_amount(amount)

        def op(session: Session) -> int:
            self._account(session, account_id)
            return (
                self._ledger(session)
                .transfer(TREASURY, wallet(account_id), amount, kind="grant", key=key)
                .id
            )

        return self._run(op)

    def deposit(self, account_id: int, amount: int, *, key: str | None = None) -> int:
        _check_amount(amount)

        def op(session: Session) -> int:
            self._account(session, account_id)
            return self._ledger(session).deposit(wallet(account_id), amount, key=key).id

        return self._run(op)

    def withdraw(self, account_id: int, amount: int, *, key: str | None = None) -> int:
        _check_amount(amount)

        def op(session: Session) -> int:
            self._account(session, account_id)
            return self._ledger(session).withdraw(wallet(account_id), amount, key=key).id

        return self._run(op)

    def wallet_balance(self, account_id: int) -> int:
        return self._read(lambda s: self._ledger(s).balance(wallet(account_id)))

    def balance(self, account: str) -> int:
        return self._read(lambda s: self._ledger(s).balance(account))

    def supply(self) -> Supply:
        return self._read(lambda s: self._ledger(s).supply())

    def check_ledger(self) -> LedgerCheckReport:
        return self._read(check_ledger)

    # -- stakes -------------------------------------------------------------------------

    def stake_info(self, model_id: int) -> StakeInfo:
        def op(session: Session) -> StakeInfo:
            self._model(session, model_id)
            got = self._ledger(session).balances([stake(model_id), pending(model_id)])
            releases = session.scalars(
                select(PendingRelease)
                .where(PendingRelease.model_id == model_id)
                .order_by(PendingRelease.id)
            )
            return StakeInfo(
                model_id=model_id,
                stake=got[stake(model_id)],
                pending=got[pending(model_id)],
                releases=[_release_info(r) for r in releases],
            )

        return self._read(op)

    def stakes_at_risk(self, model_id: int) -> dict[int, int]:
        """The model's stake at risk in each closed round (frozen at the close), by number."""

        def op(session: Session) -> dict[int, int]:
            self._model(session, model_id)
            rows = session.execute(
                select(Round.number, RoundStake.stake_at_risk)
                .join(RoundStake, RoundStake.round_id == Round.id)
                .where(RoundStake.model_id == model_id)
            ).all()
            return {int(number): int(risk) for number, risk in rows}

        return self._read(op)

    def increase_stake(self, model_id: int, amount: int, *, key: str | None = None) -> StakeInfo:
        """Move ``amount`` from the owner's wallet to the model's stake, at once."""
        _check_amount(amount)

        def op(session: Session) -> None:
            model = self._model(session, model_id)

            def body() -> dict[str, object]:
                self._check_limits(session, model, amount)
                entry = self._ledger(session).transfer(
                    wallet(model.account_id), stake(model_id), amount, kind="stake_increase"
                )
                return {"entry": entry.id}

            scoped = _scoped(key, model.account_id)
            self._once(session, scoped, "stake_increase", _fingerprint(model_id, amount), body)

        self._run(op)
        return self.stake_info(model_id)

    def _check_limits(self, session: Session, model: Model, amount: int) -> None:
        account = self._account(session, model.account_id)
        if account.max_stake is None and account.max_stake_share_ppm is None:
            return
        ledger = self._ledger(session)
        new_stake = ledger.balance(stake(model.id)) + amount
        if account.max_stake is not None and new_stake > account.max_stake:
            raise StakeLimitError(
                f"this would stake {format_nmr(new_stake)} NMR on {model.name}; the account's "
                f"limit is {format_nmr(account.max_stake)} NMR per model",
                details={"limit": str(account.max_stake), "stake": str(new_stake)},
            )
        if account.max_stake_share_ppm is not None:
            model_ids = list(
                session.scalars(select(Model.id).where(Model.account_id == account.id))
            )
            names = [wallet(account.id)]
            names += [stake(m) for m in model_ids] + [pending(m) for m in model_ids]
            holdings = sum(ledger.balances(names).values())
            limit = holdings * account.max_stake_share_ppm // 1_000_000
            if new_stake > limit:
                raise StakeLimitError(
                    f"this would stake {format_nmr(new_stake)} NMR on {model.name}, more than "
                    f"{account.max_stake_share_ppm / 10_000:g}% of the account's "
                    f"{format_nmr(holdings)} NMR; spread stakes over models",
                    details={"limit": str(limit), "stake": str(new_stake)},
                )

    def _last_round_at_risk(self, session: Session, model_id: int) -> int | None:
        return session.scalar(
            select(func.max(Round.number))
            .join(RoundStake, RoundStake.round_id == Round.id)
            .where(RoundStake.model_id == model_id, Round.state != RoundState.RESOLVED.value)
        )

    def decrease_stake(self, model_id: int, amount: int, *, key: str | None = None) -> StakeInfo:
        """Take ``amount`` off the model's stake.

        The amount leaves the stake at once (it is not at risk in rounds that close later)
        but is only paid back to the wallet when the last round it is still at risk in
        resolves; until then it is a pending release, and that round can still burn it.
        With no round at risk the release is immediate.
        """
        _check_amount(amount)

        def op(session: Session) -> None:
            model = self._model(session, model_id)

            def body() -> dict[str, object]:
                ledger = self._ledger(session)
                held = ledger.balance(stake(model_id))
                if held < amount:
                    raise InsufficientFundsError(
                        f"{model.name} has {format_nmr(held)} NMR staked; cannot take off "
                        f"{format_nmr(amount)} NMR",
                        details={"stake": str(held), "requested": str(amount)},
                    )
                last = self._last_round_at_risk(session, model_id)
                if last is None:
                    entry = ledger.transfer(
                        stake(model_id), wallet(model.account_id), amount, kind="stake_release"
                    )
                    return {"entry": entry.id}
                entry = ledger.transfer(
                    stake(model_id), pending(model_id), amount, kind="stake_decrease"
                )
                session.add(
                    PendingRelease(
                        model_id=model_id,
                        requested=amount,
                        remaining=amount,
                        requested_at=self.clock.now(),
                        release_round=last,
                    )
                )
                return {"entry": entry.id}

            scoped = _scoped(key, model.account_id)
            self._once(session, scoped, "stake_decrease", _fingerprint(model_id, amount), body)

        self._run(op)
        return self.stake_info(model_id)

    def set_stake(self, model_id: int, target: int, *, key: str | None = None) -> StakeInfo:
        """Increase or decrease the stake to exactly ``target``."""
        if isinstance(target, bool) or not isinstance(target, int) or target < 0:
            raise InvalidParameterError("target must be a non-negative int of base units")
        current = self.stake_info(model_id).stake
        if target > current:
            return self.increase_stake(model_id, target - current, key=key)
        if target < current:
            return self.decrease_stake(model_id, current - target, key=key)
        return self.stake_info(model_id)

    # -- rounds -------------------------------------------------------------------------

    def rounds(self, *, states: Sequence[str] | None = None) -> list[RoundInfo]:
        def op(session: Session) -> list[RoundInfo]:
            query = select(Round).order_by(Round.number)
            if states:
                query = query.where(Round.state.in_(list(states)))
            rows = list(session.scalars(query))
            # count only the rounds asked for: the open round's page must not scan history
            counts = (
                dict(
                    session.execute(
                        select(Submission.round_id, func.count())
                        .where(Submission.selected)
                        .where(Submission.round_id.in_([r.id for r in rows]))
                        .group_by(Submission.round_id)
                    ).all()
                )
                if rows
                else {}
            )
            return [_round_info(r, counts.get(r.id, 0)) for r in rows]

        return self._read(op)

    def round(self, number: int) -> RoundInfo:
        def op(session: Session) -> RoundInfo:
            row = self._round(session, number)
            count = session.scalar(
                select(func.count()).where(Submission.round_id == row.id, Submission.selected)
            )
            return _round_info(row, int(count or 0))

        return self._read(op)

    def current_round(self) -> RoundInfo | None:
        """The open round (the newest one, if several were ever open at once)."""
        open_rounds = self.rounds(states=[RoundState.OPEN.value])
        return open_rounds[-1] if open_rounds else None

    def live_ids(self, number: int) -> list[str]:
        ids: list[str] = json.loads(self.store.get(_round_key(number, "live_ids.json")))
        return ids

    def _live_index(self, number: int, key: str) -> pd.Index:
        """A round's live ids as an Index, kept in memory: they never change once the round
        is open, and every upload of the round is validated against them."""
        cached = self._live_cache.get(number)
        if cached is None:
            cached = pd.Index(json.loads(self.store.get(key)), name="id").astype(str)
            with self._cache_lock:
                self._live_cache[number] = cached
                while len(self._live_cache) > 8:
                    self._live_cache.pop(min(self._live_cache))
        return cached

    def dataset_key(self, number: int, name: str) -> str:
        info = self.round(number)
        return f"datasets/{info.dataset_version}/{name}"

    def tick(self, now: datetime | None = None) -> TickReport:
        """Move every round as far forward as the clock and the data allow.

        Opens the round that is due (publishing its dataset), closes rounds whose window
        ended (freezing stakes), records provisional scores when early outcomes exist, and
        resolves rounds whose final targets are known. Each step is its own transaction and
        checks the state it starts from, so running ``tick`` twice, or again after a crash
        at any point, ends in the same state.
        """
        when = now or self.clock.now()
        report = TickReport(now=when)
        self._open_due(when, report)
        for info in self.rounds(states=[RoundState.OPEN.value]):
            if info.closes_at <= when:
                self._close(info.number, when)
                report.closed.append(info.number)
        for info in self.rounds(states=[RoundState.CLOSED.value, RoundState.SCORING.value]):
            outcome = self.data.outcome(
                info.number, self.live_ids(info.number), closes_at=info.closes_at, now=when
            )
            if outcome is None:
                continue
            if outcome.final:
                report.resolved.append(self._resolve(info.number, outcome, when))
            elif info.state == RoundState.CLOSED.value:
                self._score_provisional(info.number, outcome, when)
                report.scored.append(info.number)
        return report

    def _open_due(self, now: datetime, report: TickReport) -> None:
        schedule = self.config.schedule
        number = schedule.latest_due(now)
        if number == 0:
            return
        exists = self._read(
            lambda s: s.scalar(select(Round.id).where(Round.number == number)) is not None
        )
        if exists:
            return
        if schedule.closes(number) <= now:
            report.skipped.append(number)  # missed entirely (the tournament was down)
            return
        published = self.data.publish(number, schedule.opens(number))
        if published is None:
            return
        # Files first (deterministic keys; a crash before the commit leaves files that a
        # retry rewrites identically), then the round row.
        for name, content in published.files.items():
            self.store.put(f"datasets/{published.version}/{name}", content)
        live_key = _round_key(number, "live_ids.json")
        self.store.put(live_key, json.dumps(list(published.live_ids)).encode())
        rules = self.config.payout

        def op(session: Session) -> bool:
            if session.scalar(select(Round.id).where(Round.number == number)) is not None:
                return False
            session.add(
                Round(
                    number=number,
                    state=RoundState.OPEN.value,
                    opens_at=schedule.opens(number),
                    closes_at=schedule.closes(number),
                    resolves_at=schedule.resolves(number),
                    dataset_version=published.version,
                    live_ids_key=live_key,
                    live_rows=len(published.live_ids),
                    payout_policy=rules.policy,
                    corr_multiplier=rules.corr_multiplier,
                    mmc_multiplier=rules.mmc_multiplier,
                    payout_clip=rules.clip,
                    payout_threshold=rules.threshold,
                )
            )
            session.flush()
            return True

        if self._run(op):
            report.opened.append(number)

    def _close(self, number: int, now: datetime) -> None:
        def op(session: Session) -> None:
            row = self._round(session, number, lock=True)
            if row.state != RoundState.OPEN.value:
                return
            on_time = dict(
                session.execute(
                    select(Submission.model_id, Submission.id).where(
                        Submission.round_id == row.id,
                        Submission.selected,
                        ~Submission.late,
                        Submission.state == SubmissionState.VALIDATED.value,
                    )
                ).all()
            )
            model_ids = list(session.scalars(select(Model.id).order_by(Model.id)))
            stakes = self._ledger(session).balances([stake(m) for m in model_ids])
            rows = []
            total = 0
            for model_id in model_ids:
                held = stakes[stake(model_id)]
                submission = on_time.get(model_id)
                if held == 0 and submission is None:
                    continue
                at_risk = held if submission is not None else 0
                total += at_risk
                rows.append(
                    {
                        "round_id": row.id,
                        "model_id": model_id,
                        "submission_id": submission,
                        "stake_at_risk": at_risk,
                    }
                )
            if rows:
                session.execute(insert(RoundStake), rows)
            row.total_at_risk = total
            row.state = RoundState.CLOSED.value
            row.closed_at = now

        self._run(op)

    def _load_predictions(
        self, session: Session, row: Round
    ) -> tuple[pd.DataFrame, dict[int, Submission]]:
        subs = {
            s.model_id: s
            for s in session.scalars(
                select(Submission).where(Submission.round_id == row.id, Submission.selected)
            )
        }
        ids = pd.Index(json.loads(self.store.get(row.live_ids_key)), name="id")
        matrix = np.empty((len(ids), len(subs)), dtype=np.float64)
        loaded: list[int] = []
        for model_id, sub in sorted(subs.items()):
            if sub.storage_key is None:
                continue
            try:
                values = self._read_predictions(sub.storage_key + ".npy")
                if values.shape != (len(ids),):
                    raise ValueError(f"{values.shape[0]} predictions for {len(ids)} live ids")
            except (NotFoundError, ValueError, OSError) as exc:
                # Visible, never silent: the submission fails with its reason and is left
                # out of scoring (its stake is neither paid nor burned for it).
                sub.state = SubmissionState.FAILED.value
                sub.error_code = "submission_unreadable"
                sub.error_message = f"the stored predictions could not be read: {exc}"
                continue
            matrix[:, len(loaded)] = values
            loaded.append(model_id)
        frame = pd.DataFrame(matrix[:, : len(loaded)], index=ids, columns=loaded, copy=False)
        # Scoring wants ids in order (as numerai-tools does); sort once here.
        if not frame.index.is_monotonic_increasing:
            frame = frame.sort_index()
        return frame, subs

    def _read_predictions(self, key: str) -> np.ndarray:
        path = self.store.local_path(key)
        if path is None:
            return _predictions_from(self.store.get(key))
        if not path.is_file():
            raise NotFoundError(f"no stored file {key!r}")
        array: np.ndarray = np.load(path, allow_pickle=False)
        return array

    def _scores(
        self, session: Session, row: Round, outcome: Outcome
    ) -> tuple[pd.DataFrame, pd.Series | None, dict[int, Submission], dict[int, int]]:
        preds, subs = self._load_predictions(session, row)
        at_risk = {
            rs.model_id: rs.stake_at_risk
            for rs in session.scalars(select(RoundStake).where(RoundStake.round_id == row.id))
        }
        if preds.empty:
            return pd.DataFrame(), None, subs, at_risk
        benchmark = None
        if outcome.benchmarks is not None and not outcome.benchmarks.empty:
            bench = outcome.benchmarks.reindex(preds.index)
            # BMC: the contribution to the benchmark models' equal-weight meta model
            benchmark = build_meta_model(bench, pd.Series(1, index=bench.columns))
        result = score_round(
            preds,
            outcome.targets.reindex(preds.index),
            stakes=pd.Series(
                [at_risk.get(int(m), 0) for m in preds.columns], index=preds.columns, dtype=float
            ),
            features=outcome.features.reindex(preds.index)
            if outcome.features is not None
            else None,
            benchmark_meta_model=benchmark,
        )
        scores, meta = result.scores, result.meta_model
        return scores, meta, subs, at_risk

    def _score_provisional(self, number: int, outcome: Outcome, now: datetime) -> None:
        def op(session: Session) -> None:
            row = self._round(session, number, lock=True)
            if row.state != RoundState.CLOSED.value:
                return
            scores, _meta, subs, _at_risk = self._scores(session, row, outcome)
            _write_scores(session, row, scores, subs, final=False, now=now)
            for sub in subs.values():
                if sub.state == SubmissionState.VALIDATED.value:
                    sub.state = SubmissionState.SCORED.value
            row.state = RoundState.SCORING.value

        self._run(op)

    def resolve(self, number: int) -> ResolutionReport:
        """Resolve a closed round now, if its final outcome is known."""
        info = self.round(number)
        if info.state not in (RoundState.CLOSED.value, RoundState.SCORING.value):
            raise RoundStateError(f"round {number} is {info.state}; only closed rounds resolve")
        now = self.clock.now()
        outcome = self.data.outcome(
            number, self.live_ids(number), closes_at=info.closes_at, now=now
        )
        if outcome is None or not outcome.final:
            raise RoundStateError(f"round {number}'s targets are not final yet")
        return self._resolve(number, outcome, now)

    def _resolve(self, number: int, outcome: Outcome, now: datetime) -> ResolutionReport:
        """Scores, meta model, payouts, burns and releases of one round — atomically."""

        def op(session: Session) -> ResolutionReport:
            row = self._round(session, number, lock=True)
            if row.state == RoundState.RESOLVED.value:
                return ResolutionReport(number, 0, 0, 0, 0, 0, 0, row.payout_factor or "1")
            if row.state not in (RoundState.CLOSED.value, RoundState.SCORING.value):
                raise RoundStateError(f"round {number} is {row.state}; it cannot resolve")
            scores, meta, subs, at_risk = self._scores(session, row, outcome)
            if meta is not None:
                meta_key = _round_key(number, "meta_model.parquet")
                buffer = io.BytesIO()
                meta.to_frame(META_MODEL_COLUMN).to_parquet(buffer)
                self.store.put(meta_key, buffer.getvalue())
                row.meta_model_key = meta_key
            _write_scores(session, row, scores, subs, final=True, now=now)
            report = self._settle(session, row, scores, at_risk)
            for sub in subs.values():
                if sub.state in (SubmissionState.VALIDATED.value, SubmissionState.SCORED.value):
                    sub.state = SubmissionState.RESOLVED.value
            row.state = RoundState.RESOLVED.value
            row.resolved_at = now
            return report

        return self._run(op)

    def _settle(
        self, session: Session, row: Round, scores: pd.DataFrame, at_risk: dict[int, int]
    ) -> ResolutionReport:
        """Payouts from the reward pool (minted up to the cap), burns, then releases."""
        number = row.number
        rules = PayoutRules(
            policy=row.payout_policy,  # type: ignore[arg-type]
            corr_multiplier=row.corr_multiplier,
            mmc_multiplier=row.mmc_multiplier,
            clip=row.payout_clip,
            threshold=row.payout_threshold,
        )
        factor = payout_factor(rules.threshold, row.total_at_risk or 0)
        row.payout_factor = str(factor.normalize())
        amounts: dict[int, int] = {}
        table = _records(scores)
        for model_id, risk in sorted(at_risk.items()):
            if risk <= 0 or model_id not in table:
                continue
            corr, mmc = table[model_id]["corr"], table[model_id]["mmc"]
            if corr is None:
                continue
            amounts[model_id] = payout(risk, corr, mmc, factor=factor, rules=rules)

        ledger = self._ledger(session)
        gains = {m: a for m, a in amounts.items() if a > 0}
        wanted = sum(gains.values())
        minted = 0
        if wanted:
            pool = ledger.balance(REWARD_POOL)
            if pool < wanted:
                room = wanted - pool
                if self.config.mint_cap is not None:
                    room = min(room, self.config.mint_cap - ledger.supply().minted)
                if room > 0:
                    ledger.mint(REWARD_POOL, room, key=f"round:{number}:mint")
                    minted = room
            available = pool + minted
            if available < wanted:  # the cap is reached: pay pro rata, rounding down
                gains = {m: a * available // wanted for m, a in gains.items()}
                gains = {m: a for m, a in gains.items() if a > 0}
                amounts.update({m: gains.get(m, 0) for m in amounts if amounts[m] > 0})
            if gains:
                legs = [Posting(REWARD_POOL, -sum(gains.values()))]
                legs += [Posting(stake(m), a) for m, a in sorted(gains.items())]
                ledger.post(legs, kind="payout", key=f"round:{number}:payouts")

        losses = {m: -a for m, a in amounts.items() if a < 0}
        burned = 0
        if losses:
            held = ledger.balances([a for m in losses for a in (stake(m), pending(m))])
            legs = []
            for model_id, loss in sorted(losses.items()):
                from_stake = min(loss, held[stake(model_id)])
                from_pending = min(loss - from_stake, held[pending(model_id)])
                if from_stake:
                    legs.append(Posting(stake(model_id), -from_stake))
                if from_pending:
                    legs.append(Posting(pending(model_id), -from_pending))
                    _burn_pending(session, model_id, from_pending)
                amounts[model_id] = -(from_stake + from_pending)
                burned += from_stake + from_pending
            if burned:
                legs.append(Posting(BURNED, burned))
                ledger.post(legs, kind="burn", key=f"round:{number}:burns")

        entry_ids: dict[str, int | None] = {
            "payouts": _entry_id(ledger, f"round:{number}:payouts"),
            "burns": _entry_id(ledger, f"round:{number}:burns"),
        }
        payout_rows = [
            {
                "round_id": row.id,
                "model_id": m,
                "stake_at_risk": at_risk[m],
                "amount": amounts.get(m, 0),
                "entry_id": entry_ids["payouts"]
                if amounts.get(m, 0) > 0
                else entry_ids["burns"]
                if amounts.get(m, 0) < 0
                else None,
            }
            for m in sorted(amounts)  # staked and scored
        ]
        if payout_rows:
            session.execute(insert(Payout), payout_rows)

        released = self._release(session, number)
        return ResolutionReport(
            round_number=number,
            scored=len(scores),
            staked=len(payout_rows),
            paid=sum(a for a in amounts.values() if a > 0),
            burned=burned,
            minted=minted,
            released=released,
            payout_factor=row.payout_factor,
        )

    def _release(self, session: Session, number: int) -> int:
        due = list(
            session.scalars(
                select(PendingRelease)
                .where(
                    PendingRelease.released_at.is_(None),
                    PendingRelease.release_round <= number,
                )
                .order_by(PendingRelease.id)
            )
        )
        if not due:
            return 0
        models = {
            m.id: m.account_id
            for m in session.scalars(select(Model).where(Model.id.in_({r.model_id for r in due})))
        }
        legs: list[Posting] = []
        total = 0
        for release in due:
            if release.remaining > 0:
                legs.append(Posting(pending(release.model_id), -release.remaining))
                legs.append(Posting(wallet(models[release.model_id]), release.remaining))
                total += release.remaining
            release.released_at = self.clock.now()
        if legs:
            self._ledger(session).post(legs, kind="release", key=f"round:{number}:releases")
        return total

    # -- submissions --------------------------------------------------------------------

    def submit(
        self,
        model_id: int,
        data: bytes,
        *,
        filename: str = "predictions.csv",
        round_number: int | None = None,
        key: str | None = None,
        owner: int | None = None,
    ) -> SubmissionInfo:
        """Validate and record a prediction file for the open round (or a later one).

        A file that breaks a rule raises the rule's ``SubmissionError`` and nothing is
        stored. Once the round has closed, submissions are accepted as late: scored but not
        staked and not in the meta model. With ``key``, a retried upload returns the
        submission the first attempt recorded instead of recording it twice. With
        ``owner`` (an account id), a model of another account is refused with
        ``PermissionDeniedError`` before the file is read.
        """
        now = self.clock.now()
        # Only a retry-safe upload (with a key) needs the digest before validation, which
        # computes it anyway for the record.
        digest = hashlib.sha256(data).hexdigest() if key is not None else ""
        fingerprint = _fingerprint(model_id, round_number, digest)

        # the model's owner and the round, on a plain connection (as in authenticate)
        with self._read_engine.connect() as conn:
            account_id = conn.scalar(_MODEL_OWNER, {"model_id": model_id})
            found = (
                conn.execute(_ROUND_OPEN)
                if round_number is None
                else conn.execute(_ROUND_NUMBERED, {"number": round_number})
            ).first()
        if account_id is None:
            raise NotFoundError(f"there is no model {model_id}", details={"model_id": model_id})
        if owner is not None and account_id != owner:
            raise PermissionDeniedError(
                f"model {model_id} belongs to another account", details={"model_id": model_id}
            )
        if found is None and round_number is None:
            raise RoundStateError("no round is open for submissions right now")
        if found is None:
            raise NotFoundError(
                f"there is no round {round_number}", details={"round": round_number}
            )
        number, state, live_key = found
        key = _scoped(key, account_id)
        if key is not None:
            earlier = self._submission_for_key(key, fingerprint)
            if earlier is not None:
                return earlier
        if state == RoundState.RESOLVED.value:
            raise RoundStateError(f"round {number} is resolved; it takes no more submissions")
        validated = load_and_validate(
            data,
            self._live_index(number, live_key),
            filename=filename,
            max_bytes=self.config.max_upload_bytes,
        )
        storage_key = f"submissions/{number:05d}/{model_id}/{uuid.uuid4().hex}"
        suffix = ".parquet" if data[:4] == b"PAR1" else ".csv"
        self.store.put(storage_key + suffix, bytes(data))
        self.store.put(storage_key + ".npy", _predictions_bytes(validated.predictions.to_numpy()))

        def op(session: Session) -> SubmissionInfo:
            # prebuilt Core statements on the session's connection: this runs per upload
            conn = session.connection()
            row = conn.execute(_ROUND_TO_RECORD, {"number": number}).first()
            if row is None:  # pragma: no cover - rounds are never deleted
                raise NotFoundError(f"there is no round {number}", details={"round": number})
            round_id, round_state, closes_at = row
            made: list[SubmissionInfo] = []

            def record() -> dict[str, object]:
                if round_state == RoundState.RESOLVED.value:
                    raise RoundStateError(f"round {number} resolved while the file was checked")
                conn.execute(_UNSELECT, {"round": round_id, "model": model_id})
                info = SubmissionInfo(
                    id=0,
                    model_id=model_id,
                    round_number=number,
                    created_at=now,
                    filename=filename[:255],
                    sha256=validated.sha256 or hashlib.sha256(data).hexdigest(),
                    size_bytes=len(data),
                    rows=validated.rows,
                    unknown_ids=validated.unknown_ids,
                    state=SubmissionState.VALIDATED.value,
                    late=round_state != RoundState.OPEN.value or now >= closes_at,
                    selected=True,
                )
                new_id = conn.execute(
                    _INSERT_SUBMISSION,
                    {
                        "model_id": model_id,
                        "round_id": round_id,
                        "created_at": now,
                        "filename": info.filename,
                        "sha256": info.sha256,
                        "storage_key": storage_key,
                        "size_bytes": info.size_bytes,
                        "rows": info.rows,
                        "unknown_ids": info.unknown_ids,
                        "state": info.state,
                        "late": info.late,
                        "selected": True,
                    },
                ).scalar_one()
                made.append(dataclasses.replace(info, id=int(new_id)))
                return {"submission": int(new_id)}

            result = self._once(session, key, "submit", fingerprint, record)
            if made:
                return made[0]
            # the key's first upload, recorded by a concurrent retry
            sub = session.get(Submission, result["submission"])
            if sub is None:  # pragma: no cover - the record and the row commit together
                raise NotFoundError("the submission recorded under this key is gone")
            return _submission_info(sub, number)

        try:
            recorded = self._run(op)
        except BaseException:
            self.store.delete(storage_key + suffix)
            self.store.delete(storage_key + ".npy")
            raise
        stored = None if key is None else self._run(lambda s: s.get(Submission, recorded.id))
        if stored is not None and stored.storage_key != storage_key:
            # a concurrent retry under the same key recorded its own copy first
            self.store.delete(storage_key + suffix)
            self.store.delete(storage_key + ".npy")
        return recorded

    def _submission_for_key(self, key: str, fingerprint: str) -> SubmissionInfo | None:
        def op(session: Session) -> SubmissionInfo | None:
            record = session.scalar(select(IdempotencyRecord).where(IdempotencyRecord.key == key))
            if record is None:
                return None
            if record.operation != "submit" or record.fingerprint != fingerprint:
                raise IdempotencyKeyReusedError(
                    f"idempotency key {key!r} was already used for another "
                    f"{record.operation}; use a new key for a new upload",
                    details={"key": key},
                )
            found = session.execute(
                select(Submission, Round.number)
                .join(Round, Round.id == Submission.round_id)
                .where(Submission.id == json.loads(record.result)["submission"])
            ).one()
            return _submission_info(found[0], found[1])

        return self._read(op)

    def submissions(
        self, *, model_id: int | None = None, round_number: int | None = None
    ) -> list[SubmissionInfo]:
        def op(session: Session) -> list[SubmissionInfo]:
            query = (
                select(Submission, Round.number)
                .join(Round, Round.id == Submission.round_id)
                .order_by(Submission.id)
            )
            if model_id is not None:
                query = query.where(Submission.model_id == model_id)
            if round_number is not None:
                query = query.where(Round.number == round_number)
            return [_submission_info(sub, n) for sub, n in session.execute(query).all()]

        return self._read(op)

    def submission_file(self, submission_id: int) -> bytes:
        """The file exactly as uploaded, checked against the hash recorded at upload."""
        sub = self._read(lambda s: s.get(Submission, submission_id))
        if sub is None or sub.storage_key is None:
            raise NotFoundError(f"there is no submission {submission_id}")
        for suffix in (".csv", ".parquet"):
            key = sub.storage_key + suffix
            if self.store.exists(key):
                data = self.store.get(key)
                if hashlib.sha256(data).hexdigest() != sub.sha256:
                    raise ConflictError(
                        f"submission {submission_id}'s stored file does not match the hash "
                        "recorded at upload: it was altered",
                        details={"sha256": sub.sha256},
                    )
                return data
        raise NotFoundError(f"submission {submission_id}'s file is missing from storage")

    # -- scores, payouts, leaderboard ---------------------------------------------------

    def scores(
        self, *, model_id: int | None = None, round_number: int | None = None
    ) -> list[ScoreInfo]:
        def op(session: Session) -> list[ScoreInfo]:
            query = select(Score, Round.number).join(Round, Round.id == Score.round_id)
            if model_id is not None:
                query = query.where(Score.model_id == model_id)
            if round_number is not None:
                query = query.where(Round.number == round_number)
            query = query.order_by(Round.number, Score.model_id)
            return [
                ScoreInfo(n, s.model_id, s.corr, s.mmc, s.fnc, s.bmc, s.final, s.scored_at)
                for s, n in session.execute(query).all()
            ]

        return self._read(op)

    def payouts(
        self, *, model_id: int | None = None, round_number: int | None = None
    ) -> list[PayoutInfo]:
        def op(session: Session) -> list[PayoutInfo]:
            query = select(Payout, Round.number).join(Round, Round.id == Payout.round_id)
            if model_id is not None:
                query = query.where(Payout.model_id == model_id)
            if round_number is not None:
                query = query.where(Round.number == round_number)
            query = query.order_by(Round.number, Payout.model_id)
            return [
                PayoutInfo(n, p.model_id, p.stake_at_risk, p.amount)
                for p, n in session.execute(query).all()
            ]

        return self._read(op)

    def meta_model(self, number: int) -> pd.Series:
        """A resolved round's meta model (published to participants after resolution)."""
        info = self.round(number)
        if info.meta_model_key is None:
            raise NotFoundError(f"round {number} has no meta model (unresolved or unstaked)")
        frame = pd.read_parquet(io.BytesIO(self.store.get(info.meta_model_key)))
        return frame[META_MODEL_COLUMN]

    def leaderboard(
        self, *, by: str = "reputation", limit: int | None = None, offset: int = 0
    ) -> list[LeaderboardRow]:
        """Models ranked by reputation (mean final CORR over the reputation window) or stake:
        ``limit`` rows from rank ``offset + 1`` (all of them by default)."""
        if by not in ("reputation", "stake"):
            raise InvalidParameterError("rank the leaderboard by 'reputation' or 'stake'")
        if offset < 0 or (limit is not None and limit < 0):
            raise InvalidParameterError("the leaderboard's limit and offset cannot be negative")
        since = self.clock.now() - self.config.reputation_window

        def op(session: Session) -> list[LeaderboardRow]:
            models = session.execute(
                select(Model.id, Model.name, Account.username).join(
                    Account, Account.id == Model.account_id
                )
            ).all()
            stats = {
                model_id: (mean, count)
                for model_id, mean, count in session.execute(
                    select(Score.model_id, func.avg(Score.corr), func.count())
                    .join(Round, Round.id == Score.round_id)
                    .where(Score.final, Round.resolved_at >= since, Score.corr.is_not(None))
                    .group_by(Score.model_id)
                ).all()
            }
            stakes = self._ledger(session).balances([stake(m) for m, _, _ in models])
            rows = []
            for model_id, name, username in models:
                mean, count = stats.get(model_id, (None, 0))
                rows.append(
                    (
                        model_id,
                        name,
                        username,
                        stakes[stake(model_id)],
                        None if mean is None else float(mean),
                        int(count),
                    )
                )
            if by == "stake":
                rows.sort(key=lambda r: (-r[3], r[1]))
            else:
                rows.sort(key=lambda r: (r[4] is None, -(r[4] or 0.0), r[1]))
            chosen = rows[offset:] if limit is None else rows[offset : offset + limit]
            return [
                LeaderboardRow(offset + i + 1, m, n, u, s, rep, c)
                for i, (m, n, u, s, rep, c) in enumerate(chosen)
            ]

        return self._read(op)

    def account_reputation(self, account_id: int) -> float | None:
        """The stake-weighted average of the account's models' reputations (a plain mean
        when nothing is staked); None before any of its models has a final score."""
        self.account(account_id)
        mine = {m.id for m in self.models(account_id)}
        rated = [r for r in self.leaderboard() if r.model_id in mine and r.reputation is not None]
        if not rated:
            return None
        total = sum(r.stake for r in rated)
        if total == 0:
            return sum(r.reputation or 0.0 for r in rated) / len(rated)
        return sum((r.reputation or 0.0) * r.stake for r in rated) / total


_METRICS = ("corr", "mmc", "fnc", "bmc")


def _records(scores: pd.DataFrame) -> dict[int, dict[str, float | None]]:
    """Scores per model id: each metric as a float, or None when missing or not finite."""
    columns = {
        metric: scores[metric].to_numpy(dtype=np.float64) if metric in scores.columns else None
        for metric in _METRICS
    }
    out: dict[int, dict[str, float | None]] = {}
    for i, model_id in enumerate(scores.index):
        out[int(model_id)] = {
            metric: float(values[i]) if values is not None and np.isfinite(values[i]) else None
            for metric, values in columns.items()
        }
    return out


def _entry_id(ledger: SqlLedger, key: str) -> int | None:
    entry = ledger.entry_for_key(key)
    return None if entry is None else entry.id


def _burn_pending(session: Session, model_id: int, amount: int) -> None:
    """Take a burn out of the model's pending releases, oldest first."""
    left = amount
    for release in session.scalars(
        select(PendingRelease)
        .where(PendingRelease.model_id == model_id, PendingRelease.released_at.is_(None))
        .order_by(PendingRelease.id)
    ):
        take = min(left, release.remaining)
        release.remaining -= take
        left -= take
        if left == 0:
            break


def _write_scores(
    session: Session,
    row: Round,
    scores: pd.DataFrame,
    subs: dict[int, Submission],
    *,
    final: bool,
    now: datetime,
) -> None:
    """Replace the round's score rows (provisional ones are superseded by final ones)."""
    session.execute(delete(Score).where(Score.round_id == row.id))
    if scores.empty:
        return

    session.execute(
        insert(Score),
        [
            {
                "round_id": row.id,
                "model_id": model_id,
                "submission_id": subs[model_id].id,
                **metrics,
                "final": final,
                "scored_at": now,
            }
            for model_id, metrics in _records(scores).items()
        ],
    )

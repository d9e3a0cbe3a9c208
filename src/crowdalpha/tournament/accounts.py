"""Accounts, their API keys, and who a request acts as.

Accounts (and their wallets, in the ledger) are shared by every competition. An API key
is a public id plus a secret of which only a hash is kept; :meth:`Accounts.authenticate`
turns ``PUBLIC_ID$SECRET`` into a :class:`~crowdalpha.tournament.views.Principal`.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence
from datetime import timedelta
from decimal import Decimal
from typing import Any, Final

from sqlalchemy import Row, bindparam, func, select, update
from sqlalchemy.orm import Session

from crowdalpha.errors import (
    AuthenticationError,
    ConflictError,
    InvalidInputError,
    InvalidParameterError,
    NotFoundError,
    PermissionDeniedError,
)
from crowdalpha.tournament.models import Account, ApiKey
from crowdalpha.tournament.unit_of_work import UnitOfWork
from crowdalpha.tournament.views import AccountInfo, ApiKeyInfo, Principal

__all__ = ["NAME_CHARS", "SCOPES", "Accounts", "get_account"]

#: What an API key may do: read, upload predictions, change stakes, or (operators) anything.
SCOPES = ("read", "upload", "stake", "admin")
#: The characters of usernames and model names (case-insensitive).
NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_")

# An API key with its account, for authenticate: built once (SQLAlchemy caches a statement
# object's compiled form, and every request runs this one).
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


def account_info(row: Account) -> AccountInfo:
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


def key_info(row: ApiKey | Row[*tuple[Any, ...]]) -> ApiKeyInfo:
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


def get_account(session: Session, account_id: int) -> Account:
    row = session.get(Account, account_id)
    if row is None:
        raise NotFoundError(f"there is no account {account_id}", details={"account_id": account_id})
    return row


def _secret_hash(secret: str) -> str:
    # Secrets are 256 random bits, so one SHA-256 is enough (no password stretching needed).
    return hashlib.sha256(secret.encode()).hexdigest()


class Accounts:
    """Accounts, risk limits, API keys and authentication."""

    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow

    # -- accounts -------------------------------------------------------------------------

    def create(
        self,
        username: str,
        email: str,
        *,
        wallet_address: str | None = None,
        is_operator: bool = False,
    ) -> AccountInfo:
        """A new participant (or operator) account with an empty wallet."""
        name = username.strip()
        if not (3 <= len(name) <= 64) or not set(name.lower()) <= NAME_CHARS:
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
                created_at=self.uow.clock.now(),
            )
            session.add(row)
            session.flush()
            return account_info(row)

        return self.uow.run(op)

    def get(self, account_id: int) -> AccountInfo:
        return self.uow.read(lambda s: account_info(get_account(s, account_id)))

    def by_username(self, username: str) -> AccountInfo:
        def op(session: Session) -> AccountInfo:
            row = session.scalar(
                select(Account).where(func.lower(Account.username) == username.lower())
            )
            if row is None:
                raise NotFoundError(f"there is no account {username!r}")
            return account_info(row)

        return self.uow.read(op)

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
            row = get_account(session, account_id)
            row.max_stake = max_stake
            row.max_stake_share_ppm = ppm
            return account_info(row)

        return self.uow.run(op)

    # -- API keys -------------------------------------------------------------------------

    def create_key(
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
            account = get_account(session, account_id)
            if "admin" in wanted and not account.is_operator:
                raise PermissionDeniedError("only operator accounts may hold admin keys")
            row = ApiKey(
                account_id=account_id,
                public_id=public_id,
                secret_hash=_secret_hash(secret),
                name=name[:100],
                scopes=" ".join(sorted(wanted)),
                created_at=self.uow.clock.now(),
            )
            session.add(row)
            session.flush()
            return key_info(row)

        return self.uow.run(op), secret

    def keys(self, account_id: int) -> list[ApiKeyInfo]:
        def op(session: Session) -> list[ApiKeyInfo]:
            rows = session.scalars(
                select(ApiKey).where(ApiKey.account_id == account_id).order_by(ApiKey.id)
            )
            return [key_info(r) for r in rows]

        return self.uow.read(op)

    def revoke_key(self, account_id: int, public_id: str) -> ApiKeyInfo:
        """Revoke one of the account's keys (at once, for every later request)."""

        def op(session: Session) -> ApiKeyInfo:
            row = session.scalar(select(ApiKey).where(ApiKey.public_id == public_id))
            if row is None or row.account_id != account_id:
                raise NotFoundError(f"the account has no API key {public_id!r}")
            if row.revoked_at is None:
                row.revoked_at = self.uow.clock.now()
            return key_info(row)

        return self.uow.run(op)

    def principal(self, account_id: int, public_id: str) -> Principal | None:
        """The account and key of a signed-in session, if that key of that account still
        exists unrevoked (the web UI re-checks its session with it on every page)."""
        with self.uow.connection() as conn:
            found = conn.execute(_PRINCIPAL, {"public_id": public_id}).first()
        if found is None or found.account_id != account_id or found.revoked_at is not None:
            return None
        return _principal(found)

    def authenticate(self, public_id: str, secret: str) -> Principal:
        """The account and key behind a public id and secret; AuthenticationError if none."""
        if not public_id or not secret:
            raise AuthenticationError("missing API key: send 'Authorization: Token PUBLIC$SECRET'")
        now = self.uow.clock.now()
        # Every request comes here: one statement on a plain connection, no write lock.
        with self.uow.connection() as conn:
            found = conn.execute(_PRINCIPAL, {"public_id": public_id}).first()
        # Compare even when the key is unknown, so timing does not tell which ids exist.
        expected = found.secret_hash if found is not None else _secret_hash("")
        if not hmac.compare_digest(expected, _secret_hash(secret)) or found is None:
            raise AuthenticationError("wrong API key: check the public id and the secret")
        if found.revoked_at is not None:
            raise AuthenticationError("this API key was revoked; create a new one")
        principal = _principal(found)
        last = principal.key.last_used_at
        if last is None or now - last > timedelta(minutes=1):  # at most once a minute

            def touch(session: Session) -> None:
                session.execute(
                    update(ApiKey).where(ApiKey.public_id == public_id).values(last_used_at=now)
                )

            self.uow.run(touch)
        return principal


def _principal(found: Row[*tuple[Any, ...]]) -> Principal:
    return Principal(
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
        key_info(found),
    )

"""API keys: a secret shown once and stored only as a hash, scopes, revocation."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from sqlalchemy import select

from crowdalpha.db import session_factory
from crowdalpha.errors import (
    AuthenticationError,
    InvalidParameterError,
    NotFoundError,
    PermissionDeniedError,
)
from crowdalpha.tournament import ManualClock, Tournament
from crowdalpha.tournament.models import ApiKey


def test_keys_authenticate_and_only_a_hash_is_stored(
    tournament: Tournament, clock: ManualClock
) -> None:
    t = tournament
    acct = t.create_account("nina", "nina@example.org")
    key, secret = t.create_api_key(acct.id, scopes=["read", "upload"], name="laptop")
    assert "$" not in key.public_id and "$" not in secret and len(secret) >= 40
    principal = t.authenticate(key.public_id, secret)
    assert principal.account.id == acct.id and principal.key.scopes == {"read", "upload"}
    assert principal.has("upload") and not principal.has("stake")
    with session_factory(t.engine)() as session:
        row = session.scalar(select(ApiKey))
        assert row is not None
        assert secret not in (row.secret_hash, row.public_id, row.name, row.scopes)
        assert row.secret_hash == hashlib.sha256(secret.encode()).hexdigest()
        assert row.last_used_at == clock.now()
    for public_id, wrong in [(key.public_id, secret + "x"), ("NOPE", secret), (key.public_id, "")]:
        with pytest.raises(AuthenticationError):
            t.authenticate(public_id, wrong)
    clock.advance(timedelta(minutes=5))
    revoked = t.revoke_api_key(acct.id, key.public_id)
    assert revoked.revoked_at == clock.now()
    with pytest.raises(AuthenticationError, match="revoked"):
        t.authenticate(key.public_id, secret)
    assert [k.public_id for k in t.api_keys(acct.id)] == [key.public_id]


def test_key_refusals(tournament: Tournament) -> None:
    t = tournament
    acct = t.create_account("omar", "omar@example.org")
    other = t.create_account("pia", "pia@example.org")
    with pytest.raises(InvalidParameterError):
        t.create_api_key(acct.id, scopes=["everything"])
    with pytest.raises(InvalidParameterError):
        t.create_api_key(acct.id, scopes=[])
    with pytest.raises(PermissionDeniedError, match="operator"):
        t.create_api_key(acct.id, scopes=["admin"])
    key, _ = t.create_api_key(acct.id)
    with pytest.raises(NotFoundError):
        t.revoke_api_key(other.id, key.public_id)  # not theirs
    op = t.create_account("operator", "op@example.org", is_operator=True)
    admin, secret = t.create_api_key(op.id, scopes=["admin"])
    assert t.authenticate(admin.public_id, secret).has("stake")


def test_closing_a_tournament_returns_every_connection(tournament: Tournament) -> None:
    account = tournament.create_account("olga", "olga@example.org")
    key, secret = tournament.create_api_key(account.id)
    with tournament as t:
        assert t.authenticate(key.public_id, secret).account.id == account.id  # read engine
        assert t.create_model(account.id, "olga_1").account_id == account.id  # the main engine
    pools = [tournament.engine.pool, tournament.uow.read_engine.pool]
    assert all(pool.checkedin() == 0 and pool.checkedout() == 0 for pool in pools)

"""Signed-in sessions and CSRF tokens for the web pages.

The session cookie is a token signed with a key derived from the server's signing key
(HMAC-SHA256), carrying the account id, the API key's *public* id and an expiry — never
the secret, in clear or otherwise. Each request looks the key up again, so a revoked key
signs its sessions out at once. The cookie is HttpOnly and SameSite=Strict (Secure when
the site is served over HTTPS).

CSRF: a random nonce in a second HttpOnly, SameSite=Strict cookie; every POST form
carries ``HMAC(csrf key, nonce)`` in a hidden field, and a POST whose field does not match
its cookie is refused (403). Signing in issues a fresh nonce.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from crowdalpha.errors import AuthenticationError
from crowdalpha.server.signing import Signer
from crowdalpha.tournament import Principal

__all__ = [
    "CSRF_COOKIE",
    "CSRF_FIELD",
    "SESSION_COOKIE",
    "SESSION_TTL",
    "SessionData",
    "SessionKeys",
]

SESSION_COOKIE = "crowdalpha_session"
CSRF_COOKIE = "crowdalpha_csrf"
CSRF_FIELD = "csrf_token"
SESSION_TTL = 12 * 3600
_PURPOSE = "web-session"


def _derive(key: bytes, label: bytes) -> bytes:
    return hmac.new(key, b"crowdalpha web: " + label, hashlib.sha256).digest()


@dataclass(frozen=True)
class SessionData:
    account_id: int
    public_id: str


class SessionKeys:
    """Session tokens and CSRF tokens, under keys derived from the app's signing key (so
    a signed download URL is never a session, nor the other way round)."""

    def __init__(self, signing_key: bytes, ttl: int = SESSION_TTL) -> None:
        self._sessions = Signer(_derive(signing_key, b"session"), ttl=ttl)
        self._csrf_key = _derive(signing_key, b"csrf")
        self.ttl = ttl

    def session_token(self, principal: Principal) -> str:
        return self._sessions.sign(_PURPOSE, a=principal.account.id, k=principal.key.public_id)

    def read_session(self, token: str | None) -> SessionData | None:
        """The session a cookie holds; None when absent, forged or expired."""
        if not token:
            return None
        try:
            facts = self._sessions.verify(token, _PURPOSE)
            return SessionData(account_id=int(facts["a"]), public_id=str(facts["k"]))
        except (AuthenticationError, KeyError, TypeError, ValueError):
            return None

    @staticmethod
    def new_nonce() -> str:
        return secrets.token_urlsafe(24)

    def csrf_token(self, nonce: str) -> str:
        return hmac.new(self._csrf_key, nonce.encode(), hashlib.sha256).hexdigest()

    def csrf_ok(self, nonce: str | None, token: str | None) -> bool:
        if not nonce or not token:
            return False
        return hmac.compare_digest(self.csrf_token(nonce), token)

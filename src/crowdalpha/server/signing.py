"""Signed, expiring URLs for downloads and uploads (what numerapi GETs and PUTs)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from typing import Any

from crowdalpha.errors import AuthenticationError

__all__ = ["Signer"]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class Signer:
    """Tokens ``payload.signature`` carrying a purpose, facts and an expiry time."""

    key: bytes
    ttl: int = 3600

    def sign(self, purpose: str, **facts: Any) -> str:
        payload = {"p": purpose, "e": int(time.time()) + self.ttl, **facts}
        body = _b64(json.dumps(payload, separators=(",", ":"), sort_keys=True).encode())
        mac = hmac.new(self.key, body.encode(), hashlib.sha256).digest()
        return f"{body}.{_b64(mac)}"

    def verify(self, token: str, purpose: str) -> dict[str, Any]:
        """The facts of a valid, unexpired token for ``purpose``; AuthenticationError else."""
        body, _, mac = token.partition(".")
        try:
            expected = hmac.new(self.key, body.encode(), hashlib.sha256).digest()
            if not mac or not hmac.compare_digest(expected, _unb64(mac)):
                raise ValueError("bad signature")
            payload: dict[str, Any] = json.loads(_unb64(body))
        except (ValueError, TypeError):
            raise AuthenticationError("this link is not valid; ask the API for a new one") from None
        if payload.get("p") != purpose:
            raise AuthenticationError("this link is for something else")
        if int(payload.get("e", 0)) < time.time():
            raise AuthenticationError("this link has expired; ask the API for a new one")
        return payload

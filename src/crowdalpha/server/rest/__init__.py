"""Our REST API (``/v1``): sign-up, API keys, the account and its wallet, models, rounds,
datasets, submissions, stakes, scores, payouts, the leaderboard, models' webhooks and
profiles, and operators' routes.
Documented by the app's OpenAPI schema (``/openapi.json``, ``/docs``).

Authentication: ``Authorization: Token PUBLIC_ID$SECRET_KEY``; scopes ``read``,
``upload``, ``stake``, ``admin``. Amounts are strings of NMR with up to 18 decimals
(``"12.5"``), never floats; times are ISO-8601 with a time zone. Operations that move NMR
or record a file accept an ``Idempotency-Key`` header. Errors come in one shape,
``{"error": {"code", "message", "details"}}`` (see :mod:`crowdalpha.server.errors`).
"""

from __future__ import annotations

from fastapi import APIRouter

from crowdalpha.server.rest import admin, consistency, governance, participant, profile

__all__ = ["router"]

router = APIRouter()
router.include_router(participant.router)
router.include_router(consistency.router)
router.include_router(profile.router)
router.include_router(admin.router)
router.include_router(governance.router)

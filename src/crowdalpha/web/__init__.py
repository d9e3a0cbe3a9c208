"""The web UI: server-rendered pages (Jinja2, autoescaped), one stylesheet, inline SVG
charts — no JavaScript, no build step, nothing from a CDN.

``mount_web(app)`` adds the pages to the server's FastAPI app: the leaderboard, rounds,
models, the signed-in account (wallet, stakes, payouts, API keys) and the operator's
dashboard. Sign-in takes an API key's public id and secret and keeps a signed,
HttpOnly, SameSite=Strict session cookie that never holds the secret.
"""

from crowdalpha.web.pages import WebState, mount_web, router

__all__ = ["WebState", "mount_web", "router"]

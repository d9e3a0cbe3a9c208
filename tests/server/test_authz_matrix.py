"""The authorization matrix: every REST route (and the signed-file routes) × every kind of
caller, the expected answer written down in one table.

Callers: ``anon`` (no key), ``owner`` (bob's full key, on bob's objects), ``other`` (alice's
full key, on bob's objects), ``read`` (a read-only key of bob's), ``admin`` (the operator's
admin key — an admin acts on participants' objects only through the admin routes).

Answers: ``ok`` (served: any status but 401/403/404), ``401``, ``403``, ``404`` (another
account's key is not even shown to exist). A route of the app without a row fails the
suite (:func:`test_every_route_has_a_row`), so a new route must state its policy here.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.routing import APIRoute
from tests.server.rest_support import Participant, Served, auth, served

from crowdalpha.server import files, health, metrics

__all__ = ["served"]

CALLERS = ("anon", "owner", "other", "read", "admin")


@dataclass
class World:
    s: Served
    bob: Participant
    alice: Participant
    model: int
    submission: int
    round: int
    dataset: str
    file_url: str
    upload_url: str

    def token(self, caller: str) -> str | None:
        return {
            "anon": None,
            "owner": self.bob.token,
            "other": self.alice.token,
            "read": self.s.key(self.bob, "read"),
            "admin": self.s.admin_token,
        }[caller]


# method, route path (as the app declares it) → (request, {caller: answer})
Request = Callable[[World], tuple[str, dict[str, Any]]]


def _fresh_key(w: World) -> str:
    return w.s.key(w.bob, "read").split("$")[0]


def _new_account(_w: World) -> dict[str, Any]:
    name = f"u{uuid.uuid4().hex[:10]}"
    return {"json": {"username": name, "email": f"{name}@example.org"}}


OK = "ok"
ALL_OK = dict.fromkeys(CALLERS, OK)
SIGNED_IN = {"anon": "401", "owner": OK, "other": OK, "read": OK, "admin": OK}
OWNED_READ = {"anon": "401", "owner": OK, "other": "403", "read": OK, "admin": "403"}
OWNED_WRITE = {"anon": "401", "owner": OK, "other": "403", "read": "403", "admin": "403"}
ADMIN_ONLY = {"anon": "401", "owner": "403", "other": "403", "read": "403", "admin": OK}
PUBLIC_HOOK = "https://93.184.216.34/hook"

MATRIX: dict[
    tuple[str, str], tuple[Callable[[World], tuple[str, dict[str, Any]]], dict[str, str]]
] = {
    ("GET", "/v1/health"): (lambda w: ("/v1/health", {}), ALL_OK),
    ("POST", "/v1/accounts"): (lambda w: ("/v1/accounts", _new_account(w)), ALL_OK),
    ("GET", "/v1/account"): (lambda w: ("/v1/account", {}), SIGNED_IN),
    ("GET", "/v1/account/keys"): (lambda w: ("/v1/account/keys", {}), SIGNED_IN),
    ("POST", "/v1/account/keys"): (
        lambda w: ("/v1/account/keys", {"json": {"scopes": ["read"]}}),
        SIGNED_IN,
    ),
    ("DELETE", "/v1/account/keys/{public_id}"): (
        lambda w: (f"/v1/account/keys/{_fresh_key(w)}", {}),
        {"anon": "401", "owner": OK, "other": "404", "read": OK, "admin": "404"},
    ),
    ("GET", "/v1/account/wallet"): (lambda w: ("/v1/account/wallet", {}), SIGNED_IN),
    ("GET", "/v1/account/wallet/history"): (
        lambda w: ("/v1/account/wallet/history", {}),
        SIGNED_IN,
    ),
    ("GET", "/v1/models"): (lambda w: ("/v1/models", {}), SIGNED_IN),
    ("POST", "/v1/models"): (
        lambda w: ("/v1/models", {"json": {"name": f"m{uuid.uuid4().hex[:8]}"}}),
        {"anon": "401", "owner": OK, "other": OK, "read": "403", "admin": OK},
    ),
    ("GET", "/v1/models/{model_id}"): (lambda w: (f"/v1/models/{w.model}", {}), OWNED_READ),
    ("GET", "/v1/models/{model_id}/stake"): (
        lambda w: (f"/v1/models/{w.model}/stake", {}),
        OWNED_READ,
    ),
    ("POST", "/v1/models/{model_id}/stake/increase"): (
        lambda w: (f"/v1/models/{w.model}/stake/increase", {"json": {"amount": "1"}}),
        OWNED_WRITE,
    ),
    ("POST", "/v1/models/{model_id}/stake/decrease"): (
        lambda w: (f"/v1/models/{w.model}/stake/decrease", {"json": {"amount": "1"}}),
        OWNED_WRITE,
    ),
    ("PUT", "/v1/models/{model_id}/stake"): (
        lambda w: (f"/v1/models/{w.model}/stake", {"json": {"amount": "10"}}),
        OWNED_WRITE,
    ),
    ("GET", "/v1/rounds"): (lambda w: ("/v1/rounds", {}), ALL_OK),
    ("GET", "/v1/rounds/current"): (lambda w: ("/v1/rounds/current", {}), ALL_OK),
    ("GET", "/v1/rounds/{number}"): (lambda w: (f"/v1/rounds/{w.round}", {}), ALL_OK),
    ("GET", "/v1/rounds/{number}/datasets"): (
        lambda w: (f"/v1/rounds/{w.round}/datasets", {}),
        ALL_OK,
    ),
    ("GET", "/v1/rounds/{number}/datasets/{name}"): (
        lambda w: (f"/v1/rounds/{w.round}/datasets/{w.dataset}", {}),
        ALL_OK,
    ),
    ("POST", "/v1/models/{model_id}/submissions"): (
        lambda w: (f"/v1/models/{w.model}/submissions", {"content": w.s.live_csv(w.round)}),
        OWNED_WRITE,
    ),
    ("GET", "/v1/models/{model_id}/submissions"): (
        lambda w: (f"/v1/models/{w.model}/submissions", {}),
        OWNED_READ,
    ),
    ("GET", "/v1/submissions/{submission_id}"): (
        lambda w: (f"/v1/submissions/{w.submission}", {}),
        OWNED_READ,
    ),
    ("GET", "/v1/submissions/{submission_id}/file"): (
        lambda w: (f"/v1/submissions/{w.submission}/file", {}),
        OWNED_READ,
    ),
    ("GET", "/v1/models/{model_id}/scores"): (
        lambda w: (f"/v1/models/{w.model}/scores", {}),
        OWNED_READ,
    ),
    ("GET", "/v1/models/{model_id}/consistency"): (
        lambda w: (f"/v1/models/{w.model}/consistency", {}),
        OWNED_READ,
    ),
    ("GET", "/v1/models/{model_id}/payouts"): (
        lambda w: (f"/v1/models/{w.model}/payouts", {}),
        OWNED_READ,
    ),
    # a model's public profile: read to look, upload to change; its webhook: upload for
    # both (the answer carries the signing secret). An IP literal on a public address, so
    # no name is resolved.
    ("GET", "/v1/models/{model_id}/webhook"): (
        lambda w: (f"/v1/models/{w.model}/webhook", {}),
        OWNED_WRITE,
    ),
    ("PUT", "/v1/models/{model_id}/webhook"): (
        lambda w: (f"/v1/models/{w.model}/webhook", {"json": {"url": PUBLIC_HOOK}}),
        OWNED_WRITE,
    ),
    ("DELETE", "/v1/models/{model_id}/webhook"): (
        lambda w: (f"/v1/models/{w.model}/webhook", {}),
        OWNED_WRITE,
    ),
    ("GET", "/v1/models/{model_id}/profile"): (
        lambda w: (f"/v1/models/{w.model}/profile", {}),
        OWNED_READ,
    ),
    ("PUT", "/v1/models/{model_id}/profile/bio"): (
        lambda w: (f"/v1/models/{w.model}/profile/bio", {"json": {"bio": "ridge"}}),
        OWNED_WRITE,
    ),
    ("PUT", "/v1/models/{model_id}/profile/link"): (
        lambda w: (f"/v1/models/{w.model}/profile/link", {"json": {"url": PUBLIC_HOOK}}),
        OWNED_WRITE,
    ),
    ("GET", "/v1/leaderboard"): (lambda w: ("/v1/leaderboard", {}), ALL_OK),
    ("POST", "/v1/admin/grants"): (
        lambda w: ("/v1/admin/grants", {"json": {"amount": "1", "username": "bob"}}),
        ADMIN_ONLY,
    ),
    ("GET", "/v1/admin/submissions"): (lambda w: ("/v1/admin/submissions", {}), ADMIN_ONLY),
    ("GET", "/v1/admin/ledger/check"): (lambda w: ("/v1/admin/ledger/check", {}), ADMIN_ONLY),
    ("GET", "/v1/admin/duplicates"): (lambda w: ("/v1/admin/duplicates", {}), ADMIN_ONLY),
    ("POST", "/v1/admin/tick"): (lambda w: ("/v1/admin/tick", {}), ADMIN_ONLY),
    # governance: any key reads; proposing and voting need the stake scope (a proposal
    # that does not exist is 404 to every caller allowed to ask)
    ("GET", "/v1/governance/proposals"): (lambda w: ("/v1/governance/proposals", {}), SIGNED_IN),
    ("GET", "/v1/governance/proposals/{proposal_id}"): (
        lambda w: ("/v1/governance/proposals/999999", {}),
        {"anon": "401", "owner": "404", "other": "404", "read": "404", "admin": "404"},
    ),
    ("POST", "/v1/governance/proposals"): (
        lambda w: (
            "/v1/governance/proposals",
            {"json": {"title": "t", "competition": "classic", "changes": {"clip": "0.06"}}},
        ),
        {"anon": "401", "owner": OK, "other": OK, "read": "403", "admin": OK},
    ),
    ("POST", "/v1/governance/proposals/{proposal_id}/votes"): (
        lambda w: ("/v1/governance/proposals/999999/votes", {"json": {"choice": "for"}}),
        {"anon": "401", "owner": "404", "other": "404", "read": "403", "admin": "404"},
    ),
    ("GET", "/v1/governance/parameters"): (
        lambda w: ("/v1/governance/parameters", {}),
        SIGNED_IN,
    ),
    ("GET", "/v1/governance/verify"): (lambda w: ("/v1/governance/verify", {}), SIGNED_IN),
    # GraphQL answers every caller at the HTTP level; its fields check keys themselves,
    # each field × caller in its own matrix (test_authz_graphql.py)
    ("POST", "/graphql"): (lambda w: ("/graphql", {"json": {"query": "{ __typename }"}}), ALL_OK),
    # signed URLs: the token is the credential, whoever presents it (keys are ignored)
    ("GET", "/files/{token}/{name}"): (lambda w: (w.file_url, {}), ALL_OK),
    ("PUT", "/uploads/{token}"): (
        lambda w: (w.upload_url, {"content": w.s.live_csv(w.round)}),
        ALL_OK,
    ),
    # operations: the probes for anyone, the metrics for an admin key (CROWDALPHA_METRICS)
    ("GET", "/healthz"): (lambda w: ("/healthz", {}), ALL_OK),
    ("GET", "/readyz"): (lambda w: ("/readyz", {}), ALL_OK),
    ("GET", "/metrics"): (lambda w: ("/metrics", {}), ADMIN_ONLY),
}


@pytest.fixture
def world(served: Served) -> World:
    s = served
    bob = s.sign_up("bob", grant="100")
    alice = s.sign_up("alice", grant="100")
    model = s.create_model(bob, "bob_m")
    s.create_model(alice, "alice_m")
    number = s.open_round()
    up = s.client.post(
        f"/v1/models/{model}/submissions", content=s.live_csv(number), headers=bob.headers
    )
    assert up.status_code == 201, up.text
    datasets = s.client.get(f"/v1/rounds/{number}/datasets").json()
    dataset = datasets[0]["name"]
    context = s.app.state.context
    file_url = context.download_url(s.tournament.dataset_key(number, dataset))
    upload_url = context.upload_url("uploads/matrix/predictions.csv", bob.account_id)
    return World(s, bob, alice, model, int(up.json()["id"]), number, dataset, file_url, upload_url)


def _answer(status: int) -> str:
    return str(status) if status in (401, 403, 404) else OK


def test_every_route_has_a_row(served: Served) -> None:
    # the documented API (every /v1 route), and the routes kept out of it: signed files,
    # probes and metrics
    documented = {
        (method.upper(), path)
        for path, operations in served.app.openapi()["paths"].items()
        for method in operations
    }
    undocumented = {
        (method, route.path)
        for router in (files.router, health.router, metrics.make_router("admin"))
        for route in router.routes
        if isinstance(route, APIRoute)
        for method in route.methods or ()
    }
    assert documented | undocumented == set(MATRIX), "add the new route's row to MATRIX"


def test_the_matrix(world: World) -> None:
    """Every row, every caller (one deployment for all: the suite's time stays small)."""
    wrong = {}
    for method, path_template in sorted(MATRIX):
        request, expected = MATRIX[(method, path_template)]
        seen = {}
        statuses = {}
        for caller in CALLERS:
            path, kwargs = request(world)
            token = world.token(caller)
            headers = auth(token) if token else {}
            response = world.s.client.request(
                method, path, headers=headers, follow_redirects=False, **kwargs
            )
            assert response.status_code < 500, (method, path, caller, response.text)
            seen[caller] = _answer(response.status_code)
            statuses[caller] = response.status_code
        if seen != expected:
            wrong[f"{method} {path_template}"] = {"expected": expected, "got": statuses}
    assert not wrong, wrong

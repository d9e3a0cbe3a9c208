"""Every refusal of the REST API: cross-account actions, scope mismatches, bad input —
each answered in the one error shape with the right code, and each leaving the tournament
exactly as it was (no model, submission, file, stake or NMR moved)."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import Engine
from tests.server.rest_support import Participant, Served, auth, build, predictions_csv, served

from crowdalpha.ledger import nmr

__all__ = ["served"]


def refused(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    assert isinstance(body["error"]["details"], dict)
    return dict(body["error"])


@pytest.fixture
def two(served: Served) -> tuple[Served, Participant, Participant]:
    alice = served.sign_up("alice", grant="100")
    bob = served.sign_up("bob", grant="100")
    served.create_model(alice, "alice_m")
    served.create_model(bob, "bob_m")
    served.open_round()
    served.client.post(
        f"/v1/models/{bob.models['bob_m']}/stake/increase",
        json={"amount": "10"},
        headers=bob.headers,
    )
    return served, alice, bob


def unchanged(s: Served, act: Callable[[], Any], status: int, code: str) -> dict[str, Any]:
    before = s.snapshot()
    error = refused(act(), status, code)
    assert s.snapshot() == before
    return error


# -- cross-account -----------------------------------------------------------------------


def cross_account_requests(
    s: Served, alice: Participant, bob: Participant
) -> dict[str, Callable[[], Any]]:
    """Every route that acts on a model, called by alice on bob's model."""
    c, m, h = s.client, bob.models["bob_m"], alice.headers
    n = s.tournament.current_round()
    assert n is not None
    body = s.live_csv(n.number)
    return {
        "get model": lambda: c.get(f"/v1/models/{m}", headers=h),
        "get stake": lambda: c.get(f"/v1/models/{m}/stake", headers=h),
        "increase": lambda: c.post(
            f"/v1/models/{m}/stake/increase", json={"amount": "1"}, headers=h
        ),
        "decrease": lambda: c.post(
            f"/v1/models/{m}/stake/decrease", json={"amount": "1"}, headers=h
        ),
        "set": lambda: c.put(f"/v1/models/{m}/stake", json={"amount": "0"}, headers=h),
        "upload": lambda: c.post(f"/v1/models/{m}/submissions", content=body, headers=h),
        "list submissions": lambda: c.get(f"/v1/models/{m}/submissions", headers=h),
        "scores": lambda: c.get(f"/v1/models/{m}/scores", headers=h),
        "payouts": lambda: c.get(f"/v1/models/{m}/payouts", headers=h),
    }


@pytest.mark.parametrize(
    "action",
    [
        "get model",
        "get stake",
        "increase",
        "decrease",
        "set",
        "upload",
        "list submissions",
        "scores",
        "payouts",
    ],
)
def test_a_key_cannot_act_on_another_accounts_model(
    two: tuple[Served, Participant, Participant], action: str
) -> None:
    s, alice, bob = two
    request = cross_account_requests(s, alice, bob)[action]
    error = unchanged(s, request, 403, "permission_denied")
    assert error["details"] == {"model_id": bob.models["bob_m"]}


def test_even_an_admin_key_acts_on_other_models_only_through_admin_routes(
    two: tuple[Served, Participant, Participant],
) -> None:
    s, _alice, bob = two
    m = bob.models["bob_m"]
    unchanged(
        s,
        lambda: s.client.post(
            f"/v1/models/{m}/stake/decrease", json={"amount": "10"}, headers=s.admin
        ),
        403,
        "permission_denied",
    )


def test_another_accounts_submission_is_not_readable(
    two: tuple[Served, Participant, Participant],
) -> None:
    s, alice, bob = two
    n = s.tournament.current_round()
    assert n is not None
    up = s.client.post(
        f"/v1/models/{bob.models['bob_m']}/submissions",
        content=s.live_csv(n.number),
        headers=bob.headers,
    )
    assert up.status_code == 201
    sub = up.json()["id"]
    for path in (f"/v1/submissions/{sub}", f"/v1/submissions/{sub}/file"):
        unchanged(
            s, lambda p=path: s.client.get(p, headers=alice.headers), 403, "permission_denied"
        )
        assert s.client.get(path, headers=bob.headers).status_code == 200
    refused(s.client.get("/v1/submissions/999", headers=bob.headers), 404, "not_found")


def test_a_key_cannot_revoke_or_see_another_accounts_keys(
    two: tuple[Served, Participant, Participant],
) -> None:
    s, alice, bob = two
    bob_key = bob.token.split("$")[0]
    listed = s.client.get("/v1/account/keys", headers=alice.headers).json()
    assert bob_key not in {k["public_id"] for k in listed}
    unchanged(
        s,
        lambda: s.client.delete(f"/v1/account/keys/{bob_key}", headers=alice.headers),
        404,
        "not_found",
    )
    assert s.client.get("/v1/account", headers=bob.headers).status_code == 200


def test_wallets_are_the_callers_own(two: tuple[Served, Participant, Participant]) -> None:
    s, alice, _bob = two
    mine = s.client.get("/v1/account/wallet", headers=alice.headers).json()
    assert mine["account_id"] == alice.account_id and mine["balance"] == "100"
    history = s.client.get("/v1/account/wallet/history", headers=alice.headers).json()
    assert [e["kind"] for e in history] == ["grant"]  # not bob's stake


# -- scopes ------------------------------------------------------------------------------


def scope_requests(s: Served, who: Participant) -> dict[str, tuple[str, Callable[[str], Any]]]:
    """Route → (the scope it needs, a call with a given token)."""
    c, m = s.client, who.models["alice_m"]
    n = s.tournament.current_round()
    assert n is not None
    body = s.live_csv(n.number)
    return {
        "create model": (
            "upload",
            lambda t: c.post("/v1/models", json={"name": "x"}, headers=auth(t)),
        ),
        "upload": (
            "upload",
            lambda t: c.post(f"/v1/models/{m}/submissions", content=body, headers=auth(t)),
        ),
        "increase": (
            "stake",
            lambda t: c.post(
                f"/v1/models/{m}/stake/increase", json={"amount": "1"}, headers=auth(t)
            ),
        ),
        "decrease": (
            "stake",
            lambda t: c.post(
                f"/v1/models/{m}/stake/decrease", json={"amount": "1"}, headers=auth(t)
            ),
        ),
        "set": (
            "stake",
            lambda t: c.put(f"/v1/models/{m}/stake", json={"amount": "5"}, headers=auth(t)),
        ),
        "read account": ("read", lambda t: c.get("/v1/account", headers=auth(t))),
        "read wallet": ("read", lambda t: c.get("/v1/account/wallet", headers=auth(t))),
        "read models": ("read", lambda t: c.get("/v1/models", headers=auth(t))),
        "read stake": ("read", lambda t: c.get(f"/v1/models/{m}/stake", headers=auth(t))),
        "grant": (
            "admin",
            lambda t: c.post(
                "/v1/admin/grants", json={"amount": "5", "username": "alice"}, headers=auth(t)
            ),
        ),
        "tick": ("admin", lambda t: c.post("/v1/admin/tick", headers=auth(t))),
        "all submissions": ("admin", lambda t: c.get("/v1/admin/submissions", headers=auth(t))),
        "ledger check": ("admin", lambda t: c.get("/v1/admin/ledger/check", headers=auth(t))),
    }


SCOPES = ("read", "upload", "stake")
ROUTES = [
    "create model",
    "upload",
    "increase",
    "decrease",
    "set",
    "read account",
    "read wallet",
    "read models",
    "read stake",
    "grant",
    "tick",
    "all submissions",
    "ledger check",
]


@pytest.mark.parametrize("route", ROUTES)
def test_every_scope_mismatch_is_refused(
    two: tuple[Served, Participant, Participant], route: str
) -> None:
    s, alice, _bob = two
    needed, call = scope_requests(s, alice)[route]
    for scope in SCOPES:
        if scope == needed:
            continue
        token = s.key(alice, scope)
        error = unchanged(s, lambda t=token: call(t), 403, "permission_denied")
        assert error["details"] == {"scope": needed}
    if needed != "admin":  # and the right scope is enough
        assert call(s.key(alice, needed)).status_code not in (401, 403)


def test_keys_cannot_create_or_revoke_keys_beyond_their_own_scopes(served: Served) -> None:
    alice = served.sign_up("alice")
    read = served.key(alice, "read")
    before = served.client.get("/v1/account/keys", headers=alice.headers).json()
    refused(
        served.client.post("/v1/account/keys", json={"scopes": ["stake"]}, headers=auth(read)),
        403,
        "permission_denied",
    )
    full = alice.token.split("$")[0]
    refused(
        served.client.delete(f"/v1/account/keys/{full}", headers=auth(read)),
        403,
        "permission_denied",
    )
    # participants never get admin keys
    refused(
        served.client.post("/v1/account/keys", json={"scopes": ["admin"]}, headers=alice.headers),
        403,
        "permission_denied",
    )
    after = served.client.get("/v1/account/keys", headers=alice.headers).json()
    assert len(after) == len(before) and all(k["revoked_at"] is None for k in after)


@pytest.mark.parametrize(
    "header",
    [
        None,
        "Token nope",
        "Bearer ABC$DEF",
        "Token ABC$wrong",
        "Token $",
    ],
)
def test_missing_malformed_or_wrong_keys_are_refused(
    two: tuple[Served, Participant, Participant], header: str | None
) -> None:
    s, alice, _ = two
    m = alice.models["alice_m"]
    headers = {} if header is None else {"Authorization": header}
    error = unchanged(
        s,
        lambda: s.client.post(
            f"/v1/models/{m}/stake/increase", json={"amount": "1"}, headers=headers
        ),
        401,
        "authentication_failed",
    )
    assert error["message"]


def test_a_wrong_secret_for_a_real_key_and_a_revoked_key_are_refused(
    two: tuple[Served, Participant, Participant],
) -> None:
    s, alice, _ = two
    public = alice.token.split("$")[0]
    refused(
        s.client.get("/v1/account", headers=auth(f"{public}$wrong")), 401, "authentication_failed"
    )
    spare = s.key(alice, "read", "upload", "stake")
    revoked = s.client.delete(f"/v1/account/keys/{spare.split('$')[0]}", headers=alice.headers)
    assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
    m = alice.models["alice_m"]
    unchanged(
        s,
        lambda: s.client.put(f"/v1/models/{m}/stake", json={"amount": "5"}, headers=auth(spare)),
        401,
        "authentication_failed",
    )


# -- bad input ---------------------------------------------------------------------------


def parquet_bytes(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


def bad_files(ids: list[str]) -> dict[str, tuple[bytes, str, str]]:
    """name → (file, filename, the error code)."""
    good = pd.DataFrame({"id": ids, "prediction": [(i + 0.5) / len(ids) for i in range(len(ids))]})
    return {
        "empty": (b"", "p.csv", "invalid_submission_file"),
        "garbage": (b"\x00\x01\x02 not a table \xff" * 10, "p.csv", "invalid_submission_file"),
        "corrupt parquet": (
            b"PAR1" + b"\x00" * 64 + b"PAR1",
            "p.parquet",
            "invalid_submission_file",
        ),
        "wrong columns": (
            good.rename(columns={"prediction": "guess", "id": "row"}).to_csv(index=False).encode(),
            "p.csv",
            "invalid_submission_headers",
        ),
        "extra column": (
            good.assign(extra=1).to_csv(index=False).encode(),
            "p.csv",
            "invalid_submission_headers",
        ),
        "missing ids": (predictions_csv(ids[: len(ids) // 2]), "p.csv", "invalid_submission_ids"),
        "duplicated ids": (
            pd.concat([good, good.head(3)]).to_csv(index=False).encode(),
            "p.csv",
            "invalid_submission_ids",
        ),
        "out of range": (
            good.assign(prediction=good["prediction"] * 3).to_csv(index=False).encode(),
            "p.csv",
            "invalid_submission_values",
        ),
        "constant": (
            good.assign(prediction=0.5).to_csv(index=False).encode(),
            "p.csv",
            "invalid_submission_values",
        ),
        "nan parquet": (
            parquet_bytes(good.assign(prediction=float("nan"))),
            "p.parquet",
            "invalid_submission_values",
        ),
    }


@pytest.mark.parametrize(
    "case",
    [
        "empty",
        "garbage",
        "corrupt parquet",
        "wrong columns",
        "extra column",
        "missing ids",
        "duplicated ids",
        "out of range",
        "constant",
        "nan parquet",
    ],
)
def test_bad_prediction_files_are_refused_and_nothing_is_stored(
    two: tuple[Served, Participant, Participant], case: str
) -> None:
    s, alice, _ = two
    n = s.tournament.current_round()
    assert n is not None
    data, filename, code = bad_files(s.tournament.live_ids(n.number))[case]
    m = alice.models["alice_m"]
    unchanged(
        s,
        lambda: s.client.post(
            f"/v1/models/{m}/submissions",
            params={"filename": filename},
            content=data,
            headers={**alice.headers, "Content-Type": "application/octet-stream"},
        ),
        422,
        code,
    )


def test_upload_to_a_resolved_round_and_an_unknown_model_are_refused(
    two: tuple[Served, Participant, Participant],
) -> None:
    s, alice, _ = two
    m = alice.models["alice_m"]
    n = s.tournament.current_round()
    assert n is not None
    body = s.live_csv(n.number)
    unchanged(
        s,
        lambda: s.client.post("/v1/models/9999/submissions", content=body, headers=alice.headers),
        404,
        "not_found",
    )
    unchanged(
        s,
        lambda: s.client.post(
            f"/v1/models/{m}/submissions", params={"round": 77}, content=body, headers=alice.headers
        ),
        404,
        "not_found",
    )
    s.clock.set(n.resolves_at)
    s.tournament.tick()
    assert s.tournament.round(n.number).state == "resolved"
    unchanged(
        s,
        lambda: s.client.post(
            f"/v1/models/{m}/submissions",
            params={"round": n.number},
            content=body,
            headers=alice.headers,
        ),
        409,
        "round_state",
    )


def test_unknown_model_and_round_are_not_found(
    two: tuple[Served, Participant, Participant],
) -> None:
    s, alice, _ = two
    for path in (
        "/v1/models/4242",
        "/v1/models/4242/stake",
        "/v1/rounds/99",
        "/v1/rounds/99/datasets",
    ):
        refused(s.client.get(path, headers=alice.headers), 404, "not_found")
    unchanged(
        s,
        lambda: s.client.post(
            "/v1/models/4242/stake/increase", json={"amount": "1"}, headers=alice.headers
        ),
        404,
        "not_found",
    )
    refused(s.client.get("/v1/rounds/1/datasets/nope.parquet"), 404, "not_found")
    escape = s.client.get("/v1/rounds/1/datasets/..%2F..%2Fsigning.key")
    assert escape.status_code in (404, 422)
    refused(escape, escape.status_code, escape.json()["error"]["code"])


@pytest.mark.parametrize(
    ("amount", "status", "code"),
    [
        ("100.000000000000000001", 409, "insufficient_funds"),
        ("1000000", 409, "insufficient_funds"),
        ("0", 422, "invalid_parameter"),
        ("-5", 422, "invalid_request"),
        (5, 422, "invalid_request"),
        (1.5, 422, "invalid_request"),
        ("1.0000000000000000001", 422, "invalid_request"),
        ("1e3", 422, "invalid_request"),
        ("NaN", 422, "invalid_request"),
        ("", 422, "invalid_request"),
        ("9" * 31, 422, "invalid_request"),
    ],
)
def test_bad_or_unaffordable_stakes_are_refused(
    two: tuple[Served, Participant, Participant], amount: Any, status: int, code: str
) -> None:
    s, alice, _ = two
    m = alice.models["alice_m"]
    unchanged(
        s,
        lambda: s.client.post(
            f"/v1/models/{m}/stake/increase", json={"amount": amount}, headers=alice.headers
        ),
        status,
        code,
    )


def test_taking_off_more_than_the_stake_is_refused(
    two: tuple[Served, Participant, Participant],
) -> None:
    s, _, bob = two
    m = bob.models["bob_m"]
    unchanged(
        s,
        lambda: s.client.post(
            f"/v1/models/{m}/stake/decrease", json={"amount": "10.5"}, headers=bob.headers
        ),
        409,
        "insufficient_funds",
    )


def test_an_idempotency_key_reused_for_another_amount_is_refused(
    two: tuple[Served, Participant, Participant],
) -> None:
    s, alice, bob = two
    m = alice.models["alice_m"]
    path = f"/v1/models/{m}/stake/increase"
    headers = {**alice.headers, "Idempotency-Key": "once"}
    first = s.client.post(path, json={"amount": "3"}, headers=headers)
    again = s.client.post(path, json={"amount": "3"}, headers=headers)
    assert first.json() == again.json() and first.json()["stake"] == "3"
    unchanged(
        s,
        lambda: s.client.post(path, json={"amount": "4"}, headers=headers),
        409,
        "idempotency_key_reused",
    )
    # keys are per account: bob's "once" is his own
    bob_m = bob.models["bob_m"]
    ok = s.client.post(
        f"/v1/models/{bob_m}/stake/increase",
        json={"amount": "1"},
        headers={**bob.headers, "Idempotency-Key": "once"},
    )
    assert ok.status_code == 200 and ok.json()["stake"] == "11"


def test_malformed_bodies_and_parameters_are_refused(
    two: tuple[Served, Participant, Participant],
) -> None:
    s, alice, _ = two
    c, h, m = s.client, alice.headers, alice.models["alice_m"]
    cases = [
        lambda: c.post(f"/v1/models/{m}/stake/increase", content=b"{not json", headers=h),
        lambda: c.post(f"/v1/models/{m}/stake/increase", json={"amount": "1", "x": 1}, headers=h),
        lambda: c.post("/v1/models", json={"name": "Bad Name!"}, headers=h),
        lambda: c.post("/v1/models", json={}, headers=h),
        lambda: c.get("/v1/leaderboard", params={"by": "luck"}),
        lambda: c.get("/v1/models/0", headers=h),
        lambda: c.get(f"/v1/models/{2**70}", headers=h),
        lambda: c.post(
            f"/v1/models/{m}/stake/increase",
            json={"amount": "1"},
            headers={**h, "Idempotency-Key": "has space"},
        ),
        lambda: c.post("/v1/accounts", json={"username": "ab", "email": "x@y.z"}),
        lambda: c.post("/v1/accounts", json={"username": "carol", "email": "no-at-sign"}),
    ]
    for case in cases:
        before = s.snapshot()
        response = case()
        assert response.status_code == 422, response.text
        refused(response, 422, response.json()["error"]["code"])
        assert response.json()["error"]["code"] in {"invalid_request", "invalid_input"}
        assert s.snapshot() == before


def test_a_taken_username_is_a_conflict(served: Served) -> None:
    served.sign_up("alice")
    refused(
        served.client.post("/v1/accounts", json={"username": "ALICE", "email": "a2@example.org"}),
        409,
        "conflict",
    )


def test_oversized_bodies_are_refused_with_413(engine: Engine, tmp_path: Path) -> None:
    s = build(engine, tmp_path, max_upload_bytes=2_000)
    with s.client:
        alice = s.sign_up("alice")
        m = s.create_model(alice, "alice_m")
        number = s.open_round()
        body = s.live_csv(number)
        assert len(body) > 2_000
        unchanged(
            s,
            lambda: s.client.post(
                f"/v1/models/{m}/submissions", content=body, headers=alice.headers
            ),
            413,
            "limit_exceeded",
        )

        def chunked() -> Any:  # no Content-Length: the route counts the bytes itself
            return iter([body[:1500], body[1500:]])

        error = unchanged(
            s,
            lambda: s.client.post(
                f"/v1/models/{m}/submissions", content=chunked(), headers=alice.headers
            ),
            413,
            "invalid_submission_file",
        )
        assert error["details"]["reason"] == "too_large"


def test_the_rate_limit_answers_429_with_retry_after(engine: Engine, tmp_path: Path) -> None:
    s = build(engine, tmp_path, rate_limit=5)
    with s.client:
        alice = s.sign_up("alice", grant="10")
        s.tournament.create_model(alice.account_id, "alice_m")
        m = s.tournament.model_by_name("alice_m").id
        answers = [s.client.get("/v1/account", headers=alice.headers) for _ in range(5)]
        assert all(a.status_code == 200 for a in answers[:4])
        error = unchanged(
            s,
            lambda: s.client.post(
                f"/v1/models/{m}/stake/increase", json={"amount": "1"}, headers=alice.headers
            ),
            429,
            "limit_exceeded",
        )
        assert error["details"]["retry_after"] > 0
        # anonymous callers are limited per address too
        statuses = [s.client.get("/v1/rounds").status_code for _ in range(7)]
        assert 429 in statuses
    assert nmr(10) == s.tournament.wallet_balance(alice.account_id)

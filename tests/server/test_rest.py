"""The REST API end to end: sign up, keys, models, a round's datasets, an upload, stakes
with pending releases, resolution, scores, payouts, the leaderboard, operators' routes —
and an OpenAPI schema that documents all of it."""

from __future__ import annotations

import hashlib
import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine
from tests.server.rest_support import Served, auth, build, served

__all__ = ["served"]


def test_a_round_through_the_rest_api(served: Served) -> None:
    c = served.client
    alice = served.sign_up("alice")
    grant = c.post(
        "/v1/admin/grants",
        json={"username": "alice", "amount": "250.5"},
        headers={**served.admin, "Idempotency-Key": "g1"},
    )
    assert grant.status_code == 201 and grant.json()["balance"] == "250.5"
    again = c.post(
        "/v1/admin/grants",
        json={"username": "alice", "amount": "250.5"},
        headers={**served.admin, "Idempotency-Key": "g1"},
    )
    assert again.json()["entry_id"] == grant.json()["entry_id"]  # granted once
    assert c.get("/v1/account/wallet", headers=alice.headers).json()["balance"] == "250.5"

    m = served.create_model(alice, "alice_m")
    assert [x["name"] for x in c.get("/v1/models", headers=alice.headers).json()] == ["alice_m"]
    assert c.get("/v1/rounds/current").status_code == 404
    number = served.open_round()
    assert c.get("/v1/rounds/current").json()["number"] == number

    files = c.get(f"/v1/rounds/{number}/datasets").json()
    assert {f["name"] for f in files} == {"live.parquet", "features.json"}
    live = next(f for f in files if f["name"] == "live.parquet")
    whole = c.get(live["url"])
    assert whole.status_code == 200 and len(whole.content) == live["size_bytes"]
    tail = c.get(live["url"], headers={"Range": "bytes=100-"})
    assert tail.status_code == 206 and tail.content == whole.content[100:]
    link = c.get(f"/v1/rounds/{number}/datasets/live.parquet", params={"redirect": "false"})
    assert c.get(link.json()["url"]).content == whole.content
    moved = c.get(f"/v1/rounds/{number}/datasets/live.parquet", follow_redirects=False)
    assert moved.status_code == 307

    body = served.live_csv(number)
    up = c.post(
        f"/v1/models/{m}/submissions",
        params={"filename": "mine.csv"},
        content=body,
        headers={**alice.headers, "Idempotency-Key": "u1", "Content-Type": "text/csv"},
    )
    assert up.status_code == 201, up.text
    sub = up.json()
    assert sub["sha256"] == hashlib.sha256(body).hexdigest() and sub["state"] == "validated"
    retry = c.post(
        f"/v1/models/{m}/submissions",
        params={"filename": "mine.csv"},
        content=body,
        headers={**alice.headers, "Idempotency-Key": "u1"},
    )
    assert retry.json()["id"] == sub["id"]
    assert len(c.get(f"/v1/models/{m}/submissions", headers=alice.headers).json()) == 1
    file = c.get(f"/v1/submissions/{sub['id']}/file", headers=alice.headers)
    assert file.content == body and file.headers["x-content-sha256"] == sub["sha256"]

    stake = c.put(f"/v1/models/{m}/stake", json={"amount": "100"}, headers=alice.headers)
    assert stake.json()["stake"] == "100"
    served.clock.set(served.tournament.round(number).closes_at)
    tick = c.post("/v1/admin/tick", headers=served.admin).json()
    assert tick["closed"] == [number]
    # at risk now: a decrease waits for the round as a pending release
    down = c.post(
        f"/v1/models/{m}/stake/decrease", json={"amount": "40"}, headers=alice.headers
    ).json()
    assert down["stake"] == "60" and down["pending"] == "40"
    assert down["releases"][0]["release_round"] == number
    wallet = c.get("/v1/account/wallet", headers=alice.headers).json()
    assert wallet == {
        "account_id": alice.account_id,
        "balance": "150.5",
        "staked": "60",
        "pending": "40",
        "total": "250.5",
    }

    served.clock.set(served.tournament.round(number).resolves_at)
    resolved = c.post("/v1/admin/tick", headers=served.admin).json()["resolved"]
    assert [r["round_number"] for r in resolved] == [number]
    scores = c.get(f"/v1/models/{m}/scores", headers=alice.headers).json()
    assert len(scores) == 1 and scores[0]["final"] and scores[0]["corr"] is not None
    assert scores[0]["mpc"] == served.tournament.scores(model_id=m)[0].mpc is not None
    payouts = c.get(f"/v1/models/{m}/payouts", params={"round": number}, headers=alice.headers)
    assert payouts.json()[0]["stake_at_risk"] == "100"
    stake_after = c.get(f"/v1/models/{m}/stake", headers=alice.headers).json()
    assert stake_after["pending"] == "0" and stake_after["releases"][0]["released_at"]
    assert c.get(f"/v1/submissions/{sub['id']}", headers=alice.headers).json()["state"] == (
        "resolved"
    )
    board = c.get("/v1/leaderboard", params={"by": "reputation"}).json()
    assert board[0]["model_name"] == "alice_m" and board[0]["rounds"] == 1
    for name in ("alice_x", "alice_y"):  # unrated models rank after the rated one
        served.create_model(alice, name)
    board = c.get("/v1/leaderboard").json()
    rest = c.get("/v1/leaderboard", params={"offset": 1, "limit": 5}).json()
    assert len(board) == 3 and rest == board[1:] and [r["rank"] for r in rest] == [2, 3]
    assert c.get("/v1/leaderboard", params={"offset": -1}).status_code == 422
    assert c.get("/v1/account", headers=alice.headers).json()["reputation"] is not None
    kinds = [e["kind"] for e in c.get("/v1/account/wallet/history", headers=alice.headers).json()]
    assert kinds[-1] == "grant" and "stake_increase" in kinds

    everything = c.get("/v1/admin/submissions", headers=served.admin).json()
    assert [s["id"] for s in everything] == [sub["id"]]
    check = c.get("/v1/admin/ledger/check", headers=served.admin).json()
    assert check["ok"] and check["problems"] == []


def test_keys_are_listed_created_and_revoked(served: Served) -> None:
    c = served.client
    alice = served.sign_up("alice")
    created = c.post(
        "/v1/account/keys", json={"scopes": ["read"], "name": "laptop"}, headers=alice.headers
    )
    assert created.status_code == 201
    new = created.json()
    assert new["scopes"] == ["read"] and new["token"] == f"{new['public_id']}${new['secret']}"
    listed = c.get("/v1/account/keys", headers=auth(new["token"])).json()
    assert len(listed) == 2 and all("secret" not in k for k in listed)
    gone = c.delete(f"/v1/account/keys/{new['public_id']}", headers=auth(new["token"]))
    assert gone.status_code == 200  # a key may revoke itself
    assert c.get("/v1/account", headers=auth(new["token"])).status_code == 401


def test_the_openapi_schema_documents_every_route(served: Served) -> None:
    schema = served.client.get("/openapi.json").json()
    rest = {p: ops for p, ops in schema["paths"].items() if p.startswith("/v1")}
    assert len(rest) >= 25
    for path, operations in rest.items():
        for method, op in operations.items():
            assert op.get("summary") and op.get("tags"), (method, path)
            assert any(s.startswith("2") or s == "307" for s in op["responses"]), (method, path)
            if path != "/v1/health":
                assert "429" in op["responses"] or "401" in op["responses"], (method, path)
    upload = rest["/v1/models/{model_id}/submissions"]["post"]
    assert "application/octet-stream" in upload["requestBody"]["content"]
    assert "413" in upload["responses"]
    amount = schema["components"]["schemas"]["AmountIn"]["properties"]["amount"]
    assert amount["type"] == "string"
    assert set(schema["components"]["schemas"]["ErrorBody"]["properties"]) == {"error"}


def test_the_server_sweeps_staged_uploads_that_no_mutation_used(
    engine: Engine, tmp_path: Path
) -> None:
    s = build(engine, tmp_path)
    store = s.tournament.store
    abandoned = f"uploads/numerai/submissions/1/{'c' * 32}/p.csv"
    store.put(abandoned, b"id,prediction\n")
    path = store.local_path(abandoned)
    assert path is not None
    long_ago = (datetime.now(UTC) - timedelta(days=3)).timestamp()
    os.utime(path, (long_ago, long_ago))
    with s.client:  # startup runs the first housekeeping pass at once
        deadline = time.monotonic() + 10
        while store.exists(abandoned) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not store.exists(abandoned)


def test_a_models_latest_submissions_are_listed_without_the_rest(served: Served) -> None:
    c = served.client
    alice = served.sign_up("alice")
    m = served.create_model(alice, "alice_m")
    number = served.open_round()
    body = served.live_csv(number)
    sent = []
    for n in range(4):
        up = c.post(
            f"/v1/models/{m}/submissions",
            params={"filename": f"v{n}.csv"},
            content=body,
            headers={**alice.headers, "Idempotency-Key": f"u{n}", "Content-Type": "text/csv"},
        )
        assert up.status_code == 201, up.text
        sent.append(up.json()["id"])
    path = f"/v1/models/{m}/submissions"
    every = [s["id"] for s in c.get(path, headers=alice.headers).json()]
    assert every == sent  # oldest first
    newest = c.get(path, params={"latest": 2}, headers=alice.headers).json()
    assert [s["id"] for s in newest] == sent[2:]  # the newest two, still oldest first
    assert len(c.get(path, params={"latest": 10}, headers=alice.headers).json()) == 4
    for bad in (0, 1001):
        refused = c.get(path, params={"latest": bad}, headers=alice.headers)
        assert refused.status_code == 422, refused.text

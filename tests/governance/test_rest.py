"""Governance over REST: propose, vote (the last vote counts), live tallies, the audit
trail, the governable settings, verify — and refusals that change nothing."""

from __future__ import annotations

from datetime import timedelta

from tests.server.rest_support import Served, served

from crowdalpha.client.models import Proposal

__all__ = ["served"]


def test_governance_through_the_rest_api(served: Served) -> None:
    c = served.client
    alice = served.sign_up("alice", grant="1000")
    bob = served.sign_up("bob", grant="300")
    created = c.post(
        "/v1/governance/proposals",
        json={"title": "Wider clip", "competition": "classic", "changes": {"clip": "0.06"}},
        headers=alice.headers,
    )
    assert created.status_code == 201, created.text
    proposal = created.json()
    assert proposal["state"] == "voting" and proposal["deposit"] == "100"
    assert proposal["total_power"] == "1300"
    assert c.get("/v1/account/wallet", headers=alice.headers).json()["balance"] == "900"
    pid = proposal["id"]
    for who, choice in ((bob, "for"), (bob, "against"), (alice, "for")):
        vote = c.post(
            f"/v1/governance/proposals/{pid}/votes", json={"choice": choice}, headers=who.headers
        )
        assert vote.status_code == 201, vote.text
    detail = c.get(f"/v1/governance/proposals/{pid}", headers=bob.headers).json()
    assert detail["tally"]["votes_for"] == "1000" and detail["tally"]["votes_against"] == "300"
    assert [v["counts"] for v in detail["votes"]] == [False, True, True]
    assert [e["kind"] for e in detail["events"]] == ["proposed", "voted", "voted", "voted"]
    parsed = Proposal.from_json(detail)  # the client reads what the server sends
    assert parsed.votes_for == 1000 * 10**18 and len(parsed.votes) == 3

    listed = c.get("/v1/governance/proposals", headers=bob.headers).json()
    assert [p["id"] for p in listed] == [pid]
    params = c.get("/v1/governance/parameters", headers=bob.headers).json()
    clip = next(p for p in params["competitions"]["classic"] if p["name"] == "clip")
    assert (clip["value"], clip["high"], clip["max_change"]) == ("0.05", "0.25", "0.02")
    assert {p["name"] for p in params["governance"]} >= {"quorum", "timelock", "deposit"}

    served.clock.advance(timedelta(days=7))
    verified = c.get("/v1/governance/verify", headers=bob.headers).json()
    assert verified == {"ok": True, "proposals": 1, "votes": 3, "problems": []}
    schedule = served.tournament.config.schedule
    served.clock.set(schedule.opens(schedule.latest_due(served.clock.now()) + 1))
    opened = served.tournament.tick().opened  # the clock consults governance
    assert len(opened) == 1
    assert served.tournament.round(opened[0]).config.clip == "0.06"
    after = c.get(f"/v1/governance/proposals/{pid}", headers=bob.headers).json()
    assert after["state"] == "executed"


def test_refused_governance_requests_change_nothing(served: Served) -> None:
    c = served.client
    alice = served.sign_up("alice", grant="1000")
    before = served.snapshot()
    cases = [
        ({"title": "x", "competition": "classic", "changes": {"clip": "0.9"}}, 422),
        ({"title": "x", "competition": "classic", "changes": {"nope": "1"}}, 422),
        ({"title": "x", "grant_to": alice.account_id, "grant_amount": "1e9"}, 422),
        ({"title": "x"}, 422),
    ]
    for body, status in cases:
        response = c.post("/v1/governance/proposals", json=body, headers=alice.headers)
        assert response.status_code == status, response.text
    reader = served.key(alice, "read")
    response = c.post(
        "/v1/governance/proposals",
        json={"title": "x", "competition": "classic", "changes": {"clip": "0.06"}},
        headers={"Authorization": f"Token {reader}"},
    )
    assert response.status_code == 403
    assert c.get("/v1/governance/proposals/7", headers=alice.headers).status_code == 404
    assert served.snapshot() == before
    assert c.get("/v1/governance/proposals", headers=alice.headers).json() == []

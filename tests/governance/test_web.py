"""The web UI's governance pages: proposals with live tallies and history, a proposal's
votes and audit trail, and voting from the page (signed in, with the CSRF token)."""

from __future__ import annotations

import re
from datetime import timedelta

from starlette.testclient import TestClient
from tests.server.rest_support import Served, served

__all__ = ["served"]

HOSTILE = "<script>alert('x')</script>"


def _csrf(client: TestClient, path: str) -> str:
    found = re.search(r'name="csrf_token" value="([0-9a-f]{64})"', client.get(path).text)
    assert found
    return found.group(1)


def test_the_governance_pages_show_and_take_votes(served: Served) -> None:
    alice = served.sign_up("alice", grant="1000")
    bob = served.sign_up("bob", grant="300")
    gov = served.app.state.context.governance
    p = gov.propose(alice.account_id, HOSTILE, competition="classic", changes={"clip": "0.06"})
    gov.vote(p.id, alice.account_id, "for")
    with TestClient(served.app, base_url="http://testserver") as web:
        listing = web.get("/governance")
        assert listing.status_code == 200
        assert "open-proposals" in listing.text and HOSTILE not in listing.text
        assert 'data-setting="clip"' in listing.text and "0 … 0.25" in listing.text
        page = web.get(f"/governance/{p.id}")
        assert "Sign in</a> to vote" in page.text and 'id="vote-form"' not in page.text
        public_id, secret = bob.token.split("$")
        signed = web.post(
            "/signin",
            data={
                "csrf_token": _csrf(web, "/signin"),
                "public_id": public_id,
                "secret": secret,
                "next": f"/governance/{p.id}",
            },
            follow_redirects=False,
        )
        assert signed.status_code == 303
        page = web.get(f"/governance/{p.id}")
        assert 'id="vote-form"' in page.text and 'value="300"' in page.text  # bob's power
        cast = web.post(
            f"/governance/{p.id}/vote",
            data={"csrf_token": _csrf(web, f"/governance/{p.id}"), "choice": "against"},
            follow_redirects=False,
        )
        assert cast.status_code == 303, cast.text
        assert gov.proposal(p.id).tally.votes_against == 300 * 10**18
        forged = web.post(f"/governance/{p.id}/vote", data={"choice": "for"})
        assert forged.status_code == 403
        assert gov.proposal(p.id).tally.votes_for == 1000 * 10**18
        served.clock.advance(timedelta(days=5))
        gov.process()
        history = web.get("/governance").text
        assert "past-proposals" in history and "state-passed" in history
        assert web.get("/governance/99").status_code == 404

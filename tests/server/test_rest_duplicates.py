"""``GET /v1/admin/duplicates``: the operator sees a closed round's copies across accounts."""

from __future__ import annotations

import numpy as np
import pytest
from tests.server.rest_support import Served, predictions_csv, served

__all__ = ["served"]


def test_the_operator_lists_a_rounds_copies(served: Served) -> None:
    c, t = served.client, served.tournament
    alice = served.sign_up("alice", grant="100")
    bob = served.sign_up("bob", grant="100")
    carol = served.sign_up("carol")
    original = served.create_model(alice, "alice_m")
    copy = served.create_model(bob, "bob_copy")
    other = served.create_model(carol, "carol_own")
    number = served.open_round()
    ids = t.live_ids(number)
    rng = np.random.default_rng(5)
    mine = rng.random(len(ids))
    t.increase_stake(original, 40 * 10**18)
    t.increase_stake(copy, 25 * 10**18)
    t.submit(original, predictions_csv(ids, mine))
    t.submit(copy, predictions_csv(ids, mine**2))  # the same ranking, another scale
    t.submit(other, predictions_csv(ids, rng.random(len(ids))))
    assert c.get("/v1/admin/duplicates", headers=served.admin).json() == []  # still open
    served.clock.set(t.config.schedule.closes(number))
    assert number in t.tick().closed

    body = c.get("/v1/admin/duplicates", params={"round": number}, headers=served.admin).json()
    assert len(body) == 1
    [cluster] = body
    assert cluster["round_number"] == number and cluster["cluster"] == 1
    assert cluster["policy"] == "report" and cluster["threshold"] == "0.99"
    assert cluster["across_accounts"] and not cluster["constant"]
    # float32 products: a rank-identical pair is 1 within 1e-5 (the threshold's band is 1e-3)
    assert cluster["min_correlation"] == pytest.approx(1.0, abs=1e-5)
    assert cluster["stake_cut"] == "0"
    members = {m["model"]: m for m in cluster["members"]}
    assert set(members) == {"alice_m", "bob_copy"}
    assert members["alice_m"]["account"] == "alice" and members["bob_copy"]["account"] == "bob"
    assert members["alice_m"]["stake_before"] == members["alice_m"]["stake_at_risk"] == "40"
    assert members["bob_copy"]["stake_at_risk"] == "25"
    assert (
        c.get("/v1/admin/duplicates", params={"across_only": "true"}, headers=served.admin).json()
        == body
    )
    assert (
        c.get("/v1/admin/duplicates", params={"round": 99}, headers=served.admin).status_code == 404
    )
    assert c.get("/v1/admin/duplicates", headers=alice.headers).status_code == 403

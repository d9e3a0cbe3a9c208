"""The operator's dashboard lists the clusters of near-identical submissions."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
from fastapi.testclient import TestClient
from tests.web.site import Site, predictions_csv
from tests.web.test_pages import sign_in


def test_the_dashboard_shows_copies_across_accounts(client: TestClient, site: Site) -> None:
    sign_in(client, site, "operator", then="/operator")
    assert 'id="no-duplicates"' in client.get("/operator").text
    t = site.tournament
    ids = t.live_ids(site.open)
    values = np.random.default_rng(3).random(len(ids))
    t.submit(site.models["alice_beta"], predictions_csv(ids, values))
    t.submit(site.models["bob_gamma"], predictions_csv(ids, values))  # bob copies alice
    site.clock.set(t.round(site.open).closes_at + timedelta(seconds=1))
    t.tick()
    [cluster] = t.duplicates(site.open)
    page = client.get("/operator").text
    row = page.split(f'data-cluster="{site.open}-1"')[1].split("</tr>")[0]
    assert "alice_beta</a> (alice)" in row and "bob_gamma</a> (bob)" in row
    assert "alice_alpha" not in row and "report" in row and "one account" not in row
    before = sum(m.stake_before for m in cluster.members)
    assert (
        before
        == t.stakes_at_risk(site.models["alice_beta"])[site.open]
        + t.stakes_at_risk(site.models["bob_gamma"])[site.open]
    )
    assert page.count("data-cluster=") == 1

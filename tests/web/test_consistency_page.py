"""A model's page shows its consistency: cumulative score, drawdown and the summary."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from tests.web.site import Site

from crowdalpha.scoring import summarize
from crowdalpha.scoring.consistency import consistency


def test_the_model_page_shows_the_consistency_summary(client: TestClient, site: Site) -> None:
    t = site.tournament
    model_id = site.models["alice_alpha"]
    finals = sorted(
        (s for s in t.scores(model_id=model_id) if s.final), key=lambda s: s.round_number
    )
    assert [s.round_number for s in finals] == site.resolved
    corr = np.array([s.corr for s in finals], dtype=float)
    page = client.get(f"/models/{model_id}").text
    row = page.split('data-metric="corr">')[1].split("</tr>")[0]
    cells = re.findall(r'<td class="num">([^<]*)</td>', row)
    mean, std = corr.mean(), corr.std()
    peak = np.maximum.accumulate(np.cumsum(corr))
    drawdown = float(np.max(peak - np.cumsum(corr), initial=0.0))
    assert cells[0] == f"{mean:.4f}" and cells[1] == f"{std:.4f}"
    assert cells[2] == f"{mean / std:.4f}" and cells[3] == f"{drawdown:.4f}"
    assert cells[4] == f"{100 * (corr > 0).mean():.0f}%"
    assert "Cumulative score (resolved rounds)" in page and "Drawdown of the cumulative" in page


def test_consistency_matches_a_direct_computation() -> None:
    per_round = pd.DataFrame({"corr": [0.02, -0.01, np.nan, -0.03, 0.05]}, index=[1, 2, 3, 4, 5])
    result = consistency(per_round)
    assert result.cumulative["corr"].tolist() == pytest.approx([0.02, 0.01, 0.01, -0.02, 0.03])
    assert result.drawdown["corr"].tolist() == pytest.approx([0.0, 0.01, 0.01, 0.04, 0.0])
    pd.testing.assert_frame_equal(result.summary, summarize(per_round))
    assert result.summary.loc["max_drawdown", "corr"] == pytest.approx(0.04)

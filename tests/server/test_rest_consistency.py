"""``GET /v1/models/{id}/consistency``: a model's resolved rounds, cumulative and in
drawdown, with the summary — recomputed here from the stored scores."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from tests.server.rest_support import Served, predictions_csv, served

__all__ = ["served"]


def test_a_models_consistency_over_its_resolved_rounds(served: Served) -> None:
    c, t = served.client, served.tournament
    alice = served.sign_up("alice")
    model = served.create_model(alice, "alice_m")
    assert c.get(f"/v1/models/{model}/consistency", headers=alice.headers).json()["rounds"] == []
    rng = np.random.default_rng(2)
    numbers = []
    for _ in range(3):
        number = served.open_round()
        numbers.append(number)
        ids = t.live_ids(number)
        t.submit(model, predictions_csv(ids, rng.random(len(ids))))
    served.clock.set(t.round(numbers[-1]).closes_at + timedelta(days=28))
    t.tick()
    body = c.get(f"/v1/models/{model}/consistency", headers=alice.headers).json()
    finals = sorted((s for s in t.scores(model_id=model) if s.final), key=lambda s: s.round_number)
    assert [r["round_number"] for r in body["rounds"]] == [s.round_number for s in finals]
    assert len(finals) == 3
    corr = np.array([s.corr for s in finals], dtype=float)
    cumulative = np.cumsum(corr)
    drawdown = np.maximum.accumulate(cumulative) - cumulative
    for i, row in enumerate(body["rounds"]):
        assert row["score"]["corr"] == pytest.approx(corr[i], abs=1e-12)
        assert row["cumulative"]["corr"] == pytest.approx(cumulative[i], abs=1e-12)
        assert row["drawdown"]["corr"] == pytest.approx(max(drawdown[i], 0.0), abs=1e-12)
    summary = body["summary"]["corr"]
    assert summary["mean"] == pytest.approx(corr.mean(), abs=1e-12)
    assert summary["std"] == pytest.approx(corr.std(), abs=1e-12)
    assert summary["max_drawdown"] == pytest.approx(max(drawdown.max(), 0.0), abs=1e-12)
    assert summary["positive_share"] == pytest.approx((corr > 0).mean())
    bob = served.sign_up("bob")
    assert c.get(f"/v1/models/{model}/consistency", headers=bob.headers).status_code == 403


def test_meta_model_correlation_feature_exposure_and_regimes(served: Served) -> None:
    """Each round's correlation with the meta model and maximum feature exposure, recomputed
    here from the stored meta model, the model's predictions and the round's live features
    (numerai-tools as the reference), and the means per regime from the rounds' labels."""
    import numerai_tools.scoring as nt
    import pandas as pd

    from crowdalpha.ledger import nmr

    c, t = served.client, served.tournament
    alice = served.sign_up("alice", grant="100")
    model = served.create_model(alice, "alice_m")
    other = served.create_model(alice, "alice_o")
    t.increase_stake(model, nmr(10))
    t.increase_stake(other, nmr(30))
    rng = np.random.default_rng(3)
    numbers, sent = [], {}
    for _ in range(4):
        number = served.open_round()
        numbers.append(number)
        ids = t.live_ids(number)
        feats = served.data.features(number).reindex(ids).to_numpy(float)
        values = pd.Series(0.3 * feats[:, 0] + rng.normal(size=len(ids)), index=ids)
        values = values.rank(pct=True) * 0.98 + 0.01
        sent[number] = values
        t.submit(model, predictions_csv(ids, values.to_numpy()))
        t.submit(other, predictions_csv(ids, rng.random(len(ids))))
    served.clock.set(t.round(numbers[-1]).closes_at + timedelta(days=28))
    t.tick()
    body = c.get(f"/v1/models/{model}/consistency", headers=alice.headers).json()
    assert body["diagnostics"] == ["corr_meta", "feature_exposure"]
    assert [r["round_number"] for r in body["rounds"]] == numbers
    for row in body["rounds"]:
        number = row["round_number"]
        preds = sent[number].sort_index()
        meta = t.meta_model(number).reindex(preds.index)
        g = nt.gaussian(nt.tie_kept_rank(pd.DataFrame({"p": preds, "m": meta})))
        assert row["score"]["corr_meta"] == pytest.approx(
            np.corrcoef(g["p"], g["m"])[0, 1], abs=1e-9
        )
        feats = served.data.features(number).reindex(preds.index)
        _, exposure = nt.max_feature_correlation(preds, feats)
        assert row["score"]["feature_exposure"] == pytest.approx(exposure, abs=1e-9)
        assert row["score"]["feature_exposure"] > 0.1  # built exposed to feature 0
        assert row["regime"] == served.data.regime(number)
    corr = {r["round_number"]: r["score"]["corr"] for r in body["rounds"]}
    by_regime = {r["regime"]: r for r in body["by_regime"]}
    assert sum(r["rounds"] for r in body["by_regime"]) == len(numbers)
    for regime, row in by_regime.items():
        mine = [corr[n] for n in numbers if served.data.regime(n) == regime]
        assert row["rounds"] == len(mine)
        assert row["mean"]["corr"] == pytest.approx(float(np.mean(mine)), abs=1e-12)
    exposures = [r["score"]["feature_exposure"] for r in body["rounds"]]
    assert body["summary"]["feature_exposure"]["mean"] == pytest.approx(np.mean(exposures))

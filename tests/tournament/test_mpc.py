"""MPC, each model's contribution to the meta model's portfolio: an informational Classic
score recorded at resolution (numerai-tools' number), and a payout metric when selected."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest
from numerai_tools.scoring import meta_portfolio_contribution as reference
from tests.tournament.conftest import predictions_csv, skilled

from crowdalpha.ledger import TREASURY, nmr
from crowdalpha.payouts import PayoutRules, payout_factor, weighted_payout
from crowdalpha.tournament import ManualClock, SyntheticRoundData, Tournament, TournamentConfig

WEEK = timedelta(days=7)


def _play_one_round(
    t: Tournament,
    clock: ManualClock,
    data: SyntheticRoundData,
    after_close: Callable[[list[str]], object] | None = None,
) -> tuple[dict[int, np.ndarray], dict[int, int], list[str]]:
    alice = t.create_account("alice", "alice@example.org")
    t.grant(alice.id, nmr(1_000), key="grant")
    models = [t.create_model(alice.id, f"m{i}") for i in range(4)]
    clock.advance(timedelta(hours=1))
    t.tick()
    ids = t.live_ids(1)
    stakes = {models[0].id: nmr(100), models[1].id: nmr(40), models[2].id: nmr(10)}
    for model_id, amount in stakes.items():
        t.increase_stake(model_id, amount)
    preds = {
        m.id: skilled(data, 1, noise=noise, seed=i)
        for i, (m, noise) in enumerate(zip(models, (0.3, 1.0, 3.0, 0.5), strict=True))
    }
    for model_id, values in preds.items():
        t.submit(model_id, predictions_csv(ids, values))
    clock.advance(WEEK)
    t.tick()
    if after_close is not None:
        after_close(ids)
    clock.set(t.round(1).closes_at + timedelta(days=28))
    t.tick()
    assert t.round(1).state == "resolved"
    return preds, stakes, ids


def _reference_mpc(
    preds: dict[int, np.ndarray], stakes: dict[int, int], ids: list[str], targets: pd.Series
) -> pd.Series:
    frame = pd.DataFrame(preds, index=pd.Index(ids, name="id")).sort_index()
    t = targets.reindex(frame.index)
    ok = t.notna()
    n = int(ok.sum())
    index = frame.index[ok]
    return reference(
        frame.loc[index],
        pd.Series({m: float(stakes.get(m, 0)) for m in frame.columns}),
        pd.DataFrame({"c": np.full(n, 1 / np.sqrt(n))}, index=index),
        pd.Series(1.0, index=index),
        t.loc[index],
    )


def test_mpc_is_recorded_and_informational_by_default(
    tournament: Tournament, clock: ManualClock, data: SyntheticRoundData
) -> None:
    preds, stakes, ids = _play_one_round(tournament, clock, data)
    outcome = data.outcome(1, ids, closes_at=tournament.round(1).closes_at, now=clock.now())
    assert outcome is not None
    want = _reference_mpc(preds, stakes, ids, outcome.targets)
    finals = {s.model_id: s for s in tournament.scores(round_number=1)}
    assert set(finals) == set(preds)
    for model_id, score in finals.items():
        assert score.mpc == pytest.approx(want[model_id], abs=1e-12)
    # the unstaked model gets its gradient too; the gradient is orthogonal to the meta
    # portfolio, so the stake-weighted sum over the staked models is zero
    assert all(finals[m].mpc is not None for m in preds)
    weighted = sum(stakes[m] / sum(stakes.values()) * float(finals[m].mpc or 0) for m in stakes)
    assert abs(weighted) < 1e-15 and max(abs(float(s.mpc or 0)) for s in finals.values()) > 1e-4
    # informational: the payout is 0.5 CORR + 2 MMC, MPC plays no part
    assert tournament.round(1).config.paid_metrics == ("corr", "mmc")


def test_round_predictions_are_the_staked_inputs(
    tournament: Tournament, clock: ManualClock, data: SyntheticRoundData
) -> None:
    """What the operator's fund reads: each on-time selected submission's stored values by
    live id, and the stake at risk (exact base units); late files are left out."""
    t = tournament

    def late(ids: list[str]) -> None:
        model = t.create_model(t.account_by_username("alice").id, "late")
        assert t.submit(
            model.id, predictions_csv(ids, np.linspace(0, 1, len(ids))), round_number=1
        ).late

    preds, stakes, ids = _play_one_round(t, clock, data, after_close=late)
    frame, at_risk = tournament.round_predictions(1)
    assert sorted(frame.columns) == sorted(preds) and list(frame.index) == ids
    for model_id, values in preds.items():
        assert np.array_equal(frame[model_id].to_numpy(), values)
    assert {m: v for m, v in at_risk.items() if v} == stakes
    assert all(isinstance(v, int) for v in at_risk)


def test_mpc_pays_when_the_operator_selects_it(
    make_tournament: Callable[..., Tournament], clock: ManualClock, data: SyntheticRoundData
) -> None:
    rules = PayoutRules(corr_multiplier="0.5", mmc_multiplier="0", mpc_multiplier="3")
    t = make_tournament(TournamentConfig(payout=rules))
    t.mint(nmr(100_000), to=TREASURY)
    _, stakes, _ = _play_one_round(t, clock, data)
    config = t.round(1).config
    assert dict(config.multipliers) == {"corr": "0.5", "mmc": "0", "mpc": "3"}
    finals = {s.model_id: s for s in t.scores(round_number=1)}
    paid = {p.model_id: p.amount for p in t.payouts(round_number=1)}
    assert set(paid) == set(stakes)
    factor = payout_factor(rules.threshold, sum(stakes.values()))
    for model_id, risk in stakes.items():
        s = finals[model_id]
        assert s.corr is not None and s.mmc is not None and s.mpc is not None
        want = weighted_payout(
            risk,
            {"corr": s.corr, "mmc": s.mmc, "mpc": s.mpc},
            {"corr": "0.5", "mmc": "0", "mpc": "3"},
            factor=factor,
            clip=rules.clip,
        )
        assert paid[model_id] == want
    assert factor == Decimal(1)
    assert t.check_ledger().ok

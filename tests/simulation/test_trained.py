"""Trained bots: real models fitted on a round's published train data (simulated market)."""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import combinations
from pathlib import Path

import pandas as pd
import pytest

from crowdalpha.errors import InvalidParameterError
from crowdalpha.simulation import RoundView, make_bots, predictions_csv
from crowdalpha.simulation.trained import TRAINED_MODELS
from crowdalpha.submissions import load_and_validate
from crowdalpha.tournament import SyntheticRoundData
from crowdalpha.tournament.simulated import SimulatedRoundData

OPENS = datetime(2026, 3, 7, 18, 0, tzinfo=UTC)  # a Saturday


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> SimulatedRoundData:
    data = SimulatedRoundData(
        tmp_path_factory.mktemp("trained"), stocks=120, seed=4, history_days=600, future_days=60
    )
    assert data.publish(1, OPENS) is not None
    return data


def _view(source: SimulatedRoundData) -> RoundView:
    pipeline = source.pipeline
    return RoundView(1, pipeline.live_features(1), public=pipeline.public_dir(1))


def test_trained_bots_fit_published_data_and_submit_valid_predictions(
    source: SimulatedRoundData,
) -> None:
    bots = make_bots([("trained", len(TRAINED_MODELS))], seed=4)
    learners = {(m.learner, m.feature_set) for b in bots for _, m in b.models}  # type: ignore[attr-defined]
    assert {"ridge", "lgbm"} == {learner for learner, _ in learners}
    assert {"small", "medium", "all"} == {fs for _, fs in learners}
    view = _view(source)
    made: dict[str, pd.Series] = {}
    for bot in bots:
        for name, preds in bot.predict(view, made).items():
            live_ids = list(view.ids)
            checked = load_and_validate(predictions_csv(preds), live_ids, filename="p.csv")
            assert checked.rows == len(live_ids), name
    # deterministic: the same round gives the same predictions
    again: dict[str, pd.Series] = {}
    for bot in make_bots([("trained", len(TRAINED_MODELS))], seed=4):
        bot.predict(view, again)
    for name, preds in made.items():
        pd.testing.assert_series_equal(preds, again[name])
    # models learning from the same data make correlated predictions (and errors), unlike
    # the given-skill bots' independent noise
    frame = pd.DataFrame(made)
    pairs = [frame[a].corr(frame[b], method="spearman") for a, b in combinations(frame, 2)]
    assert sum(pairs) / len(pairs) > 0.3


def test_trained_bots_need_published_train_data(tmp_path: Path) -> None:
    data = SyntheticRoundData(seed=1, rows=100)
    (bot,) = make_bots([("trained", 1)])
    with pytest.raises(InvalidParameterError, match="pipeline source"):
        bot.predict(RoundView(3, data.features(3), data.skill_signal(3)), {})

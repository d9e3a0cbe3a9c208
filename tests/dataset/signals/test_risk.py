"""The neutralizer matrix N and sample weights v, checked with numerai-tools' own weights."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from numerai_tools.scoring import alpha, generate_neutralized_weights

from crowdalpha.dataset.signals import NUMERIC_FEATURES, Exposures
from crowdalpha.dataset.signals.risk import gram_schmidt, orthonormalize

from .conftest import Built


def test_gram_schmidt_keeps_order_and_drops_dependent_columns() -> None:
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(2, 50))
    x = np.column_stack([np.ones(50), a, np.zeros(50), a + 2 * b - 1, b, rng.normal(size=50)])
    q = gram_schmidt(x)
    kept = np.abs(q).sum(axis=0) > 0
    # the zero column and b (in the span of 1, a, a + 2b − 1) are dropped
    assert kept.tolist() == [True, True, False, True, False, True]
    np.testing.assert_allclose(q[:, kept].T @ q[:, kept], np.eye(4), atol=1e-13)
    # same span: the projection on q recovers every column
    np.testing.assert_allclose(q @ (q.T @ x), x, atol=1e-12)
    # column order is Gram–Schmidt's: the first column is the normalized constant
    np.testing.assert_allclose(q[:, 0], np.full(50, 1 / np.sqrt(50)))


def test_orthonormal_in_the_weighted_inner_product() -> None:
    rng = np.random.default_rng(2)
    x = rng.normal(size=(80, 6))
    v = rng.uniform(0.2, 3.0, size=80)
    n = orthonormalize(x, v)
    np.testing.assert_allclose(n.T @ (v[:, None] * n), np.eye(6), atol=1e-12)


@pytest.fixture(scope="module")
def live(built: Built) -> tuple[pd.DataFrame, pd.DataFrame, pd.Series, pd.DataFrame]:
    """The live file's features, N, v and the operator's universe, by numerai_ticker."""
    features = pd.read_parquet(built.public / "signals/v2.0/live.parquet").set_index(
        "numerai_ticker"
    )
    n = pd.read_parquet(built.operator / "live_neutralizer.parquet")
    v = pd.read_parquet(built.operator / "live_sample_weights.parquet")["sample_weights"]
    universe = pd.read_parquet(built.operator / "universe.parquet")
    universe = universe[universe["date"] == built.report.live_date].set_index("numerai_ticker")
    return features, n, v, universe


def test_numerai_tools_weights_are_neutral_to_every_risk_column(
    live: tuple[pd.DataFrame, pd.DataFrame, pd.Series, pd.DataFrame],
) -> None:
    features, n, v, universe = live
    assert n.index.equals(features.index) and v.index.equals(n.index)
    assert n.index.name == "numerai_ticker" and v.name == "sample_weights"
    assert v.mean() == pytest.approx(1.0) and (v > 0).all()
    kept = n.columns[(n.abs().sum() > 0).to_numpy()]
    gram = n[kept].T.to_numpy() @ (v.to_numpy()[:, None] * n[kept].to_numpy())
    np.testing.assert_allclose(gram, np.eye(len(kept)), atol=1e-10)

    rng = np.random.default_rng(3)
    predictions = pd.DataFrame({"p": rng.random(len(n))}, index=n.index)
    weights = generate_neutralized_weights(predictions, n, v)["p"]
    scale = weights.abs().sum()
    assert scale > 1.0
    # raw columns: the constant, country and sector dummies, every public feature
    raw = pd.concat(
        [
            pd.Series(1.0, index=n.index, name="constant"),
            pd.get_dummies(universe["country"]).astype(float),
            pd.get_dummies(universe["sector"]).astype(float),
            features[list(NUMERIC_FEATURES)].astype(float).apply(lambda c: c.fillna(c.mean())),
        ],
        axis=1,
    ).reindex(n.index)
    exposure = raw.T.to_numpy() @ weights.to_numpy()
    # float32 features and float64 weights: exposures are ~1e-10 of the weights' scale
    assert np.abs(exposure).max() < 1e-8 * scale * raw.abs().max().max()


def test_alpha_of_a_neutral_signal_is_zero_and_scales_with_the_target(
    live: tuple[pd.DataFrame, pd.DataFrame, pd.Series, pd.DataFrame],
) -> None:
    features, n, v, _ = live
    constant_target = pd.Series(0.5, index=n.index)
    predictions = features[["feature_rsi_60d_country_ranknorm"]].fillna(0.0)
    # a constant target has no alpha, whatever the signal (the weights sum to zero)
    assert abs(alpha(predictions, n, v, constant_target).iloc[0]) < 1e-12
    # a target equal to one neutralizer column is invisible to every neutral portfolio
    column = n.iloc[:, 5]
    assert abs(alpha(predictions, n, v, column).iloc[0]) < 1e-10


def test_exposures_are_looked_up_as_of_the_date() -> None:
    frame = pd.DataFrame(
        {
            "date": pd.to_datetime(["2020-01-03", "2020-01-03", "2020-01-10"]),
            "ticker": ["A", "B", "A"],
            "value": [1.0, 2.0, 3.0],
            "sector": ["x", "y", "x"],
        }
    )
    exposures = Exposures(frame)
    assert exposures.factors == ("value",)
    np.testing.assert_array_equal(
        exposures.at(pd.Timestamp("2020-01-09"), ["A", "B", "C"])[:, 0], [1.0, 2.0, np.nan]
    )
    np.testing.assert_array_equal(exposures.at(pd.Timestamp("2020-01-10"), ["A"])[:, 0], [3.0])
    assert np.isnan(exposures.at(pd.Timestamp("2020-01-02"), ["A"])).all()

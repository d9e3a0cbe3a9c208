"""Curated public surfaces: ``__all__`` sorted, complete and importable."""

from __future__ import annotations

import importlib
import inspect

import pytest

MODULES = [
    "crowdalpha",
    "crowdalpha.chain",
    "crowdalpha.dataset.signals",
    "crowdalpha.db",
    "crowdalpha.errors",
    "crowdalpha.fund",
    "crowdalpha.governance",
    "crowdalpha.ledger",
    "crowdalpha.market",
    "crowdalpha.metamodel",
    "crowdalpha.payouts",
    "crowdalpha.scoring",
    "crowdalpha.storage",
    "crowdalpha.submissions",
    "crowdalpha.tournament",
    "crowdalpha.units",
]


@pytest.mark.parametrize("name", MODULES)
def test_all_is_sorted_and_importable(name: str) -> None:
    module = importlib.import_module(name)
    exported = list(module.__all__)
    assert exported == sorted(exported, key=lambda n: (not n.isupper(), n[0].islower(), n))
    for attr in exported:
        assert hasattr(module, attr), attr


def test_scoring_exports_every_public_function_of_its_modules() -> None:
    scoring = importlib.import_module("crowdalpha.scoring")
    for sub in (
        "crowdalpha.scoring.churn",
        "crowdalpha.scoring.metrics",
        "crowdalpha.scoring.neutral",
        "crowdalpha.scoring.signals",
        "crowdalpha.scoring.signals_round",
        "crowdalpha.scoring.summary",
    ):
        module = importlib.import_module(sub)
        public = {
            n
            for n, obj in inspect.getmembers(module, inspect.isfunction)
            if not n.startswith("_") and obj.__module__ == sub
        }
        assert public <= set(scoring.__all__), public - set(scoring.__all__)


def test_reference_names_are_all_provided() -> None:
    scoring = importlib.import_module("crowdalpha.scoring")
    for name in (
        "tie_kept_rank",
        "gaussian",
        "neutralize",
        "orthogonalize",
        "numerai_corr",
        "correlation_contribution",
        "feature_neutral_corr",
        "max_feature_correlation",
        "stake_weight",
        "filter_sort_index",
        "neutral_correlation",
        "neutral_contribution",
        "generate_neutralized_weights",
        "alpha",
        "meta_portfolio_contribution",
    ):
        assert callable(getattr(scoring, name))

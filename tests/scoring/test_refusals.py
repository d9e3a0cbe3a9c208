"""Every refusal is a typed error with a stable code and a message naming the problem."""

from __future__ import annotations

import subprocess
import sys

import numerai_tools.scoring as nt
import numpy as np
import pandas as pd
import pytest

from crowdalpha import errors
from crowdalpha import scoring as sc


def _ids(n: int) -> pd.Index:
    return pd.Index([f"n{i:015x}" for i in range(n)], name="id")


@pytest.fixture
def data() -> tuple[pd.DataFrame, pd.Series, pd.DataFrame]:
    rng = np.random.default_rng(7)
    idx = _ids(200)
    preds = pd.DataFrame(rng.random((200, 3)), index=idx, columns=["a", "b", "c"])
    target = pd.Series(rng.choice([0, 0.25, 0.5, 0.75, 1.0], 200), index=idx, name="target")
    feats = pd.DataFrame(rng.integers(0, 5, (200, 10), dtype=np.int8), index=idx)
    return preds, target, feats


def test_too_little_overlap_names_both_inputs_and_the_numbers(data) -> None:  # type: ignore[no-untyped-def]
    preds, target, _ = data
    with pytest.raises(errors.NotEnoughOverlapError) as info:
        sc.numerai_corr(preds, target.iloc[:150])
    assert info.value.code == "not_enough_overlapping_ids"
    assert "predictions" in info.value.message and "150 of its 200" in info.value.message
    assert info.value.details["overlapping"] == 150


def test_the_data_loss_budget_is_an_explicit_parameter(data) -> None:  # type: ignore[no-untyped-def]
    preds, target, _ = data
    loose = sc.numerai_corr(preds, target.iloc[:150], max_filtered_index_ratio=0.3)
    assert loose.notna().all()
    with pytest.raises(errors.InvalidParameterError):
        sc.numerai_corr(preds, target, max_filtered_index_ratio=1.5)


def test_duplicated_ids_are_refused(data) -> None:  # type: ignore[no-untyped-def]
    preds, target, _ = data
    doubled = pd.concat([preds, preds.iloc[:3]])
    with pytest.raises(errors.DuplicateIdsError) as info:
        sc.numerai_corr(doubled, target)
    assert info.value.details["examples"] == list(preds.index[:3])


def test_fnc_needs_sorted_ids_without_nans_matching_features(data) -> None:  # type: ignore[no-untyped-def]
    preds, target, feats = data
    with pytest.raises(errors.UnsortedIndexError):
        sc.feature_neutral_corr(preds.iloc[::-1], feats.iloc[::-1], target)
    holes = preds.copy()
    holes.iloc[5, 1] = np.nan
    with pytest.raises(errors.MissingValuesError):
        sc.feature_neutral_corr(holes, feats, target)
    with pytest.raises(errors.IndexMismatchError):
        sc.feature_neutral_corr(preds, feats.iloc[:-1], target)


def test_constant_predictions_have_no_feature_neutral_corr(data) -> None:  # type: ignore[no-untyped-def]
    preds, target, feats = data
    flat = preds.assign(b=0.5)
    with pytest.raises(errors.DegenerateDataError) as info:
        sc.feature_neutral_corr(flat, feats, target)
    assert "'b'" in info.value.message


def test_one_row_cannot_be_correlated() -> None:
    idx = _ids(1)
    with pytest.raises(errors.DegenerateDataError) as info:
        sc.numerai_corr(pd.DataFrame({"a": [0.3]}, index=idx), pd.Series([0.5], index=idx))
    assert "one row" in info.value.message


def test_top_bottom_larger_than_half_the_rows(data) -> None:  # type: ignore[no-untyped-def]
    preds, target, _ = data
    with pytest.raises(errors.InvalidParameterError) as info:
        sc.numerai_corr(preds, target, top_bottom=101)
    assert info.value.details == {"top_bottom": 101, "rows": 200}
    with pytest.raises(errors.InvalidParameterError):
        sc.numerai_corr(preds, target, top_bottom=2.5)  # type: ignore[arg-type]


def test_non_numeric_predictions(data) -> None:  # type: ignore[no-untyped-def]
    preds, target, _ = data
    with pytest.raises(errors.ScoringInputError):
        sc.numerai_corr(preds.assign(a="x"), target)


def test_stake_weight_refusals(data) -> None:  # type: ignore[no-untyped-def]
    preds, _, _ = data
    with pytest.raises(errors.IndexMismatchError):
        sc.stake_weight(preds, pd.Series({"a": 1.0, "zzz": 2.0}))
    with pytest.raises(errors.InvalidParameterError):
        sc.stake_weight(preds, pd.Series({"a": 0.0, "b": 0.0}))


def test_by_era_refusals_name_the_era(data) -> None:  # type: ignore[no-untyped-def]
    preds, target, _ = data
    eras = pd.Series(np.repeat(["0001", "0002"], 100), index=preds.index)
    holes = target.copy()
    holes.iloc[100:130] = np.nan  # era 0002 loses 30% of its rows
    with pytest.raises(errors.NotEnoughOverlapError) as info:
        sc.numerai_corr_by_era(preds, holes, eras)
    assert info.value.details["era"] == "0002"
    with pytest.raises(errors.MissingValuesError):
        sc.numerai_corr_by_era(preds, target, eras.where(eras != "0001"))
    with pytest.raises(errors.IndexMismatchError):
        sc.numerai_corr_by_era(preds, target.iloc[:-1], eras)


def test_refusals_survive_python_optimize_mode() -> None:
    """No validation is an ``assert``: ``python -O`` refuses the same input."""
    code = (
        "import pandas as pd\n"
        "from crowdalpha import scoring, errors\n"
        "i = pd.Index(['a', 'b', 'c', 'd', 'e'])\n"
        "p = pd.DataFrame({'x': [.1, .2, .3, .4, .5]}, index=i)\n"
        "t = pd.Series([0., .25, .5, .75, 1.], index=['a', 'v', 'w', 'y', 'z'])\n"
        "try:\n"
        "    scoring.numerai_corr(p, t)\n"
        "except errors.NotEnoughOverlapError as e:\n"
        "    raise SystemExit(e.code)\n"
    )
    proc = subprocess.run([sys.executable, "-O", "-c", code], capture_output=True, text=True)
    assert proc.stderr.strip() == "not_enough_overlapping_ids"


def test_unnamed_targets_are_scored_like_named_ones(data) -> None:  # type: ignore[no-untyped-def]
    """Deliberate deviation: the reference raises KeyError on a target Series without a name."""
    preds, target, _ = data
    unnamed = target.rename(None)
    ours = sc.numerai_corr(preds, unnamed)
    np.testing.assert_allclose(ours, nt.numerai_corr(preds, target), atol=1e-12, rtol=0)
    with pytest.raises(KeyError):
        nt.numerai_corr(preds, unnamed)
